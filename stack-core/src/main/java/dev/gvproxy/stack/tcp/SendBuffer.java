package dev.gvproxy.stack.tcp;

import dev.gvproxy.stack.wire.TcpSegmentWriter;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;

/**
 * Bytes the application queued for the peer, from SND.UNA onwards: unacknowledged data first, then data
 * not yet sent. Held as the buffers the application handed over (no copy); each segment, sent first or
 * retransmitted, copies its range out of them into its own buffer ({@link #copyTo}), which is the one copy a
 * segment's payload gets; a large segment instead holds views of them ({@link #views}). The buffers are never
 * written once appended (acknowledging only moves a reader index), so a view stays valid after its bytes are
 * acknowledged, and may be read by a transport's own thread.
 */
final class SendBuffer implements TcpSegmentWriter.Payload {
    /**
     * The chunks, oldest first, in a ring of a power-of-two length ({@code head}, {@code count}): indexed, so
     * finding a segment's first chunk allocates no iterator.
     */
    private ByteBuf[] ring = new ByteBuf[8];
    private int head;
    private int count;
    private int size;

    int size() {
        return size;
    }

    /** @param data <b>taken</b> */
    void append(ByteBuf data) {
        int n = data.readableBytes();
        if (n == 0) {
            data.release();
            return;
        }
        if (count == ring.length) {
            ByteBuf[] next = new ByteBuf[ring.length * 2];
            for (int i = 0; i < count; i++) {
                next[i] = chunk(i);
            }
            ring = next;
            head = 0;
        }
        ring[(head + count) & (ring.length - 1)] = data;
        count++;
        size += n;
    }

    /** The {@code i}-th chunk from the oldest. */
    private ByteBuf chunk(int i) {
        return ring[(head + i) & (ring.length - 1)];
    }

    /**
     * Appends the {@code len} bytes starting {@code offset} bytes after SND.UNA to {@code dst}, straight from the
     * application's buffers (one copy per buffer the range crosses, no view of them): what a data segment, sent
     * first or retransmitted, carries.
     *
     * @param dst <b>borrowed</b>
     */
    @Override
    public void copyTo(int offset, int len, ByteBuf dst) {
        walk(offset, len, dst, null);
    }

    /** Retained slices of the buffers the range crosses: a large segment's payload without a copy. */
    @Override
    public CompositeByteBuf views(int offset, int len, ByteBufAllocator alloc) {
        // No component limit: adding components past a limit would consolidate them, i.e. copy.
        CompositeByteBuf c = alloc.compositeDirectBuffer(Integer.MAX_VALUE);
        walk(offset, len, null, c);
        return c;
    }

    /**
     * The pieces of the {@code len} bytes starting {@code offset} bytes after SND.UNA, one per buffer the range
     * crosses: appended to {@code copyTo}, or (when it is null) added to {@code viewsTo} as retained slices.
     */
    private void walk(int offset, int len, ByteBuf copyTo, CompositeByteBuf viewsTo) {
        int i = 0;
        ByteBuf b = chunk(0);
        while (offset >= b.readableBytes()) {
            offset -= b.readableBytes();
            b = chunk(++i);
        }
        while (true) {
            int n = Math.min(len, b.readableBytes() - offset);
            if (copyTo != null) {
                copyTo.writeBytes(b, b.readerIndex() + offset, n);
            } else {
                viewsTo.addComponent(true, b.retainedSlice(b.readerIndex() + offset, n));
            }
            len -= n;
            if (len == 0) {
                return;
            }
            offset = 0;
            b = chunk(++i);
        }
    }

    /** Drops the first {@code n} bytes (acknowledged). */
    void discard(int n) {
        size -= n;
        while (n > 0) {
            ByteBuf b = ring[head];
            int r = b.readableBytes();
            if (r <= n) {
                ring[head] = null;
                head = (head + 1) & (ring.length - 1);
                count--;
                b.release();
                n -= r;
            } else {
                b.skipBytes(n);
                n = 0;
            }
        }
    }

    void release() {
        for (; count > 0; count--) {
            ring[head].release();
            ring[head] = null;
            head = (head + 1) & (ring.length - 1);
        }
        head = 0;
        size = 0;
    }
}
