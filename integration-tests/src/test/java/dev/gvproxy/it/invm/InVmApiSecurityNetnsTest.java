package dev.gvproxy.it.invm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.cli.GvproxyMain;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.InProcessGvproxy;
import dev.gvproxy.it.netns.LanPeer;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 9's attacks on the in-VM API, repeated from a real namespace guest (gvforwarder-java, curl inside the
 * guest) and now refused with the counter that recorded them, while a second guest's pings of the gateway and TCP
 * connects to a host server stay under 1 s; and podman machine's exact expose/unexpose requests, which must keep
 * working, reached from a namespace of the test's own (another machine on the host's LAN) and from loopback.
 */
class InVmApiSecurityNetnsTest {
    private static final Duration DHCP_TIMEOUT = Duration.ofSeconds(60);
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    private GvproxyMain.Running running;
    private CompletableFuture<Integer> exit;
    private int sshPort;

    @BeforeEach
    void check() {
        NetnsGuest.assumeSupported();
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "needs curl (apt install curl)");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "needs socat (apt install socat)");
    }

    private void start(String... extra) throws Exception {
        sshPort = freePort();
        List<String> args = new ArrayList<>(List.of("-listen", "unix://" + dir.resolve("api.sock"), "-ssh-port",
                Integer.toString(sshPort), "-pid-file", dir.resolve("gv.pid").toString()));
        args.addAll(Arrays.asList(extra));
        InProcessGvproxy gv = InProcessGvproxy.start(Duration.ofSeconds(60), args.toArray(String[]::new));
        running = gv.running();
        exit = gv.exit();
    }

    @AfterEach
    void stop() throws Exception {
        if (running != null) {
            running.stop("test done");
            assertEquals(0, exit.get(60, TimeUnit.SECONDS));
        }
    }

    private NetnsGuest guest(String expectedIp) throws Exception {
        // .2 is the device address, reserved for the default MAC; any other MAC gets the next free address.
        NetnsGuest.Builder b = NetnsGuest.builder("unix://" + dir.resolve("api.sock"));
        NetnsGuest g = guests.start(expectedIp.equals("192.168.127.2") ? b : b.mac(NetnsGuest.randomMac()));
        assertEquals(expectedIp, g.awaitAddress(DHCP_TIMEOUT), g::diagnostics);
        return g;
    }

    private long counter(String name) {
        return running.network().internals().counters().get(name);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** A privileged port nobody listens on (the tests run as root). */
    private static int freePrivilegedPort() {
        for (int p = 1023; p >= 900; p--) {
            try (ServerSocket s = new ServerSocket(p)) {
                return p;
            } catch (IOException e) {
                // taken, try the next
            }
        }
        throw new AssertionError("no free privileged port");
    }

    /** {@code curl} in the guest; the last line of stdout is the HTTP status. */
    private static ExecResult curl(NetnsGuest g, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("curl", "-s", "--max-time", "30", "-w", "\n%{http_code}"));
        cmd.addAll(List.of(args));
        return g.exec(Duration.ofSeconds(60), cmd.toArray(String[]::new));
    }

    /** POSTs {@code body} to {@code http://gateway.containers.internal/services/forwarder/<route>} from the guest. */
    private static ExecResult post(NetnsGuest g, String route, String body) throws Exception {
        return curl(g, "--resolve", "gateway.containers.internal:80:192.168.127.1", "-X", "POST", "-d", body,
                "http://gateway.containers.internal/services/forwarder/" + route);
    }

    /** The host API over its unix socket. */
    private String hostApi(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("curl", "-s", "--max-time", "10", "--unix-socket",
                dir.resolve("api.sock").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        return out;
    }

    /** Starts a long-running guest server and waits until it listens. */
    private static void serve(NetnsGuest g, String proto, int port, String... cmd) throws Exception {
        g.spawn(cmd);
        String flag = proto.equals("udp") ? "-Hlun" : "-Hltn";
        ExecResult r = g.exec(Duration.ofSeconds(30), "bash", "-c", "for i in $(seq 200); do ss " + flag
                + " 'sport = :" + port + "' | grep -q . && exit 0; sleep 0.05; done; exit 1");
        assertEquals(0, r.exitCode(), () -> "guest server on " + proto + "/" + port + " did not start: " + r);
    }

    private static void tcpEcho(NetnsGuest g, int port) throws Exception {
        serve(g, "tcp", port, "socat", "TCP-LISTEN:" + port + ",fork,reuseaddr", "EXEC:cat");
    }

    /** One line to 127.0.0.1:port and back, or null when it does not (yet) work. */
    private static String echoOnce(int port, String line) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(LOOPBACK, port), 5000);
            s.setSoTimeout(10_000);
            s.getOutputStream().write((line + "\n").getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            String got = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
            return got.isEmpty() ? null : got;
        } catch (IOException e) {
            return null;
        }
    }

    /** The first line a server at 127.0.0.1:port sends. */
    private static String banner(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(LOOPBACK, port), 5000);
            s.setSoTimeout(10_000);
            InputStream in = s.getInputStream();
            StringBuilder b = new StringBuilder();
            int c;
            while ((c = in.read()) >= 0 && c != '\n') {
                b.append((char) c);
            }
            return b.toString().trim();
        } catch (IOException e) {
            return "";
        }
    }

    /**
     * podman machine publishing {@code -p 8080:8080 -p PRIV:8080 -p 127.0.0.1:LOOP:8080 -p 5353:5353/udp}: libpod
     * posts one expose per port and protocol from inside the VM, exactly these bodies; the ports answer from
     * another machine (a namespace of the test's own) and from loopback; the unexposes remove them.
     */
    @Test
    void podmanMachineRequestsWorkByDefault() throws Exception {
        start();
        NetnsGuest g = guest("192.168.127.2");
        tcpEcho(g, 8080);
        serve(g, "udp", 5353, "socat", "UDP-LISTEN:5353,fork,reuseaddr", "PIPE");
        int all = freePort();
        int priv = freePrivilegedPort();
        int loop = freePort();
        int udp = freePort();
        String[] locals = {":" + all, ":" + priv, "127.0.0.1:" + loop, ":" + udp};
        String[] bodies = {
            "{\"local\":\":" + all + "\",\"remote\":\":8080\",\"protocol\":\"tcp\"}",
            "{\"local\":\":" + priv + "\",\"remote\":\":8080\",\"protocol\":\"tcp\"}",
            "{\"local\":\"127.0.0.1:" + loop + "\",\"remote\":\":8080\",\"protocol\":\"tcp\"}",
            "{\"local\":\":" + udp + "\",\"remote\":\":5353\",\"protocol\":\"udp\"}",
        };
        for (String body : bodies) {
            ExecResult r = post(g, "expose", body);
            assertEquals("\n200", r.stdout(), () -> body + " -> " + r + "\n" + g.diagnostics());
        }
        ExecResult listed = curl(g, "http://192.168.127.1/services/forwarder/all");
        assertTrue(listed.stdout().contains("{\"local\":\":" + priv + "\",\"remote\":\"192.168.127.2:8080\","
                + "\"protocol\":\"tcp\"}"), listed::toString);
        assertTrue(!listed.stdout().contains(":" + sshPort), () -> "a guest must not see the host's forward: " + listed);

        try (LanPeer lan = new LanPeer()) {
            String[] got = new String[1];
            NetnsGuest.await(Duration.ofSeconds(30), "the LAN peer reaching :" + all,
                    () -> "lan-tcp".equals(got[0] = call(() -> lan.tcpEcho(all, "lan-tcp"))), () -> got[0]);
            assertEquals("lan-priv", lan.tcpEcho(priv, "lan-priv"));
            NetnsGuest.await(Duration.ofSeconds(30), "the LAN peer's UDP echo through :" + udp,
                    () -> "lan-udp".equals(got[0] = call(() -> lan.udpEcho(udp, "lan-udp"))), () -> got[0]);
            assertEquals("loop", echoOnce(loop, "loop"));
            // 127.0.0.1 only: not on the LAN address.
            assertEquals("", lan.tcpEcho(loop, "nope"));
        }
        for (int i = 0; i < locals.length; i++) {
            String proto = i == 3 ? "udp" : "tcp";
            ExecResult r = post(g, "unexpose", "{\"local\":\"" + locals[i] + "\",\"protocol\":\"" + proto + "\"}");
            assertEquals("\n200", r.stdout(), r::toString);
        }
        assertEquals("[]\n\n200", curl(g, "http://192.168.127.1/services/forwarder/all").stdout());
        assertEquals(0, counter("api.guestForbidden"));
    }

    private interface Call {
        String get() throws Exception;
    }

    private static String call(Call c) {
        try {
            return c.get();
        } catch (Exception e) {
            return String.valueOf(e);
        }
    }

    /** Victim's measurements: ping max RTT and the slowest TCP connect to a host server, in ms. */
    record VictimStats(String ping, double maxRttMillis, int lossPercent, List<Integer> connectMillis) {}

    private static final Pattern RTT = Pattern.compile("= [\\d.]+/[\\d.]+/([\\d.]+)/");
    private static final Pattern LOSS = Pattern.compile("(\\d+)% packet loss");

    private static CompletableFuture<VictimStats> measureVictim(NetnsGuest victim, int hostPort, int rounds) {
        CompletableFuture<ExecResult> ping = CompletableFuture.supplyAsync(() -> {
            try {
                return victim.exec(Duration.ofSeconds(120), "ping", "-n", "-c", Integer.toString(rounds * 2), "-i",
                        "0.2", "-W", "2", "192.168.127.1");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        CompletableFuture<ExecResult> connects = CompletableFuture.supplyAsync(() -> {
            try {
                return victim.exec(Duration.ofSeconds(120), "bash", "-c", "for i in $(seq " + rounds + "); do "
                        + "s=$(date +%s%N); timeout 5 bash -c 'exec 3<>/dev/tcp/192.168.127.254/" + hostPort
                        + "' && e=$(date +%s%N) && echo $(( (e - s) / 1000000 )) || echo 99999; sleep 0.2; done");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        return ping.thenCombine(connects, (p, c) -> {
            Matcher rtt = RTT.matcher(p.stdout());
            Matcher loss = LOSS.matcher(p.stdout());
            List<Integer> ms = new ArrayList<>();
            for (String line : c.stdout().split("\n")) {
                if (!line.isBlank()) {
                    ms.add(Integer.parseInt(line.trim()));
                }
            }
            return new VictimStats(p.stdout(), rtt.find() ? Double.parseDouble(rtt.group(1)) : 99999,
                    loss.find() ? Integer.parseInt(loss.group(1)) : 100, ms);
        });
    }

    /** A host server the victim connects to (accepts and closes). */
    private ServerSocket hostServer() throws IOException {
        ServerSocket s = new ServerSocket(0, 512, LOOPBACK);
        Thread.ofVirtual().start(() -> {
            while (!s.isClosed()) {
                try {
                    s.accept().close();
                } catch (IOException e) {
                    return;
                }
            }
        });
        return s;
    }

    /**
     * Every API attack of issue 9 from an attacker guest: taking over the host's SSH forward, replacing a host file
     * and gvproxy-java's own API socket with a unix expose, a huge JSON number (which stalled the loop for 13 s) and
     * deep nesting in a loop, and a connection flood. Each is refused and counted; the victim (whose SSH the host
     * forward points at) keeps pinging the gateway and connecting to a host server in under 1 s meanwhile.
     */
    @Test
    void attacksFromAGuestAreRefusedWhileAnotherGuestKeepsWorking() throws Exception {
        start();
        NetnsGuest victim = guest("192.168.127.2");
        NetnsGuest attacker = guest("192.168.127.3");
        serve(victim, "tcp", 22, "socat", "TCP-LISTEN:22,fork,reuseaddr", "SYSTEM:echo SSH-2.0-victim; sleep 1");
        serve(attacker, "tcp", 22, "socat", "TCP-LISTEN:22,fork,reuseaddr", "SYSTEM:echo SSH-2.0-attacker; sleep 1");
        NetnsGuest.await(Duration.ofSeconds(30), "the host's SSH forward reaching the victim",
                () -> banner(sshPort).equals("SSH-2.0-victim"), () -> banner(sshPort));
        Path precious = Files.writeString(dir.resolve("precious.txt"), "precious data");
        Path huge = Files.writeString(dir.resolve("huge.json"), "{\"local\":" + "9".repeat(60_000) + ",\"remote\":\":22\"}");
        Path deep = Files.writeString(dir.resolve("deep.json"), "[".repeat(60_000));
        Path big = Files.writeString(dir.resolve("big.json"), "{\"local\":\"" + "a".repeat(1 << 20) + "\"}");
        try (ServerSocket server = hostServer()) {
            CompletableFuture<VictimStats> victimStats = measureVictim(victim, server.getLocalPort(), 30);

            // 1. Take over the host's SSH forward: unexpose it, then expose it to the attacker's own sshd.
            ExecResult un = post(attacker, "unexpose", "{\"local\":\"127.0.0.1:" + sshPort + "\"}");
            assertTrue(un.stdout().endsWith("\n403"), un::toString);
            for (String local : List.of("127.0.0.1:" + sshPort, ":" + sshPort, "0.0.0.0:" + sshPort)) {
                ExecResult r = post(attacker, "expose", "{\"local\":\"" + local + "\",\"remote\":\":22\"}");
                assertTrue(r.stdout().endsWith("\n403"), () -> local + ": " + r);
            }
            // 2. Replace a host file, and gvproxy-java's own API socket, with a socket to the attacker.
            for (Path target : List.of(precious, dir.resolve("api.sock"), dir.resolve("gv.pid"))) {
                ExecResult r = post(attacker, "expose", "{\"local\":\"" + target
                        + "\",\"remote\":\"tcp://192.168.127.3:22\",\"protocol\":\"unix\"}");
                assertTrue(r.stdout().endsWith("\n403"), () -> target + ": " + r);
            }
            long forbidden = counter("api.guestForbidden");
            assertEquals(7, forbidden);
            // 3. Huge numbers, deep nesting and oversized bodies, in a loop.
            ExecResult flood = attacker.exec(Duration.ofSeconds(120), "bash", "-c", "for i in $(seq 30); do "
                    + "curl -s -o /dev/null -w '%{http_code} ' --max-time 10 --data-binary @" + huge
                    + " http://192.168.127.1/services/forwarder/expose; "
                    + "curl -s -o /dev/null -w '%{http_code} ' --max-time 10 --data-binary @" + deep
                    + " http://192.168.127.1/services/forwarder/expose; "
                    + "curl -s -o /dev/null -w '%{http_code} ' --max-time 10 --data-binary @" + big
                    + " http://192.168.127.1/services/forwarder/expose; done");
            assertEquals("400 400 413 ".repeat(30).trim(), flood.stdout().trim(), flood::toString);
            assertEquals(60, counter("api.badRequest"));
            assertEquals(30, counter("api.bodyTooLarge"));
            // 4. A connection flood: at most 16 connections per guest are kept.
            ExecResult conns = attacker.exec(Duration.ofSeconds(60), "bash", "-c",
                    "for i in $(seq 40); do exec {fd}<>/dev/tcp/192.168.127.1/80 || true; done; sleep 1");
            assertEquals(0, conns.exitCode(), conns::toString);
            assertTrue(counter("api.inVmGuestConnectionLimit") >= 20,
                    () -> "limit hits: " + counter("api.inVmGuestConnectionLimit"));

            VictimStats v = victimStats.get(180, TimeUnit.SECONDS);
            System.out.println("victim during the attacks: ping max " + v.maxRttMillis() + " ms, loss "
                    + v.lossPercent() + "%, host connects (ms) " + v.connectMillis());
            assertEquals(0, v.lossPercent(), v::ping);
            assertTrue(v.maxRttMillis() < 1000, v::ping);
            assertEquals(30, v.connectMillis().size(), v.connectMillis()::toString);
            assertTrue(v.connectMillis().stream().allMatch(ms -> ms < 1000), v.connectMillis()::toString);
        }
        // Nothing was replaced: the host forward still leads to the victim, files and the API are intact.
        assertEquals("SSH-2.0-victim", banner(sshPort));
        assertEquals("precious data", Files.readString(precious));
        assertEquals(Long.toString(ProcessHandle.current().pid()), Files.readString(dir.resolve("gv.pid")));
        String all = hostApi("http://x/services/forwarder/all");
        assertEquals("[{\"local\":\"127.0.0.1:" + sshPort + "\",\"remote\":\"192.168.127.2:22\",\"protocol\":\"tcp\"}]\n",
                all);
        assertTrue(hostApi("http://x/stats").contains("\"guestForbidden\":7"));
    }

    /**
     * Idle API connections (issue 9: 300 on the unix API and 1,000 on the in-VM API stayed open): the in-VM API keeps
     * at most 16 per guest and closes them, like the unix API's, 10 s after they connected without a request.
     */
    @Test
    void idleApiConnectionsAreClosed() throws Exception {
        start();
        NetnsGuest g = guest("192.168.127.2");
        List<java.nio.channels.SocketChannel> unix = new ArrayList<>();
        try {
            for (int i = 0; i < 300; i++) {
                java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(
                        java.net.UnixDomainSocketAddress.of(dir.resolve("api.sock")));
                ch.configureBlocking(false);
                unix.add(ch);
            }
            g.spawn("bash", "-c", "for i in $(seq 100); do exec {fd}<>/dev/tcp/192.168.127.1/80 || true; done; sleep 60");
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(64);
            NetnsGuest.await(Duration.ofSeconds(40), "every idle unix API connection to be closed", () -> {
                unix.removeIf(ch -> {
                    try {
                        buf.clear();
                        return ch.read(buf) < 0;
                    } catch (IOException e) {
                        return true;
                    }
                });
                return unix.isEmpty();
            }, () -> unix.size() + " still open");
            NetnsGuest.await(Duration.ofSeconds(40), "the guest's idle connections to be closed",
                    () -> counter("api.idleClosed") >= 300 + 16, () -> "idleClosed " + counter("api.idleClosed"));
            assertTrue(counter("api.inVmGuestConnectionLimit") >= 84,
                    () -> "limit hits " + counter("api.inVmGuestConnectionLimit"));
        } finally {
            for (java.nio.channels.SocketChannel ch : unix) {
                ch.close();
            }
        }
    }

    /** {@code -guest-api-strict}: loopback and unprivileged ports only; the host keeps full power. */
    @Test
    void strictModeRefusesEveryAddressAndPrivilegedPorts() throws Exception {
        start("-guest-api-strict");
        NetnsGuest g = guest("192.168.127.2");
        tcpEcho(g, 8080);
        int port = freePort();
        for (String local : List.of(":" + port, "0.0.0.0:" + port, "127.0.0.1:" + freePrivilegedPort())) {
            ExecResult r = post(g, "expose", "{\"local\":\"" + local + "\",\"remote\":\":8080\"}");
            assertTrue(r.stdout().endsWith("(strict mode): " + local + "\n\n403"), () -> local + ": " + r);
        }
        assertEquals(3, counter("api.guestForbidden"));
        assertEquals("\n200", post(g, "expose", "{\"local\":\"127.0.0.1:" + port + "\",\"remote\":\":8080\"}").stdout());
        String[] got = new String[1];
        NetnsGuest.await(Duration.ofSeconds(30), "the loopback forward", () -> "strict".equals(
                got[0] = echoOnce(port, "strict")), () -> String.valueOf(got[0]));
        // The host API is not bound by the guest policy.
        int hostPort = freePort();
        assertEquals("", hostApi("-X", "POST", "-d", "{\"local\":\":" + hostPort + "\",\"remote\":\"192.168.127.2:8080\"}",
                "http://x/services/forwarder/expose"));
    }

    /**
     * {@code -guest-unix-dir}: guest unix exposes work inside it (0600, relayed to the guest) and nowhere else, and
     * never replace a file there; {@code 127.0.0.1:0} answers and lists the bound port; the bearer token guards the
     * in-VM API when configured.
     */
    @Test
    void unixDirectoryPortZeroAndToken() throws Exception {
        Path unixDir = Files.createDirectory(dir.resolve("guest-sockets"));
        Path tokenFile = Files.writeString(dir.resolve("token"), "0123456789abcdef0123456789abcdef-token\n");
        start("-guest-unix-dir", unixDir.toString(), "-api-token-file", tokenFile.toString());
        NetnsGuest g = guest("192.168.127.2");
        tcpEcho(g, 8080);
        String auth = "Authorization: Bearer 0123456789abcdef0123456789abcdef-token";

        ExecResult noToken = post(g, "expose", "{\"local\":\"127.0.0.1:0\",\"remote\":\":8080\"}");
        assertEquals("unauthorized\n\n401", noToken.stdout(), noToken::toString);
        assertEquals(1, counter("api.unauthorized"));

        ExecResult any = curl(g, "-H", auth, "-X", "POST", "-d", "{\"local\":\"127.0.0.1:0\",\"remote\":\":8080\"}",
                "http://192.168.127.1/services/forwarder/expose");
        Matcher m = Pattern.compile("\\{\"local\":\"127\\.0\\.0\\.1:(\\d+)\",\"remote\":\"192\\.168\\.127\\.2:8080\","
                + "\"protocol\":\"tcp\"}\n\n200").matcher(any.stdout());
        assertTrue(m.matches(), any::toString);
        int bound = Integer.parseInt(m.group(1));
        assertTrue(bound > 0);
        assertTrue(curl(g, "-H", auth, "http://192.168.127.1/services/forwarder/all").stdout()
                .contains("\"local\":\"127.0.0.1:" + bound + "\""));
        String[] got = new String[1];
        NetnsGuest.await(Duration.ofSeconds(30), "the port-0 forward", () -> "zero".equals(
                got[0] = echoOnce(bound, "zero")), () -> String.valueOf(got[0]));

        Path sock = unixDir.resolve("echo.sock");
        ExecResult ok = curl(g, "-H", auth, "-X", "POST", "-d", "{\"local\":\"" + sock
                + "\",\"remote\":\"tcp://192.168.127.2:8080\",\"protocol\":\"unix\"}",
                "http://192.168.127.1/services/forwarder/expose");
        assertEquals("\n200", ok.stdout(), ok::toString);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(sock)));
        Process p = new ProcessBuilder("bash", "-c", "echo via-unix | socat -t 5 - UNIX-CONNECT:" + sock).start();
        assertEquals("via-unix", new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim());

        Path existing = Files.writeString(unixDir.resolve("data.txt"), "keep");
        ExecResult file = curl(g, "-H", auth, "-X", "POST", "-d", "{\"local\":\"" + existing
                + "\",\"remote\":\"tcp://192.168.127.2:8080\",\"protocol\":\"unix\"}",
                "http://192.168.127.1/services/forwarder/expose");
        assertTrue(file.stdout().endsWith("\n500") && file.stdout().contains("not a socket"), file::toString);
        assertEquals("keep", Files.readString(existing));
        ExecResult outside = curl(g, "-H", auth, "-X", "POST", "-d", "{\"local\":\"" + dir.resolve("x.sock")
                + "\",\"remote\":\"tcp://192.168.127.2:8080\",\"protocol\":\"unix\"}",
                "http://192.168.127.1/services/forwarder/expose");
        assertTrue(outside.stdout().endsWith("\n403"), outside::toString);
        assertTrue(!Files.exists(dir.resolve("x.sock")));
    }

    /**
     * Under {@code umask 000}, a separately started gvproxy-java (its own JVM, so the umask is its own) creates its
     * QEMU and API sockets and unix forwards 0600 and its pid file 0644.
     */
    @Test
    void socketsAndPidFileIgnoreTheUmask() throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path qemu = dir.resolve("qemu.sock");
        Path api = dir.resolve("umask-api.sock");
        Path pid = dir.resolve("umask.pid");
        String cmd = "umask 000; exec " + java + " -cp '" + System.getProperty("java.class.path") + "' "
                + GvproxyMain.class.getName() + " -listen unix://" + api + " -listen-qemu unix://" + qemu
                + " -pid-file " + pid + " -ssh-port " + freePort();
        Process child = new ProcessBuilder("sh", "-c", cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve("child.log").toFile()).start();
        try {
            NetnsGuest.await(Duration.ofSeconds(60), "the child's sockets and pid file",
                    () -> Files.exists(qemu) && Files.exists(api) && Files.exists(pid),
                    () -> call(() -> Files.readString(dir.resolve("child.log"))));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(qemu)));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(api)));
            assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(pid)));
            Path fwd = dir.resolve("fwd.sock");
            Process p = new ProcessBuilder("curl", "-s", "--unix-socket", api.toString(), "-X", "POST", "-d",
                    "{\"local\":\"" + fwd + "\",\"remote\":\"tcp://192.168.127.2:22\",\"protocol\":\"unix\"}",
                    "http://x/services/forwarder/expose").redirectErrorStream(true).start();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals("", new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(fwd)));
        } finally {
            child.destroy(); // SIGTERM to the JVM we started (sh exec-ed it, so this PID is the JVM)
            if (!child.waitFor(30, TimeUnit.SECONDS)) {
                child.destroyForcibly();
            }
        }
        assertTrue(!Files.exists(api) && !Files.exists(pid), "removed on SIGTERM");
    }
}
