package dev.gvproxy.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import java.io.ByteArrayOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * TCP over a port with offloads, both families on a network of link MTU 1500: the sender hands the guest segments
 * of many MSS (the guest's kernel takes them whole), and the gateway takes the guest's large segments (TSO without
 * segmentation) as any other: over IPv6 too, without Packet Too Big, which only a port without offloads hears.
 */
@ParameterizedClass(name = "{0}")
@EnumSource(TcpHarness.Family.class)
class TcpOffloadTest {
    @Parameter
    TcpHarness.Family family;

    TcpHarness h;

    @BeforeEach
    void setUp() {
        h = new TcpHarness(TcpConfig.forMtu(1500).withBuffers(1 << 20, 1 << 20).withOptions(true, true, 7), family,
                1500);
    }

    @AfterEach
    void tearDown() {
        h.close();
    }

    /** The payload of one full segment: this family's MSS less the 12 bytes of the timestamp option. */
    private int mssPayload() {
        return h.mss() - 12;
    }

    private String layer() {
        return family == TcpHarness.Family.IPV6 ? "ipv6" : "ipv4";
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
                assertTrue(s.len() == 0 || s.len() % mssPayload() == 0 || s.seq() + s.len() == TcpHarness.ISS + 1 + n,
                        "whole MSS multiples but the tail: " + s);
            }
            if (lastEnd != 0) {
                h.send(h.ack(guestSeq, lastEnd).window(65535));
            }
        }
        return got.toByteArray();
    }

    int maxSeen;

    @Test
    void anOffloadPortGetsSegmentsOfManyMss() {
        h.offloads = true;
        byte[] got = sendAndCollect(400_000);
        assertArrayEquals(h.bytes(400_000, 3), got);
        assertTrue(maxSeen > mssPayload(), "large segments: " + maxSeen);
        assertTrue(maxSeen <= TcpSender.GSO_MAX_PAYLOAD, "fits one IP datagram: " + maxSeen);
        assertEquals(0, h.counters.get(layer() + ".out.fragments"), "never fragmented");
    }

    @Test
    void aPortWithoutOffloadsGetsMssSegments() {
        byte[] got = sendAndCollect(100_000);
        assertArrayEquals(h.bytes(100_000, 3), got);
        assertEquals(mssPayload(), maxSeen);
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
        assertEquals(0, h.counters.get("ipv6.tooBig"), "no Packet Too Big for a GSO segment");
        assertEquals(0, h.counters.get("icmpv6.out.packetTooBig"));
    }

    /**
     * A port without offloads that sends a segment over the link MTU: IPv4 input has no size gate and takes it;
     * IPv6 answers Packet Too Big (its guest's link MTU is larger than the network's) and drops it.
     */
    @Test
    void aLargeSegmentFromAPortWithoutOffloads() {
        h.establish();
        byte[] big = h.bytes(3000, 5);
        h.send(h.ack(TcpHarness.REMOTE_SEQ + 1, TcpHarness.ISS + 1).flags(TcpFlags.ACK | TcpFlags.PSH), big);
        if (family == TcpHarness.Family.IPV6) {
            assertEquals(0, h.app.received.size());
            assertEquals(1, h.counters.get("ipv6.tooBig"));
            assertEquals(1, h.counters.get("icmpv6.out.packetTooBig"));
        } else {
            assertArrayEquals(big, h.app.received.toByteArray());
        }
    }
}
