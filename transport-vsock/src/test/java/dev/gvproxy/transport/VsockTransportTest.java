package dev.gvproxy.transport;

import static dev.gvproxy.transport.TestFrames.A;
import static dev.gvproxy.transport.TestFrames.B;
import static dev.gvproxy.transport.TestFrames.GW;
import static dev.gvproxy.transport.TestFrames.await;
import static dev.gvproxy.transport.TestFrames.concat;
import static dev.gvproxy.transport.TestFrames.frame;
import static dev.gvproxy.transport.TestFrames.framed;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.MacAddress;
import dev.gvproxy.transport.vsock.VsockChannel;
import dev.gvproxy.transport.vsock.VsockServerChannel;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.VSockAddress;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * AF_VSOCK listeners: binding and listening for real (connecting over vsock is impossible and forbidden here), the
 * accept/read path through the same channel classes over a unix socket, the hyperkit-style unix path form, and
 * URI parsing.
 */
class VsockTransportTest {
    static EventLoopGroup network;

    @TempDir
    Path dir;

    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final TestFrames.RecordingGateway gw = new TestFrames.RecordingGateway();
    final List<AutoCloseable> closeables = new ArrayList<>();
    NetworkContext ctx;

    @BeforeAll
    static void loops() {
        Assumptions.assumeTrue(dev.gvproxy.platform.SocketTransport.get().isEpoll(),
                "skipped: needs the epoll transport (Linux-only socket types); transport is "
                        + dev.gvproxy.platform.SocketTransport.get());
        network = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    }

