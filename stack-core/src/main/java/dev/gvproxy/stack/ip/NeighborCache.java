package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.function.Consumer;

/**
 * IPv6 -> MAC bindings of the guests (RFC 4861 section 7.3, simplified to what a gateway that hears all of a
 * guest's off-link traffic needs): learned from the source link-layer option of NS and RS, the target
 * link-layer option of NA, and the source of every IPv6 packet a guest sends. {@link ArpCache}'s IPv6
 * counterpart: the same expiry and the same bounded wait queue ({@link PendingFrames}) while a neighbour
 * solicitation is out.
 *
 * <p>Unlike IPv4, a guest can make up any number of addresses in a /64 (and link-local), so the table itself is
 * bounded ({@code maxEntries}): when full, expired entries are dropped first, and a new address is not learned
 * if none had expired ({@code ndp.cacheFull}); existing bindings keep being confirmed. Lookups by
 * {@link Ipv6Address} do not allocate. Event-loop only.
 */
public final class NeighborCache {
    private static final class Entry {
        long mac;
        long confirmed;
    }

    private final HashMap<Ipv6Address, Entry> entries = new HashMap<>();
    private final PendingFrames<Ipv6Address> pending;
    private final long ttlNanos;
    private final int maxEntries;
    private final Counters.Counter full;

    public NeighborCache(Counters counters, long ttlNanos, int maxEntries) {
        this.ttlNanos = ttlNanos;
        this.maxEntries = maxEntries;
        this.pending = new PendingFrames<>(counters.counter("ndp.pendingOverflow"), counters.counter("ndp.unresolved"));
        this.full = counters.counter("ndp.cacheFull");
    }

    /** Binds {@code ip} to {@code mac} (or confirms the binding). */
    public void learn(Ipv6Address ip, long mac, long now) {
        Entry e = entries.get(ip);
        if (e == null) {
            if (entries.size() >= maxEntries) {
                entries.values().removeIf(x -> now - x.confirmed > ttlNanos);
                if (entries.size() >= maxEntries) {
                    full.inc();
                    return;
                }
            }
            e = new Entry();
            entries.put(ip, e);
        }
        e.mac = mac;
        e.confirmed = now;
    }

    /** The MAC for {@code ip}, or -1 when unknown or expired. */
    public long lookup(Ipv6Address ip, long now) {
        Entry e = entries.get(ip);
        if (e == null || now - e.confirmed > ttlNanos) {
            return -1;
        }
        return e.mac;
    }

    /** Forgets {@code ip} (a guest's NA moved it elsewhere, or it was refused). */
    public void forget(Ipv6Address ip) {
        entries.remove(ip);
    }

    /**
     * Queues a frame for {@code ip} until it resolves; asks {@code sendSolicitation} to emit a neighbour
     * solicitation when this is the first frame waiting (or the last one is a second old).
     *
     * @param frame <b>taken</b>: a complete frame whose destination MAC will be patched in
     */
    public void enqueue(Ipv6Address ip, ByteBuf frame, long now, Consumer<Ipv6Address> sendSolicitation) {
        pending.enqueue(ip, frame, now, sendSolicitation);
    }

    /** Frames that waited for {@code ip}, now resolvable; the caller takes them. Empty when none. */
    public ArrayDeque<ByteBuf> resolved(Ipv6Address ip) {
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

    public int size() {
        return entries.size();
    }

    /** Releases everything queued (stack shutdown). */
    public void clear() {
        pending.clear();
        entries.clear();
    }
}
