package dev.gvproxy.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.model.PortForward;
import dev.gvproxy.platform.SocketTransport;
import io.netty.channel.EventLoopGroup;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The embedding facade: expose/unexpose/forwards through the network's one registry (the list the HTTP API and
 * gvproxy's CLI use), stats, running on the caller's loop. Host sockets on 127.0.0.1 only.
 */
class VirtualNetworkFacadeTest {

    @Test
    void exposeListsUnexposeThroughTheOneRegistry() throws Exception {
        try (VirtualNetwork net = VirtualNetwork.builder().build()) {
            PortForward f = net.expose(new PortForward("127.0.0.1:0", "192.168.127.2:22", "tcp"))
                    .get(10, TimeUnit.SECONDS);
            assertTrue(f.local().startsWith("127.0.0.1:") && !f.local().equals("127.0.0.1:0"), f.local());
            assertEquals(List.of(f), net.forwards());
            // One list: the registry gvproxy's HTTP API is given is the facade's.
            assertEquals(List.of(f), net.internals().call(() -> net.internals().forwards().all()));
            ExecutionException dup = assertThrows(ExecutionException.class, () -> net.expose(f).get(10, TimeUnit.SECONDS));
            assertInstanceOf(IllegalStateException.class, dup.getCause());
            assertEquals("proxy already running for tcp on " + f.local(), dup.getCause().getMessage());
            net.unexpose(f).get(10, TimeUnit.SECONDS);
            assertEquals(List.of(), net.forwards());
            ExecutionException gone = assertThrows(ExecutionException.class,
                    () -> net.unexpose("tcp", f.local()).get(10, TimeUnit.SECONDS));
            assertEquals("proxy not found", gone.getCause().getMessage());
            ExecutionException bad = assertThrows(ExecutionException.class,
                    () -> net.expose(new PortForward("127.0.0.1:0", "nonsense", "tcp")).get(10, TimeUnit.SECONDS));
            assertEquals("invalid remote addr", bad.getCause().getMessage());
            assertTrue(net.stats().containsKey("api.guestForbidden"), net.stats().toString());
        }
    }

    @Test
    void busyPollingNetworkServesTheApiAndRefusesAWindowOutOfRange() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> VirtualNetwork.builder().busyPoll(java.time.Duration.ofMillis(-1)));
        assertThrows(IllegalArgumentException.class, () -> VirtualNetwork.builder().busyPoll(java.time.Duration.ofMillis(11)));
        try (VirtualNetwork net = VirtualNetwork.builder().busyPoll(java.time.Duration.ofNanos(100_000)).build()) {
            PortForward f = net.expose(new PortForward("127.0.0.1:0", "192.168.127.2:22", "tcp"))
                    .get(10, TimeUnit.SECONDS);
            assertEquals(List.of(f), net.forwards());
        }
    }

    @Test
    void runsOnTheCallersLoopAndLeavesItRunning() throws Exception {
        EventLoopGroup group = SocketTransport.get().newEventLoopGroup(1);
        try {
            io.netty.channel.EventLoop loop = group.next();
            VirtualNetwork net = VirtualNetwork.builder().eventLoop(loop).build();
            assertEquals(loop, net.internals().eventLoop());
            PortForward f = net.expose(new PortForward("127.0.0.1:0", "192.168.127.2:22", "tcp"))
                    .get(10, TimeUnit.SECONDS);
            assertEquals(List.of(f), net.forwards());
            net.close();
            assertFalse(loop.isShuttingDown());
            assertEquals(42, loop.submit(() -> 42).get(10, TimeUnit.SECONDS));
            assertThrows(IllegalStateException.class, () -> VirtualNetwork.builder().eventLoop(loop)
                    .busyPoll(java.time.Duration.ofMillis(1)).build(), "the caller's loop is the caller's to tune");
        } finally {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
