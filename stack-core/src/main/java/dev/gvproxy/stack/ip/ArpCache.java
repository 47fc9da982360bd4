package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import io.netty.util.collection.IntObjectHashMap;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.function.IntConsumer;

/**
 * IPv4 -> MAC bindings of the guests, learned from ARP traffic and from the source of every IPv4 datagram
 * a guest sends (the gateway hears all of a guest's off-link traffic, so it rarely needs to ask).
 * Datagrams for an unresolved address wait in a small bounded queue while an ARP request is out.
 *
 * <p>Entries expire {@code ttlNanos} after they were last confirmed, so a guest that changes its MAC is
 * re-resolved. Event-loop only.
 */
public final class ArpCache {
    static final int MAX_PENDING_PER_IP = 16;
    static final int MAX_PENDING_IPS = 256;
    static final long RESOLVE_TIMEOUT_NANOS = 3_000_000_000L;

    private static final class Entry {
        long mac;
        long confirmed;
    }

    /** A datagram waiting for resolution: the frame minus the Ethernet destination, filled in later. */
    private static final class Pending {
        final ArrayDeque<ByteBuf> frames = new ArrayDeque<>();
        long since;
        long lastRequest;
    }

    private final IntObjectHashMap<Entry> entries = new IntObjectHashMap<>();
    private final IntObjectHashMap<Pending> pending = new IntObjectHashMap<>();
    private final long ttlNanos;
    private final Counters.Counter pendingOverflow;
    private final Counters.Counter unresolved;

    public ArpCache(Counters counters, long ttlNanos) {
        this.ttlNanos = ttlNanos;
        this.pendingOverflow = counters.counter("arp.pendingOverflow");
        this.unresolved = counters.counter("arp.unresolved");
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
        Pending p = pending.get(ip);
        if (p == null) {
            if (pending.size() >= MAX_PENDING_IPS) {
                pendingOverflow.inc();
                frame.release();
                return;
            }
            p = new Pending();
            p.since = now;
            p.lastRequest = now;
            pending.put(ip, p);
            sendRequest.accept(ip);
        } else if (now - p.lastRequest >= 1_000_000_000L) {
            p.lastRequest = now;
            sendRequest.accept(ip);
        }
        if (p.frames.size() >= MAX_PENDING_PER_IP) {
            pendingOverflow.inc();
            p.frames.pollFirst().release();
        }
        p.frames.addLast(frame);
    }

    /** Frames that waited for {@code ip}, now resolvable; the caller takes them. Empty when none. */
    public ArrayDeque<ByteBuf> resolved(int ip) {
        Pending p = pending.remove(ip);
        return p == null ? new ArrayDeque<>(0) : p.frames;
    }

    /** Drops queues that waited too long (counted as unresolved) and forgets expired entries. */
    public void expire(long now) {
        for (Iterator<IntObjectHashMap.PrimitiveEntry<Pending>> it = pending.entries().iterator(); it.hasNext(); ) {
            IntObjectHashMap.PrimitiveEntry<Pending> e = it.next();
            if (now - e.value().since > RESOLVE_TIMEOUT_NANOS) {
                for (ByteBuf b : e.value().frames) {
                    unresolved.inc();
                    b.release();
                }
                it.remove();
            }
        }
        entries.values().removeIf(e -> now - e.confirmed > ttlNanos);
    }

    public boolean hasPending() {
        return !pending.isEmpty();
    }

    /** Releases everything queued (stack shutdown). */
    public void clear() {
        for (Pending p : pending.values()) {
            p.frames.forEach(ByteBuf::release);
        }
        pending.clear();
        entries.clear();
    }
}
