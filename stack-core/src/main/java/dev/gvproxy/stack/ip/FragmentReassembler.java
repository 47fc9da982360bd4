package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * IP fragment reassembly, one core for both families: IPv4 (RFC 791 section 3.2) and IPv6 (RFC 8200 section
 * 4.5), with RFC 815's hole idea reduced to a sorted list. One instance serves one family
 * ({@link #FragmentReassembler(ByteBufAllocator, Counters, long, int)} for IPv4, {@link #forIpv6} for IPv6), with
 * the same limits (the stack's {@code reassembly} configuration) and the same counters under the family's layer
 * ({@code ipv4.fragmentOverlap}, {@code ipv6.fragmentOverlap}, ...).
 *
 * <p>IPv4 datagrams are keyed by (source, destination, protocol, identification); IPv6 ones by (source,
 * destination, identification), the fragment headers' Next Header being taken from the first fragment (offset
 * 0), as RFC 8200 4.5 says; the caller gives the fragmentable part of each fragment (after the fragment header)
 * and walks the reassembled part again ({@link dev.gvproxy.stack.wire.Ipv6Packet#walkPayload}). Fragments are kept as
 * retained slices of the frames they arrived in, so reassembly copies nothing until the composite is read.
 * Policy, chosen for robustness against hostile or impaired links:
 * <ul>
 *   <li>an exact duplicate of a fragment already held is ignored (links may duplicate);</li>
 *   <li>any other overlap discards the whole datagram (as Linux does since FragmentSmack);</li>
 *   <li>a datagram whose payload would exceed 65,515 bytes (IPv4), or whose fragmentable part would exceed
 *       65,535 bytes (IPv6), is discarded;</li>
 *   <li>memory is bounded per source address (a quarter of the total, at most {@value #MAX_DATAGRAMS_PER_SOURCE}
 *       datagrams): a source over its share loses its own oldest datagram ({@code <layer>.reassemblyPerSourceLimit}),
 *       so one guest flooding fragments cannot evict the others' datagrams (for IPv6 a source is the whole
 *       address: the guests share one /64, so keeping a source's address honest is the address guard's job);</li>
 *   <li>memory is bounded over all datagrams: the oldest incomplete datagram is evicted to make room;</li>
 *   <li>incomplete datagrams are discarded after the configured timeout.</li>
 * </ul>
 * Every discard is counted. Event-loop only; time is injected.
 */
public final class FragmentReassembler {
    static final int MAX_PAYLOAD = 65535 - 20;
    /** IPv6: the fragmentable part may reach the 16-bit payload length (the view checks it precisely). */
    static final int MAX_PAYLOAD_V6 = 65535;
    static final int MAX_DATAGRAMS = 1024;
    static final int MAX_DATAGRAMS_PER_SOURCE = 64;

    /** An address of either family: an IPv4 address in {@code lo}, unsigned, with {@code hi} 0. */
    record Source(long hi, long lo) {}

    /** For IPv6 {@code protocol} is 0: the Next Header is not part of the key. */
    record Key(Source src, long dstHi, long dstLo, int protocol, int id) {}

    /** A reassembled IPv6 fragmentable part and the Next Header its first fragment named. The payload is taken. */
    public record Reassembled(int nextHeader, ByteBuf payload) {}

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
        int firstNextHeader = -1; // IPv6: the Next Header of the offset-0 fragment

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
    private final int maxPayload;
    private final ByteBufAllocator alloc;
    private final long timeoutNanos;
    private final int maxBytes;
    private final int maxBytesPerSource;
    private int heldBytes;
    /** Per source address: {bytes held, datagrams pending}. */
    private final java.util.HashMap<Source, int[]> bySource = new java.util.HashMap<>();
    private final Counters.Counter perSourceLimit;

    private final Counters.Counter duplicate;
    private final Counters.Counter overlap;
    private final Counters.Counter tooBig;
    private final Counters.Counter evicted;
    private final Counters.Counter timedOut;
    private final Counters.Counter reassembled;
    private final Counters.Counter inconsistent;
    private final Counters.Counter fragments;

    /**
     * An IPv4 reassembler whose per-source share is a quarter of {@code maxBytes} (at least one maximal
     * datagram).
     */
    public FragmentReassembler(ByteBufAllocator alloc, Counters counters, long timeoutNanos, int maxBytes) {
        this(alloc, counters, timeoutNanos, maxBytes, perSourceShare(maxBytes, MAX_PAYLOAD));
    }

    /** An IPv4 reassembler. @param maxBytesPerSource fragment bytes one source address may have held at once */
    public FragmentReassembler(ByteBufAllocator alloc, Counters counters, long timeoutNanos, int maxBytes,
            int maxBytesPerSource) {
        this("ipv4", MAX_PAYLOAD, alloc, counters, timeoutNanos, maxBytes, maxBytesPerSource);
    }

    /** An IPv6 reassembler with the same limits and the per-source share of the IPv4 one. */
    public static FragmentReassembler forIpv6(ByteBufAllocator alloc, Counters counters, long timeoutNanos,
            int maxBytes) {
        return forIpv6(alloc, counters, timeoutNanos, maxBytes, perSourceShare(maxBytes, MAX_PAYLOAD_V6));
    }

    /** An IPv6 reassembler. @param maxBytesPerSource fragment bytes one source address may have held at once */
    public static FragmentReassembler forIpv6(ByteBufAllocator alloc, Counters counters, long timeoutNanos,
            int maxBytes, int maxBytesPerSource) {
        return new FragmentReassembler("ipv6", MAX_PAYLOAD_V6, alloc, counters, timeoutNanos, maxBytes,
                maxBytesPerSource);
    }

    private static int perSourceShare(int maxBytes, int maxPayload) {
        return Math.min(maxBytes, Math.max(maxPayload, maxBytes / 4));
    }

    private FragmentReassembler(String layer, int maxPayload, ByteBufAllocator alloc, Counters counters,
            long timeoutNanos, int maxBytes, int maxBytesPerSource) {
        this.maxPayload = maxPayload;
        this.alloc = alloc;
        this.timeoutNanos = timeoutNanos;
        this.maxBytes = maxBytes;
        this.maxBytesPerSource = maxBytesPerSource;
        this.perSourceLimit = counters.counter(layer + ".reassemblyPerSourceLimit");
        this.duplicate = counters.counter(layer + ".fragmentDuplicate");
        this.overlap = counters.counter(layer + ".fragmentOverlap");
        this.tooBig = counters.counter(layer + ".fragmentTooBig");
        this.evicted = counters.counter(layer + ".reassemblyEvicted");
        this.timedOut = counters.counter(layer + ".reassemblyTimeout");
        this.reassembled = counters.counter(layer + ".reassembled");
        this.inconsistent = counters.counter(layer + ".fragmentInconsistent");
        this.fragments = counters.counter(layer + ".in.fragments");
    }

    /**
     * Adds one IPv4 fragment (of an IPv4 reassembler).
     *
     * @param payload <b>borrowed</b>: this fragment's data (after the IP header); a retained slice is kept
     * @param offset fragment offset in bytes
     * @param more the MF flag
     * @return the complete payload when this fragment completed the datagram (<b>the caller takes it</b>),
     *     else null
     */
    public ByteBuf add(int src, int dst, int protocol, int id, int offset, boolean more, ByteBuf payload, long now) {
        Datagram d = add(new Key(new Source(0, src & 0xFFFF_FFFFL), 0, dst & 0xFFFF_FFFFL, protocol, id), -1,
                offset, more, payload, now);
        return d == null ? null : assemble(d);
    }

    /**
     * Adds one IPv6 fragment (of a reassembler made by {@link #forIpv6}).
     *
     * @param nextHeader the Next Header of this fragment's fragment header (only the first fragment's counts)
     * @param payload <b>borrowed</b>: this fragment's fragmentable part (after the fragment header); a retained
     *     slice is kept
     * @param offset fragment offset in bytes
     * @param more the M flag
     * @return the complete fragmentable part and its Next Header when this fragment completed the datagram
     *     (<b>the caller takes the payload</b>), else null
     */
    public Reassembled addIpv6(Ipv6Address src, Ipv6Address dst, int id, int nextHeader, int offset, boolean more,
            ByteBuf payload, long now) {
        Datagram d = add(new Key(new Source(src.hi(), src.lo()), dst.hi(), dst.lo(), 0, id),
                offset == 0 ? nextHeader : -1, offset, more, payload, now);
        return d == null ? null : new Reassembled(d.firstNextHeader, assemble(d));
    }

    /** The family-independent core: the completed datagram (out of the table, fragments still held), or null. */
    private Datagram add(Key key, int firstNextHeader, int offset, boolean more, ByteBuf payload, long now) {
        int len = payload.readableBytes();
        Source src = key.src();
        fragments.inc();
        if (offset + len > maxPayload || (more && (len & 7) != 0)) {
            // Non-final fragments must carry a multiple of 8 bytes (RFC 791); otherwise the next offset is unreachable.
            (offset + len > maxPayload ? tooBig : inconsistent).inc();
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
            if (datagrams.keySet().stream().filter(k -> k.src().equals(src)).findFirst().orElseThrow().equals(key)) {
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
        if (offset == 0) {
            d.firstNextHeader = firstNextHeader;
        }
        d.held += len;
        heldBytes += len;
        bySource.get(src)[0] += len;
        if (d.totalLength < 0 || !contiguous(d)) {
            return null;
        }
        datagrams.remove(key);
        forget(key, d);
        reassembled.inc();
        return d;
    }

    /** The fragments of a completed datagram as one composite (taking over their references). */
    private ByteBuf assemble(Datagram d) {
        List<Fragment> fs = d.fragments;
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
    private void evictOldestOf(Source src) {
        for (java.util.Map.Entry<Key, Datagram> e : datagrams.entrySet()) {
            if (e.getKey().src().equals(src)) {
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

    /** Fragment bytes held for the IPv4 source {@code src}. */
    public int heldBytes(int src) {
        int[] u = bySource.get(new Source(0, src & 0xFFFF_FFFFL));
        return u == null ? 0 : u[0];
    }

    /** Fragment bytes held for the IPv6 source {@code src}. */
    public int heldBytes(Ipv6Address src) {
        int[] u = bySource.get(new Source(src.hi(), src.lo()));
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
