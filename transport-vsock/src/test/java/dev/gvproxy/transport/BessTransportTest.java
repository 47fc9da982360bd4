package dev.gvproxy.transport;

import static dev.gvproxy.transport.TestFrames.A;
import static dev.gvproxy.transport.TestFrames.B;
import static dev.gvproxy.transport.TestFrames.GW;
import static dev.gvproxy.transport.TestFrames.await;
import static dev.gvproxy.transport.TestFrames.frame;
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
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.FileDescriptor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code -listen-bess}: real SOCK_SEQPACKET sockets, the listener on a one-thread epoll "network" loop. */
class BessTransportTest {
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

    BessTransportTest() {
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

    Listener listen() throws IOException {
        return track(Transports.listenBess("unixpacket://" + dir.resolve("bess.sock"), ctx()));
    }

    int ports() throws Exception {
        return ctx.loop().submit(() -> sw.ports().size()).get(10, TimeUnit.SECONDS);
    }

    /** A VM stand-in: a non-blocking SOCK_SEQPACKET client, as UML's vector driver uses. */
    static final class BessClient implements AutoCloseable {
        final FileDescriptor fd;
        final Arena arena = Arena.ofShared();
        final MemorySegment buf = arena.allocate(VirtualSwitch.MAX_FRAME + 1);

        BessClient(Listener l) throws IOException {
            int s = SeqPacket.socket();
            fd = new FileDescriptor(s);
            SeqPacket.connect(s, ((DomainSocketAddress) l.localAddress()).path());
        }

        void send(byte[] frame) {
            MemorySegment.copy(frame, 0, buf, ValueLayout.JAVA_BYTE, 0, frame.length);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            long n;
            while ((n = SeqPacket.send(fd.intValue(), buf, frame.length)) == -SeqPacket.EAGAIN) {
                if (System.nanoTime() > deadline) {
                    fail("send blocked");
                }
                LockSupport.parkNanos(1_000_000);
            }
            assertEquals(frame.length, n, "send");
        }

        /** One message, or null at EOF. */
        byte[] receive() {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (true) {
                long n = SeqPacket.recv(fd.intValue(), buf, buf.byteSize());
                if (n == 0) {
                    return null;
                }
                if (n > 0) {
                    return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
                }
                if (n != -SeqPacket.EAGAIN && n != -SeqPacket.EINTR) {
                    fail("recv: " + SeqPacket.strerror((int) -n));
                }
                if (System.nanoTime() > deadline) {
                    fail("client received no message");
                }
                LockSupport.parkNanos(1_000_000);
            }
        }

        @Override
        public void close() throws IOException {
            if (fd.isOpen()) {
                fd.close();
            }
            arena.close();
        }
    }

    void fromGateway(byte[]... frames) {
        ctx.loop().execute(() -> {
            for (byte[] f : frames) {
                sw.transmitFromGateway(Unpooled.wrappedBuffer(f.clone()));
            }
            sw.flush();
        });
    }

    @Test
    void oneMessageIsOneFrameBothWays() throws Exception {
        Listener l = listen();
        assertInstanceOf(DomainSocketAddress.class, l.localAddress());
        BessClient a = track(new BessClient(l));
        byte[] f = frame(GW, A, 60, 1);
        a.send(f);
        assertArrayEquals(f, gw.take());
        byte[] jumbo = frame(GW, A, 9000, 2);
        a.send(jumbo);
        assertArrayEquals(jumbo, gw.take());
        // Three frames switched in one batch still arrive as three messages.
        byte[] b1 = frame(A, GW, 40, 3);
        byte[] b2 = frame(A, GW, 1500, 4);
        byte[] b3 = frame(A, GW, 65000, 5);
        fromGateway(b1, b2, b3);
        assertArrayEquals(b1, a.receive());
        assertArrayEquals(b2, a.receive());
        assertArrayEquals(b3, a.receive());
    }

    @Test
    void twoVmsShareTheSwitch() throws Exception {
        Listener l = listen();
        BessClient a = track(new BessClient(l));
        BessClient b = track(new BessClient(l));
        await("two ports", () -> {
            try {
                return ports() == 2;
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        byte[] bcast = frame(MacAddress.BROADCAST, A, 60, 1);
        a.send(bcast);
        assertArrayEquals(bcast, b.receive(), "broadcast reaches the other VM");
        assertArrayEquals(bcast, gw.take());
        byte[] uni = frame(A, B, 100, 2);
        b.send(uni);
        assertArrayEquals(uni, a.receive(), "unicast to the learned MAC");
    }

    @Test
    void aVmCanDisconnectAndReconnect() throws Exception {
        Listener l = listen();
        BessClient other = track(new BessClient(l));
        for (int round = 0; round < 3; round++) {
            try (BessClient a = new BessClient(l)) {
                byte[] f = frame(GW, A, 60, round);
                a.send(f);
                assertArrayEquals(f, gw.take());
                byte[] back = frame(A, GW, 80, round);
                fromGateway(back);
                assertArrayEquals(back, a.receive());
            }
            await("port detached after disconnect", () -> {
                try {
                    return ports() == 1;
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
        }
        // The remaining VM was never disturbed, and the MAC is forgotten (frames to it are flooded).
        byte[] f = frame(B, GW, 60, 9);
        other.send(frame(GW, B, 60, 8));
        assertArrayEquals(frame(GW, B, 60, 8), gw.take());
        fromGateway(f);
        assertArrayEquals(f, other.receive());
        assertFalse(l.closeFuture().isDone());
    }

    @Test
    void closingTheListenerDisconnectsVmsAndRemovesTheFile() throws Exception {
        Listener l = listen();
        BessClient a = track(new BessClient(l));
        a.send(frame(GW, A, 60, 1));
        gw.take();
        l.close();
        assertTrue(l.closeFuture().isDone());
        assertEquals(null, a.receive(), "EOF");
        assertFalse(Files.exists(dir.resolve("bess.sock")));
        assertEquals(0, ports());
    }

    @Test
    void addressChecks() throws Exception {
        assertEquals("bess listen address must be unixpacket:// address",
                assertThrows(IOException.class, () -> Transports.listenBess("unix://" + dir.resolve("x"), ctx()))
                        .getMessage());
        Path p = Files.createFile(dir.resolve("exists.sock"));
        FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
                () -> Transports.listenBess("unixpacket://" + p, ctx()));
        assertEquals("\"" + p + "\" already exists", e.getMessage());
    }
}
