package dev.gvproxy.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import java.io.ByteArrayOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * TCP over a port with offloads: the sender hands the guest segments of many MSS (the guest's kernel takes them
 * whole), and the receiver takes the guest's large segments (TSO without segmentation) as any other. Both
 * families: over IPv6 a segment larger than the link MTU is a TSO segment the gateway terminates, not a packet
 * to answer with Packet Too Big.
 */
@org.junit.jupiter.params.ParameterizedClass(name = "{0}")
@org.junit.jupiter.params.provider.EnumSource(TcpHarness.Family.class)
class TcpOffloadTest {
    TcpHarness h;

    @org.junit.jupiter.params.Parameter
    TcpHarness.Family family;

    @org.junit.jupiter.api.BeforeEach
    void bench() {
        h = new TcpHarness(TcpConfig.forMtu(1500).withBuffers(1 << 20, 1 << 20).withOptions(true, true, 7), family);
    }

    @AfterEach
    void tearDown() {
        h.close();
    }

    private byte[] sendAndCollect(int n) {
        h.establish();
        byte[] data = h.bytes(n, 3);
        h.appSend(data);
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        int guestSeq = TcpHarness.REMOTE_SEQ + 1;
        for (int round = 0; round < 100 && got.size() < n; round++) {
            int lastEnd = 0;
            for (Segment s : h.drain()) {
                got.writeBytes(s.payload());
                lastEnd = s.seq() + s.len();
                maxSeen = Math.max(maxSeen, s.len());
                assertTrue(s.len() == 0 || s.len() % mss() == 0 || s.seq() + s.len() == TcpHarness.ISS + 1 + n,
                        "whole MSS multiples but the tail: " + s);
            }
            if (lastEnd != 0) {
                h.send(h.ack(guestSeq, lastEnd).window(65535));
            }
        }
        return got.toByteArray();
    }

    int maxSeen;

    /** The MSS of a 1500-byte link with timestamps: the IP header is 20 bytes longer over IPv6. */
    private int mss() {
        return 1500 - (family == TcpHarness.Family.IPV6 ? 40 : 20) - 20 - 12;
    }

    @Test
    void anOffloadPortGetsSegmentsOfManyMss() {
        h.offloads = true;
        byte[] got = sendAndCollect(400_000);
        assertArrayEquals(h.bytes(400_000, 3), got);
        assertTrue(maxSeen > mss(), "large segments: " + maxSeen);
        assertTrue(maxSeen <= TcpSender.GSO_MAX_PAYLOAD, "fits one IP datagram: " + maxSeen);
        assertEquals(0, h.counters.get("ipv4.out.fragments") + h.counters.get("ipv6.out.fragments"), "never fragmented");
    }

    @Test
    void aPortWithoutOffloadsGetsMssSegments() {
        byte[] got = sendAndCollect(100_000);
        assertArrayEquals(h.bytes(100_000, 3), got);
        assertEquals(mss(), maxSeen);
    }

    @Test
    void theGuestsLargeSegmentsAreTakenWhole() {
        h.offloads = true;
        h.establish();
        byte[] big = h.bytes(60_000, 9);
        h.send(h.ack(TcpHarness.REMOTE_SEQ + 1, TcpHarness.ISS + 1).flags(TcpFlags.ACK | TcpFlags.PSH), big);
        assertArrayEquals(big, h.app.received.toByteArray());
        Segment ack = h.drain().getLast();
        assertEquals(TcpHarness.REMOTE_SEQ + 1 + 60_000, ack.ack());
        assertEquals(0, h.counters.get("ipv6.tooBig"), "a TSO segment is no packet too big");
    }
}
