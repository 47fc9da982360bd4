package dev.gvproxy.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.model.PortForward;
import dev.gvproxy.platform.SocketTransport;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The embedding facade from a caller's thread: expose/unexpose as futures through the one registry (gvproxy's
 * duplicate and not-found refusals), a caller-supplied event loop that close() leaves running, the in-stack
 * services' argument checks, stats. Host listeners bind 127.0.0.1 only.
 */
class VirtualNetworkFacadeTest {

    static Throwable failure(CompletableFuture<?> f) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
        return e.getCause();
    }

    /** The listener's socket closes on the loop after the future completes (NIO: asynchronously); bounded wait. */
    static void assertRefusedSoon(int port) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            } catch (ConnectException refused) {
                return;
            }
            assertTrue(System.nanoTime() < deadline, "127.0.0.1:" + port + " still accepts connections");
            Thread.onSpinWait();
        }
    }

    @Test
    void exposeAndUnexposeFromAnyThreadGoThroughTheRegistry() throws Exception {
        try (VirtualNetwork net = VirtualNetwork.builder().build()) {
            PortForward f = net.expose(new PortForward("127.0.0.1:0", "192.168.127.2:22", "tcp"))
                    .get(10, TimeUnit.SECONDS);
            assertTrue(f.local().startsWith("127.0.0.1:") && !f.local().equals("127.0.0.1:0"), f.local());
            int port = Integer.parseInt(f.local().substring("127.0.0.1:".length()));
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 5000); // the host listener is bound
            }
            assertEquals(List.of(f), net.forwards());
            assertSame(net.portForwards().all().getFirst(), net.call(() -> net.portForwards().all().getFirst()));

            Throwable dup = failure(net.expose(new PortForward(f.local(), "192.168.127.2:22", "tcp")));
            assertInstanceOf(IllegalStateException.class, dup);
            assertEquals("proxy already running for tcp on " + f.local(), dup.getMessage());
            Throwable bad = failure(net.expose(new PortForward("127.0.0.1:0", "not-an-ip:22", "tcp")));
            assertEquals("invalid remote addr", bad.getMessage());

            net.unexpose("tcp", f.local()).get(10, TimeUnit.SECONDS);
            assertEquals(List.of(), net.forwards());
            Throwable gone = failure(net.unexpose("tcp", f.local()));
            assertInstanceOf(IllegalStateException.class, gone);
            assertEquals("proxy not found", gone.getMessage());
            assertRefusedSoon(port);
        }
    }

    @Test
    void closeClosesForwardsMadeThroughTheFacade() throws Exception {
        VirtualNetwork net = VirtualNetwork.builder().build();
        PortForward f = net.expose(new PortForward("127.0.0.1:0", "192.168.127.2:22", "tcp")).get(10, TimeUnit.SECONDS);
        int port = Integer.parseInt(f.local().substring("127.0.0.1:".length()));
        net.close();
        assertRefusedSoon(port);
    }

    @Test
    void aCallersEventLoopIsUsedAndNotShutDown() throws Exception {
        EventLoopGroup group = SocketTransport.get().newEventLoopGroup(1);
        try {
            EventLoop loop = group.next();
            VirtualNetwork net = VirtualNetwork.builder().eventLoop(loop).build();
            assertSame(loop, net.eventLoop());
            assertTrue(net.call(() -> loop.inEventLoop()));
            PortForward f = net.expose(new PortForward("127.0.0.1:0", "192.168.127.2:22", "tcp")).get(10, TimeUnit.SECONDS);
            assertEquals(List.of(f), net.forwards());
            net.close();
            assertFalse(group.isShuttingDown());
            assertEquals("still running", loop.submit(() -> "still running").get(10, TimeUnit.SECONDS));
            // Two networks may share one loop.
            try (VirtualNetwork a = VirtualNetwork.builder().eventLoop(loop).build();
                 VirtualNetwork b = VirtualNetwork.builder().eventLoop(loop).build()) {
                assertSame(a.eventLoop(), b.eventLoop());
            }
            assertFalse(group.isShuttingDown());
        } finally {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @Test
    void inStackServicesCheckTheirArguments() throws Exception {
        try (VirtualNetwork net = VirtualNetwork.builder().build()) {
            assertThrows(IllegalArgumentException.class, () -> net.serveUdp(0, (from, data, reply) -> {}));
            assertThrows(IllegalArgumentException.class, () -> net.serveInStack(65536, null));
            net.serveUdp(9999, (from, data, reply) -> reply.send(data.retain()));
            // One service per port; the gateway's DNS already has 53.
            assertThrows(IllegalStateException.class, () -> net.serveUdp(9999, (from, data, reply) -> {}));
            assertThrows(IllegalStateException.class, () -> net.serveUdp(53, (from, data, reply) -> {}));
            net.stopServingUdp(9999);
            net.serveUdp(9999, (from, data, reply) -> {});
            assertTrue(net.stats().containsKey("udp.in.datagrams"), net.stats().keySet().toString());
        }
    }
}
