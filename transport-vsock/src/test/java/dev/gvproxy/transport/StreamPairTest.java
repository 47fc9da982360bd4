package dev.gvproxy.transport;

import static dev.gvproxy.transport.TestFrames.A;
import static dev.gvproxy.transport.TestFrames.GW;
import static dev.gvproxy.transport.TestFrames.await;
import static dev.gvproxy.transport.TestFrames.concat;
import static dev.gvproxy.transport.TestFrames.frame;
import static dev.gvproxy.transport.TestFrames.framed;
import static dev.gvproxy.transport.TestFrames.header;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.buffer.Unpooled;
import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The stdio transport ({@link Transports#attachStreams}) over two pipes standing in for stdin/stdout. */
class StreamPairTest {
    final EventLoop loop = new DefaultEventLoop();
    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final TestFrames.RecordingGateway gw = new TestFrames.RecordingGateway();
    final NetworkContext ctx = new NetworkContext(null, loop, sw, counters);
    final Pipe stdin;
    final Pipe stdout;
    Listener port;

    StreamPairTest() throws IOException {
        sw.setGateway(gw);
        gw.loop = loop;
        stdin = Pipe.open();
        stdout = Pipe.open();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (port != null) {
            port.close();
        }
        stdin.sink().close();
        stdout.source().close();
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        assertEquals(0, gw.offLoop.get(), "frames crossed to the loop");
    }

    <T> T onLoop(Callable<T> c) throws Exception {
        return loop.submit(c).get(10, TimeUnit.SECONDS);
    }

    void write(byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
            stdin.sink().write(b);
        }
    }

    byte[] read(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (stdout.source().read(b) < 0) {
                throw new IOException("eof");
            }
        }
        return b.array();
    }

    @Test
    void framesBothWaysThenEofEndsThePort() throws Exception {
        port = Transports.attachStreams(stdin.source(), stdout.sink(), Framing.HYPERKIT, ctx, "stdio-test");
        byte[] f1 = frame(GW, A, 60, 1);
        byte[] f2 = frame(GW, A, 1500, 2);
        byte[] wire = framed(Framing.HYPERKIT, f1, f2);
        write(java.util.Arrays.copyOf(wire, 30)); // a split read
        write(java.util.Arrays.copyOfRange(wire, 30, wire.length));
        assertArrayEquals(f1, gw.take());
        assertArrayEquals(f2, gw.take());

        byte[] back1 = frame(A, GW, 70, 3);
        byte[] back2 = frame(A, GW, 80, 4);
        loop.execute(() -> {
            sw.transmitFromGateway(Unpooled.directBuffer().writeBytes(back1));
            sw.transmitFromGateway(Unpooled.directBuffer().writeBytes(back2));
            sw.flush();
        });
        byte[] expected = framed(Framing.HYPERKIT, back1, back2);
        assertArrayEquals(expected, read(expected.length));

        stdin.sink().close();
        port.closeFuture().get(10, TimeUnit.SECONDS);
        await("port detached", () -> {
            try {
                return onLoop(() -> sw.ports().isEmpty());
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
    }

    @Test
    void badLengthEndsThePort() throws Exception {
        port = Transports.attachStreams(stdin.source(), stdout.sink(), Framing.HYPERKIT, ctx, "stdio-test");
        byte[] f = frame(GW, A, 60, 1);
        write(concat(framed(Framing.HYPERKIT, f), header(Framing.HYPERKIT, 0)));
        assertArrayEquals(f, gw.take());
        port.closeFuture().get(10, TimeUnit.SECONDS);
        assertEquals(1, counters.get("transport.badFrameLength"));
        assertTrue(onLoop(() -> sw.ports().isEmpty()));
    }

    @Test
    void qemuFramingAndLargeFrames() throws Exception {
        port = Transports.attachStreams(stdin.source(), stdout.sink(), Framing.QEMU, ctx, "pipe-test");
        for (int i = 0; i < 20; i++) {
            byte[] f = frame(GW, A, VirtualSwitch.MAX_FRAME - 14 - i * 1000, i);
            write(framed(Framing.QEMU, f));
            assertArrayEquals(f, gw.take(), "frame " + i);
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(Framing.class)
    void aFrameWithRoomInFrontGetsItsPrefixThereAndOthersAPrefixOfTheirOwn(Framing framing) throws Exception {
        port = Transports.attachStreams(stdin.source(), stdout.sink(), framing, ctx, "stdio-test");
        write(framed(framing, frame(GW, A, 60, 1)));
        gw.take();
        byte[] roomy = frame(A, GW, 300, 2);
        byte[] plain = frame(A, GW, 200, 3);
        // A heap buffer over an array of the test's: what the writer put in front of the frame stays visible.
        int room = dev.gvproxy.stack.wire.Headroom.TRANSPORT;
        byte[] backing = new byte[room + roomy.length];
        System.arraycopy(roomy, 0, backing, room, roomy.length);
        loop.execute(() -> {
            sw.transmitFromGateway(Unpooled.wrappedBuffer(backing).readerIndex(room));
            sw.transmitFromGateway(Unpooled.directBuffer().writeBytes(plain));
            sw.flush();
        });
        byte[] expected = framed(framing, roomy, plain);
        assertArrayEquals(expected, read(expected.length), "the same bytes either way");
        assertArrayEquals(java.util.Arrays.copyOfRange(framed(framing, roomy), 0, framing.headerLength()),
                java.util.Arrays.copyOfRange(backing, room - framing.headerLength(), room),
                "the prefix was written into the frame's own room");
    }
}
