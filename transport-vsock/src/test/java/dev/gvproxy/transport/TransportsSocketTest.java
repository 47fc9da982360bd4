package dev.gvproxy.transport;

import dev.gvproxy.platform.SocketTransport;

import static dev.gvproxy.transport.TestFrames.A;
import static dev.gvproxy.transport.TestFrames.B;
import static dev.gvproxy.transport.TestFrames.GW;
import static dev.gvproxy.transport.TestFrames.await;
import static dev.gvproxy.transport.TestFrames.concat;
import static dev.gvproxy.transport.TestFrames.frame;
import static dev.gvproxy.transport.TestFrames.framed;
import static dev.gvproxy.transport.TestFrames.header;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.FixedRecvByteBufAllocator;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real sockets on an epoll loop: unix stream (qemu and /connect), tcp on 127.0.0.1, unix datagram. The
 * server side runs on a one-thread "network" loop; clients are Netty channels on their own loop.
 */
class TransportsSocketTest {
    static EventLoopGroup network;
    static EventLoopGroup clients;

    @TempDir
    Path dir;

    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final TestFrames.RecordingGateway gw = new TestFrames.RecordingGateway();
    final List<AutoCloseable> closeables = new ArrayList<>();
    NetworkContext ctx;

    @BeforeAll
    static void loops() {
        network = SocketTransport.get().newEventLoopGroup(1);
        clients = SocketTransport.get().newEventLoopGroup(1);
    }

    @AfterAll
    static void stopLoops() {
        if (network != null) {
            network.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            clients.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    TransportsSocketTest() {
        sw.setGateway(gw);
    }

    void setUp() {
        if (ctx == null) {
            ctx = new NetworkContext(null, network.next(), sw, counters);
            gw.loop = ctx.loop();
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
        assertEquals(0, gw.offLoop.get(), "the switch was driven off the network loop");
    }

    <T extends AutoCloseable> T track(T c) {
        closeables.add(c);
        return c;
    }

    <T> T onLoop(Callable<T> c) throws Exception {
        return ctx.loop().submit(c).get(10, TimeUnit.SECONDS);
    }

    String unix(String name) {
        return "unix://" + dir.resolve(name);
    }

    /** A VM stand-in: a Netty client speaking one framing; received frames are copied into a queue. */
    static final class Client implements AutoCloseable {
        final Channel ch;
        final BlockingQueue<byte[]> received = new LinkedBlockingQueue<>();

        Client(SocketAddress addr, Framing framing) throws InterruptedException {
            Counters c = new Counters();
            Bootstrap b = new Bootstrap().group(clients)
                    .channel(addr instanceof DomainSocketAddress ? SocketTransport.get().domainSocketChannel()
                            : SocketTransport.get().socketChannel())
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline().addLast(framing.newDecoder(c), framing.newEncoder(c),
                                    new SimpleChannelInboundHandler<ByteBuf>() {
                                        @Override
                                        protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                                            received.add(ByteBufUtil.getBytes(msg));
                                        }
                                    });
                        }
                    });
            ch = b.connect(addr instanceof DomainSocketAddress d ? SocketTransport.get().domainAddress(Path.of(d.path()))
                    : addr).sync().channel();
        }

        void send(byte[]... frames) {
            for (byte[] f : frames) {
                ch.write(Unpooled.wrappedBuffer(f));
            }
            ch.flush();
        }

        /** Writes bytes as they are, past the encoder. */
        void sendRaw(byte[] bytes) {
            ch.pipeline().firstContext().writeAndFlush(Unpooled.wrappedBuffer(bytes)).syncUninterruptibly();
        }

        byte[] receive() throws InterruptedException {
            byte[] f = received.poll(10, TimeUnit.SECONDS);
            if (f == null) {
                fail("client received no frame");
            }
            return f;
        }

