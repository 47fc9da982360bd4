package dev.gvproxy.forwarder;

import io.netty.channel.DefaultMaxMessagesRecvByteBufAllocator;
import io.netty.util.internal.SystemPropertyUtil;

/**
 * How much one read of a host TCP socket takes: what the bytes the last reads brought suggest (as Netty's adaptive
 * allocator sizes it, but up to {@link #MAX} instead of 64 KiB), never more than the guest connection's send space
 * ({@link #limit}), so a read cannot overfill the send buffer or the network's TCP budget. One per host channel,
 * installed by {@link TcpBridge}; the channel reads once per {@code read()} (auto-read is off), so each read is
 * sized for the space there is then.
 *
 * <p>Why larger reads: each read ends with a segment shorter than the guest's MSS (the read's bytes rarely divide
 * into whole segments), and each costs a {@code recv}, a wake-up of the loop and of the host's sender (its window
 * reopens). With 64 KiB reads at MTU 65520 every read made one full segment and one runt, and moving data to a
 * guest through the TAP reached 11 Gbit/s; with 1 MiB reads, 17 Gbit/s on the same machine.
 *
 * <p>Why not always 1 MiB: a read buffer should come from the allocator's pool. Netty's adaptive allocator (the
 * default) pools buffers up to 1 MiB, but in its low-memory mode, which it chooses by itself for a heap of 512 MiB
 * or less, none above 16,896 bytes: each larger buffer is a one-off {@code malloc}. At 1 MiB that meant page
 * faults and zeroing for a quarter of the loop, as the C library's heap grew and was trimmed, and host->guest at 4
 * or at 13 Gbit/s from one start to the next; 256 KiB reads gave 10-12. The daemon's heap is small by design
 * (packet buffers are off-heap), so its launcher turns the mode off ({@code -Dio.netty.allocator.lowMemory=false});
 * an application that embeds the stack with a small heap gets 256 KiB reads.
 */
final class HostReadBuffer extends DefaultMaxMessagesRecvByteBufAllocator {
    /** The first read's size: a request or a banner fits, and a bulk sender grows it within a few reads. */
    static final int INITIAL = 2048;
    static final int MIN = 64;
    /**
     * Largest read: 16 segments of a 65520-byte MTU, a quarter of the default send buffer; 256 KiB in Netty's
     * low-memory mode (decided as Netty decides it, once).
     */
    static final int MAX = max(SystemPropertyUtil.getBoolean("io.netty.allocator.lowMemory",
            Runtime.getRuntime().maxMemory() <= 512L << 20));

    private int next = INITIAL;
    private int limit = MAX;

    static int max(boolean nettyLowMemory) {
        return nettyLowMemory ? 256 << 10 : 1 << 20;
    }

    HostReadBuffer() {
        super(1); // auto-read is off: one read per read() anyway
    }

    /** Caps the next reads at {@code bytes} (the send space), at least 1. Event loop only. */
    void limit(int bytes) {
        this.limit = Math.max(1, bytes);
    }

    /** What the next read asks for. */
    int guess() {
        return Math.min(next, limit);
    }

    /**
     * A read of {@code asked} bytes brought {@code got}: a full buffer of the guessed size grows the next one
     * fourfold (more is waiting, the sender is streaming); one that drained the socket with a quarter of the guess
     * or less halves it. A full read the limit made smaller changes nothing.
     */
    void record(int asked, int got) {
        if (got >= asked) {
            if (asked == next) {
                next = Math.min(MAX, next << 2);
            }
        } else if (got <= next >> 2) {
            next = Math.max(MIN, next >> 1);
        }
    }

    @Override
    public Handle newHandle() {
        return new MaxMessageHandle() {
            @Override
            public int guess() {
                return HostReadBuffer.this.guess();
            }

            @Override
            public void lastBytesRead(int bytes) {
                if (bytes > 0) {
                    record(attemptedBytesRead(), bytes);
                }
                super.lastBytesRead(bytes);
            }
        };
    }
}
