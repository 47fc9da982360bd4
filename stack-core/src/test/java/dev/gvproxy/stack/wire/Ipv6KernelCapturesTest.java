package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.ip.FragmentReassembler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * IPv6 frames captured from Linux (see {@code src/test/resources/pcap/capture-ipv6.sh}): duplicate address
 * detection, NS/NA with link-layer options, RS, MLDv2 reports behind a hop-by-hop header, a link-local echo, a
 * 3000-byte echo fragmented over a 1280-byte MTU both ways, and UDP. Every frame passes the checks and re-emits
 * byte for byte; every truncation, and every bit flip the checksums cover, is rejected with a counter name and
 * without an exception. The checksums the kernel computed are the known-good vectors of the IPv6 pseudo-header.
 */
class Ipv6KernelCapturesTest {
    static final Ipv6Address A_LL = Ipv6Address.parse("fe80::ff:fe00:a");
    static final Ipv6Address B_LL = Ipv6Address.parse("fe80::ff:fe00:b");
    static final Ipv6Address A = Ipv6Address.parse("2001:2::a");
    static final Ipv6Address B = Ipv6Address.parse("2001:2::b");
    static final long A_MAC = 0x02_00_00_00_00_0AL;
    static final long B_MAC = 0x02_00_00_00_00_0BL;

    static List<byte[]> frames() {
        return KernelCapturesTest.frames("ipv6");
    }

    static ByteBuf l3(byte[] frame) {
        return Unpooled.wrappedBuffer(frame, 14, frame.length - 14);
    }

    /** Frames whose upper layer is ICMPv6 of {@code type} (whole packets only). */
    static List<byte[]> icmp(int type) {
        return frames().stream().filter(f -> {
            ByteBuf p = l3(f);
            Ipv6Packet.Chain c = new Ipv6Packet.Chain();
            return Ipv6Packet.walk(p, 0, 8, c) == null && !c.isFragment() && c.protocol() == IpProtocol.ICMPV6
                    && Icmpv6Packet.type(p, c.payloadOffset()) == type;
        }).toList();
    }

    @Test
    void everyFramePassesAndReemitsByteForByte() {
        List<byte[]> frames = frames();
        assertEquals(30, frames.size());
        for (byte[] f : frames) {
            assertEquals(EtherType.IPV6, ((f[12] & 0xFF) << 8) | (f[13] & 0xFF));
            for (Function<byte[], ByteBuf> holder : KernelCapturesTest.holders()) {
                ByteBuf buf = holder.apply(f);
                try {
                    assertNull(Frames.check(buf), () -> ByteBufUtil.hexDump(f));
                    ByteBuf again = Frames.reemit(buf);
                    try {
                        assertEquals(ByteBufUtil.hexDump(f), ByteBufUtil.hexDump(again));
                    } finally {
                        again.release();
                    }
                } finally {
                    buf.release();
                }
            }
        }
    }

    @Test
    void everyTruncationIsRejectedWithACounter() {
        for (byte[] f : frames()) {
            for (int cut = 0; cut < f.length; cut++) {
                ByteBuf buf = Unpooled.wrappedBuffer(f, 0, cut); // capacity ends at the cut: a read past it throws
                String err = Frames.check(buf);
                int c = cut;
                assertNotNull(err, () -> "cut at " + c + " accepted: " + ByteBufUtil.hexDump(f));
                assertTrue(KernelCapturesTest.COUNTER.matcher(err).matches(), err);
                buf.release();
            }
        }
    }

    /** Flips of the payload length, the addresses and the upper-layer message: the checksums catch them all. */
    @Test
    void everyCoveredBitFlipIsRejected() {
        for (byte[] orig : frames()) {
            ByteBuf o = l3(orig);
            Ipv6Packet.Chain c = new Ipv6Packet.Chain();
            assertNull(Ipv6Packet.walk(o, 0, 8, c));
            if (c.isFragment()) {
                continue; // the checksum covers the reassembled payload only
            }
            int upper = 14 + c.payloadOffset();
            byte[] f = orig.clone();
            for (int i = 14 + 4; i < f.length; i++) {
                if (i == 14 + 6 || i == 14 + 7 || (i >= 14 + 40 && i < upper)) {
                    continue; // next header and hop limit (not covered), extension headers (walked, not summed)
                }
                for (int bit = 0; bit < 8; bit++) {
                    f[i] ^= (byte) (1 << bit);
                    ByteBuf buf = Unpooled.wrappedBuffer(f);
                    String err = Frames.check(buf);
                    buf.release();
                    f[i] ^= (byte) (1 << bit);
                    int at = i;
                    int b = bit;
                    assertNotNull(err,
                            () -> "flip of bit " + b + " at " + at + " accepted: " + ByteBufUtil.hexDump(orig));
                }
            }
        }
    }

