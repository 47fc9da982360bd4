package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import io.netty.util.collection.IntObjectHashMap;
import java.util.ArrayDeque;
import java.util.function.IntConsumer;

/**
 * IPv4 -> MAC bindings of the guests, learned from ARP traffic and from the source of every IPv4 datagram
 * a guest sends (the gateway hears all of a guest's off-link traffic, so it rarely needs to ask).
 * Datagrams for an unresolved address wait in a small bounded queue ({@link PendingFrames}, shared with the
 * IPv6 {@link NeighborCache}) while an ARP request is out.
 *
 * <p>Entries expire {@code ttlNanos} after they were last confirmed, so a guest that changes its MAC is
 * re-resolved. Event-loop only.
 */
public final class ArpCache {
    static final int MAX_PENDING_PER_IP = PendingFrames.MAX_PENDING_PER_IP;
    static final int MAX_PENDING_IPS = PendingFrames.MAX_PENDING_IPS;
    static final long RESOLVE_TIMEOUT_NANOS = PendingFrames.RESOLVE_TIMEOUT_NANOS;

    private static final class Entry {
        long mac;
        long confirmed;
    }

    private final IntObjectHashMap<Entry> entries = new IntObjectHashMap<>();
    private final PendingFrames<Integer> pending;
    private final long ttlNanos;

    public ArpCache(Counters counters, long ttlNanos) {
        this.ttlNanos = ttlNanos;
        this.pending = new PendingFrames<>(counters.counter("arp.pendingOverflow"), counters.counter("arp.unresolved"));
    }

    public void learn(int ip, long mac, long now) {
        Entry e = entries.get(ip);
        if (e == null) {
            e = new Entry();
            entries.put(ip, e);
        }
        e.mac = mac;
        e.confirmed = now;
    }

    /** The MAC for {@code ip}, or -1 when unknown or expired. */
    public long lookup(int ip, long now) {
        Entry e = entries.get(ip);
        if (e == null || now - e.confirmed > ttlNanos) {
            return -1;
        }
        return e.mac;
    }

    /**
     * Queues a frame for {@code ip} until it resolves; asks {@code sendRequest} to emit an ARP request when
     * this is the first frame waiting (or the last request is a second old).
     *
     * @param frame <b>taken</b>: a complete frame whose destination MAC will be patched in
     */
    public void enqueue(int ip, ByteBuf frame, long now, IntConsumer sendRequest) {
        pending.enqueue(ip, frame, now, sendRequest::accept);
    }

    /** Frames that waited for {@code ip}, now resolvable; the caller takes them. Empty when none. */
    public ArrayDeque<ByteBuf> resolved(int ip) {
        return pending.resolved(ip);
    }

    /** Drops queues that waited too long (counted as unresolved) and forgets expired entries. */
    public void expire(long now) {
        pending.expire(now);
        entries.values().removeIf(e -> now - e.confirmed > ttlNanos);
    }

    public boolean hasPending() {
        return !pending.isEmpty();
    }

    /** Releases everything queued (stack shutdown). */
    public void clear() {
        pending.clear();
        entries.clear();
    }
}
