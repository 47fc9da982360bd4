package dev.gvproxy.transport;

import static org.junit.jupiter.api.Assertions.fail;

import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/** Frame builders and a recording gateway shared by the transport tests. */
final class TestFrames {
    static final long GW = MacAddress.parse("5a:94:ef:e4:0c:dd");
    static final long A = MacAddress.parse("5a:94:ef:e4:0c:ee");
    static final long B = MacAddress.parse("02:00:00:00:00:0b");

    private TestFrames() {}

    /** An Ethernet frame dst, src, IPv4 EtherType, then {@code payload} bytes counting up from {@code seed}. */
    static byte[] frame(long dst, long src, int payload, int seed) {
        ByteBuf b = Unpooled.buffer();
        MacAddress.write(b, dst);
        MacAddress.write(b, src);
        b.writeShort(0x0800);
        for (int i = 0; i < payload; i++) {
            b.writeByte(seed + i);
        }
        byte[] out = ByteBufUtil.getBytes(b);
        b.release();
        return out;
    }

    /** {@code frames} each with its {@code framing} prefix, concatenated. */
    static byte[] framed(Framing framing, byte[]... frames) {
        int total = 0;
        for (byte[] f : frames) {
            total += framing.headerLength() + f.length;
        }
        ByteBuffer bb = ByteBuffer.allocate(total).order(framing.order());
        for (byte[] f : frames) {
            if (framing.headerLength() == 4) {
                bb.putInt(f.length);
            } else {
                bb.putShort((short) f.length);
            }
            bb.put(f);
        }
        return bb.array();
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        ByteBuffer bb = ByteBuffer.allocate(n);
        for (byte[] p : parts) {
            bb.put(p);
        }
        return bb.array();
    }

    static byte[] header(Framing framing, long length) {
        ByteBuffer bb = ByteBuffer.allocate(framing.headerLength()).order(framing.order());
        if (framing.headerLength() == 4) {
            bb.putInt((int) length);
        } else {
            bb.putShort((short) length);
        }
        return bb.array();
    }

    /** Waits (with a deadline, no fixed sleeps) until {@code cond} holds. */
    static void await(String what, BooleanSupplier cond) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting for " + what);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
        }
    }

    /** Gateway stand-in: records every frame it is given (as bytes) and counts flushes. Thread-safe. */
    static final class RecordingGateway implements LinkEndpoint {
        final BlockingQueue<byte[]> frames = new LinkedBlockingQueue<>();
        final AtomicInteger flushes = new AtomicInteger();
        /** When set, every call must come from this loop; violations are counted. */
        volatile io.netty.channel.EventLoop loop;
        final AtomicInteger offLoop = new AtomicInteger();

        /** @param frame <b>taken</b> */
        @Override
        public void transmit(ByteBuf frame) {
            io.netty.channel.EventLoop l = loop;
            if (l != null && !l.inEventLoop()) {
                offLoop.incrementAndGet();
            }
            frames.add(ByteBufUtil.getBytes(frame));
            frame.release();
        }

        @Override
        public void flush() {
            flushes.incrementAndGet();
        }

        byte[] take() throws InterruptedException {
            byte[] f = frames.poll(10, TimeUnit.SECONDS);
            if (f == null) {
                fail("gateway received no frame");
            }
            return f;
        }
    }
}