    /** The kernel's checksums reproduced: ICMPv6 echo (link-local), UDP (global), both overloads of the sum. */
    @Test
    void checksumVectorsFromTheKernel() {
        byte[] echo = icmp(Icmpv6Packet.TYPE_ECHO_REQUEST).get(0);
        ByteBuf p = l3(echo);
        assertEquals(A_LL, Ipv6Packet.src(p, 0));
        assertEquals(B_LL, Ipv6Packet.dst(p, 0));
        assertEquals(64, Ipv6Packet.payloadLength(p, 0));
        int stored = Icmpv6Packet.checksum(p, 40);
        assertEquals(Checksums.ipv6PseudoHeader(A_LL, B_LL, 58, 64), Checksums.ipv6PseudoHeader(p, 0, 58, 64));
        ByteBuf copy = Unpooled.copiedBuffer(p);
        Icmpv6Packet.fillChecksum(copy, 40, 64, A_LL, B_LL);
        assertEquals(stored, Icmpv6Packet.checksum(copy, 40));
        assertEquals(1, Icmpv6Packet.sequence(p, 40));
        assertNull(Icmpv6Packet.check(copy, 40, 64, A_LL, B_LL));
        assertEquals(Icmpv6Packet.Error.BAD_CHECKSUM, Icmpv6Packet.check(copy, 40, 64, A_LL, A_LL));
        copy.release();

        byte[] udp = frames().stream().filter(f -> f[14 + 6] == IpProtocol.UDP).findFirst().orElseThrow();
        ByteBuf u = l3(udp);
        assertEquals(A, Ipv6Packet.src(u, 0));
        assertEquals(7777, UdpPacket.dstPort(u, 40));
        int ulen = UdpPacket.length(u, 40);
        ByteBuf out = Unpooled.buffer();
        new UdpRepr(UdpPacket.srcPort(u, 40), 7777).emitIpv6(out, A, B, u.slice(48, ulen - 8));
        assertEquals(ByteBufUtil.hexDump(u, 40, ulen), ByteBufUtil.hexDump(out));
        assertNull(UdpPacket.checkIpv6(out, 0, ulen, A, B));
        out.setShort(6, 0); // over IPv6 "no checksum" is not allowed
        assertEquals(UdpPacket.Error.BAD_CHECKSUM, UdpPacket.checkIpv6(out, 0, ulen, A, B));
        out.release();
    }

    @Test
    void neighborDiscoveryFromTheKernel() {
        List<byte[]> ns = icmp(Icmpv6Packet.TYPE_NEIGHBOR_SOLICITATION);
        // Duplicate address detection: from ::, to the solicited-node group, Linux adds a nonce (RFC 7527), an
        // option type the parser does not know and skips.
        ByteBuf dad = l3(ns.get(0));
        assertTrue(Ipv6Packet.src(dad, 0).isUnspecified());
        assertEquals(Ipv6Packet.dst(dad, 0), NdpPacket.target(dad, 40).solicitedNode());
        assertEquals(255, Ipv6Packet.hopLimit(dad, 0));
        assertNull(NdpPacket.check(dad, 40, Ipv6Packet.payloadLength(dad, 0), 0));
        NdpRepr.NeighborSolicitation d = assertInstanceOf(NdpRepr.NeighborSolicitation.class,
                NdpRepr.parse(dad, 40, Ipv6Packet.payloadLength(dad, 0)));
        assertEquals(NdpRepr.NONE, d.sourceLinkLayer());
        assertEquals(14, NdpOption.type(dad, NdpPacket.optionsOffset(dad, 40)));
        // Address resolution of fe80::ff:fe00:b by A, and B's solicited, override advertisement.
        byte[] res = ns.stream().filter(f -> Ipv6Packet.src(l3(f), 0).equals(A_LL)).findFirst().orElseThrow();
        ByteBuf r = l3(res);
        assertEquals(new NdpRepr.NeighborSolicitation(B_LL, A_MAC), NdpRepr.parse(r, 40, 32));
        assertEquals(B_LL.solicitedNode(), Ipv6Packet.dst(r, 0));
        assertEquals(B_LL.solicitedNode().multicastMac(), EthernetFrame.dst(Unpooled.wrappedBuffer(res), 0));
        byte[] na = icmp(Icmpv6Packet.TYPE_NEIGHBOR_ADVERTISEMENT).get(0);
        ByteBuf n = l3(na);
        assertEquals(new NdpRepr.NeighborAdvertisement(false, true, true, B_LL, B_MAC), NdpRepr.parse(n, 40, 32));
        assertEquals(B_LL, Ipv6Address.linkLocalFromMac(B_MAC));
        // Router solicitations carry the source link-layer address.
        ByteBuf rs = l3(icmp(Icmpv6Packet.TYPE_ROUTER_SOLICITATION).get(0));
        assertEquals(new NdpRepr.RouterSolicitation(A_MAC), NdpRepr.parse(rs, 40, 16));
        assertEquals(Ipv6Address.ALL_ROUTERS, Ipv6Packet.dst(rs, 0));
    }

