package dev.gvproxy.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.forwarder.PortForwarder;
import dev.gvproxy.model.GoJson;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.model.PortForwardRegistry;
import dev.gvproxy.model.PortForwarderOpener;
import dev.gvproxy.model.PortForwards;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Keying, duplicates and listing of port forwards, in the one registry ({@link PortForwardRegistry}) over the
 * stack-forwarder's {@link PortForwarder} (which owns only the live listeners), listed as gvproxy's
 * {@code /services/forwarder/all} writes it ({@link GoJson}, the one writer of Go's shapes). Moved here from
 * stack-forwarder's {@code PortForwarderTest} when keying and JSON left the forwarder. Runs on a real
 * network's event loop; nothing leaves 127.0.0.1.
 */
class PortForwarderListingTest {
    VirtualNetwork net;
    PortForwarder pf;
    PortForwardRegistry forwards;

    @BeforeEach
    void setUp() throws Exception {
        net = VirtualNetwork.builder().build();
        pf = new PortForwarder(net.internals().stack(), net.internals().eventLoop(), PortForwarder.Options.DEFAULTS);
        forwards = new PortForwardRegistry(new PortForwarderOpener(pf));
    }

    /** Runs a registry operation on the loop, as the API does. */
    <T> CompletableFuture<T> onLoop(Supplier<CompletionStage<T>> op) {
        return CompletableFuture.supplyAsync(op, net.internals().eventLoop()).thenCompose(s -> s);
    }

    CompletableFuture<PortForward> expose(PortForwarder.Forward f) {
        return onLoop(() -> forwards.expose(new PortForward(f.local(), f.remote(), f.protocol()),
                PortForwards.Origin.HOST));
    }

    CompletableFuture<Void> unexpose(String local, String protocol) {
        return onLoop(() -> forwards.unexpose(new PortForwarder.Forward(local, "", protocol).protocol(), local));
    }

    List<PortForwarder.Forward> list() {
        return onLoop(() -> CompletableFuture.completedFuture(forwards.all())).join().stream()
                .map(f -> new PortForwarder.Forward(f.local(), f.remote(), f.protocol())).toList();
    }

    @AfterEach
    void tearDown() {
        pf.close();
        net.close();
    }

    String listJson() {
        return GoJson.forwards(onLoop(() -> CompletableFuture.completedFuture(forwards.all())).join());
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
                failure(pf.open(new PortForwarder.Forward("127.0.0.1:0", "[ff02::1]:22", "udp"))), "a guest unicast address");
        assertInstanceOf(IllegalArgumentException.class,
                failure(pf.open(new PortForwarder.Forward("127.0.0.1:0", "guest:22", null))));
        Throwable unknown = failure(pf.open(new PortForwarder.Forward("127.0.0.1:0", "192.168.127.2:22", "sctp")));
        assertEquals("unknown protocol sctp", unknown.getMessage());
        assertEquals(List.of(), list());
        assertEquals("[]", listJson());
    }

    @Test
    void exposeListUnexpose() throws Exception {
        int p1 = freeTcpPort();
        int p2 = freeTcpPort();
        expose(new PortForwarder.Forward("127.0.0.1:" + p2, "192.168.127.2:80", "udp")).get(10, TimeUnit.SECONDS);
        expose(PortForwarder.Forward.fromConfig("127.0.0.1:" + p1, "192.168.127.2:22")).get(10, TimeUnit.SECONDS);
        expose(PortForwarder.Forward.fromConfig("udp:127.0.0.1:" + p1, "192.168.127.2:53")).get(10, TimeUnit.SECONDS);
        List<PortForwarder.Forward> all = list();
        assertEquals(3, all.size());
        String a = "127.0.0.1:" + Math.min(p1, p2);
        assertEquals(p1 < p2 ? "tcp" : "udp", all.get(0).protocol(), all::toString);
        assertTrue(listJson().startsWith("[{\"local\":\"" + a + "\",\"remote\":"), this::listJson);

        Throwable dup = failure(expose(new PortForwarder.Forward("127.0.0.1:" + p1, "192.168.127.2:23", "")));
        assertInstanceOf(IllegalStateException.class, dup);
        assertEquals("proxy already running for tcp on 127.0.0.1:" + p1, dup.getMessage());

        unexpose("127.0.0.1:" + p1, null).get(10, TimeUnit.SECONDS);
        assertEquals(2, list().size());
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
        Throwable missing = failure(unexpose("127.0.0.1:" + p1, "tcp"));
        assertEquals("proxy not found", missing.getMessage());
    }
}
