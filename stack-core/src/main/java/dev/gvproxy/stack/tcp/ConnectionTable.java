package dev.gvproxy.stack.tcp;

import dev.gvproxy.stack.wire.Ipv6Address;
import java.util.ArrayList;
import java.util.List;

/**
 * The layer's connections by 4-tuple, found from a received segment's primitive fields without allocating: a
 * {@code HashMap<FlowKey, TcpConnection>} needs a key and two {@link Ipv6Address}es per lookup, which the
 * receive path paid for every segment whose connection was not the last one found (two transfers interleaved).
 *
 * <p>Open addressing with linear probing over a power-of-two array, at most half full; each connection is its
 * own key ({@link TcpConnection#matches}), named from the guest's side as {@code FlowKey} is: source = guest
 * ({@code remote*}), destination = the address the guest reached ({@code local*}). Removal shifts the entries
 * after the hole back (Knuth, TAOCP vol. 3, 6.4 Algorithm R), so there are no tombstones and a lookup stops at
 * the first empty slot.
 *
 * <p>The hash is keyed with a per-table random seed: guests choose their ports and destinations, and must not be
 * able to line their connections up on one probe sequence (the reason {@code HashMap} keeps tree bins).
 *
 * <p>Event loop only.
 */
final class ConnectionTable {
    private static final int INITIAL_CAPACITY = 16;

    private final long seed;
    private TcpConnection[] slots = new TcpConnection[INITIAL_CAPACITY];
    private int size;

    /** @param seed keys the hash; a random value in production */
    ConnectionTable(long seed) {
        this.seed = seed;
    }

    int size() {
        return size;
    }

    /** The connection of segments from {@code src:srcPort} (the guest) to {@code dst:dstPort}, or null. */
    TcpConnection get(long srcHi, long srcLo, int srcPort, long dstHi, long dstLo, int dstPort) {
        TcpConnection[] s = slots;
        int mask = s.length - 1;
        for (int i = index(srcHi, srcLo, srcPort, dstHi, dstLo, dstPort, mask); ; i = (i + 1) & mask) {
            TcpConnection c = s[i];
            if (c == null || c.matches(srcHi, srcLo, srcPort, dstHi, dstLo, dstPort)) {
                return c;
            }
        }
    }

    /** {@link #get(long, long, int, long, long, int)} by addresses. */
    TcpConnection get(Ipv6Address guest, int guestPort, Ipv6Address peer, int peerPort) {
        return get(guest.hi(), guest.lo(), guestPort, peer.hi(), peer.lo(), peerPort);
    }

    /** Adds {@code c}; a connection of the same 4-tuple already here is replaced (as {@code Map.put} would). */
    void add(TcpConnection c) {
        TcpConnection[] s = slots;
        int mask = s.length - 1;
        for (int i = indexOf(c, mask); s[i] != null; i = (i + 1) & mask) {
            if (s[i].matches(c.remoteIp.hi(), c.remoteIp.lo(), c.remotePort, c.localIp.hi(), c.localIp.lo(),
                    c.localPort)) {
                s[i] = c;
                return;
            }
        }
        if (2 * (size + 1) > s.length) {
            resize(2 * s.length);
        }
        insert(slots, c);
        size++;
    }

    /** Removes exactly {@code c} (not another connection of the same 4-tuple); false when it is not here. */
    boolean remove(TcpConnection c) {
        TcpConnection[] s = slots;
        int mask = s.length - 1;
        int i = indexOf(c, mask);
        while (s[i] != c) {
            if (s[i] == null) {
                return false;
            }
            i = (i + 1) & mask;
        }
        // Algorithm R: move back every following entry of the run whose home slot does not lie in (hole, entry].
        int hole = i;
        for (int j = (i + 1) & mask; s[j] != null; j = (j + 1) & mask) {
            int home = indexOf(s[j], mask);
            if (((j - home) & mask) >= ((j - hole) & mask)) {
                s[hole] = s[j];
                hole = j;
            }
        }
        s[hole] = null;
        size--;
        return true;
    }

    /** The connections in table order, as a new list. */
    List<TcpConnection> snapshot() {
        ArrayList<TcpConnection> out = new ArrayList<>(size);
        for (TcpConnection c : slots) {
            if (c != null) {
                out.add(c);
            }
        }
        return out;
    }

    void clear() {
        slots = new TcpConnection[INITIAL_CAPACITY];
        size = 0;
    }

    private void resize(int capacity) {
        TcpConnection[] bigger = new TcpConnection[capacity];
        for (TcpConnection c : slots) {
            if (c != null) {
                insert(bigger, c);
            }
        }
        slots = bigger;
    }

    private void insert(TcpConnection[] s, TcpConnection c) {
        int mask = s.length - 1;
        int i = indexOf(c, mask);
        while (s[i] != null) {
            i = (i + 1) & mask;
        }
        s[i] = c;
    }

    private int indexOf(TcpConnection c, int mask) {
        return index(c.remoteIp.hi(), c.remoteIp.lo(), c.remotePort, c.localIp.hi(), c.localIp.lo(), c.localPort, mask);
    }

    private int index(long srcHi, long srcLo, int srcPort, long dstHi, long dstLo, int dstPort, int mask) {
        // Each field enters between two rounds of a bijective mixer, so only the seed's holder can predict where
        // two tuples meet.
        long h = mix(seed ^ (((long) srcPort << 16) | dstPort));
        h = mix(h ^ srcLo);
        h = mix(h ^ dstLo);
        h = mix(h ^ srcHi);
        h = mix(h ^ dstHi);
        return (int) h & mask;
    }

    /** MurmurHash3's 64-bit finalizer: a bijection whose output bits each depend on every input bit. */
    private static long mix(long z) {
        z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
        z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
        return z ^ (z >>> 33);
    }
}
