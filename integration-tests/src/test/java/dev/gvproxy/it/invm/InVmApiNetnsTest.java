package dev.gvproxy.it.invm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.cli.GvproxyMain;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.InProcessGvproxy;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** A DHCP'd namespace guest uses gvproxy-java's in-VM API on http://192.168.127.1/ (spec 4.1, 4.2). */
class InVmApiNetnsTest {
    private static final Duration DHCP_TIMEOUT = Duration.ofSeconds(60);

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    private GvproxyMain.Running running;
    private CompletableFuture<Integer> exit;
    private int sshPort;

    @BeforeEach
    void start() throws Exception {
        NetnsGuest.assumeSupported();
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "needs curl (apt install curl)");
        sshPort = freePort();
        Path api = dir.resolve("api.sock");
        String[] args = {"-listen", "unix://" + api, "-ssh-port", Integer.toString(sshPort)};
        InProcessGvproxy gv = InProcessGvproxy.start(Duration.ofSeconds(60), args);
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

    private NetnsGuest dhcpGuest() throws Exception {
        NetnsGuest g = guests.start(NetnsGuest.builder("unix://" + dir.resolve("api.sock")));
        assertEquals("192.168.127.2", g.awaitAddress(DHCP_TIMEOUT), g::diagnostics);
        return g;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** {@code curl} in the guest; the last line of stdout is the HTTP status. */
    private static ExecResult curl(NetnsGuest g, String... args) throws Exception {
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("curl", "-s", "--max-time", "30", "-w",
                "\n%{http_code}"));
        cmd.addAll(java.util.List.of(args));
        return g.exec(Duration.ofSeconds(60), cmd.toArray(String[]::new));
    }

    @Test
    void guestListsForwardsOverTheGateway() throws Exception {
        NetnsGuest g = dhcpGuest();
        ExecResult r = curl(g, "http://192.168.127.1/services/forwarder/all");
        assertEquals(0, r.exitCode(), () -> r + "\n" + g.diagnostics());
        // A guest lists only guest-created forwards (issue 9): the host's SSH forward (127.0.0.1:sshPort) is not
        // shown to it; the host API lists it (InVmApiSecurityNetnsTest).
        assertEquals("[]\n\n200", r.stdout(), r::toString);
        // Routes outside the in-VM subset are not served there (spec 4.1).
        ExecResult stats = curl(g, "http://192.168.127.1/stats");
        assertTrue(stats.stdout().endsWith("\n404"), stats::toString);
        // The gateway's name works too.
        ExecResult named = curl(g, "--resolve", "gateway.containers.internal:80:192.168.127.1",
                "http://gateway.containers.internal/services/forwarder/all");
        assertTrue(named.stdout().endsWith("\n200"), named::toString);
    }

    @Test
    void guestExposesItsOwnPortToTheHost() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "needs socat (apt install socat)");
        NetnsGuest g = dhcpGuest();
        Process echo = g.spawn("socat", "TCP-LISTEN:8080,fork,reuseaddr", "EXEC:cat");
        int hostPort = freePort();
        // An empty remote host: the in-VM API fills in the caller's (the guest's) address.
        ExecResult r = curl(g, "-X", "POST", "-d", "{\"local\":\":" + hostPort + "\",\"remote\":\":8080\"}",
                "http://192.168.127.1/services/forwarder/expose");
        assertEquals("\n200", r.stdout(), () -> r + "\n" + g.diagnostics());
        ExecResult all = curl(g, "http://192.168.127.1/services/forwarder/all");
        assertTrue(all.stdout().contains("{\"local\":\":" + hostPort + "\",\"remote\":\"192.168.127.2:8080\","
                + "\"protocol\":\"tcp\"}"), all::toString);

        // The host listener (0.0.0.0) is reached on 127.0.0.1 and forwards into the guest's echo server.
        String[] answer = new String[1];
        NetnsGuest.await(Duration.ofSeconds(60), "an echo through 127.0.0.1:" + hostPort,
                () -> (answer[0] = echoOnce(hostPort, "hello through the in-VM expose")) != null,
                () -> "socat alive: " + echo.isAlive() + "\n" + g.diagnostics());
        assertEquals("hello through the in-VM expose", answer[0]);

        ExecResult un = curl(g, "-X", "POST", "-d", "{\"local\":\":" + hostPort + "\"}",
                "http://192.168.127.1/services/forwarder/unexpose");
        assertEquals("\n200", un.stdout(), un::toString);
        ExecResult again = curl(g, "-X", "POST", "-d", "{\"local\":\":" + hostPort + "\"}",
                "http://192.168.127.1/services/forwarder/unexpose");
        assertEquals("proxy not found\n\n500", again.stdout(), again::toString);
        NetnsGuest.await(Duration.ofSeconds(30), "the host listener to close", () -> !listening(hostPort), () -> "");
    }

    /** One line to 127.0.0.1:port and back, or null when it does not (yet) work. */
    private static String echoOnce(int port, String line) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write((line + "\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            s.shutdownOutput();
            InputStream in = s.getInputStream();
            String got = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
            return got.isEmpty() ? null : got;
        } catch (IOException e) {
            return null;
        }
    }

    private static boolean listening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
