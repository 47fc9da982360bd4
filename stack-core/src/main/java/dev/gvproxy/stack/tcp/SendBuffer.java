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
        int i = 0;
        ByteBuf b = chunk(0);
        while (offset >= b.readableBytes()) {
            offset -= b.readableBytes();
            b = chunk(++i);
        }
        while (true) {
            int n = Math.min(len, b.readableBytes() - offset);
            dst.writeBytes(b, b.readerIndex() + offset, n);
            len -= n;
            if (len == 0) {
                return;
            }
            offset = 0;
            b = chunk(++i);
        }
    }

    /** Retained slices of the buffers the range crosses: a large segment's payload without a copy. */
    @Override
    public CompositeByteBuf views(int offset, int len, ByteBufAllocator alloc) {
        int first = 0;
        ByteBuf b = chunk(0);
        while (offset >= b.readableBytes()) {
            offset -= b.readableBytes();
            b = chunk(++first);
        }
        int last = first;
        for (int left = len - (b.readableBytes() - offset); left > 0; ) {
            left -= chunk(++last).readableBytes();
        }
        // one more component for the header the segment puts in front; never consolidated (a copy) on adding
        CompositeByteBuf c = alloc.compositeDirectBuffer(last - first + 2);
        for (int i = first; len > 0; i++) {
            b = chunk(i);
            int n = Math.min(len, b.readableBytes() - offset);
            c.addComponent(true, b.retainedSlice(b.readerIndex() + offset, n));
            len -= n;
            offset = 0;
        }
        return c;
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
