package dev.gvproxy.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.tcp.TcpConfig;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.wire.Ipv4Address;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link StackChannel} end to end inside one process: a real {@link VirtualNetwork} serves a Netty pipeline
 * in-stack, and the "guest" is a second {@link NetworkStack} (its own switch, bridged to the network's switch)
 * whose TCP client the test drives directly, so both directions, half-closes, resets and every window are
 * observable without sleeping: the test waits on conditions checked on the event loop.
 */
class StackChannelTest {
    private static final long GUEST_MAC = 0x5a94efe40ceeL;
    private static final int GATEWAY = Ipv4Address.parse("192.168.127.1");
    private static final int GUEST = Ipv4Address.parse("192.168.127.2");
    private static final long TIMEOUT_S = Long.getLong("stackChannelTest.timeout", 120);

    private VirtualNetwork net;
    private EventLoop loop;
    private VirtualSwitch guestSwitch;
    private NetworkStack guestStack;
    private ScheduledFuture<?> guestTicker;
    private Link toGuest;
    private Link toNetwork;
    private int nextGuestPort = 41000;

    /** A switch port whose frames are delivered to another switch on a later loop task (no re-entrancy). */
    private final class Link implements LinkEndpoint {
        final ArrayDeque<ByteBuf> queue = new ArrayDeque<>();
        VirtualSwitch target;
        SwitchPort targetPort;
        boolean scheduled;

        @Override
        public void transmit(ByteBuf frame) {
            queue.add(frame);
        }

        @Override
        public void flush() {
            if (!scheduled && !queue.isEmpty()) {
                scheduled = true;
                loop.execute(this::drain);
            }
        }

        void drain() {
            scheduled = false;
            if (target == null) {
                release();
                return;
            }
            for (ByteBuf f; (f = queue.pollFirst()) != null; ) {
                target.deliver(targetPort, f);
            }
            target.flush();
        }

        void release() {
            for (ByteBuf f; (f = queue.pollFirst()) != null; ) {
                f.release();
            }
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        net = VirtualNetwork.builder().dhcp(false, null).dns(false, null).build();
        loop = net.internals().eventLoop();
        net.internals().run(() -> {
            Counters gc = new Counters();
            guestSwitch = new VirtualSwitch(GUEST_MAC, gc, System::nanoTime);
            StackConfig gcfg = StackConfig.builder().subnet("192.168.127.0/24").gatewayIp("192.168.127.2")
                    .deviceIp("192.168.127.3").gatewayMac(GUEST_MAC).build();
            // Small guest buffers keep the backpressure tests short: the stall point is the sum of the buffers.
            guestStack = new NetworkStack(gcfg, guestSwitch, gc, PooledByteBufAllocator.DEFAULT, System::nanoTime,
                    TcpConfig.forMtu(1500).withBuffers(256 << 10, 256 << 10), new java.security.SecureRandom()::nextInt);
            toGuest = new Link();
            toNetwork = new Link();
            SwitchPort onNetwork = net.internals().virtualSwitch().attach("guest", toGuest);
            SwitchPort onGuest = guestSwitch.attach("uplink", toNetwork);
            toGuest.target = guestSwitch;
            toGuest.targetPort = onGuest;
            toNetwork.target = net.internals().virtualSwitch();
            toNetwork.targetPort = onNetwork;
            guestTicker = loop.scheduleAtFixedRate(() -> {
                guestStack.poll(System.nanoTime());
                guestSwitch.flush();
            }, 10, 10, TimeUnit.MILLISECONDS);
        });
    }

    @AfterEach
    void tearDown() {
        if (net == null) {
            return;
        }
        net.internals().run(() -> {
            guestTicker.cancel(false);
            for (TcpConnection c : guestStack.tcp().connections().toArray(TcpConnection[]::new)) {
                c.abort(guestStack.now());
            }
            for (TcpConnection c : net.internals().stack().tcp().connections().toArray(TcpConnection[]::new)) {
                c.abort(net.internals().stack().now());
            }
            net.internals().virtualSwitch().flush();
            guestSwitch.flush();
            toNetwork.drain();
            net.internals().virtualSwitch().flush();
            toGuest.target = null;
            toNetwork.target = null;
            guestStack.close();
            toGuest.release();
            toNetwork.release();
        });
        net.close();
    }

    /** The test's TCP client in the guest stack. All fields are touched on the loop only. */
    private final class Guest implements TcpConnection.Handler {
        final CompletableFuture<Void> established = new CompletableFuture<>();
        final CompletableFuture<Void> fin = new CompletableFuture<>();
        final CompletableFuture<Void> reset = new CompletableFuture<>();
        final CompletableFuture<Void> closed = new CompletableFuture<>();
        final CRC32 rxCrc = new CRC32();
        final CRC32 txCrc = new CRC32();
        final StringBuilder text = new StringBuilder();
        TcpConnection conn;
        long rx;
        boolean consume = true;
        int held;
        long toSend;
        long sent;
        boolean finAfterSend;
        boolean finSent;
        int port;

        void connect(int serverPort) {
            port = nextGuestPort++;
            conn = guestStack.tcp().connect(GUEST, port, GATEWAY, serverPort, this, guestStack.now());
            guestSwitch.flush();
        }

        /** Queues {@code n} more pattern bytes (then a FIN if {@code fin}). */
        void send(long n, boolean fin) {
            toSend += n;
            finAfterSend = fin;
            pump();
        }

        void pump() {
            while (sent < toSend && conn.sendSpace() > 0) {
                int n = (int) Math.min(Math.min(conn.sendSpace(), 32768), toSend - sent);
                byte[] b = new byte[n];
                for (int i = 0; i < n; i++) {
                    long at = sent + i;
                    b[i] = (byte) (at * 31 + (at >>> 9));
                }
                txCrc.update(b);
                conn.send(Unpooled.wrappedBuffer(b), guestStack.now());
                sent += n;
            }
            if (sent == toSend && finAfterSend && !finSent) {
                finSent = true;
                conn.shutdownOutput(guestStack.now());
            }
            guestSwitch.flush();
        }

        void resumeConsuming() {
            consume = true;
            if (held > 0) {
                conn.consumed(held, guestStack.now());
                held = 0;
                guestSwitch.flush();
            }
        }

        @Override
        public void onEstablished(TcpConnection c) {
            established.complete(null);
            pump();
        }

        @Override
        public void onData(TcpConnection c, ByteBuf data) {
            int n = data.readableBytes();
            byte[] b = ByteBufUtil.getBytes(data);
            data.release();
            rxCrc.update(b);
            rx += n;
            if (text.length() < 4096) {
                text.append(new String(b, StandardCharsets.ISO_8859_1));
            }
            if (consume) {
                c.consumed(n, guestStack.now());
            } else {
                held += n;
            }
            guestSwitch.flush();
        }

        @Override
        public void onFin(TcpConnection c) {
            fin.complete(null);
        }

        @Override
        public void onSendSpace(TcpConnection c) {
            pump();
        }

        @Override
        public void onReset(TcpConnection c) {
            reset.complete(null);
        }

        @Override
        public void onClosed(TcpConnection c) {
            closed.complete(null);
        }
    }

    private Guest connect(int port) throws Exception {
        Guest g = new Guest();
        net.internals().run(() -> g.connect(port));
        await(g.established, "handshake");
        return g;
    }

    private static void await(java.util.concurrent.Future<?> f, String what) throws Exception {
        try {
            f.get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            fail("timed out waiting for " + what);
        }
    }

    /** Waits until {@code cond}, evaluated on the event loop every few milliseconds, holds. */
    private void awaitOnLoop(BooleanSupplier cond, String what) throws Exception {
        awaitOnLoop(cond, what, () -> "");
    }

    private void awaitOnLoop(BooleanSupplier cond, String what, java.util.function.Supplier<String> state)
            throws Exception {
        CompletableFuture<Void> f = new CompletableFuture<>();
        ScheduledFuture<?> t = loop.scheduleAtFixedRate(() -> {
            if (!f.isDone() && cond.getAsBoolean()) {
                f.complete(null);
            }
        }, 0, 5, TimeUnit.MILLISECONDS);
        try {
            await(f, what);
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; state: " + onLoop(state::get), e);
        } finally {
            t.cancel(false);
        }
    }

    private static String dump(java.util.Collection<TcpConnection> cs) {
        StringBuilder b = new StringBuilder();
        for (TcpConnection c : cs) {
            b.append('[').append(c).append(" una=").append(c.sndUna()).append(" nxt=").append(c.sndNxt())
                    .append(" wnd=").append(c.sndWnd()).append(" rcvNxt=").append(c.rcvNxt()).append(" rcvWnd=")
                    .append(c.rcvWnd()).append(" queued=").append(c.queuedBytes()).append(" unconsumed=")
                    .append(c.unconsumedBytes()).append(" cwnd=").append(c.cwnd()).append(" space=")
                    .append(c.sendSpace()).append(" next=").append(c.nextDeadline()).append(']');
        }
        return b.toString();
    }

    private static String tcpCounters(Counters c) {
        StringBuilder b = new StringBuilder();
        c.snapshot().forEach((k, v) -> {
            if (k.startsWith("tcp.") && v != 0) {
                b.append(k).append('=').append(v).append(' ');
            }
        });
        return b.toString();
    }

    private <T> T onLoop(java.util.concurrent.Callable<T> c) {
        return net.internals().call(c);
    }

    /** Serves {@code port} with a pipeline of one handler built per connection; the channels land in {@code chans}. */
    private void serve(int port, boolean halfClosure, java.util.function.Supplier<io.netty.channel.ChannelHandler> h,
                       Consumer<StackChannel> chans) {
        net.serveTcp(port, new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, halfClosure);
                ch.pipeline().addLast(h.get());
                chans.accept((StackChannel) ch);
            }
        });
    }

    /** Echoes everything; on the guest's FIN, half-closes after the echoed data. Counts bytes seen. */
    private static class Echo extends ChannelInboundHandlerAdapter {
        long seen;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            seen += ((ByteBuf) msg).readableBytes();
            ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt == ChannelInputShutdownEvent.INSTANCE) {
                ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f ->
                        ((StackChannel) ctx.channel()).shutdownOutput());
            }
            ReferenceCountUtil.release(evt);
        }
    }

    @Test
    void requestResponseAddressesAndCloseOnFin() throws Exception {
        CompletableFuture<StackChannel> server = new CompletableFuture<>();
        serve(7001, false, () -> new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ByteBuf in = (ByteBuf) msg;
                String s = in.toString(StandardCharsets.US_ASCII);
                in.release();
                ctx.writeAndFlush(Unpooled.copiedBuffer("pong:" + s, StandardCharsets.US_ASCII));
            }
        }, server::complete);
        Guest g = connect(7001);
        StackChannel ch = server.get(TIMEOUT_S, TimeUnit.SECONDS);
        assertEquals(new InetSocketAddress("192.168.127.2", g.port), ch.remoteAddress());
        assertEquals(new InetSocketAddress("192.168.127.1", 7001), ch.localAddress());
        assertTrue(onLoop(ch::isActive));
        net.internals().run(() -> {
            g.conn.send(Unpooled.copiedBuffer("ping", StandardCharsets.US_ASCII), guestStack.now());
            guestSwitch.flush();
        });
        awaitOnLoop(() -> g.text.toString().equals("pong:ping"), "the answer");
        net.internals().run(() -> {
            g.conn.shutdownOutput(guestStack.now());
            guestSwitch.flush();
        });
        // Without ALLOW_HALF_CLOSURE the guest's FIN closes the channel, which sends our FIN.
        await(ch.closeFuture(), "channel close");
        await(g.fin, "FIN from the server");
        await(g.closed, "guest connection closed");
        assertFalse(g.reset.isDone());
    }

    @Test
    void echoBothWaysWithHalfClose() throws Exception {
        CompletableFuture<StackChannel> server = new CompletableFuture<>();
        Echo echo = new Echo();
        serve(7002, true, () -> echo, server::complete);
        Guest g = connect(7002);
        long total = 2L << 20;
        net.internals().run(() -> g.send(total, true));
        await(g.fin, "the echo's FIN");
        assertEquals(total, onLoop(() -> g.rx));
        assertEquals(onLoop(g.txCrc::getValue), onLoop(g.rxCrc::getValue));
        await(g.closed, "guest connection closed");
        await(server.get().closeFuture(), "server channel closed when the connection ended");
        assertFalse(g.reset.isDone());
    }

    @Test
    void autoReadOffClosesTheGuestWindow() throws Exception {
        CompletableFuture<StackChannel> server = new CompletableFuture<>();
        Echo counter = new Echo() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                seen += ((ByteBuf) msg).readableBytes();
                ((ByteBuf) msg).release();
            }
        };
        net.serveTcp(7003, new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.config().setAutoRead(false);
                ch.pipeline().addLast(counter);
                server.complete((StackChannel) ch);
            }
        });
        Guest g = connect(7003);
        long total = 8L << 20;
        net.internals().run(() -> g.send(total, false));
        // The pipeline reads nothing: the stack's window closes and the guest's send buffer fills up.
        awaitOnLoop(() -> g.conn.sendSpace() == 0 && g.sent < total && g.conn.sndWnd() == 0, "guest send stall",
                () -> "guest=" + g.conn + " sent=" + g.sent + " server=" + net.internals().stack().tcp().connections());
        assertEquals(0, onLoop(() -> counter.seen));
        long stalledAt = onLoop(() -> g.sent);
        StackChannel ch = server.get();
        net.internals().run(() -> ch.config().setAutoRead(true));
        awaitOnLoop(() -> counter.seen == total, "all data read after auto-read resumed");
        assertTrue(stalledAt < total);
    }

    @Test
    void echoStallsWhileTheGuestDoesNotReadThenResumes() throws Exception {
        CompletableFuture<StackChannel> server = new CompletableFuture<>();
        Echo echo = new Echo();
        serve(7004, true, () -> echo, server::complete);
        Guest g = connect(7004);
        long total = 16L << 20;
        net.internals().run(() -> {
            g.consume = false;
            g.send(total, true);
        });
        StackChannel ch = server.get(TIMEOUT_S, TimeUnit.SECONDS);
        // The guest does not read: the echo backs up into the channel (unwritable), so the channel stops
        // opening the guest's window, and the guest's sending stalls with most of the data unsent.
        awaitOnLoop(() -> !ch.isWritable() && g.conn.sendSpace() == 0 && g.conn.sndWnd() == 0,
                "stall in both directions", () -> "writable=" + ch.isWritable() + " guest=" + g.conn + " sent="
                        + g.sent + " rx=" + g.rx + " seen=" + echo.seen + " server=" + net.internals().stack().tcp().connections());
        long seen = onLoop(() -> echo.seen);
        assertTrue(seen < 12L << 20, "the channel kept reading while unwritable: " + seen);
        assertTrue(onLoop(() -> g.sent) < total);
        net.internals().run(g::resumeConsuming);
        awaitOnLoop(g.fin::isDone, "the echo's FIN", () -> "writable=" + ch.isWritable() + " pending="
                + ch.unsafe().outboundBuffer().totalPendingWriteBytes() + " guest=" + g.conn + " sent=" + g.sent
                + " rx=" + g.rx + " held=" + g.held + " seen=" + echo.seen + " server=" + dump(net.internals().stack().tcp().connections())
                + " guestConn=" + dump(java.util.List.of(g.conn)) + " netTcp=" + tcpCounters(net.internals().counters())
                + " guestTcp=" + tcpCounters(guestStack.counters()));
        assertEquals(total, onLoop(() -> g.rx));
        assertEquals(onLoop(g.txCrc::getValue), onLoop(g.rxCrc::getValue));
        await(ch.closeFuture(), "server channel closed");
    }

    @Test
    void serverWritesFasterThanTheGuestReads() throws Exception {
        long total = 12L << 20;
        CRC32 serverCrc = new CRC32();
        CompletableFuture<StackChannel> server = new CompletableFuture<>();
        serve(7005, false, () -> new ChannelInboundHandlerAdapter() {
            long written;

            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                pump(ctx);
            }

            @Override
            public void channelWritabilityChanged(ChannelHandlerContext ctx) {
                pump(ctx);
            }

            private void pump(ChannelHandlerContext ctx) {
                while (ctx.channel().isWritable() && written < total) {
                    byte[] b = new byte[16384];
                    for (int i = 0; i < b.length; i++) {
                        b[i] = (byte) ((written + i) * 7);
                    }
                    serverCrc.update(b);
                    written += b.length;
                    ctx.write(Unpooled.wrappedBuffer(b));
                }
                ctx.flush();
                if (written == total) {
                    written++; // once
                    ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f ->
                            ((StackChannel) ctx.channel()).shutdownOutput());
                }
            }
        }, server::complete);
        Guest g = new Guest();
        g.consume = false;
        net.internals().run(() -> g.connect(7005));
        await(g.established, "handshake");
        StackChannel ch = server.get(TIMEOUT_S, TimeUnit.SECONDS);
        awaitOnLoop(() -> !ch.isWritable() && g.conn.rcvWnd() == 0, "the guest window closed, channel unwritable");
        long early = onLoop(() -> g.rx);
        assertTrue(early < total, "everything arrived despite a closed window");
        net.internals().run(g::resumeConsuming);
        await(g.fin, "server FIN");
        assertEquals(total, onLoop(() -> g.rx));
        assertEquals(serverCrc.getValue(), onLoop(g.rxCrc::getValue));
        net.internals().run(() -> {
            g.conn.shutdownOutput(guestStack.now());
            guestSwitch.flush();
        });
        await(ch.closeFuture(), "server channel closed");
    }

    @Test
    void guestResetClosesTheChannel() throws Exception {
        CompletableFuture<StackChannel> server = new CompletableFuture<>();
        serve(7006, false, () -> new ChannelInboundHandlerAdapter(), server::complete);
        Guest g = connect(7006);
        StackChannel ch = server.get(TIMEOUT_S, TimeUnit.SECONDS);
        net.internals().run(() -> {
            g.conn.abort(guestStack.now());
            guestSwitch.flush();
        });
        await(ch.closeFuture(), "channel closed by RST");
        assertFalse(onLoop(ch::isActive));
    }

    @Test
    void dataAfterCloseIsReset() throws Exception {
        CompletableFuture<StackChannel> server = new CompletableFuture<>();
        serve(7007, false, () -> new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) {
                ctx.close();
            }
        }, server::complete);
        Guest g = connect(7007);
        await(server.get(TIMEOUT_S, TimeUnit.SECONDS).closeFuture(), "server close");
        await(g.fin, "server FIN");
        net.internals().run(() -> g.send(1000, false));
        await(g.reset, "RST for data sent to a closed channel");
        assertTrue(net.internals().counters().counter("tcp.instack.dataAfterClose").get() >= 1);
    }

    @Test
    void writesOtherThanByteBufsFail() throws Exception {
        CompletableFuture<StackChannel> server = new CompletableFuture<>();
        serve(7008, false, () -> new ChannelInboundHandlerAdapter(), server::complete);
        connect(7008);
        StackChannel ch = server.get(TIMEOUT_S, TimeUnit.SECONDS);
        io.netty.channel.ChannelFuture f = ch.writeAndFlush("not a buffer");
        f.await(TIMEOUT_S, TimeUnit.SECONDS);
        assertTrue(f.cause() instanceof UnsupportedOperationException, String.valueOf(f.cause()));
        assertTrue(ch.isOpen());
    }

    /** serveUdp: a guest's datagram reaches the service with the guest as sender; the reply comes back to it. */
    @Test
    void serveUdpEchoesToTheGuest() throws Exception {
        CompletableFuture<InetSocketAddress> sender = new CompletableFuture<>();
        net.serveUdp(7007, (from, payload, reply) -> {
            sender.complete(from);
            reply.send(payload.retainedDuplicate());
        });
        CompletableFuture<String> echoed = new CompletableFuture<>();
        int guestIp = Ipv4Address.parse("192.168.127.2");
        net.internals().run(() -> {
            guestStack.udp().bind(guestIp, 5000,
                    (d, payload, now) -> echoed.complete(payload.toString(StandardCharsets.US_ASCII)));
            guestStack.udp().send(guestIp, 5000, Ipv4Address.parse("192.168.127.1"), 7007,
                    Unpooled.copiedBuffer("ping", StandardCharsets.US_ASCII), guestStack.now());
            guestSwitch.flush();
        });
        assertEquals("ping", echoed.get(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals(new InetSocketAddress("192.168.127.2", 5000), sender.get(TIMEOUT_S, TimeUnit.SECONDS));
        net.unserveUdp(7007);
    }
}
