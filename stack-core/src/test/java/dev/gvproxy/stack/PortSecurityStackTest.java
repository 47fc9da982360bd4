package dev.gvproxy.stack;

import static dev.gvproxy.testing.Frames.GUEST_IP;
import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_IP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.testing.Frames;
import org.junit.jupiter.api.Test;

/** The stack drives the switch's MAC ageing, and its neighbour entries lapse before the switch forgets a MAC. */
class PortSecurityStackTest {
    static final long SECOND = 1_000_000_000L;
    final StackHarness h = new StackHarness();

    @Test
    void theDeadlineDriverAgesSilentMacsAndNeighbourEntriesLapseFirst() {
        h.send(Frames.ping(GW_IP, 1, 1, 8));
        assertEquals(h.guest, h.sw.portOf(GUEST_MAC));
        assertEquals(GUEST_MAC, h.stack.arpCache().lookup(GUEST_IP, h.now));
        assertEquals(h.now + 300 * SECOND, h.stack.nextDeadline());
        h.advance(151 * SECOND);
        assertEquals(-1, h.stack.arpCache().lookup(GUEST_IP, h.now), "the neighbour entry outlived half the ageing");
        assertEquals(h.guest, h.sw.portOf(GUEST_MAC));
        h.advance(149 * SECOND);
        assertNull(h.sw.portOf(GUEST_MAC));
        assertEquals(1, h.count("switch.macAged"));
        assertEquals(Long.MAX_VALUE, h.sw.nextDeadline());
        h.send(Frames.ping(GW_IP, 1, 2, 8)); // it speaks again: learned again, answered
        assertEquals(h.guest, h.sw.portOf(GUEST_MAC));
        assertTrue(h.out.size() >= 2);
    }
}
