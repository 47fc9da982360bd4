package dev.gvproxy.stack.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * Bytes the application queued for the peer, from SND.UNA onwards: unacknowledged data first, then data
 * not yet sent. Held as the buffers the application handed over (no copy); segments are retained slices
 * of them, so a retransmission re-reads the same memory.
 */
final class SendBuffer {
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
     * A retained view of {@code len} bytes starting {@code offset} bytes after SND.UNA; the caller takes it.
     * One chunk gives a plain slice; a range spanning chunks gives a composite of slices.
     */
    ByteBuf slice(int offset, int len, ByteBufAllocator alloc) {
        Iterator<ByteBuf> it = chunks.iterator();
        ByteBuf b = it.next();
        while (offset >= b.readableBytes()) {
            offset -= b.readableBytes();
            b = it.next();
        }
        if (b.readableBytes() - offset >= len) {
            return b.retainedSlice(b.readerIndex() + offset, len);
        }
        CompositeByteBuf c = alloc.compositeBuffer(8);
        int remaining = len;
        while (true) {
            int n = Math.min(remaining, b.readableBytes() - offset);
            c.addComponent(true, b.retainedSlice(b.readerIndex() + offset, n));
            remaining -= n;
            if (remaining == 0) {
                return c;
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
