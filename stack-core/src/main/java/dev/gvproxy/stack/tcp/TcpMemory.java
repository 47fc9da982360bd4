package dev.gvproxy.stack.tcp;

import dev.gvproxy.stack.Counters;

/**
 * The network's TCP buffer budget, like Linux's {@code tcp_mem}: the bytes all connections of one stack may
 * make the host hold, summed. A guest that opens hundreds of connections to host servers that stopped
 * reading must not grow the process by hundreds of times a window.
 *
 * <p>What a connection is charged ({@link TcpConnection}'s {@code charge}):
 * <ul>
 *   <li>guest -> host: bytes delivered to the application and not yet {@link TcpConnection#consumed} (the
 *       forwarder calls {@code consumed} only when the host socket took them, so this covers the host
 *       channel's outbound queue), plus the receive window currently advertised (a promise: the guest may
 *       fill it, and an advertised right edge is never retracted, RFC 9293 3.8.6.2.2);</li>
 *   <li>host -> guest: the send buffer (read from the host, not yet acknowledged by the guest).</li>
 * </ul>
 *
 * <p>How it bounds the sum: a connection may always hold {@link #floor} bytes in each direction (so no
 * connection is starved to a zero window and every connection keeps its own ACK clock, which is what wakes
 * it up again); beyond that, a window may open and the send buffer may grow only by what is still
 * {@link #free}. So the total stays under {@code limit + connections * 2 * floor} (plus one host read of
 * overshoot per connection), and as the budget fills, windows shrink to the floor
 * and host reads pause ({@code sendSpace} is 0), never an unbounded queue. Every time a connection is held
 * back by the budget, {@code tcp.memoryPressure} counts it.
 *
 * <p>Event-loop only, like the rest of the stack.
 */
public final class TcpMemory {
    /** No budget: every connection is limited by its own buffers only (tests, embedders that opt out). */
    public static final long UNLIMITED = Long.MAX_VALUE / 4;

    private final long limit;
    private final int floor;
    private final Counters.Counter pressure;
    private long used;

    /**
     * @param limit bytes all connections may be charged in total
     * @param floor bytes each connection may always hold regardless of the total (a couple of segments)
     */
    public TcpMemory(long limit, int floor, Counters counters) {
        if (limit <= 0 || floor <= 0) {
            throw new IllegalArgumentException("limit and floor must be positive");
        }
        this.limit = limit;
        this.floor = floor;
        this.pressure = counters.counter("tcp.memoryPressure");
    }

    public long limit() {
        return limit;
    }

    public int floor() {
        return floor;
    }

    /** Bytes charged to all connections now. */
    public long used() {
        return used;
    }

    /** Bytes that may still be committed beyond the per-connection floors. */
    public long free() {
        return Math.max(0, limit - used);
    }

    void add(long delta) {
        used += delta;
    }

    /**
     * Caps what a connection may add in one direction: {@code wanted} more bytes, while it already holds
     * {@code ownHeld} in that direction. Counts a hit when the budget, not the connection's own
     * buffer, was the limit.
     */
    int cap(int wanted, long ownHeld) {
        long allowed = Math.max(floor - ownHeld, free());
        if (wanted > allowed) {
            pressure.inc();
            return (int) Math.max(0, allowed);
        }
        return wanted;
    }
}
