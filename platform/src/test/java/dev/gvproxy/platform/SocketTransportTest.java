package dev.gvproxy.platform;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.SocketProtocolFamily;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seam's choice rules, and a round trip over each socket kind NIO also has, through whichever transport this
 * JVM chose (the module's tests run twice: the default, and {@code -Dgvproxy.transport=nio}).
 */
class SocketTransportTest {
    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    static EventLoopGroup group;
    final SocketTransport t = SocketTransport.get();

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        group = SocketTransport.get().newEventLoopGroup(1);
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Test
    void choiceFollowsThePropertyThenThePlatform() {
        assertEquals(SocketTransport.Kind.NIO, SocketTransport.choose("nio", "Linux").kind());
        assertEquals(SocketTransport.Kind.NIO, SocketTransport.choose(" NIO ", "Linux").kind());
        assertEquals(SocketTransport.Kind.NIO, SocketTransport.choose(null, "Windows 11").kind());
        assertEquals(SocketTransport.Kind.EPOLL, SocketTransport.choose(null, "Linux").kind(), "this machine has epoll");
        assertEquals(SocketTransport.Kind.EPOLL, SocketTransport.choose("epoll", "Linux").kind());
        // macOS without a loadable kqueue library (as here, on Linux) falls back to NIO...
        assertEquals(SocketTransport.Kind.NIO, SocketTransport.choose(null, "Mac OS X").kind());
        // ...but asking for kqueue by name where it cannot load is an error, not a silent fallback.
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> SocketTransport.choose("kqueue", "Linux"));
        assertTrue(e.getMessage().contains("kqueue is not available"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> SocketTransport.choose("uring", "Linux"));
        assertTrue(e.getMessage().contains("unknown transport"), e.getMessage());
    }

    @Test
    void propertyIsHonoured() {
        String asked = System.getProperty(SocketTransport.PROPERTY);
        if (asked != null) {
            assertEquals(asked, t.toString());
        } else {
            assertEquals(SocketTransport.Kind.EPOLL, t.kind());
        }
    }

    @Test
    void onlyEpollRunsTheLinuxOnlyFeatures() {
        if (t.isEpoll()) {
            t.requireEpoll("AF_VSOCK listen");
        } else {
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> t.requireEpoll("AF_VSOCK listen"));
            assertTrue(e.getMessage().startsWith("AF_VSOCK listen needs Linux and the epoll transport"), e.getMessage());
        }
    }

    @Test
    void tcpEcho() throws Exception {
        Channel server = echoServer(t.serverSocketChannel(), new InetSocketAddress(LOOPBACK, 0));
        try {
            assertEquals("tcp", roundTrip(t.socketChannel(), server.localAddress(), "tcp"));
        } finally {
            server.close().sync();
        }
    }

    /**
     * A busy-polling loop (this JVM's transport: epoll here, NIO in the second run) still carries traffic, runs a
     * timer due inside its window (it is spinning then) and one due long after it (it went back to sleep before,
     * and the timer wakes it), and runs tasks from other threads. With a 1 µs window the loop is asleep whenever
     * the test thread hands it work; with 2 ms it mostly spins.
     */
    @Test
    void busyPollingLoopEchoesAndRunsTimersAndTasks() throws Exception {
        Channel server = echoServer(t.serverSocketChannel(), new InetSocketAddress(LOOPBACK, 0));
        try {
            for (java.time.Duration window : java.util.List.of(java.time.Duration.ofNanos(1_000),
                    java.time.Duration.ofMillis(2))) {
                EventLoopGroup busy = t.newEventLoopGroup(1, window);
                try {
                    assertEquals("busy", roundTrip(busy, t.socketChannel(), server.localAddress(), "busy"));
                    var loop = busy.next();
                    assertEquals("soon", loop.schedule(() -> "soon", 1, TimeUnit.MILLISECONDS)
                            .get(5, TimeUnit.SECONDS));
                    assertEquals("later", loop.schedule(() -> "later", 20, TimeUnit.MILLISECONDS)
                            .get(5, TimeUnit.SECONDS));
                    assertEquals("task", loop.submit(() -> "task").get(5, TimeUnit.SECONDS));
                    assertEquals("again", roundTrip(busy, t.socketChannel(), server.localAddress(), "again"));
                } finally {
                    busy.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
                }
            }
        } finally {
            server.close().sync();
        }
    }

    /**
     * Client sockets of a given family (what the TCP forwarder dials with): an IPv4 one reaches 127.0.0.1, an IPv6
     * one ::1, and both have Nagle off without being told (the forwarder relies on the transports' default).
     */
    @Test
    void clientSocketsOfEachFamilyConnectWithNagleOff() throws Exception {
        for (SocketProtocolFamily family : SocketProtocolFamily.values()) {
            if (family == SocketProtocolFamily.UNIX) {
                continue;
            }
            InetAddress at = InetAddress.getByName(family == SocketProtocolFamily.INET ? "127.0.0.1" : "::1");
            Channel server;
            try {
                server = echoServer(t.serverSocketChannel(), new InetSocketAddress(at, 0));
            } catch (Exception e) {
                Assumptions.assumeTrue(family == SocketProtocolFamily.INET, "no ::1 here: " + e);
                throw e;
            }
            try {
                io.netty.channel.socket.SocketChannel c = t.newSocketChannel(family);
                group.next().register(c).sync();
                c.connect(server.localAddress()).sync();
                try {
                    assertTrue(c.config().isTcpNoDelay(), family + ": Nagle off by default");
                    assertEquals(at, ((InetSocketAddress) c.localAddress()).getAddress());
                } finally {
                    c.close().sync();
                }
            } finally {
                server.close().sync();
            }
        }
    }

    @Test
    void unixStreamEcho() throws Exception {
        Path sock = dir.resolve("echo.sock");
        Channel server = echoServer(t.serverDomainSocketChannel(), t.domainAddress(sock));
        try {
            assertEquals(sock, SocketTransport.domainPath(server.localAddress()));
            assertEquals("unix", roundTrip(t.domainSocketChannel(), t.domainAddress(sock), "unix"));
        } finally {
            server.close().sync();
        }
    }

    /**
     * {@link SocketTransport#shutdownOutput}: the peer reads the bytes written before it and then EOF, the channel
     * says its output is shut and still reads what the peer sends after.
     */
    @Test
    void halfCloseDeliversEofAndKeepsReading() throws Exception {
        try (java.nio.channels.ServerSocketChannel listener = java.nio.channels.ServerSocketChannel.open()) {
            listener.bind(new InetSocketAddress(LOOPBACK, 0));
            BlockingQueue<String> got = new LinkedBlockingQueue<>();
            Channel ch = new Bootstrap().group(group).channel(t.socketChannel())
                    .option(io.netty.channel.ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .handler(new SimpleChannelInboundHandler<ByteBuf>() {
                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                            got.add(msg.toString(java.nio.charset.StandardCharsets.US_ASCII));
                        }
                    }).connect(listener.getLocalAddress()).sync().channel();
            try (java.nio.channels.SocketChannel peer = listener.accept()) {
                ch.writeAndFlush(Unpooled.copiedBuffer("bye", java.nio.charset.StandardCharsets.US_ASCII)).sync();
                ch.eventLoop().submit(() -> t.shutdownOutput((io.netty.channel.socket.DuplexChannel) ch)).sync();
                java.io.InputStream in = peer.socket().getInputStream();
                assertEquals("bye", new String(in.readNBytes(3), java.nio.charset.StandardCharsets.US_ASCII));
                assertEquals(-1, in.read(), "EOF after the bytes written before the shutdown");
                assertTrue(((io.netty.channel.socket.DuplexChannel) ch).isOutputShutdown());
                peer.write(java.nio.ByteBuffer.wrap("back".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
                assertEquals("back", got.poll(5, TimeUnit.SECONDS));
            } finally {
                ch.close().sync();
            }
        }
    }

    @Test
    void udpDatagramsIncludingAnEmptyOne() throws Exception {
        try (java.nio.channels.DatagramChannel peer = java.nio.channels.DatagramChannel.open()) {
            peer.bind(new InetSocketAddress(LOOPBACK, 0));
            InetSocketAddress to = (InetSocketAddress) peer.getLocalAddress();
            Channel ch = new Bootstrap().group(group).channelFactory(t.datagramChannel())
                    .handler(new ChannelInboundHandlerAdapter()).bind(new InetSocketAddress(LOOPBACK, 0)).sync().channel();
            try {
                ch.writeAndFlush(new DatagramPacket(Unpooled.wrappedBuffer(new byte[] {1, 2, 3}), to)).sync();
                ch.eventLoop().submit(() -> {
                    t.sendEmpty((DatagramChannel) ch, to);
                    return null;
                }).sync();
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(16);
                peer.receive(b);
                assertArrayEquals(new byte[] {1, 2, 3}, java.util.Arrays.copyOf(b.array(), b.position()));
                b.clear();
                assertNotNull(peer.receive(b));
                assertEquals(0, b.position(), "the empty datagram arrived");
            } finally {
                ch.close().sync();
            }
            DatagramChannel unregistered = t.newDatagramChannel(SocketProtocolFamily.INET);
            group.next().register(unregistered).sync();
            unregistered.close().sync();
        }
    }

    private static Channel echoServer(Class<? extends io.netty.channel.ServerChannel> type, SocketAddress at)
            throws InterruptedException {
        return new ServerBootstrap().group(group).channel(type)
                .childHandler(new ChannelInitializer<Channel>() { // a handler per connection: not @Sharable
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ctx.writeAndFlush(msg);
                            }
                        });
                    }
                }).bind(at).sync().channel();
    }

    private static String roundTrip(Class<? extends Channel> type, SocketAddress to, String text) throws Exception {
        return roundTrip(group, type, to, text);
    }

    /**
     * {@link SocketTransport#watchReadable} (epoll): the loop runs the callback while an fd that is no socket (an
     * eventfd here, a TAP in use) has input, again in later iterations while input is left (level triggered), and
     * never after the watch is closed. NIO cannot watch a foreign fd and says so with null.
     */
    @Test
    void watchReadableCallsTheLoopWhileTheFdHasInput() throws Exception {
        io.netty.channel.EventLoop loop = group.next();
        int fd = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment one = arena.allocate(8);
            one.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, 1L);
            java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
            java.util.concurrent.CountDownLatch thrice = new java.util.concurrent.CountDownLatch(3);
            java.lang.foreign.MemorySegment drain = java.lang.foreign.Arena.global().allocate(8);
            AutoCloseable watch = loop.submit(() -> t.watchReadable(loop, fd, () -> {
                assertTrue(loop.inEventLoop());
                thrice.countDown();
                if (calls.incrementAndGet() == 3) {
                    try {
                        Libc.read(fd, drain, 8); // input gone: no more calls
                    } catch (NativeException e) {
                        throw new AssertionError(e);
                    }
                }
            })).get(5, TimeUnit.SECONDS);
            if (!t.isEpoll()) {
                assertEquals(null, watch, "only epoll watches a foreign fd");
                return;
            }
            assertNotNull(watch);
            Libc.write(fd, one, 8);
            assertTrue(thrice.await(5, TimeUnit.SECONDS), "called while the input stayed unread");
            for (int i = 0; i < 3; i++) {
                loop.submit(() -> { }).sync(); // loop iterations with the input drained
            }
            assertEquals(3, calls.get(), "not called once the input was read");
            loop.submit(() -> {
                watch.close();
                return null;
            }).sync();
            Libc.write(fd, one, 8);
            for (int i = 0; i < 3; i++) {
                loop.submit(() -> { }).sync();
            }
            assertEquals(3, calls.get(), "not called after the watch was closed");
        } finally {
            Libc.close(fd);
        }
    }

    private static String roundTrip(EventLoopGroup on, Class<? extends Channel> type, SocketAddress to, String text)
            throws Exception {
        BlockingQueue<String> got = new LinkedBlockingQueue<>();
        Channel c = new Bootstrap().group(on).channel(type).handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(new SimpleChannelInboundHandler<ByteBuf>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                        got.add(new String(ByteBufUtil.getBytes(msg), java.nio.charset.StandardCharsets.US_ASCII));
                    }
                });
            }
        }).connect(to).sync().channel();
        try {
            c.writeAndFlush(Unpooled.copiedBuffer(text, java.nio.charset.StandardCharsets.US_ASCII)).sync();
            return got.poll(5, TimeUnit.SECONDS);
        } finally {
            c.close().sync();
        }
    }
}
