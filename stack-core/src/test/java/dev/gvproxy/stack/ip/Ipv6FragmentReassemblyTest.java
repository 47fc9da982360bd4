package dev.gvproxy.stack.ip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * IPv6 reassembly (RFC 8200 section 4.5) through the core shared with IPv4: the same bounds, counted under
 * {@code ipv6.*}: overlaps, duplicates, inconsistent lengths, too big, datagrams and bytes per source, memory,
 * timeout on the injected clock; the Next Header of the first fragment wins whatever the arrival order.
 */
class Ipv6FragmentReassemblyTest {
    static final Ipv6Address ATTACKER = Ipv6Address.parse("fd00::2");
    static final Ipv6Address VICTIM = Ipv6Address.parse("fd00::3");
    static final Ipv6Address DST = Ipv6Address.parse("fd00::1");
    static final long TIMEOUT = 60_000_000_000L;
    final Counters counters = new Counters();
    final FragmentReassembler r = FragmentReassembler.forIpv6(PooledByteBufAllocator.DEFAULT, counters, TIMEOUT,
            256 * 1024, 80 * 1024);

    @AfterEach
    void tearDown() {
        r.clear();
    }

    /** Adds {@code len} bytes whose values are their offsets in the datagram, so that the order shows. */
    FragmentReassembler.Reassembled add(Ipv6Address src, int id, int nextHeader, int offset, boolean more, int len,
            long now) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) {
            b[i] = (byte) (offset + i);
        }
        ByteBuf p = Unpooled.wrappedBuffer(b);
        try {
            return r.addIpv6(src, DST, id, nextHeader, offset, more, p, now);
        } finally {
            p.release();
        }
    }

    static void assertSequential(ByteBuf whole, int len) {
        assertEquals(len, whole.readableBytes());
        for (int i = 0; i < len; i++) {
            assertEquals((byte) i, whole.getByte(whole.readerIndex() + i), "byte " + i);
        }
    }

    @Test
    void outOfOrderFragmentsReassembleWithTheFirstFragmentsNextHeader() {
        assertNull(add(VICTIM, 7, 99, 2464, false, 544, 0)); // last first, its Next Header does not count
        assertNull(add(VICTIM, 7, 98, 1232, true, 1232, 1));
        assertEquals(1232 + 544, r.heldBytes(VICTIM));
        FragmentReassembler.Reassembled w = add(VICTIM, 7, IpProtocol.UDP, 0, true, 1232, 2);
        assertNotNull(w);
        try {
            assertEquals(IpProtocol.UDP, w.nextHeader());
            assertSequential(w.payload(), 3008);
        } finally {
            w.payload().release();
        }
        assertEquals(1, counters.get("ipv6.reassembled"));
        assertEquals(3, counters.get("ipv6.in.fragments"));
        assertEquals(0, counters.get("ipv4.reassembled"));
        assertEquals(0, r.heldBytes());
        assertEquals(0, r.pendingDatagrams());
    }

    @Test
    void anExactDuplicateIsIgnoredAnyOtherOverlapDropsTheDatagram() {
        assertNull(add(VICTIM, 1, 17, 0, true, 64, 0));
        assertNull(add(VICTIM, 1, 17, 0, true, 64, 0));
        assertEquals(1, counters.get("ipv6.fragmentDuplicate"));
        assertNull(add(VICTIM, 1, 17, 56, false, 64, 0)); // overlaps the first by 8 bytes
        assertEquals(1, counters.get("ipv6.fragmentOverlap"));
        assertEquals(0, r.pendingDatagrams());
        assertEquals(0, r.heldBytes());
        // The rest of the datagram cannot complete it afterwards: it starts again from nothing.
        assertNull(add(VICTIM, 1, 17, 64, false, 8, 0));
        assertEquals(1, r.pendingDatagrams());
    }

    @Test
    void inconsistentAndOversizedFragmentsAreDropped() {
        assertNull(add(VICTIM, 2, 17, 0, true, 100, 0)); // a non-final fragment of 100 bytes: not a multiple of 8
        assertEquals(1, counters.get("ipv6.fragmentInconsistent"));
        assertNull(add(VICTIM, 3, 17, 65528, false, 16, 0)); // ends beyond 65,535 bytes
        assertEquals(1, counters.get("ipv6.fragmentTooBig"));
        assertNull(add(VICTIM, 4, 17, 0, true, 64, 0));
        FragmentReassembler.Reassembled w = add(VICTIM, 4, 17, 64, false, 64, 1); // a good one still completes
        assertNotNull(w);
        w.payload().release();
        assertEquals(0, r.pendingDatagrams());
        assertNull(add(VICTIM, 5, 17, 128, false, 64, 0)); // two different ends
        assertNull(add(VICTIM, 5, 17, 256, false, 64, 0));
        assertEquals(2, counters.get("ipv6.fragmentInconsistent"));
        assertEquals(0, r.heldBytes());
    }

    @Test
    void incompleteDatagramsTimeOutOnTheInjectedClock() {
        assertEquals(Long.MAX_VALUE, r.nextDeadline());
        assertNull(add(VICTIM, 9, 17, 0, true, 64, 1_000));
        assertNull(add(ATTACKER, 9, 17, 0, true, 64, 2_000));
        assertEquals(1_000 + TIMEOUT, r.nextDeadline());
        r.expire(1_000 + TIMEOUT - 1);
        assertEquals(2, r.pendingDatagrams());
        r.expire(1_000 + TIMEOUT);
        assertEquals(1, r.pendingDatagrams());
        assertEquals(1, counters.get("ipv6.reassemblyTimeout"));
        assertEquals(2_000 + TIMEOUT, r.nextDeadline());
        r.expire(2_000 + TIMEOUT);
        assertEquals(2, counters.get("ipv6.reassemblyTimeout"));
        assertEquals(0, r.heldBytes());
        // A late fragment of a timed-out datagram starts a new one rather than completing the old.
        assertNull(add(VICTIM, 9, 17, 64, false, 64, 3 * TIMEOUT));
    }

    @Test
    void tooManyFragmentedDatagramsFromOneSourceCannotEvictAnothersDatagram() {
        assertNull(add(VICTIM, 1, 17, 0, true, 1024, 0));
        for (int id = 0; id < FragmentReassembler.MAX_DATAGRAMS_PER_SOURCE + 100; id++) {
            assertNull(add(ATTACKER, id, 17, 0, true, 1024, id + 1)); // never completed
        }
        assertTrue(r.heldBytes(ATTACKER) <= 80 * 1024, "attacker holds " + r.heldBytes(ATTACKER));
        assertTrue(counters.get("ipv6.reassemblyPerSourceLimit") >= 100);
        assertEquals(0, counters.get("ipv4.reassemblyPerSourceLimit"));
        FragmentReassembler.Reassembled w = add(VICTIM, 1, 17, 1024, false, 10, 500);
        assertNotNull(w, "the victim's datagram survived the flood");
        assertSequential(w.payload(), 1034);
        w.payload().release();
    }

    @Test
    void memoryIsBoundedOverAllSources() {
        // Many sources, each within its share, together over the total: the oldest datagrams are evicted.
        for (int s = 0; s < 40; s++) {
            Ipv6Address src = new Ipv6Address(DST.hi(), 0x100 + s);
            assertNull(add(src, 1, 17, 0, true, 8 * 1024, s));
        }
        assertTrue(r.heldBytes() <= 256 * 1024, "held " + r.heldBytes());
        assertTrue(counters.get("ipv6.reassemblyEvicted") >= 8, counters.snapshot().toString());
    }

    @Test
    void theKeyIsSourceDestinationAndIdentification() {
        assertNull(add(VICTIM, 1, 17, 0, true, 64, 0));
        assertNull(add(ATTACKER, 1, 17, 64, false, 64, 0)); // same id, other source: another datagram
        assertEquals(2, r.pendingDatagrams());
        ByteBuf p = Unpooled.wrappedBuffer(new byte[64]);
        assertNull(r.addIpv6(VICTIM, Ipv6Address.LOOPBACK, 1, 17, 64, false, p, 0)); // other destination
        p.release();
        assertEquals(3, r.pendingDatagrams());
    }
}