        @Override
        public void close() {
            ch.close().syncUninterruptibly();
        }
    }

    @Test
    void twoQemuClientsSwitchFramesEndToEnd() throws Exception {
        setUp();
        Listener l = track(Transports.listenQemu(unix("qemu.sock"), ctx));
        Client a = track(new Client(l.localAddress(), Framing.QEMU));
        Client b = track(new Client(l.localAddress(), Framing.QEMU));

        byte[] bcast = frame(MacAddress.BROADCAST, A, 60, 1);
        a.send(bcast);
        assertArrayEquals(bcast, b.receive(), "broadcast reaches the other VM");
        assertArrayEquals(bcast, gw.take(), "and the gateway");

        byte[] unicast = frame(A, B, 1400, 2);
        b.send(unicast);
        assertArrayEquals(unicast, a.receive(), "unicast to a learned MAC");
        assertTrue(a.received.isEmpty() && b.received.isEmpty());

        byte[] fromGw = frame(B, GW, 100, 3);
        ctx.loop().execute(() -> {
            sw.transmitFromGateway(Unpooled.wrappedBuffer(fromGw.clone()));
            sw.flush();
        });
        assertArrayEquals(fromGw, b.receive());
        assertEquals(2, (int) onLoop(() -> sw.ports().size()));
    }

    @Test
    void manyFramesInBothDirectionsStayInOrder() throws Exception {
        setUp();
        Listener l = track(Transports.listenQemu(unix("qemu.sock"), ctx));
        Client a = track(new Client(l.localAddress(), Framing.QEMU));
        Client b = track(new Client(l.localAddress(), Framing.QEMU));
        a.send(frame(GW, A, 20, 0));
        b.send(frame(GW, B, 20, 0));
        gw.take();
        gw.take();
        int n = 2000;
        for (int i = 0; i < n; i++) {
            a.ch.write(Unpooled.wrappedBuffer(frame(B, A, 100 + i % 1400, i)));
        }
        a.ch.flush();
        for (int i = 0; i < n; i++) {
            assertArrayEquals(frame(B, A, 100 + i % 1400, i), b.receive(), "frame " + i);
        }
    }

    @Test
    void disconnectAndReconnect() throws Exception {
        setUp();
        Listener l = track(Transports.listenQemu(unix("qemu.sock"), ctx));
        Client a = new Client(l.localAddress(), Framing.QEMU);
        Client b = track(new Client(l.localAddress(), Framing.QEMU));
        a.send(frame(GW, A, 30, 0));
        gw.take();
        int firstPort = onLoop(() -> sw.portOf(A).id());
        a.close();
        await("port detached", () -> call(() -> onLoop(() -> sw.portOf(A) == null && sw.ports().size() == 1)));

        Client again = track(new Client(l.localAddress(), Framing.QEMU));
        again.send(frame(GW, A, 30, 1));
        assertArrayEquals(frame(GW, A, 30, 1), gw.take());
        int secondPort = onLoop(() -> sw.portOf(A).id());
        assertNotEquals(firstPort, secondPort, "new port id");
        byte[] f = frame(A, B, 50, 5);
        b.send(f);
        assertArrayEquals(f, again.receive(), "the relearned MAC is reachable");
    }

    @Test
    void badLengthClosesOnlyThatClient() throws Exception {
        setUp();
        Listener l = track(Transports.listenQemu(unix("qemu.sock"), ctx));
        Client bad = track(new Client(l.localAddress(), Framing.QEMU));
        Client good = track(new Client(l.localAddress(), Framing.QEMU));
        good.send(frame(GW, B, 30, 0));
        gw.take();
        bad.sendRaw(header(Framing.QEMU, VirtualSwitch.MAX_FRAME + 1));
        assertTrue(bad.ch.closeFuture().await(10, TimeUnit.SECONDS), "server closed the bad client");
        assertEquals(1, counters.get("transport.badFrameLength"));
        byte[] f = frame(GW, B, 40, 1);
        good.send(f);
        assertArrayEquals(f, gw.take());
        assertTrue(good.ch.isActive());
        assertEquals(1, (int) onLoop(() -> sw.ports().size()));
    }

    @Test
    void existingSocketPathIsRefusedGoQuoted() throws Exception {
        setUp();
        Path p = Files.createFile(dir.resolve("taken.sock"));
        IOException e = assertThrows(IOException.class, () -> Transports.listenQemu("unix://" + p, ctx));
        assertEquals("\"" + p + "\" already exists", e.getMessage());
        IOException e2 = assertThrows(IOException.class, () -> Transports.listenDatagram("unixgram://" + p, ctx));
        assertEquals("\"" + p + "\" already exists", e2.getMessage());
    }

    @Test
    void badUris() {
        setUp();
        assertEquals("unexpected scheme",
                assertThrows(IOException.class, () -> Transports.listenQemu("http://x", ctx)).getMessage());
        assertEquals("vfkit listen address must be unixgram:// address",
                assertThrows(IOException.class, () -> Transports.listenDatagram(unix("x"), ctx)).getMessage());
    }

    @Test
    void closingTheListenerClosesClientsAndDeletesTheSocket() throws Exception {
        setUp();
        Path p = dir.resolve("qemu.sock");
        Listener l = Transports.listenQemu("unix://" + p, ctx);
        Client a = track(new Client(l.localAddress(), Framing.QEMU));
        a.send(frame(GW, A, 30, 0));
        gw.take();
        assertTrue(Files.exists(p));
        l.close();
        assertTrue(l.closeFuture().isDone());
        assertFalse(Files.exists(p), "socket file deleted");
        assertTrue(a.ch.closeFuture().await(10, TimeUnit.SECONDS), "accepted connection closed");
        await("ports detached", () -> call(() -> onLoop(() -> sw.ports().isEmpty())));
        l.close(); // idempotent
    }

    @Test
    void qemuOverTcpLoopback() throws Exception {
        setUp();
        Listener l = track(Transports.listenQemu("tcp://127.0.0.1:0", ctx));
        InetSocketAddress addr = (InetSocketAddress) l.localAddress();
        assertNotEquals(0, addr.getPort());
        Client a = track(new Client(addr, Framing.QEMU));
        byte[] f = frame(GW, A, 30, 0);
        a.send(f);
        assertArrayEquals(f, gw.take());
    }

    @Test
    void connectOverUnixApiSocketWithFramesInTheSameWrite() throws Exception {
        setUp();
        Path p = dir.resolve("api.sock");
        Listener l = track(Transports.listenApi("unix://" + p, ctx, null));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p)));
        assertEquals(List.of("api.sock"), listDir(), "no temporary socket left behind");
        Client a = track(new Client(l.localAddress(), Framing.HYPERKIT));
        byte[] f1 = frame(GW, A, 40, 1);
        byte[] f2 = frame(MacAddress.BROADCAST, A, 50, 2);
        a.sendRaw(concat(ConnectHandlerTest.GVFORWARDER_REQUEST, framed(Framing.HYPERKIT, f1, f2)));
        assertArrayEquals(f1, gw.take());
        assertArrayEquals(f2, gw.take());
        byte[] back = frame(A, GW, 90, 9);
        ctx.loop().execute(() -> {
            sw.transmitFromGateway(Unpooled.wrappedBuffer(back.clone()));
            sw.flush();
        });
        assertArrayEquals(back, a.receive(), "no HTTP response precedes the frames");
    }

    @Test
    void vpnkitOverUnixSocket() throws Exception {
        setUp();
        Listener l = track(Transports.listenVpnkit(unix("vpnkit.sock"), ctx, 1500, null));
        Client a = track(new Client(l.localAddress(), Framing.HYPERKIT));
        // the client's frame decoder would misread the handshake replies; take them off raw first
        a.ch.pipeline().addFirst("raw", new io.netty.channel.ChannelInboundHandlerAdapter() {
            int left = 49 + 258;

            @Override
            public void channelRead(ChannelHandlerContext c, Object msg) {
                ByteBuf b = (ByteBuf) msg;
                int n = Math.min(left, b.readableBytes());
                b.skipBytes(n);
                left -= n;
                if (left == 0) {
                    c.pipeline().remove(this);
                }
                if (b.isReadable()) {
                    c.fireChannelRead(b);
                } else {
                    b.release();
                }
            }
        });
        byte[] f = frame(GW, A, 60, 1);
        a.sendRaw(concat(VpnkitHandshakeTest.init(), VpnkitHandshakeTest.command(VpnkitHandshakeTest.UUID),
                framed(Framing.HYPERKIT, f)));
        assertArrayEquals(f, gw.take());
        byte[] back = frame(A, GW, 90, 9);
        ctx.loop().execute(() -> {
            sw.transmitFromGateway(Unpooled.wrappedBuffer(back.clone()));
            sw.flush();
        });
        assertArrayEquals(back, a.receive());
    }

    @Test
    void apiNotFoundOverTcp() throws Exception {
        setUp();
        Listener l = track(Transports.listenApi("tcp://127.0.0.1:0", ctx, null));
        InetSocketAddress addr = (InetSocketAddress) l.localAddress();
        try (var s = java.nio.channels.SocketChannel.open(addr)) {
            s.write(java.nio.ByteBuffer.wrap(
                    "GET /stats HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
            String resp = new String(s.socket().getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            assertTrue(resp.startsWith("HTTP/1.1 404 Not Found"), resp);
            assertTrue(resp.endsWith("404 page not found\n"), resp);
        }
    }

    List<String> listDir() throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(x -> x.getFileName().toString()).sorted().toList();
        }
    }

    /** Unix datagram sockets exist on epoll and kqueue only; under NIO the listener refuses with a clear message. */
    static void assumeUnixDatagrams() {
        Assumptions.assumeTrue(SocketTransport.get().kind() != SocketTransport.Kind.NIO,
                "skipped: unix datagram sockets need epoll or kqueue; transport is " + SocketTransport.get());
    }

    @Test
    void unixDatagramUnderNioIsRefusedWithAClearMessage() throws Exception {
        Assumptions.assumeTrue(SocketTransport.get().kind() == SocketTransport.Kind.NIO, "only under NIO");
        setUp();
        IOException e = assertThrows(IOException.class,
                () -> Transports.listenDatagram("unixgram://" + dir.resolve("dgram.sock"), ctx));
        assertTrue(e.getMessage().contains("unix datagram sockets"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("dgram.sock")));
    }

    /** A VM stand-in on a unix datagram socket (bound to a path unless {@code local} is null). */
    static final class DatagramClient implements AutoCloseable {
        final Channel ch;
        final BlockingQueue<byte[]> received = new LinkedBlockingQueue<>();
        final DomainSocketAddress server;

        @SuppressWarnings("deprecation") // DATAGRAM_CHANNEL_ACTIVE_ON_REGISTRATION: lets an unbound socket send
        DatagramClient(Path local, DomainSocketAddress server) throws InterruptedException {
            this.server = server;
            Bootstrap b = new Bootstrap().group(clients).channel(SocketTransport.get().domainDatagramChannel())
                    .option(ChannelOption.DATAGRAM_CHANNEL_ACTIVE_ON_REGISTRATION, true)
                    .option(ChannelOption.RECVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(VirtualSwitch.MAX_FRAME))
                    .handler(new SimpleChannelInboundHandler<DomainDatagramPacket>() {
                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, DomainDatagramPacket msg) {
                            received.add(ByteBufUtil.getBytes(msg.content()));
                        }
                    });
            ch = local != null ? b.bind(new DomainSocketAddress(local.toString())).sync().channel()
                    : b.register().sync().channel();
        }

        void send(byte[] datagram) {
            ch.writeAndFlush(new DomainDatagramPacket(Unpooled.wrappedBuffer(datagram), server)).syncUninterruptibly();
        }

        byte[] receive() throws InterruptedException {
            byte[] f = received.poll(10, TimeUnit.SECONDS);
            if (f == null) {
                fail("datagram client received nothing");
            }
            return f;
        }

        @Override
        public void close() {
            ch.close().syncUninterruptibly();
        }
    }

    @Test
    void vfkitDatagramsWithHello() throws Exception {
        setUp();
        Path p = dir.resolve("vfkit.sock");
        assumeUnixDatagrams();
        Listener l = track(Transports.listenDatagram("unixgram://" + p, ctx));
        DatagramClient vm = track(new DatagramClient(dir.resolve("vm.sock"), (DomainSocketAddress) l.localAddress()));
        vm.send("VFKT".getBytes(StandardCharsets.US_ASCII));
        byte[] f = frame(GW, A, 1400, 1);
        vm.send(f);
        assertArrayEquals(f, gw.take(), "the hello is consumed, the frame is delivered");
        assertTrue(gw.frames.isEmpty());
        assertEquals(1, counters.get("transport.vfkitHello"));

        byte[] back = frame(A, GW, 60, 2);
        ctx.loop().execute(() -> {
            sw.transmitFromGateway(Unpooled.wrappedBuffer(back.clone()));
            sw.flush();
        });
        assertArrayEquals(back, vm.receive());

        // the largest frame is not truncated
        byte[] big = frame(GW, A, 65535, 3);
        vm.send(big);
        assertArrayEquals(big, gw.take());
        l.close();
        assertFalse(Files.exists(p), "socket file deleted");
    }

    @Test
    void datagramWithoutHelloIsTheFirstFrameAndPeerChangeReattaches() throws Exception {
        setUp();
        assumeUnixDatagrams();
        Listener l = track(Transports.listenDatagram("unixgram://" + dir.resolve("dgram.sock"), ctx));
        DomainSocketAddress server = (DomainSocketAddress) l.localAddress();
        DatagramClient vm = new DatagramClient(dir.resolve("vm1.sock"), server);
        byte[] f = frame(GW, A, 100, 1);
        vm.send(f);
        assertArrayEquals(f, gw.take());
        int first = onLoop(() -> sw.portOf(A).id());
        vm.close();
        Files.deleteIfExists(dir.resolve("vm1.sock")); // the VM exited and its socket file went with it

        // the VM restarts with a new socket: new port, same MAC relearned at once (the old peer's file is gone)
        DatagramClient vm2 = track(new DatagramClient(dir.resolve("vm2.sock"), server));
        vm2.send("VFKT".getBytes(StandardCharsets.US_ASCII));
        vm2.send(f);
        assertArrayEquals(f, gw.take());
        SwitchPort now = onLoop(() -> sw.portOf(A));
        assertNotNull(now);
        assertNotEquals(first, now.id());
        assertEquals(1, (int) onLoop(() -> sw.ports().size()));
    }

    /** Upstream issue #383: two VMs on one vfkit socket, each its own port, talking to the gateway and each other. */
    @Test
    void twoDatagramClientsOnOneSocketReachTheGatewayAndEachOther() throws Exception {
        setUp();
        assumeUnixDatagrams();
        Listener l = track(Transports.listenDatagram("unixgram://" + dir.resolve("dgram.sock"), ctx));
        DomainSocketAddress server = (DomainSocketAddress) l.localAddress();
        DatagramClient vmA = track(new DatagramClient(dir.resolve("a.sock"), server));
        DatagramClient vmB = track(new DatagramClient(dir.resolve("b.sock"), server));
        vmA.send("VFKT".getBytes(StandardCharsets.US_ASCII));
        vmB.send("VFKT".getBytes(StandardCharsets.US_ASCII));
        byte[] fa = frame(GW, A, 100, 1);
        vmA.send(fa);
        assertArrayEquals(fa, gw.take());
        byte[] fb = frame(GW, B, 100, 2);
        vmB.send(fb);
        assertArrayEquals(fb, gw.take());
        assertEquals(2, (int) onLoop(() -> sw.ports().size()));
        assertEquals(2, counters.get("transport.vfkitHello"));

        byte[] toA = frame(A, GW, 60, 3);
        byte[] toB = frame(B, GW, 60, 4);
        ctx.loop().execute(() -> {
            sw.transmitFromGateway(Unpooled.wrappedBuffer(toA.clone()));
            sw.transmitFromGateway(Unpooled.wrappedBuffer(toB.clone()));
            sw.flush();
        });
        assertArrayEquals(toA, vmA.receive());
        assertArrayEquals(toB, vmB.receive());

        byte[] aToB = frame(B, A, 300, 5);
        vmA.send(aToB);
        assertArrayEquals(aToB, vmB.receive(), "A's frame for B's MAC reaches B");
        byte[] bToA = frame(A, B, 300, 6);
        vmB.send(bToA);
        assertArrayEquals(bToA, vmA.receive());
        assertTrue(vmA.received.isEmpty() && vmB.received.isEmpty());

        // A goes away (its socket file stays): the next frame for it meets ECONNREFUSED and its port goes
        vmA.close();
        ctx.loop().execute(() -> {
            sw.transmitFromGateway(Unpooled.wrappedBuffer(frame(A, GW, 60, 7)));
            sw.flush();
        });
        await("the vanished peer's port is detached", () -> counters.get("transport.datagramPeerGone") == 1);
        assertEquals(1, (int) onLoop(() -> sw.ports().size()));
        assertNull(onLoop(() -> sw.portOf(A)));
        vmB.send(fb);
        assertArrayEquals(fb, gw.take(), "B keeps working");
    }

    @Test
    void helloFromTheSamePathStartsANewPort() throws Exception {
        setUp();
        assumeUnixDatagrams();
        Listener l = track(Transports.listenDatagram("unixgram://" + dir.resolve("dgram.sock"), ctx));
        DomainSocketAddress server = (DomainSocketAddress) l.localAddress();
        Path vmPath = dir.resolve("vm.sock");
        DatagramClient vm = new DatagramClient(vmPath, server);
        vm.send("VFKT".getBytes(StandardCharsets.US_ASCII));
        byte[] f = frame(GW, A, 100, 1);
        vm.send(f);
        assertArrayEquals(f, gw.take());
        int first = onLoop(() -> sw.portOf(A).id());
        vm.close();
        Files.deleteIfExists(vmPath);

        DatagramClient again = track(new DatagramClient(vmPath, server));
        again.send("VFKT".getBytes(StandardCharsets.US_ASCII));
        again.send(f);
        assertArrayEquals(f, gw.take());
        assertNotEquals(first, (int) onLoop(() -> sw.portOf(A).id()));
        assertEquals(2, counters.get("transport.vfkitHello"));
        assertEquals(0, counters.get("switch.runtFrame"));
    }

    @Test
    void unnamedDatagramPeerIsDroppedAndCounted() throws Exception {
        setUp();
        assumeUnixDatagrams();
        Listener l = track(Transports.listenDatagram("unixgram://" + dir.resolve("dgram.sock"), ctx));
        DatagramClient anon = track(new DatagramClient(null, (DomainSocketAddress) l.localAddress()));
        anon.send(frame(GW, A, 100, 1));
        await("unnamed peer counted", () -> counters.get("transport.unnamedPeer") == 1);
        assertNull(gw.frames.poll());
        assertTrue(onLoop(() -> sw.ports().isEmpty()));
    }

    static boolean call(Callable<Boolean> c) {
        try {
            return c.call();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
