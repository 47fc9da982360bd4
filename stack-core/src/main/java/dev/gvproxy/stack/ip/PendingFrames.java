package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Frames waiting for a neighbour's MAC, per address, while a request (ARP or a neighbour solicitation) is out:
 * the bounded wait queue both neighbour caches ({@link ArpCache}, {@link NeighborCache}) share. Bounded per
 * address and in addresses; a queue that waited longer than the resolve timeout is dropped and counted.
 * Only the slow path (an unresolved neighbour) comes here, so keys may be boxed. Event-loop only.
 *
 * @param <K> the address type (an {@code Integer} IPv4 address, an {@code Ipv6Address})
 */
final class PendingFrames<K> {
    static final int MAX_PENDING_PER_IP = 16;
    static final int MAX_PENDING_IPS = 256;
    static final long RESOLVE_TIMEOUT_NANOS = 3_000_000_000L;
    /** Requests for one address are repeated at most this often while frames wait. */
    static final long REQUEST_INTERVAL_NANOS = 1_000_000_000L;

    /** Frames waiting for one address: each a complete frame minus the Ethernet destination, patched later. */
    private static final class Pending {
        final ArrayDeque<ByteBuf> frames = new ArrayDeque<>();
        long since;
        long lastRequest;
    }

    private final HashMap<K, Pending> pending = new HashMap<>();
    private final Counters.Counter overflow;
    private final Counters.Counter unresolved;

    PendingFrames(Counters.Counter overflow, Counters.Counter unresolved) {
        this.overflow = overflow;
        this.unresolved = unresolved;
    }

    /**
     * Queues a frame for {@code ip}; asks {@code sendRequest} to emit a request when this is the first frame
     * waiting (or the last request is a second old).
     *
     * @param frame <b>taken</b>
     */
    void enqueue(K ip, ByteBuf frame, long now, Consumer<K> sendRequest) {
        Pending p = pending.get(ip);
        if (p == null) {
            if (pending.size() >= MAX_PENDING_IPS) {
                overflow.inc();
                frame.release();
                return;
            }
            p = new Pending();
            p.since = now;
            p.lastRequest = now;
            pending.put(ip, p);
            sendRequest.accept(ip);
        } else if (now - p.lastRequest >= REQUEST_INTERVAL_NANOS) {
            p.lastRequest = now;
            sendRequest.accept(ip);
        }
        if (p.frames.size() >= MAX_PENDING_PER_IP) {
            overflow.inc();
            p.frames.pollFirst().release();
        }
        p.frames.addLast(frame);
    }

    /** Frames that waited for {@code ip}; the caller takes them. Empty when none. */
    ArrayDeque<ByteBuf> resolved(K ip) {
        Pending p = pending.isEmpty() ? null : pending.remove(ip);
        return p == null ? new ArrayDeque<>(0) : p.frames;
    }

    /** Drops queues that waited too long, counting each frame as unresolved. */
    void expire(long now) {
        for (Iterator<Map.Entry<K, Pending>> it = pending.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<K, Pending> e = it.next();
            if (now - e.getValue().since > RESOLVE_TIMEOUT_NANOS) {
                for (ByteBuf b : e.getValue().frames) {
                    unresolved.inc();
                    b.release();
                }
                it.remove();
            }
        }
    }

    boolean isEmpty() {
        return pending.isEmpty();
    }

    /** Releases everything queued. */
    void clear() {
        for (Pending p : pending.values()) {
            p.frames.forEach(ByteBuf::release);
        }
        pending.clear();
    }
}