    /** MLDv2 reports: a hop-by-hop header with Router Alert 0 (RFC 2711) and a PadN, walked to ICMPv6 143. */
    @Test
    void hopByHopFromTheKernel() {
        List<byte[]> mld = icmp(143);
        assertFalse(mld.isEmpty());
        for (byte[] f : mld) {
            ByteBuf p = l3(f);
            Ipv6Packet.Chain c = new Ipv6Packet.Chain();
            assertNull(Ipv6Packet.walk(p, 0, 8, c));
            assertEquals(40, c.hopByHop()); // absolute: right after the fixed header
            assertEquals(0, c.routerAlert());
            assertEquals(1, c.headers());
            assertEquals(40, c.protocolPointer());
            assertEquals(48, c.payloadOffset());
            assertEquals(28, c.payloadLength());
            assertEquals(1, Ipv6Packet.hopLimit(p, 0));
            assertNull(Icmpv6Packet.check(p, 48, 28, 0));
            // The walk bound: a chain of one header is refused when no extension header is allowed.
            assertEquals(Ipv6Packet.Error.TOO_MANY_HEADERS, Ipv6Packet.walk(p, 0, 0, c));
            assertEquals(-1, c.problemCode());
        }
    }

    /** The 3000-byte echo in three fragments: parsed, reassembled, and its checksum verified over the whole. */
    @Test
    void fragmentsFromTheKernel() {
        List<byte[]> frags = frames().stream().filter(f -> f[14 + 6] == Ipv6Packet.NH_FRAGMENT).toList();
        assertEquals(6, frags.size()); // request and reply, three fragments each
        Counters counters = new Counters();
        FragmentReassembler r = FragmentReassembler.forIpv6(PooledByteBufAllocator.DEFAULT, counters,
                60_000_000_000L, 1 << 20);
        int[] offsets = {0, 1232, 2464};
        for (int k = 0; k < 6; k++) {
            ByteBuf p = l3(frags.get(k));
            Ipv6Packet.Chain c = new Ipv6Packet.Chain();
            assertNull(Ipv6Packet.walk(p, 0, 8, c));
            assertTrue(c.isFragment());
            assertEquals(40, c.fragmentHeader());
            assertEquals(IpProtocol.ICMPV6, c.protocol());
            assertEquals(offsets[k % 3], Ipv6Packet.fragmentOffset(p, 40));
            assertEquals(k % 3 != 2, Ipv6Packet.moreFragments(p, 40));
            assertEquals(Ipv6Packet.fragmentIdentification(l3(frags.get(k - k % 3)), 40),
                    Ipv6Packet.fragmentIdentification(p, 40));
            Ipv6Address src = Ipv6Packet.src(p, 0);
            Ipv6Address dst = Ipv6Packet.dst(p, 0);
            FragmentReassembler.Reassembled whole = r.addIpv6(src, dst, Ipv6Packet.fragmentIdentification(p, 40),
                    Ipv6Packet.fragmentNextHeader(p, 40), Ipv6Packet.fragmentOffset(p, 40),
                    Ipv6Packet.moreFragments(p, 40), p.slice(c.payloadOffset(), c.payloadLength()), 0);
            if (k % 3 != 2) {
                assertNull(whole);
                continue;
            }
            assertNotNull(whole);
            try {
                ByteBuf w = whole.payload();
                assertEquals(IpProtocol.ICMPV6, whole.nextHeader());
                assertEquals(3008, w.readableBytes());
                Ipv6Packet.Chain again = new Ipv6Packet.Chain();
                assertNull(Ipv6Packet.walkPayload(w, w.readerIndex(), 3008, whole.nextHeader(), false, 8, again));
                assertEquals(IpProtocol.ICMPV6, again.protocol());
                assertNull(Icmpv6Packet.check(w, w.readerIndex(), 3008, src, dst));
                assertEquals(k < 3 ? Icmpv6Packet.TYPE_ECHO_REQUEST : Icmpv6Packet.TYPE_ECHO_REPLY,
                        Icmpv6Packet.type(w, w.readerIndex()));
            } finally {
                whole.payload().release();
            }
        }
        assertEquals(2, counters.get("ipv6.reassembled"));
        assertEquals(6, counters.get("ipv6.in.fragments"));
        assertEquals(0, r.heldBytes());
        // Writing a fragment header back.
        ByteBuf first = l3(frags.get(0));
        ByteBuf out = Unpooled.buffer();
        Ipv6Packet.writeFragmentHeader(out, IpProtocol.ICMPV6, 0, true, Ipv6Packet.fragmentIdentification(first, 40));
        assertEquals(ByteBufUtil.hexDump(first, 40, 8), ByteBufUtil.hexDump(out));
        out.release();
    }

