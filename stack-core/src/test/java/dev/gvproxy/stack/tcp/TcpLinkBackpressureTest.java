package dev.gvproxy.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import java.io.ByteArrayOutputStream;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Guest-port backpressure: the sender sends no new segment while the switch port towards the guest is full (its
 * transport queue above the high mark), because a segment sent then is dropped in that queue and costs an RTO
 * with backoff; it resumes when the transport says the port drained ({@code VirtualSwitch.portWritable}).
 */
class TcpLinkBackpressureTest {
    final TcpHarness h = new TcpHarness();

    @AfterEach
    void tearDown() {
        h.close();
    }

    @Test
    void senderPausesWhileTheGuestPortIsFullAndResumesWhenItDrains() {
        h.establish();
        h.writable = false;
        byte[] data = h.bytes(3000, 7);
        h.appSend(data);
        h.expectNothing();
        assertEquals(0, h.counters.get("tcp.out.retransmits"));
        h.advanceMs(5_000);
        h.expectNothing(); // no timer sends into the full port either: nothing was in flight
        h.writable = true;
        h.sw.portWritable(h.guest);
        List<Segment> segs = h.drain();
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        for (Segment s : segs) {
            got.writeBytes(s.payload());
        }
        assertArrayEquals(data, got.toByteArray(), "everything that waited, in order, once");
        assertEquals(0, h.counters.get("tcp.out.retransmits"));
    }

    @Test
    void aFullPortStopsNewDataMidBurstAndTheRestFollowsAfterTheDrain() {
        h.establish();
        byte[] first = h.bytes(1000, 1);
        h.appSend(first);
        assertEquals(1000, h.recv().len());
        h.writable = false;
        byte[] more = h.bytes(4000, 2);
        h.appSend(more);
        h.expectNothing();
        h.writable = true;
        h.sw.portWritable(h.guest);
        int sent = 0;
        for (Segment s : h.drain()) {
            sent += s.len();
        }
        assertEquals(4000, sent);
    }

    @Test
    void aDetachedPortWakesItsWaiters() {
        h.establish();
        h.writable = false;
        h.appSend(h.bytes(500, 3));
        h.expectNothing();
        long before = h.counters.get("tcp.out.segments");
        h.sw.detach(h.guest); // the guest is gone: its senders must not wait for ever (frames are dropped now)
        assertTrue(h.out.isEmpty(), "nothing reaches a detached port");
        assertTrue(h.counters.get("tcp.out.segments") > before, "the sender ran again");
    }
}
