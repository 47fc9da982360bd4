package dev.gvproxy.it.ssh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.cli.GvproxyMain;
import dev.gvproxy.it.netns.InProcessGvproxy;
import dev.gvproxy.it.netns.NetnsGuest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * A real OpenSSH {@code sshd} in a namespace guest (DHCP'd to 192.168.127.2) behind an in-process gvproxy-java:
 * the default 2222-style forward with the real {@code ssh} client, {@code -forward-sock} and an {@code ssh-tunnel://}
 * expose to guest unix sockets, and {@code /tunnel} to sshd.
 *
 * <p>sshd runs from the host filesystem inside the namespace only (port 22 of the guest), with a throwaway host key
 * and authorized key made by ssh-keygen in a temp dir. /tmp is shared with the host, so guest socket paths live
 * in that unique temp dir.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SshNetnsTest {
    static final Duration LONG = Duration.ofSeconds(90); // the machine is loaded during test runs

    static Path dir;
    static Path key;
    static Path api;
    static Path forwardSock;
    static Path guestEcho;
    static Path guestHttp;
    static int sshPort;
    static GvproxyMain.Running running;
    static CompletableFuture<Integer> exit;
    static NetnsGuest guest;
    static Process sshd;
    static Path sshdConfig;
    static final StringBuffer sshdLog = new StringBuffer();

    @BeforeAll
    static void start() throws Exception {
        NetnsGuest.assumeSupported();
        for (String tool : List.of("/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/socat",
                "/usr/bin/curl")) {
            Assumptions.assumeTrue(Files.isExecutable(Path.of(tool)),
                    tool + " is missing (apt install openssh-server openssh-client socat curl)");
        }
        dir = Files.createTempDirectory("gvj-ssh");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        key = dir.resolve("id_ed25519");
        Path hostKey = dir.resolve("host_ed25519");
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gvj-test", "-f", key.toString());
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gvj-host", "-f", hostKey.toString());
        Files.copy(Path.of(key + ".pub"), dir.resolve("authorized_keys"));
        Path config = dir.resolve("sshd_config");
        Files.writeString(config, String.join("\n",
                "Port 22",
                "ListenAddress 0.0.0.0",
                "HostKey " + hostKey,
                "AuthorizedKeysFile " + dir.resolve("authorized_keys"),
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "StrictModes no",
                "UsePAM no",
                "PidFile none",
                "AllowTcpForwarding yes",
                "AllowStreamLocalForwarding yes",
                "LogLevel VERBOSE",
                ""));
        Files.createDirectories(Path.of("/run/sshd")); // privilege-separation dir sshd insists on
        api = dir.resolve("api.sock");
        forwardSock = dir.resolve("forward.sock");
        guestEcho = dir.resolve("guest-echo.sock");
        guestHttp = dir.resolve("guest-http.sock");
        try (ServerSocket s = new ServerSocket(0)) {
            sshPort = s.getLocalPort();
        }
        String[] args = {"-listen", "unix://" + api, "-ssh-port", Integer.toString(sshPort),
                "-forward-sock", "unix://" + forwardSock, "-forward-dest", guestEcho.toString(),
                "-forward-user", "root", "-forward-identity", key.toString()};
        InProcessGvproxy gv = InProcessGvproxy.start(Duration.ofSeconds(60), args);
        running = gv.running();
        exit = gv.exit();
        // The forward's socket exists before sshd is reachable (its clients wait in the backlog).
        assertTrue(Files.exists(forwardSock), "the -forward-sock socket is created at start-up");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(forwardSock)));

        guest = NetnsGuest.builder("unix://" + api).startTimeout(Duration.ofSeconds(60)).start();
        String ip = guest.awaitAddress(LONG);
        assertEquals("192.168.127.2", ip, guest::diagnostics);
        spawnLogged(guest.spawn("socat", "UNIX-LISTEN:" + guestEcho + ",fork", "EXEC:cat"), new StringBuffer());
        Path http = dir.resolve("http.sh"); // a one-shot HTTP/1.0 responder per connection
        Files.writeString(http, "read line\nprintf 'HTTP/1.0 200 OK\\r\\nContent-Length: 11\\r\\n\\r\\nhello-guest'\n");
        spawnLogged(guest.spawn("socat", "UNIX-LISTEN:" + guestHttp + ",fork", "SYSTEM:sh " + http),
                new StringBuffer());
        sshdConfig = config;
        startSshd();
        NetnsGuest.await(LONG, "guest sockets", () -> Files.exists(guestEcho) && Files.exists(guestHttp),
                () -> "no guest sockets");
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (guest != null) {
                guest.close(); // kills sshd and socat (spawned in the namespace)
            }
        } finally {
            if (running != null) {
                running.stop("signal caught");
                assertEquals(0, exit.get(60, TimeUnit.SECONDS));
                assertFalse(Files.exists(forwardSock), "the -forward-sock socket is removed on exit");
            }
            if (dir != null) {
                try (Stream<Path> s = Files.walk(dir)) {
                    for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                        Files.deleteIfExists(p);
                    }
                }
            }
        }
    }

    static void startSshd() throws IOException {
        sshdLog.setLength(0);
        sshd = guest.spawn("/usr/sbin/sshd", "-D", "-e", "-f", sshdConfig.toString());
        spawnLogged(sshd, sshdLog);
        NetnsGuest.await(LONG, "sshd listening", () -> sshdLog.indexOf("Server listening on 0.0.0.0 port 22") >= 0,
                () -> "sshd: " + sshdLog);
    }

    @Test
    @Order(1)
    void defaultSshPortForwardReachesGuestSshdWithRealSshClient() throws Exception {
        Result r = run(Duration.ofSeconds(120), "ssh", "-p", Integer.toString(sshPort), "-i", key.toString(),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=60", "-o", "LogLevel=ERROR", "root@127.0.0.1", "echo", "hi");
        assertEquals(0, r.exit, () -> r + "\nsshd: " + sshdLog);
        assertEquals("hi", r.out.trim(), r::toString);
    }

    @Test
    @Order(2)
    void forwardSockReachesGuestUnixSocketWithHalfClose() throws Exception {
        // The forward connects in the background (up to 60 tries); its clients wait in the backlog meanwhile.
        byte[] payload = new byte[300_000];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 31 + 7);
        }
        byte[] back = echo(forwardSock, payload);
        assertEquals(payload.length, back.length, () -> "sshd: " + sshdLog);
        assertTrue(java.util.Arrays.equals(payload, back), "echoed bytes equal");
        // Several clients at once over the one SSH connection.
        List<CompletableFuture<byte[]>> all = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            byte[] p = ("client-" + i + "\n").getBytes(StandardCharsets.US_ASCII);
            all.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return echo(forwardSock, p);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        for (int i = 0; i < 4; i++) {
            assertEquals("client-" + i + "\n", new String(all.get(i).get(120, TimeUnit.SECONDS), StandardCharsets.US_ASCII));
        }
    }

    @Test
    @Order(3)
    void sshTunnelExposeReachesGuestUnixSocketWithCurl() throws Exception {
        Path local = dir.resolve("tunnel.sock");
        String remote = "ssh-tunnel://root@192.168.127.2:22" + guestHttp + "?key=" + key;
        String body = "{\"local\":\"" + local + "\",\"remote\":\"" + remote + "\",\"protocol\":\"unix\"}";
        Result expose = run(Duration.ofSeconds(60), "curl", "-s", "--max-time", "30", "--unix-socket", api.toString(),
                "-w", "\n%{http_code}", "-X", "POST", "-d", body, "http://gvproxy/services/forwarder/expose");
        assertTrue(expose.out.endsWith("\n200"), expose::toString);
        assertTrue(Files.exists(local), "the host socket exists once exposed");
        Result all = run(Duration.ofSeconds(60), "curl", "-s", "--max-time", "30", "--unix-socket", api.toString(),
                "http://gvproxy/services/forwarder/all");
        assertTrue(all.out.contains("\"remote\":\"" + remote + "\"") && all.out.contains("\"protocol\":\"unix\""),
                all::toString);
        for (int i = 0; i < 3; i++) { // the first request connects, the next ones reuse the connection
            Result get = run(Duration.ofSeconds(120), "curl", "-s", "--max-time", "90", "--unix-socket",
                    local.toString(), "http://guest/");
            assertEquals(0, get.exit, () -> get + "\nsshd: " + sshdLog);
            assertEquals("hello-guest", get.out, get::toString);
        }
        Result unexpose = run(Duration.ofSeconds(60), "curl", "-s", "--max-time", "30", "--unix-socket",
                api.toString(), "-w", "\n%{http_code}", "-X", "POST", "-d",
                "{\"local\":\"" + local + "\",\"protocol\":\"unix\"}", "http://gvproxy/services/forwarder/unexpose");
        assertTrue(unexpose.out.endsWith("\n200"), unexpose::toString);
        NetnsGuest.await(Duration.ofSeconds(10), "socket removed", () -> !Files.exists(local), () -> "still there");
    }

    @Test
    @Order(5)
    void forwardSockReconnectsAfterTheGuestSshdRestarts() throws Exception {
        assertEquals("warm-up\n", new String(echo(forwardSock, "warm-up\n".getBytes(StandardCharsets.US_ASCII)),
                StandardCharsets.US_ASCII));
        // Kill sshd and its per-connection children (ours, by PID): the forward's SSH connection dies with them.
        ProcessHandle root = sshd.toHandle();
        List<ProcessHandle> tree = new ArrayList<>(root.descendants().toList());
        tree.add(root);
        for (ProcessHandle h : tree) {
            h.destroyForcibly();
        }
        for (ProcessHandle h : tree) {
            h.onExit().get(30, TimeUnit.SECONDS);
        }
        startSshd();
        byte[] back = echo(forwardSock, "after-restart\n".getBytes(StandardCharsets.US_ASCII));
        assertEquals("after-restart\n", new String(back, StandardCharsets.US_ASCII), () -> "sshd: " + sshdLog);
    }

    @Test
    @Order(4)
    void tunnelToGuestSshdSaysOkThenTheSshBanner() throws Exception {
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            c.connect(UnixDomainSocketAddress.of(api));
            c.write(ByteBuffer.wrap(("POST /tunnel?ip=192.168.127.2&port=22 HTTP/1.1\r\nHost: \r\n"
                    + "User-Agent: Go-http-client/1.1\r\nContent-Length: 0\r\n\r\n").getBytes(StandardCharsets.US_ASCII)));
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            long deadline = System.nanoTime() + LONG.toNanos();
            while (!got.toString(StandardCharsets.US_ASCII).contains("\n") && System.nanoTime() < deadline) {
                buf.clear();
                if (c.read(buf) < 0) {
                    break;
                }
                got.write(buf.array(), 0, buf.position());
            }
            String s = got.toString(StandardCharsets.US_ASCII);
            assertTrue(s.startsWith("OKSSH-2.0-OpenSSH"), () -> "got: " + s);
        }
    }

    /** Writes {@code payload} to the unix socket, half-closes, and reads until EOF (the echo's own EOF). */
    static byte[] echo(Path sock, byte[] payload) throws IOException {
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            c.connect(UnixDomainSocketAddress.of(sock));
            CompletableFuture<byte[]> reader = CompletableFuture.supplyAsync(() -> {
                try {
                    ByteArrayOutputStream out = new ByteArrayOutputStream();
                    ByteBuffer buf = ByteBuffer.allocate(65536);
                    while (true) {
                        buf.clear();
                        int n = c.read(buf);
                        if (n < 0) {
                            return out.toByteArray();
                        }
                        out.write(buf.array(), 0, n);
                    }
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, r -> Thread.ofVirtual().start(r));
            ByteBuffer w = ByteBuffer.wrap(payload);
            while (w.hasRemaining()) {
                c.write(w);
            }
            c.shutdownOutput();
            try {
                return reader.get(120, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IOException("echo through " + sock + " failed; sshd: " + sshdLog, e);
            }
        }
    }

    record Result(int exit, String out, String err) {}

    static Result run(String... cmd) throws IOException, InterruptedException {
        Result r = run(Duration.ofSeconds(60), cmd);
        if (r.exit != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + r);
        }
        return r;
    }

    static Result run(Duration timeout, String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        CompletableFuture<String> out = drain(p.getInputStream());
        CompletableFuture<String> err = drain(p.getErrorStream());
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            return new Result(-1, out.getNow(""), err.getNow("") + " [killed after " + timeout + "]");
        }
        try {
            return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS), err.get(10, TimeUnit.SECONDS));
        } catch (Exception e) {
            return new Result(p.exitValue(), "", e.toString());
        }
    }

    private static CompletableFuture<String> drain(InputStream in) {
        CompletableFuture<String> f = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try (in) {
                f.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                f.complete("");
            }
        });
        return f;
    }

    /** Collects a spawned process's (merged) output, for readiness checks and failure messages. */
    private static void spawnLogged(Process p, StringBuffer log) {
        Thread.ofVirtual().start(() -> {
            try (InputStream in = p.getInputStream()) {
                byte[] buf = new byte[4096];
                for (int n; (n = in.read(buf)) > 0; ) {
                    log.append(new String(buf, 0, n, StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                // process gone
            }
        });
    }
}
