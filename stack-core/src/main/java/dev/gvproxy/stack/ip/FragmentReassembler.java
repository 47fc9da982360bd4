package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * IPv4 fragment reassembly (RFC 791 section 3.2, with RFC 815's hole idea reduced to a sorted list).
 *
 * <p>Datagrams are keyed by (source, destination, protocol, identification). Fragments are kept as
 * retained slices of the frames they arrived in, so reassembly copies nothing until the composite is read.
 * Policy, chosen for robustness against hostile or impaired links:
 * <ul>
 *   <li>an exact duplicate of a fragment already held is ignored (links may duplicate);</li>
 *   <li>any other overlap discards the whole datagram (as Linux does since FragmentSmack);</li>
 *   <li>a datagram whose payload would exceed 65,515 bytes is discarded;</li>
 *   <li>memory is bounded per source address (a quarter of the total, at most {@value #MAX_DATAGRAMS_PER_SOURCE}
 *       datagrams): a source over its share loses its own oldest datagram ({@code ipv4.reassemblyPerSourceLimit}),
 *       so one guest flooding fragments cannot evict the others' datagrams;</li>
 *   <li>memory is bounded over all datagrams: the oldest incomplete datagram is evicted to make room;</li>
 *   <li>incomplete datagrams are discarded after the configured timeout.</li>
 * </ul>
 * Every discard is counted. Event-loop only; time is injected.
 */
public final class FragmentReassembler {
    static final int MAX_PAYLOAD = 65535 - 20;
    static final int MAX_DATAGRAMS = 1024;
    static final int MAX_DATAGRAMS_PER_SOURCE = 64;

    record Key(int src, int dst, int protocol, int id) {}

    private static final class Fragment {
        final int offset;
        final ByteBuf data;

        Fragment(int offset, ByteBuf data) {
            this.offset = offset;
            this.data = data;
        }

        int end() {
            return offset + data.readableBytes();
        }
    }

    private static final class Datagram {
        final long created;
        final List<Fragment> fragments = new ArrayList<>(4);
        int totalLength = -1; // payload length, known once the last fragment arrived
        int held;

        Datagram(long created) {
            this.created = created;
        }

        void release() {
            for (Fragment f : fragments) {
                f.data.release();
            }
            fragments.clear();
        }
    }

    private final LinkedHashMap<Key, Datagram> datagrams = new LinkedHashMap<>();
    private final ByteBufAllocator alloc;
    private final long timeoutNanos;
    private final int maxBytes;
    private final int maxBytesPerSource;
    private int heldBytes;
    /** Per source address: {bytes held, datagrams pending}. */
    private final java.util.HashMap<Integer, int[]> bySource = new java.util.HashMap<>();
    private final Counters.Counter perSourceLimit;

    private final Counters.Counter duplicate;
    private final Counters.Counter overlap;
    private final Counters.Counter tooBig;
    private final Counters.Counter evicted;
    private final Counters.Counter timedOut;
    private final Counters.Counter reassembled;
    private final Counters.Counter inconsistent;
    private final Counters.Counter fragments;

    /** A reassembler whose per-source share is a quarter of {@code maxBytes} (at least one maximal datagram). */
    public FragmentReassembler(ByteBufAllocator alloc, Counters counters, long timeoutNanos, int maxBytes) {
        this(alloc, counters, timeoutNanos, maxBytes, Math.min(maxBytes, Math.max(MAX_PAYLOAD, maxBytes / 4)));
    }

    /** @param maxBytesPerSource fragment bytes one source address may have held at once */
    public FragmentReassembler(ByteBufAllocator alloc, Counters counters, long timeoutNanos, int maxBytes,
            int maxBytesPerSource) {
        this.alloc = alloc;
        this.timeoutNanos = timeoutNanos;
        this.maxBytes = maxBytes;
        this.maxBytesPerSource = maxBytesPerSource;
        this.perSourceLimit = counters.counter("ipv4.reassemblyPerSourceLimit");
        this.duplicate = counters.counter("ipv4.fragmentDuplicate");
        this.overlap = counters.counter("ipv4.fragmentOverlap");
        this.tooBig = counters.counter("ipv4.fragmentTooBig");
        this.evicted = counters.counter("ipv4.reassemblyEvicted");
        this.timedOut = counters.counter("ipv4.reassemblyTimeout");
        this.reassembled = counters.counter("ipv4.reassembled");
        this.inconsistent = counters.counter("ipv4.fragmentInconsistent");
        this.fragments = counters.counter("ipv4.in.fragments");
    }

    /**
     * Adds one fragment.
     *
     * @param payload <b>borrowed</b>: this fragment's data (after the IP header); a retained slice is kept
     * @param offset fragment offset in bytes
     * @param more the MF flag
     * @return the complete payload when this fragment completed the datagram (<b>the caller takes it</b>),
     *     else null
     */
    public ByteBuf add(int src, int dst, int protocol, int id, int offset, boolean more, ByteBuf payload, long now) {
        int len = payload.readableBytes();
        fragments.inc();
        Key key = new Key(src, dst, protocol, id);
        if (offset + len > MAX_PAYLOAD || (more && (len & 7) != 0)) {
            // Non-final fragments must carry a multiple of 8 bytes (RFC 791); otherwise the next offset is unreachable.
            (offset + len > MAX_PAYLOAD ? tooBig : inconsistent).inc();
            discard(key);
            return null;
        }
        Datagram d = datagrams.get(key);
        if (d == null) {
            int[] u = bySource.get(src);
            if (u != null && u[1] >= MAX_DATAGRAMS_PER_SOURCE) {
                perSourceLimit.inc();
                evictOldestOf(src);
            }
            if (datagrams.size() >= MAX_DATAGRAMS) {
                evictOldest();
            }
            d = new Datagram(now);
            datagrams.put(key, d);
            bySource.computeIfAbsent(src, k -> new int[2])[1]++;
        }
        if (!more) {
            int total = offset + len;
            if ((d.totalLength >= 0 && d.totalLength != total) || lastEnd(d) > total) {
                inconsistent.inc();
                discard(key);
                return null;
            }
            d.totalLength = total;
        } else if (d.totalLength >= 0 && offset + len > d.totalLength) {
            inconsistent.inc();
            discard(key);
            return null;
        }
        // Find the insertion point; reject overlaps, ignore exact duplicates.
        int i = 0;
        List<Fragment> fs = d.fragments;
        while (i < fs.size() && fs.get(i).offset < offset) {
            i++;
        }
        if (i < fs.size() && fs.get(i).offset == offset && fs.get(i).data.readableBytes() == len) {
            duplicate.inc();
            return null;
        }
        boolean overlapsPrev = i > 0 && fs.get(i - 1).end() > offset;
        boolean overlapsNext = i < fs.size() && fs.get(i).offset < offset + len;
        if (overlapsPrev || overlapsNext) {
            overlap.inc();
            discard(key);
            return null;
        }
        for (int[] u = bySource.get(src); u != null && u[0] + len > maxBytesPerSource; u = bySource.get(src)) {
            perSourceLimit.inc();
            if (datagrams.keySet().stream().filter(k -> k.src() == src).findFirst().orElseThrow().equals(key)) {
                discard(key); // this datagram alone is over the source's share
                return null;
            }
            evictOldestOf(src);
        }
        while (heldBytes + len > maxBytes && !datagrams.isEmpty()) {
            Key oldest = datagrams.keySet().iterator().next();
            if (oldest.equals(key)) {
                tooBig.inc();
                discard(key);
                return null;
            }
            evictOldest();
        }
        fs.add(i, new Fragment(offset, payload.retainedSlice()));
        d.held += len;
        heldBytes += len;
        bySource.get(src)[0] += len;
        if (d.totalLength < 0 || !contiguous(d)) {
            return null;
        }
        datagrams.remove(key);
        forget(key, d);
        reassembled.inc();
        CompositeByteBuf out = alloc.compositeBuffer(fs.size());
        for (Fragment f : fs) {
            out.addComponent(true, f.data);
        }
        fs.clear();
        return out;
    }

    private static int lastEnd(Datagram d) {
        return d.fragments.isEmpty() ? 0 : d.fragments.get(d.fragments.size() - 1).end();
    }

    private static boolean contiguous(Datagram d) {
        int next = 0;
        for (Fragment f : d.fragments) {
            if (f.offset != next) {
                return false;
            }
            next = f.end();
        }
        return next == d.totalLength;
    }

    private void evictOldest() {
        java.util.Map.Entry<Key, Datagram> e = datagrams.entrySet().iterator().next();
        datagrams.remove(e.getKey());
        forget(e.getKey(), e.getValue());
        e.getValue().release();
        evicted.inc();
    }

    /** Evicts the oldest datagram of {@code src}, which must have one. */
    private void evictOldestOf(int src) {
        for (java.util.Map.Entry<Key, Datagram> e : datagrams.entrySet()) {
            if (e.getKey().src() == src) {
                datagrams.remove(e.getKey());
                forget(e.getKey(), e.getValue());
                e.getValue().release();
                evicted.inc();
                return;
            }
        }
    }

    /** Takes a datagram that left the table off the totals. */
    private void forget(Key key, Datagram d) {
        heldBytes -= d.held;
        int[] u = bySource.get(key.src());
        if (u != null) {
            u[0] -= d.held;
            if (--u[1] <= 0) {
                bySource.remove(key.src());
            }
        }
    }

    private void discard(Key key) {
        Datagram d = datagrams.remove(key);
        if (d != null) {
            forget(key, d);
            d.release();
        }
    }

    /** Discards datagrams older than the timeout. */
    public void expire(long now) {
        for (Iterator<java.util.Map.Entry<Key, Datagram>> it = datagrams.entrySet().iterator(); it.hasNext(); ) {
            java.util.Map.Entry<Key, Datagram> e = it.next();
            Datagram d = e.getValue();
            if (now - d.created < timeoutNanos) {
                break; // insertion order = age order
            }
            it.remove();
            forget(e.getKey(), d);
            d.release();
            timedOut.inc();
        }
    }

    /** Deadline of the oldest incomplete datagram, or Long.MAX_VALUE. */
    public long nextDeadline() {
        if (datagrams.isEmpty()) {
            return Long.MAX_VALUE;
        }
        return datagrams.values().iterator().next().created + timeoutNanos;
    }

    public int heldBytes() {
        return heldBytes;
    }

    /** Fragment bytes held for {@code src}. */
    public int heldBytes(int src) {
        int[] u = bySource.get(src);
        return u == null ? 0 : u[0];
    }

    public int pendingDatagrams() {
        return datagrams.size();
    }

    public void clear() {
        datagrams.values().forEach(Datagram::release);
        datagrams.clear();
        bySource.clear();
        heldBytes = 0;
    }
}
