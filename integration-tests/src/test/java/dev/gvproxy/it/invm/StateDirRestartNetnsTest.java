package dev.gvproxy.it.invm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.cli.GvproxyMain;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.InProcessGvproxy;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import java.io.IOException;
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
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 9 deliverable 8 (upstream #418): with {@code -state-dir}, a restart of gvproxy-java keeps the guest's
 * address (its lease), the forwards created through the host and the in-VM API (with their owners) and the DNS
 * zones added through the API; the guest agent reconnects and everything works again.
 */
class StateDirRestartNetnsTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    private GvproxyMain.Running running;
    private CompletableFuture<Integer> exit;
    private String[] args;

    @BeforeEach
    void check() throws IOException {
        NetnsGuest.assumeSupported();
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "needs curl (apt install curl)");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "needs socat (apt install socat)");
        args = new String[] {"-listen", "unix://" + dir.resolve("api.sock"), "-ssh-port", Integer.toString(freePort()),
            "-state-dir", dir.resolve("state").toString()};
    }

    private void start() throws Exception {
        InProcessGvproxy gv = InProcessGvproxy.start(Duration.ofSeconds(60), args);
        running = gv.running();
        exit = gv.exit();
    }

    private void stop() throws Exception {
        running.stop("restart");
        assertEquals(0, exit.get(60, TimeUnit.SECONDS));
        running = null;
    }

    @AfterEach
    void tearDown() throws Exception {
        if (running != null) {
            stop();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private NetnsGuest randomMacGuest() throws Exception {
        return guests.start(NetnsGuest.builder("unix://" + dir.resolve("api.sock")).mac(NetnsGuest.randomMac()));
    }

    private static ExecResult curl(NetnsGuest g, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("curl", "-s", "--max-time", "30", "-w", "\n%{http_code}"));
        cmd.addAll(List.of(args));
        return g.exec(Duration.ofSeconds(60), cmd.toArray(String[]::new));
    }

    private String hostApi(String... a) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("curl", "-s", "--max-time", "10", "--unix-socket",
                dir.resolve("api.sock").toString()));
        cmd.addAll(List.of(a));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        return out;
    }

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

    private static void awaitEcho(int port, String line) {
        String[] got = new String[1];
        NetnsGuest.await(Duration.ofSeconds(60), "an echo through 127.0.0.1:" + port,
                () -> line.equals(got[0] = echoOnce(port, line)), () -> String.valueOf(got[0]));
    }

    @Test
    void restartKeepsLeasesApiForwardsAndDnsZones() throws Exception {
        start();
        NetnsGuest g = randomMacGuest();
        String ip = g.awaitAddress(Duration.ofSeconds(60));
        assertEquals("192.168.127.3", ip, g::diagnostics);
        g.spawn("socat", "TCP-LISTEN:8080,fork,reuseaddr", "EXEC:cat");
        int guestPort = freePort();
        int hostPort = freePort();
        ExecResult r = curl(g, "-X", "POST", "-d", "{\"local\":\"127.0.0.1:" + guestPort + "\",\"remote\":\":8080\"}",
                "http://192.168.127.1/services/forwarder/expose");
        assertEquals("\n200", r.stdout(), r::toString);
        assertEquals("", hostApi("-X", "POST", "-d", "{\"local\":\"127.0.0.1:" + hostPort
                + "\",\"remote\":\"" + ip + ":8080\"}", "http://x/services/forwarder/expose"));
        assertEquals("", hostApi("-X", "POST", "-d", "{\"Name\":\"dynamic.internal.\",\"Records\":[{\"Name\":\"db\","
                + "\"IP\":\"192.168.127.3\"}]}", "http://x/services/dns/add"));
        awaitEcho(guestPort, "before");
        Path stateFile = dir.resolve("state").resolve("gvproxy-java-state.json");
        NetnsGuest.await(Duration.ofSeconds(30), "the state file", () -> {
            try {
                return Files.exists(stateFile) && Files.readString(stateFile).contains("\"" + ip + "\"")
                        && Files.readString(stateFile).contains("dynamic.internal.");
            } catch (IOException e) {
                return false;
            }
        }, () -> "");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(stateFile)));

        // A second guest that goes away before the restart: its lease must outlive the restart (it has not expired).
        NetnsGuest gone = randomMacGuest();
        assertEquals("192.168.127.4", gone.awaitAddress(Duration.ofSeconds(60)), gone::diagnostics);
        gone.close();
        NetnsGuest.await(Duration.ofSeconds(30), "the leases in the state file", () -> {
            try {
                return Files.readString(stateFile).contains("\"192.168.127.4\"");
            } catch (IOException e) {
                return false;
            }
        }, () -> "");

        stop();
        start();

        // The agent reconnects by itself; the guest keeps its address and both forwards work again.
        awaitEcho(guestPort, "after-guest-forward");
        awaitEcho(hostPort, "after-host-forward");
        assertEquals(ip, g.ipv4Address());
        // The leases were restored: a new guest gets neither the first guest's address nor the departed one's.
        NetnsGuest other = randomMacGuest();
        assertEquals("192.168.127.5", other.awaitAddress(Duration.ofSeconds(60)), other::diagnostics);
        // Owners survive: the guest sees only its own forward, and still cannot remove the host's.
        ExecResult listed = curl(g, "http://192.168.127.1/services/forwarder/all");
        assertTrue(listed.stdout().contains("127.0.0.1:" + guestPort) && !listed.stdout().contains(
                "127.0.0.1:" + hostPort), listed::toString);
        ExecResult un = curl(g, "-X", "POST", "-d", "{\"local\":\"127.0.0.1:" + hostPort + "\"}",
                "http://192.168.127.1/services/forwarder/unexpose");
        assertTrue(un.stdout().endsWith("\n403"), un::toString);
        assertTrue(hostApi("http://x/services/dns/all").contains("{\"Name\":\"db\",\"IP\":\"192.168.127.3\"}"));
        // Asked of the gateway's DNS server only (a name in a zone it answers itself).
        ExecResult dns = g.exec("busybox", "nslookup", "db.dynamic.internal", "192.168.127.1");
        assertTrue(dns.stdout().contains("Address: 192.168.127.3"), dns::toString);
    }
}
