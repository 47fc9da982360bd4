package dev.gvproxy.it.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.examples.ExposePortExample;
import dev.gvproxy.examples.NetnsExample;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.network.VirtualNetwork;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the examples' logic against a namespace guest (root and /dev/net/tun needed; the extension skips with a
 * clear message otherwise). The guest attaches over gvforwarder's {@code /connect}, not QEMU framing. Traffic:
 * 127.0.0.1 and the test's own namespace only.
 */
class ExamplesNetnsTest {
    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    /**
     * NetnsExample's attach step on a namespace the harness creates: DHCP gives tap0 the address the example's
     * documentation promises (192.168.127.2 for gvproxy's default MAC), the gateway answers ping and the host alias
     * reaches a server on the host's 127.0.0.1.
     */
    @Test
    void netnsExampleAttachesANamespace() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        String url = "unix://" + dir.resolve("api.sock");
        net.listenApi(url);
        try (ServerSocket host = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
            Thread server = Thread.ofVirtual().start(() -> answerOneLine(host));
            NetnsGuest g = guests.start(NetnsGuest.builder(url).attachWith(NetnsExample::attach));
            assertEquals("192.168.127.2", g.awaitAddress(Duration.ofSeconds(30)));
            ExecResult ping = g.exec(Duration.ofSeconds(30), "ping", "-c", "2", "-W", "5", "192.168.127.1");
            assertEquals(0, ping.exitCode(), () -> "ping gateway: " + ping + "\n" + g.diagnostics());
            ExecResult nc = g.exec(Duration.ofSeconds(30), "bash", "-c",
                    "echo example | socat -t 10 - TCP:192.168.127.254:" + host.getLocalPort());
            assertEquals(0, nc.exitCode(), () -> "connect to the host alias: " + nc);
            assertEquals("pong example", nc.stdout().strip());
            server.join(Duration.ofSeconds(10));
        }
    }

    /** Test-only host server on 127.0.0.1: answers one line with "pong LINE" and closes. */
    static void answerOneLine(ServerSocket host) {
        try (Socket c = host.accept()) {
            c.setSoTimeout(20_000);
            String line = new BufferedReader(new InputStreamReader(c.getInputStream(), StandardCharsets.US_ASCII))
                    .readLine();
            c.getOutputStream().write(("pong " + line + "\n").getBytes(StandardCharsets.US_ASCII));
        } catch (java.io.IOException e) {
            // the test's assertion on the guest's output reports it
        }
    }

    /** ExposePortExample's expose, reached from the host through the exposed port to an echo server in the guest. */
    @Test
    void exposePortExampleIsReachedThroughTheHostPort() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        String url = "unix://" + dir.resolve("gv.sock");
        net.listenApi(url);
        NetnsGuest g = guests.start(NetnsGuest.builder(url));
        String guestIp = g.awaitAddress(Duration.ofSeconds(30));
        g.spawn("socat", "TCP-LISTEN:8080,fork,reuseaddr", "EXEC:cat");
        ExecResult r = g.exec(Duration.ofSeconds(30), "bash", "-c",
                "for i in $(seq 200); do ss -Hltn 'sport = :8080' | grep -q . && exit 0; sleep 0.05; done; exit 1");
        assertEquals(0, r.exitCode(), () -> "guest echo server did not start: " + r);

        PortForward f = ExposePortExample.expose(net, "127.0.0.1:0", guestIp + ":8080");
        assertEquals(List.of(f), net.forwards());
        int port = Integer.parseInt(f.local().substring(f.local().lastIndexOf(':') + 1));
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write("hello example\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            s.shutdownOutput();
            InputStream in = s.getInputStream();
            assertEquals("hello example\n", new String(in.readAllBytes(), StandardCharsets.US_ASCII));
        }
        net.unexpose(f).get();
        assertTrue(net.forwards().isEmpty());
    }
}
