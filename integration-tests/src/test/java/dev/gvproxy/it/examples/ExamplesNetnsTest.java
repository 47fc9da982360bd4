package dev.gvproxy.it.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.examples.ExposePortExample;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.network.VirtualNetwork;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
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
