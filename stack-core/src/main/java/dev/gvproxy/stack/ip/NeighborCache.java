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
 * <p>Unlike IPv4, a guest can make up any number of addresses in a /64 (and link-local), so the table is bounded
 * twice: one MAC holds at most {@code maxPerMac} addresses (a host has a link-local, a SLAAC and a few temporary
 * ones; {@code ndp.perMacLimit}), so one guest cannot crowd the others out, and the whole table at most
 * {@code maxEntries}: when full, expired entries are dropped first, and a new address is not learned if none had
 * expired ({@code ndp.cacheFull}). Existing bindings keep being confirmed. Lookups by {@link Ipv6Address} do not
 * allocate. Event-loop only.
 */
public final class NeighborCache {
    private static final class Entry {
        long mac;
        long confirmed;
    }

    private final HashMap<Ipv6Address, Entry> entries = new HashMap<>();
    /** Addresses bound to each MAC (only touched when a binding is made, moved or dropped). */
    private final HashMap<Long, int[]> perMac = new HashMap<>();
    private final int maxPerMac;
    private final Counters.Counter perMacLimit;
    private final PendingFrames<Ipv6Address> pending;
    private final long ttlNanos;
    private final int maxEntries;
    private final Counters.Counter full;

    public NeighborCache(Counters counters, long ttlNanos, int maxEntries, int maxPerMac) {
        this.ttlNanos = ttlNanos;
        this.maxEntries = maxEntries;
        this.maxPerMac = maxPerMac;
        this.perMacLimit = counters.counter("ndp.perMacLimit");
        this.pending = new PendingFrames<>(counters.counter("ndp.pendingOverflow"), counters.counter("ndp.unresolved"));
        this.full = counters.counter("ndp.cacheFull");
    }

    /** Binds {@code ip} to {@code mac} (or confirms the binding). */
    public void learn(Ipv6Address ip, long mac, long now) {
        Entry e = entries.get(ip);
        if (e != null && e.mac == mac) {
            e.confirmed = now; // the receive path: a known guest confirmed, nothing allocated
            return;
        }
        if (count(mac) >= maxPerMac) {
            expireEntries(now);
            if (count(mac) >= maxPerMac) {
                perMacLimit.inc();
                return;
            }
        }
        if (e == null) {
            if (entries.size() >= maxEntries) {
                expireEntries(now);
                if (entries.size() >= maxEntries) {
                    full.inc();
                    return;
                }
            }
            e = new Entry();
            entries.put(ip, e);
        } else {
            uncount(e.mac);
        }
        e.mac = mac;
        e.confirmed = now;
        perMac.computeIfAbsent(mac, k -> new int[1])[0]++;
    }

    private int count(long mac) {
        int[] n = perMac.get(mac);
        return n == null ? 0 : n[0];
    }

    private void uncount(long mac) {
        int[] n = perMac.get(mac);
        if (n != null && --n[0] <= 0) {
            perMac.remove(mac);
        }
    }

    private void expireEntries(long now) {
        entries.values().removeIf(x -> {
            if (now - x.confirmed > ttlNanos) {
                uncount(x.mac);
                return true;
            }
            return false;
        });
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
        Entry e = entries.remove(ip);
        if (e != null) {
            uncount(e.mac);
        }
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
        expireEntries(now);
    }

    public boolean hasPending() {
        return !pending.isEmpty();
    }

    public int size() {
        return entries.size();
    }

    /** Address -> MAC of the bindings still valid at {@code now}, sorted by address (for the API). */
    public java.util.SortedMap<String, String> snapshot(long now) {
        java.util.SortedMap<String, String> m = new java.util.TreeMap<>();
        for (var e : entries.entrySet()) {
            if (now - e.getValue().confirmed < ttlNanos) {
                m.put(e.getKey().toString(), dev.gvproxy.stack.wire.MacAddress.format(e.getValue().mac));
            }
        }
        return m;
    }

    /** Releases everything queued (stack shutdown). */
    public void clear() {
        pending.clear();
        entries.clear();
        perMac.clear();
    }
}