    @Test
    void describedForTheDebugLog() {
        List<String> lines = frames().stream().map(f -> {
            ByteBuf b = Unpooled.wrappedBuffer(f);
            String s = FrameDescription.describe(b);
            b.release();
            return s;
        }).toList();
        assertTrue(lines.contains("02:00:00:00:00:0b > 33:33:ff:00:00:0b IPv6 :: > ff02::1:ff00:b ICMPv6 neighbor "
                + "solicitation who-has fe80::ff:fe00:b len 86"), lines::toString);
        assertTrue(lines.contains("02:00:00:00:00:0a > 33:33:ff:00:00:0b IPv6 fe80::ff:fe00:a > ff02::1:ff00:b ICMPv6 "
                + "neighbor solicitation who-has fe80::ff:fe00:b from 02:00:00:00:00:0a len 86"), lines::toString);
        assertTrue(lines.contains("02:00:00:00:00:0b > 02:00:00:00:00:0a IPv6 fe80::ff:fe00:b > fe80::ff:fe00:a ICMPv6 "
                + "neighbor advertisement fe80::ff:fe00:b is-at 02:00:00:00:00:0b [SO] len 86"), lines::toString);
        assertTrue(lines.contains("02:00:00:00:00:0a > 33:33:00:00:00:16 IPv6 fe80::ff:fe00:a > ff02::16 HBH ICMPv6 "
                + "multicast listener report v2 len 90"), lines::toString);
        assertTrue(lines.contains("02:00:00:00:00:0a > 02:00:00:00:00:0b IPv6 fe80::ff:fe00:a > fe80::ff:fe00:b ICMPv6 "
                + "echo request id " + Icmpv6Packet.identifier(l3(icmp(128).get(0)), 40) + " seq 1 len 118"),
                lines::toString);
        assertTrue(lines.stream().anyMatch(l -> l.matches(
                ".* IPv6 2001:2::a > 2001:2::b ICMPv6 echo request id \\d+ seq 1 \\(fragment\\) len 1294")),
                lines::toString);
        assertTrue(lines.contains(
                "02:00:00:00:00:0a > 02:00:00:00:00:0b IPv6 2001:2::a > 2001:2::b ICMPv6 (fragment) len 1294"),
                lines::toString);
        assertTrue(lines.stream().anyMatch(l -> l.matches(
                ".* IPv6 \\[2001:2::a]:\\d+ > \\[2001:2::b]:7777 UDP len 75")), lines::toString);
    }
}