    @AfterAll
    static void stopLoops() {
        if (network != null) {
            network.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    VsockTransportTest() {
        sw.setGateway(gw);
    }

    NetworkContext ctx() {
        if (ctx == null) {
            ctx = new NetworkContext(null, network.next(), sw, counters);
            gw.loop = ctx.loop();
        }
        return ctx;
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

    static int randomPort() {
        // Above the well-known 1024 and below VMADDR_PORT_ANY.
        return 20_000 + ThreadLocalRandom.current().nextInt(1_000_000);
    }

    /** Binds a vsock listener or skips the test where the kernel has no AF_VSOCK. */
    Listener vsockOrSkip(ThrowingSupplier<Listener> bind) throws IOException {
        try {
            return track(bind.get());
        } catch (IOException e) {
            Assumptions.assumeFalse(e.getMessage().contains("no AF_VSOCK support"), e.getMessage());
            throw e;
        }
    }

    interface ThrowingSupplier<T> {
        T get() throws IOException;
    }

    @Test
    void bindAndListenOnVsockAnyCid() throws Exception {
        int port = randomPort();
        Listener q = vsockOrSkip(() -> Transports.listenQemu("vsock://:" + port, ctx()));
        VSockAddress addr = assertInstanceOf(VSockAddress.class, q.localAddress());
        assertEquals(port, addr.getPort());
        assertEquals(VSockAddress.VMADDR_CID_ANY, addr.getCid());
        // The same port is taken while listening ...
        IOException busy = assertThrows(IOException.class, () -> Transports.listenQemu("vsock://:" + port, ctx()));
        assertTrue(busy.getMessage().startsWith("listen vsock :" + port + ": "), busy.getMessage());
        // ... and free again once the listener is closed.
        q.close();
        assertTrue(q.closeFuture().isDone());
        vsockOrSkip(() -> Transports.listenQemu("vsock://:" + port, ctx()));
    }

    @Test
    void everyStreamFlagAcceptsVsock() throws Exception {
        Listener api = vsockOrSkip(() -> Transports.listenApi("vsock://:" + randomPort(), ctx(), null));
        Listener svc = track(Transports.listenServices("vsock://:" + randomPort(), ctx(), null));
        Listener vpnkit = track(Transports.listenVpnkit("vsock://:" + randomPort(), ctx(), 1500, null));
        Listener explicitAny = track(Transports.listenQemu("vsock://4294967295:" + randomPort(), ctx()));
        for (Listener l : List.of(api, svc, vpnkit, explicitAny)) {
            assertInstanceOf(VSockAddress.class, l.localAddress());
        }
    }

    @Test
    void kernelPicksThePortForPortAny() throws Exception {
        Listener l = vsockOrSkip(() -> Transports.listenQemu("vsock://:4294967295", ctx()));
        VSockAddress addr = (VSockAddress) l.localAddress();
        assertTrue(addr.getPort() != VSockAddress.VMADDR_PORT_ANY, addr.toString());
    }

    @Test
    void uriForms() throws IOException {
        EndpointUri any = EndpointUri.parse("vsock://:1024");
        assertEquals(new VSockAddress(VSockAddress.VMADDR_CID_ANY, 1024), any.vsock());
        assertFalse(any.isHyperkitVsock());
        assertEquals(new VSockAddress(3, 1024), EndpointUri.parse("vsock://3:1024").vsock());
        assertEquals(new VSockAddress(2, 1024), EndpointUri.parse("vsock://2:1024/connect").vsock(), "path ignored");
        assertEquals(new VSockAddress(-1, -1), EndpointUri.parse("vsock://4294967295:4294967295").vsock());
        EndpointUri hk = EndpointUri.parse("vsock://null:1024/vm_directory");
        assertTrue(hk.isHyperkitVsock());
        assertEquals("/vm_directory/00000002.00000400", hk.path());
        assertEquals("/d/00000002.ffffffff", EndpointUri.parse("vsock://x:4294967295/d").path());
        assertThrows(IOException.class, () -> EndpointUri.parse("vsock://:4294967296"));
        assertThrows(IOException.class, () -> EndpointUri.parse("vsock://-1:1024"));
        assertThrows(IOException.class, () -> EndpointUri.parse("vsock://3"));
        assertThrows(IOException.class, () -> EndpointUri.parse("vsock://null:1024"));
        assertThrows(IOException.class, () -> EndpointUri.parse("vsock://:x"));
    }

    // ---- the accept/read path through the vsock channel classes, a unix socket standing in ----

    Listener standIn(String name, java.util.function.Consumer<Channel> init) throws IOException {
        Path p = dir.resolve(name);
        return track(Transports.bindServerChannel(VsockServerChannel::unixStandIn, new DomainSocketAddress(p.toString()),
                p, ctx(), "vsock-standin", init));
    }

    static SocketChannel connect(Listener l) throws IOException {
        SocketChannel s = SocketChannel.open(StandardProtocolFamily.UNIX);
        s.connect(UnixDomainSocketAddress.of(((DomainSocketAddress) l.localAddress()).path()));
        return s;
    }

    static void write(SocketChannel s, byte[] b) throws IOException {
        ByteBuffer bb = ByteBuffer.wrap(b);
        if (!s.isBlocking()) {
            // a selector registration keeps it non-blocking until the key is cancelled; spin briefly
            while (bb.hasRemaining()) {
                if (s.write(bb) == 0) {
                    Thread.onSpinWait();
                }
            }
            return;
        }
        while (bb.hasRemaining()) {
            s.write(bb);
        }
    }

    /** Reads exactly {@code n} bytes, failing after 10 s without progress. */
    static byte[] read(SocketChannel s, int n) throws IOException {
        ByteBuffer bb = ByteBuffer.allocate(n);
        s.configureBlocking(false);
        try (Selector sel = Selector.open()) {
            s.register(sel, SelectionKey.OP_READ);
            while (bb.hasRemaining()) {
                if (sel.select(10_000) == 0) {
                    fail("timed out reading " + n + " bytes (got " + bb.position() + ")");
                }
                sel.selectedKeys().clear();
                if (s.read(bb) < 0) {
                    fail("EOF after " + bb.position() + " of " + n + " bytes");
                }
            }
        }
        return bb.array();
    }

    static byte[] readFrame(SocketChannel s, Framing framing) throws IOException {
        ByteBuffer h = ByteBuffer.wrap(read(s, framing.headerLength())).order(framing.order());
        int len = framing.headerLength() == 4 ? h.getInt() : Short.toUnsignedInt(h.getShort());
        return read(s, len);
    }

    @Test
    void standInQemuFramesThroughVsockChildChannels() throws Exception {
        List<Channel> accepted = new CopyOnWriteArrayList<>();
        var frames = Transports.framesChild(ctx(), Framing.QEMU, "qemu", null);
        Listener l = standIn("qemu.sock", ch -> {
            accepted.add(ch);
            frames.accept(ch);
        });
        try (SocketChannel a = connect(l); SocketChannel b = connect(l)) {
            await("two children", () -> accepted.size() == 2);
            for (Channel ch : accepted) {
                VsockChannel vc = assertInstanceOf(VsockChannel.class, ch);
                assertFalse(vc.isVsock());
                assertTrue(ch.eventLoop() == ctx.loop(), "children run on the network loop");
            }
            byte[] fa = frame(MacAddress.BROADCAST, A, 60, 1);
            write(a, framed(Framing.QEMU, fa));
            assertArrayEquals(fa, gw.take());
            assertArrayEquals(fa, readFrame(b, Framing.QEMU), "broadcast reaches the other VM");
            byte[] fb = frame(A, B, 1400, 7);
            write(b, framed(Framing.QEMU, fb));
            assertArrayEquals(fb, readFrame(a, Framing.QEMU), "unicast to the learned MAC");
            byte[] back = frame(B, GW, 90, 9);
            ctx.loop().execute(() -> {
                sw.transmitFromGateway(Unpooled.wrappedBuffer(back.clone()));
                sw.flush();
            });
            assertArrayEquals(back, readFrame(b, Framing.QEMU));
        }
        await("children closed", () -> accepted.stream().noneMatch(Channel::isOpen));
    }

    @Test
    void standInVpnkitHandshakeThroughVsockChildChannels() throws Exception {
        String uuid = "c3d68012-0208-11ea-9fd7-f2189899ab08";
        long mac = MacAddress.parse("5a:94:ef:e4:0c:ee");
        Listener l = standIn("vpnkit.sock", Transports.vpnkitChild(ctx(), 1500, Map.of(uuid, mac)::get));
        try (SocketChannel s = connect(l)) {
            byte[] init = VpnkitHandshakeTest.init();
            write(s, concat(init, VpnkitHandshakeTest.command(uuid)));
            assertArrayEquals(init, read(s, 49));
            ByteBuffer resp = ByteBuffer.wrap(read(s, 258)).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(1, resp.get(0));
            assertEquals(1500, Short.toUnsignedInt(resp.getShort(1)));
            assertEquals(1514, Short.toUnsignedInt(resp.getShort(3)));
            assertEquals(mac, MacAddress.get(Unpooled.wrappedBuffer(resp.array()), 5));
            byte[] f = frame(GW, mac, 60, 3);
            write(s, framed(Framing.HYPERKIT, f));
            assertArrayEquals(f, gw.take());
        }
    }

    @Test
    void standInConnectThroughVsockChildChannels() throws Exception {
        Listener l = standIn("api.sock", Transports.httpChild(ctx(), null, Framing.HYPERKIT));
        try (SocketChannel s = connect(l)) {
            byte[] f = frame(GW, A, 60, 5);
            write(s, concat("POST /connect HTTP/1.1\r\nHost: vsock\r\n\r\n".getBytes(StandardCharsets.US_ASCII),
                    framed(Framing.HYPERKIT, f)));
            assertArrayEquals(f, gw.take());
        }
    }

    // ---- macOS/hyperkit form: vsock://null:PORT/DIR is a unix socket DIR/00000002.<port hex> ----

    @Test
    void hyperkitStylePathReplacesAnExistingFile() throws Exception {
        Path sock = dir.resolve("00000002.00000400");
        Files.writeString(sock, "stale");
        Listener l = track(Transports.listenApi("vsock://null:1024" + dir, ctx(), null));
        assertEquals(sock.toString(), ((DomainSocketAddress) l.localAddress()).path());
        try (SocketChannel s = connect(l)) {
            byte[] f = frame(GW, A, 60, 5);
            write(s, concat("POST /connect HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII),
                    framed(Framing.HYPERKIT, f)));
            assertArrayEquals(f, gw.take());
        }
        l.close();
        assertFalse(Files.exists(sock), "socket file removed on close");
    }
}
