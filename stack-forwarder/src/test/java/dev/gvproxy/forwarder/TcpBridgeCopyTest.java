package dev.gvproxy.forwarder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.platform.SocketTransport;
import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * When {@link TcpBridge} copies guest bytes out of the transport's read buffers: only while the host is behind
 * (its last flush left more than the high-water mark unwritten), not because one batch's own writes passed the
 * mark before their flush. A real host socket on 127.0.0.1 whose peer reads or does not; a scripted guest stream.
 */
class TcpBridgeCopyTest {
    private static final int SEGMENT = 64 * 1024;

    private final EventLoopGroup group = SocketTransport.get().newEventLoopGroup(1);
    private final EventLoop loop = group.next();
    private final Counters counters = new Counters();

    @AfterEach
    void close() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Test
    void aBatchTheHostTakesIsNotCopiedThoughItPassesTheHighWaterMark() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Guest guest = bridge(server);
            try (Socket peer = server.accept()) {
                CompletableFuture<Long> drained = drain(peer, 4L * SEGMENT);
                // One batch of four 64 KiB segments (one loop task, as one read of an offload port's frames):
                // the first already passes the 16 KiB high-water mark; the flush after the batch writes them.
                onLoop(() -> {
                    for (int i = 0; i < 4; i++) {
                        guest.handler.onData(segment());
                    }
                    return null;
                });
                assertEquals(4L * SEGMENT, drained.get(10, TimeUnit.SECONDS));
                assertEquals(0, counters.get("tcp.bridge.bytesCopiedWhileBlocked"));
                whenConsumed(guest, 4L * SEGMENT).get(10, TimeUnit.SECONDS); // all four reported written
                assertEquals(4L * SEGMENT, guest.consumed.get());
            }
        }
    }

    @Test
    void bytesForAHostThatIsBehindAreCopied() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Guest guest = bridge(server);
            try (Socket peer = server.accept()) {
                // The peer reads nothing: batches fill the socket buffers (a few MiB on loopback) until a flush
                // leaves bytes unwritten.
                long sent = 0;
                for (int batch = 0; batch < 2000 && counters.get("tcp.bridge.bytesCopiedWhileBlocked") == 0; batch++) {
                    onLoop(() -> {
                        guest.handler.onData(segment());
                        return null;
                    });
                    sent += SEGMENT;
                }
                assertEquals(SEGMENT, counters.get("tcp.bridge.bytesCopiedWhileBlocked"),
                        "the first segment after a flush that left bytes unwritten is copied");
                assertTrue(guest.consumed.get() < sent, "the host took less than was sent");
                // Once the peer reads, the host drains below the low-water mark and copying stops.
                long total = sent;
                CompletableFuture<Long> drained = drain(peer, total + SEGMENT);
                whenConsumed(guest, total).get(10, TimeUnit.SECONDS); // the host caught up
                assertEquals(total, guest.consumed.get());
                long copied = counters.get("tcp.bridge.bytesCopiedWhileBlocked");
                onLoop(() -> {
                    guest.handler.onData(segment());
                    return null;
                });
                assertEquals(sent + SEGMENT, drained.get(10, TimeUnit.SECONDS));
                assertEquals(copied, counters.get("tcp.bridge.bytesCopiedWhileBlocked"));
            }
        }
    }

    /** A host channel connected to {@code server}'s port, bridged to a scripted guest stream. */
    private Guest bridge(ServerSocket server) throws Exception {
        HostConnector connector = HostConnector.sockets(loop, new ChannelInboundHandlerAdapter());
        Channel ch = onLoop(() -> connector.connect(new InetSocketAddress(server.getInetAddress(),
                server.getLocalPort()))).syncUninterruptibly().channel();
        Guest guest = new Guest();
        onLoop(() -> {
            TcpBridge.attach(counters, ch).connect(guest);
            return null;
        });
        return guest;
    }

    private static ByteBuf segment() {
        return Unpooled.directBuffer(SEGMENT).writeZero(SEGMENT);
    }

    private static CompletableFuture<Long> drain(Socket peer, long bytes) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                InputStream in = peer.getInputStream();
                byte[] buf = new byte[64 * 1024];
                long got = 0;
                while (got < bytes) {
                    int n = in.read(buf);
                    if (n < 0) {
                        break;
                    }
                    got += n;
                }
                return got;
            } catch (java.io.IOException e) {
                throw new RuntimeException(e);
            }
        });
    }

    private <T> T onLoop(Callable<T> task) throws Exception {
        return loop.submit(task).get(10, TimeUnit.SECONDS);
    }

    /** Completes once the bridge has reported {@code bytes} written out (at once if it has already). */
    private CompletableFuture<Void> whenConsumed(Guest guest, long bytes) throws Exception {
        return onLoop(() -> {
            guest.target = bytes;
            guest.reached = new CompletableFuture<>();
            guest.check();
            return guest.reached;
        });
    }

    /**
     * The guest side: takes nothing from the host (no send space), counts what the bridge wrote out and completes
     * {@link #reached} when that count gets to {@link #target} (both set and checked on the loop).
     */
    private static final class Guest implements TunnelStream {
        TunnelStream.Handler handler;
        final AtomicLong consumed = new AtomicLong();
        long target = Long.MAX_VALUE;
        CompletableFuture<Void> reached = new CompletableFuture<>();

        void check() {
            if (consumed.get() >= target) {
                reached.complete(null);
            }
        }

        @Override
        public void start(Handler h) {
            this.handler = h;
        }

        @Override
        public int sendSpace() {
            return 0;
        }

        @Override
        public void send(ByteBuf data) {
            data.release();
        }

        @Override
        public void shutdownOutput() {}

        @Override
        public void consumed(int n) {
            consumed.addAndGet(n);
            check();
        }

        @Override
        public void abort() {}
    }
}
