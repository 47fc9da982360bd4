package dev.gvproxy.stack.tcp;

import dev.gvproxy.stack.wire.TcpSegmentWriter;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * Bytes the application queued for the peer, from SND.UNA onwards: unacknowledged data first, then data
 * not yet sent. Held as the buffers the application handed over (no copy); each segment, sent first or
 * retransmitted, copies its range out of them into its own buffer ({@link #copyTo}), which is the one copy a
 * segment's payload gets.
 */
final class SendBuffer implements TcpSegmentWriter.Payload {
    private final ArrayDeque<ByteBuf> chunks = new ArrayDeque<>();
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
        chunks.addLast(data);
        size += n;
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
        Iterator<ByteBuf> it = chunks.iterator();
        ByteBuf b = it.next();
        while (offset >= b.readableBytes()) {
            offset -= b.readableBytes();
            b = it.next();
        }
        while (true) {
            int n = Math.min(len, b.readableBytes() - offset);
            dst.writeBytes(b, b.readerIndex() + offset, n);
            len -= n;
            if (len == 0) {
                return;
            }
            offset = 0;
            b = it.next();
        }
    }

    /** Drops the first {@code n} bytes (acknowledged). */
    void discard(int n) {
        size -= n;
        while (n > 0) {
            ByteBuf b = chunks.peekFirst();
            int r = b.readableBytes();
            if (r <= n) {
                chunks.pollFirst().release();
                n -= r;
            } else {
                b.skipBytes(n);
                n = 0;
            }
        }
    }

    void release() {
        for (ByteBuf b; (b = chunks.pollFirst()) != null; ) {
            b.release();
        }
        size = 0;
    }
}
