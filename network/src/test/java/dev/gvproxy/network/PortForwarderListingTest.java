package dev.gvproxy.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.forwarder.PortForwarder;
import dev.gvproxy.model.GoJson;
import dev.gvproxy.model.PortForward;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The forwarder's listing as gvproxy's {@code /services/forwarder/all} writes it: moved here from
 * stack-forwarder's {@code PortForwarderTest} when the forwarder stopped writing JSON ({@link GoJson} is the one
 * writer of Go's shapes). Runs on a real network's event loop; nothing leaves 127.0.0.1.
 */
class PortForwarderListingTest {
    VirtualNetwork net;
    PortForwarder pf;

    @BeforeEach
    void setUp() throws Exception {
        net = VirtualNetwork.builder().build();
        pf = new PortForwarder(net.stack(), net.eventLoop(), PortForwarder.Options.DEFAULTS);
    }

    @AfterEach
    void tearDown() {
        pf.close();
        net.close();
    }

    String listJson() {
        return GoJson.forwards(pf.list().stream().map(f -> new PortForward(f.local(), f.remote(), f.protocol()))
                .toList());
    }

    static Throwable failure(CompletableFuture<?> f) throws Exception {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
        return e.getCause();
    }

    static int freeTcpPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void invalidRequestsFailWithIllegalArgument() throws Exception {
        assertInstanceOf(IllegalArgumentException.class,
                failure(pf.expose(new PortForwarder.Forward("127.0.0.1:0", "[fd00::2]:22", "tcp"))));
        assertInstanceOf(IllegalArgumentException.class,
                failure(pf.expose(new PortForwarder.Forward("127.0.0.1:0", "guest:22", null))));
        Throwable unknown = failure(pf.expose(new PortForwarder.Forward("127.0.0.1:0", "192.168.127.2:22", "sctp")));
        assertEquals("unknown protocol sctp", unknown.getMessage());
        assertEquals(List.of(), pf.list());
        assertEquals("[]", listJson());
    }

    @Test
    void exposeListUnexpose() throws Exception {
        int p1 = freeTcpPort();
        int p2 = freeTcpPort();
        pf.expose(new PortForwarder.Forward("127.0.0.1:" + p2, "192.168.127.2:80", "udp")).get(10, TimeUnit.SECONDS);
        pf.expose(PortForwarder.Forward.fromConfig("127.0.0.1:" + p1, "192.168.127.2:22")).get(10, TimeUnit.SECONDS);
        pf.expose(PortForwarder.Forward.fromConfig("udp:127.0.0.1:" + p1, "192.168.127.2:53")).get(10, TimeUnit.SECONDS);
        List<PortForwarder.Forward> all = pf.list();
        assertEquals(3, all.size());
        String a = "127.0.0.1:" + Math.min(p1, p2);
        assertEquals(p1 < p2 ? "tcp" : "udp", all.get(0).protocol(), all::toString);
        assertTrue(listJson().startsWith("[{\"local\":\"" + a + "\",\"remote\":"), this::listJson);

        Throwable dup = failure(pf.expose(new PortForwarder.Forward("127.0.0.1:" + p1, "192.168.127.2:23", "")));
        assertInstanceOf(IllegalStateException.class, dup);
        assertEquals("proxy already running for tcp on 127.0.0.1:" + p1, dup.getMessage());

        pf.unexpose("127.0.0.1:" + p1, null).get(10, TimeUnit.SECONDS);
        assertEquals(2, pf.list().size());
        // The port is free again. Under NIO the JDK closes a selector-registered socket only at the loop's next
        // select, shortly after the close completes: a bounded wait.
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (true) {
            try (ServerSocket s = new ServerSocket(p1, 1, InetAddress.getByName("127.0.0.1"))) {
                assertEquals(p1, s.getLocalPort());
                break;
            } catch (java.net.BindException e) {
                if (System.nanoTime() > end) {
                    throw e;
                }
                Thread.onSpinWait();
            }
        }
        Throwable missing = failure(pf.unexpose("127.0.0.1:" + p1, "tcp"));
        assertEquals("proxy not found", missing.getMessage());
    }
}
