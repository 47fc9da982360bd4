package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SeqNumTest {
    @Test
    void ordersAcrossTheWrap() {
        int a = 0xFFFF_FFF0;
        int b = 0x0000_0010;
        assertTrue(SeqNum.lt(a, b));
        assertTrue(SeqNum.le(a, b));
        assertTrue(SeqNum.gt(b, a));
        assertTrue(SeqNum.ge(b, a));
        assertFalse(SeqNum.lt(b, a));
        assertTrue(SeqNum.le(a, a) && SeqNum.ge(a, a) && !SeqNum.lt(a, a) && !SeqNum.gt(a, a));
        assertEquals(b, SeqNum.add(a, 0x20));
        assertEquals(0x20, SeqNum.sub(b, a));
        assertEquals(-0x20, SeqNum.sub(a, b));
        assertEquals(b, SeqNum.max(a, b));
        assertEquals(a, SeqNum.min(a, b));
        assertTrue(SeqNum.lt(Integer.MAX_VALUE, Integer.MIN_VALUE));
        assertEquals(0xFFFF_FFF0L, SeqNum.unsigned(a));
    }

    @Test
    void windowsAcrossTheWrap() {
        int start = 0xFFFF_FFFE;
        assertTrue(SeqNum.inWindow(start, start, 4));
        assertTrue(SeqNum.inWindow(0xFFFF_FFFF, start, 4));
        assertTrue(SeqNum.inWindow(0, start, 4));
        assertTrue(SeqNum.inWindow(1, start, 4));
        assertFalse(SeqNum.inWindow(2, start, 4));
        assertFalse(SeqNum.inWindow(start - 1, start, 4));
        assertFalse(SeqNum.inWindow(start, start, 0));
        // A window of 2^31 and more (len unsigned).
        assertTrue(SeqNum.inWindow(start + 0x7FFF_FFFF, start, 0x8000_0000));
        assertFalse(SeqNum.inWindow(start + 0x8000_0000, start, 0x8000_0000));
    }
}
