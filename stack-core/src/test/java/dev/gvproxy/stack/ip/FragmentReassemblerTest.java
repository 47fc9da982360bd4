package dev.gvproxy.stack.ip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Reassembly memory per source: a guest flooding fragments loses its own datagrams, not the others'. */
class FragmentReassemblerTest {
    static final int ATTACKER = 0xc0a87f02;
    static final int VICTIM = 0xc0a87f03;
    static final int DST = 0xc0a87f01;
    final Counters counters = new Counters();
    final FragmentReassembler r = new FragmentReassembler(PooledByteBufAllocator.DEFAULT, counters, 30_000_000_000L,
            64 * 1024, 16 * 1024);

    @AfterEach
    void tearDown() {
        r.clear();
    }

    ByteBuf add(int src, int id, int offset, boolean more, int len, long now) {
        ByteBuf p = Unpooled.wrappedBuffer(new byte[len]);
        try {
            return r.add(src, DST, 17, id, offset, more, p, now);
        } finally {
            p.release();
        }
    }

    @Test
    void aFloodingSourceIsBoundedByItsShareAndCannotEvictOthers() {
        assertNull(add(VICTIM, 1, 0, true, 1000, 0));
        for (int id = 0; id < 100; id++) {
            assertNull(add(ATTACKER, id, 0, true, 1000, id + 1)); // never completed
        }
        assertTrue(r.heldBytes(ATTACKER) <= 16 * 1024, "attacker holds " + r.heldBytes(ATTACKER));
        assertTrue(counters.get("ipv4.reassemblyPerSourceLimit") > 0);
        ByteBuf whole = add(VICTIM, 1, 1000, false, 500, 200);
        assertNotNull(whole, "the victim's datagram survived the flood");
        assertEquals(1500, whole.readableBytes());
        whole.release();
        assertEquals(0, r.heldBytes(VICTIM));
    }

    @Test
    void datagramsPerSourceAreBounded() {
        for (int id = 0; id < FragmentReassembler.MAX_DATAGRAMS_PER_SOURCE + 10; id++) {
            add(ATTACKER, id, 0, true, 8, id);
        }
        assertEquals(FragmentReassembler.MAX_DATAGRAMS_PER_SOURCE, r.pendingDatagrams());
        assertEquals(10, counters.get("ipv4.reassemblyPerSourceLimit"));
        r.expire(Long.MAX_VALUE / 2);
        assertEquals(0, r.pendingDatagrams());
        assertEquals(0, r.heldBytes(ATTACKER));
        assertEquals(0, r.heldBytes());
    }
}
