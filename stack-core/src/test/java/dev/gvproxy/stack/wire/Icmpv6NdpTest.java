package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.util.List;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** ICMPv6 (RFC 4443) and NDP (RFC 4861, RFC 8106) views, reprs and validation. */
class Icmpv6NdpTest {
    static final Ipv6Address GW = Ipv6Address.parse("fe80::1");
    static final Ipv6Address GUEST = Ipv6Address.parse("fe80::5894:efff:fee4:cee");
    static final Ipv6Address GUEST_ULA = Ipv6Address.parse("fd00::2");
    static final long GW_MAC = 0x5a94efe40cddL;
    static final long GUEST_MAC = 0x5a94efe40ceeL;

    /** IPv6 header and an ICMPv6 message, exactly as long as they are (a read past the end throws). */
    static ByteBuf ip(Ipv6Address src, Ipv6Address dst, int hopLimit, ByteBuf icmp) {
        ByteBuf b = Unpooled.buffer();
        Ipv6Packet.writeHeader(b, 0, 0, icmp.readableBytes(), IpProtocol.ICMPV6, hopLimit, src, dst);
        b.writeBytes(icmp);
        icmp.release();
        ByteBuf exact = Unpooled.wrappedBuffer(ByteBufUtil.getBytes(b));
        b.release();
        return exact;
    }

    static ByteBuf ndp(Ipv6Address src, Ipv6Address dst, NdpRepr m) {
        ByteBuf icmp = Unpooled.buffer();
        m.emit(icmp, src, dst);
        assertEquals(m.bufferLen(), icmp.readableBytes());
        return ip(src, dst, 255, icmp);
    }

    /** Runs the receive checks on a packet built by {@link #ip}: the counter of the first failure, or null. */
    static String check(ByteBuf p) {
        ByteBuf frame = Unpooled.buffer();
        EthernetFrame.writeHeader(frame, GW_MAC, GUEST_MAC, EtherType.IPV6);
        frame.writeBytes(p, 0, p.capacity());
        ByteBuf exact = Unpooled.wrappedBuffer(ByteBufUtil.getBytes(frame));
        frame.release();
        try {
            return Frames.check(exact);
        } finally {
            exact.release();
        }
    }

    /** Rewrites the ICMPv6 checksum of a packet built by {@link #ip} after an edit. */
    static void fix(ByteBuf p) {
        Icmpv6Packet.fillChecksum(p, 40, Ipv6Packet.payloadLength(p, 0), Ipv6Packet.src(p, 0), Ipv6Packet.dst(p, 0));
    }

    static NdpRepr parse(ByteBuf p) {
        return NdpRepr.parse(p, 40, Ipv6Packet.payloadLength(p, 0));
    }

    @Nested
    class Icmpv6 {
        @Test
        void echoRoundTrip() {
            ByteBuf data = Unpooled.wrappedBuffer("abcdefgh".getBytes());
            ByteBuf icmp = Unpooled.buffer();
            Icmpv6Repr.echoRequest(0x1234, 7).emit(icmp, GUEST_ULA, Ipv6Address.parse("fd00::1"), data);
            data.release();
            ByteBuf p = ip(GUEST_ULA, Ipv6Address.parse("fd00::1"), 64, icmp);
            assertNull(check(p));
            Icmpv6Repr r = Icmpv6Repr.parse(p, 40);
            assertEquals(Icmpv6Repr.echoRequest(0x1234, 7), r);
            assertEquals(0x1234, r.identifier());
            assertEquals(7, r.sequence());
            assertFalse(r.isError());
            assertEquals("echo request", Icmpv6Packet.typeName(r.type()));
            p.setByte(50, 'X');
            assertEquals("icmpv6.badChecksum", check(p));
            p.release();
        }

        @Test
        void errorMessagesCarryTheirField() {
            Ipv6Address a = GUEST_ULA;
            Ipv6Address b = Ipv6Address.parse("fd00::1");
            for (Icmpv6Repr r : List.of(Icmpv6Repr.destinationUnreachable(Icmpv6Packet.CODE_PORT_UNREACHABLE),
                    Icmpv6Repr.packetTooBig(1280), Icmpv6Repr.timeExceeded(Icmpv6Packet.CODE_REASSEMBLY_TIME_EXCEEDED),
                    Icmpv6Repr.parameterProblem(Ipv6Packet.PROBLEM_UNRECOGNIZED_NEXT_HEADER, 40))) {
                ByteBuf invoking = Unpooled.wrappedBuffer(new byte[48]);
                ByteBuf icmp = Unpooled.buffer();
                r.emit(icmp, b, a, invoking);
                invoking.release();
                ByteBuf p = ip(b, a, 64, icmp);
                assertNull(check(p), r.toString());
                assertEquals(r, Icmpv6Repr.parse(p, 40));
                assertTrue(r.isError());
                switch (r.type()) {
                    case Icmpv6Packet.TYPE_PACKET_TOO_BIG -> assertEquals(1280, Icmpv6Packet.mtu(p, 40));
                    case Icmpv6Packet.TYPE_PARAMETER_PROBLEM -> assertEquals(40, Icmpv6Packet.pointer(p, 40));
                    default -> assertEquals(r.code(), Icmpv6Packet.code(p, 40));
                }
                p.release();
            }
            // An error carries as much of the invoking packet as fits in 1280 bytes.
            assertEquals(100, Icmpv6Repr.errorDataLength(100));
            assertEquals(1280 - 40 - 8, Icmpv6Repr.errorDataLength(9000));
        }

        @Test
        void truncatedMessages() {
            ByteBuf p = Unpooled.wrappedBuffer(new byte[40 + 7]);
            assertEquals(Icmpv6Packet.Error.TRUNCATED, Icmpv6Packet.check(p, 40, 7, 0));
            assertEquals(Icmpv6Packet.Error.TRUNCATED, Icmpv6Packet.check(p, 40, 8, 0));
            assertEquals("icmpv6.truncated", Icmpv6Packet.Error.TRUNCATED.counter());
            p.release();
        }
    }

    static NdpRepr.RouterAdvertisement fullRa() {
        return new NdpRepr.RouterAdvertisement(64, true, true, 1800, 30_000, 1_000, GW_MAC, 1500,
                List.of(new NdpRepr.PrefixInformation(64, true, true, NdpOption.INFINITE, 604_800,
                        Ipv6Address.parse("fd00::"))),
                List.of(new NdpRepr.Rdnss(600, List.of(Ipv6Address.parse("fd00::1"), Ipv6Address.parse("fe80::1")))),
                List.of(new NdpRepr.Dnssl(600, List.of("containers.internal", "example.test."))));
    }

    @Nested
    class Ndp {
        @Test
        void routerAdvertisementWithEveryOptionRoundTrips() {
            NdpRepr.RouterAdvertisement ra = fullRa();
            ByteBuf p = ndp(GW, Ipv6Address.ALL_NODES, ra);
            assertNull(check(p));
            NdpRepr.RouterAdvertisement back = assertInstanceOf(NdpRepr.RouterAdvertisement.class, parse(p));
            assertEquals(List.of("containers.internal", "example.test"), back.dnssl().get(0).domains());
            assertEquals(new NdpRepr.RouterAdvertisement(64, true, true, 1800, 30_000, 1_000, GW_MAC, 1500,
                    ra.prefixes(), ra.rdnss(), List.of(new NdpRepr.Dnssl(600,
                            List.of("containers.internal", "example.test")))), back);
            // Options are in 8-octet units and the message is a multiple of 8.
            assertEquals(0, (Ipv6Packet.payloadLength(p, 0) - NdpPacket.RA_LEN) % 8);
            assertEquals(1800, NdpPacket.routerLifetime(p, 40));
            assertEquals(NdpPacket.RA_FLAG_MANAGED | NdpPacket.RA_FLAG_OTHER, NdpPacket.raFlags(p, 40));
            int opts = NdpPacket.optionsOffset(p, 40);
            int end = p.capacity();
            int pi = NdpOption.find(p, opts, end, NdpOption.PREFIX_INFORMATION);
            assertEquals(64, NdpOption.prefixLength(p, pi));
            assertEquals(NdpOption.PREFIX_FLAG_ON_LINK | NdpOption.PREFIX_FLAG_AUTONOMOUS,
                    NdpOption.prefixFlags(p, pi));
            assertEquals(NdpOption.INFINITE, NdpOption.prefixValidLifetime(p, pi));
            assertEquals(1500, NdpOption.mtu(p, NdpOption.find(p, opts, end, NdpOption.MTU)));
            assertEquals(40, NdpOption.length(p, NdpOption.find(p, opts, end, NdpOption.RDNSS)));
            p.release();
        }

        @Test
        void neighborAndRouterSolicitationAndAdvertisement() {
            NdpRepr ns = new NdpRepr.NeighborSolicitation(GW, GUEST_MAC);
            ByteBuf p = ndp(GUEST, GW.solicitedNode(), ns);
            assertNull(check(p));
            assertEquals(ns, parse(p));
            assertTrue(GW.equalsAt(p, NdpPacket.targetOffset(40)));
            p.release();
            NdpRepr na = new NdpRepr.NeighborAdvertisement(true, true, true, GW, GW_MAC);
            ByteBuf q = ndp(GW, GUEST, na);
            assertNull(check(q));
            assertEquals(na, parse(q));
            assertTrue(NdpPacket.router(q, 40) && NdpPacket.solicited(q, 40) && NdpPacket.override(q, 40));
            q.release();
            NdpRepr unsolicited = new NdpRepr.NeighborAdvertisement(true, false, true, GW, GW_MAC);
            ByteBuf u = ndp(GW, Ipv6Address.ALL_NODES, unsolicited);
            assertNull(check(u));
            u.release();
            NdpRepr rs = new NdpRepr.RouterSolicitation(NdpRepr.NONE);
            ByteBuf r = ndp(Ipv6Address.UNSPECIFIED, Ipv6Address.ALL_ROUTERS, rs);
            assertNull(check(r));
            assertEquals(rs, parse(r));
            assertEquals(8, Ipv6Packet.payloadLength(r, 0));
            r.release();
            // Duplicate address detection: from ::, to the solicited-node group, no link-layer option.
            ByteBuf dad = ndp(Ipv6Address.UNSPECIFIED, GUEST_ULA.solicitedNode(),
                    new NdpRepr.NeighborSolicitation(GUEST_ULA, NdpRepr.NONE));
            assertNull(check(dad));
            dad.release();
        }

        @Test
        void redirectIsRecognisedAndValidated() {
            NdpRepr redirect = new NdpRepr.Redirect(GW, Ipv6Address.parse("2001:2::9"), GW_MAC);
            ByteBuf p = ndp(Ipv6Address.parse("fe80::99"), GUEST, redirect);
            assertNull(check(p));
            assertEquals(redirect, parse(p));
            assertEquals("redirect", Icmpv6Packet.typeName(Icmpv6Packet.TYPE_REDIRECT));
            p.release();
            ByteBuf bad = ndp(Ipv6Address.parse("fe80::99"), GUEST,
                    new NdpRepr.Redirect(Ipv6Address.parse("fd00::7"), Ipv6Address.parse("2001:2::9"), NdpRepr.NONE));
            assertEquals("ndp.badTarget", check(bad));
            bad.release();
        }

        @Test
        void invalidMessagesAreRejectedWithTheirCounter() {
            // Forwarded (hop limit below 255): from off the link.
            ByteBuf hop = ndp(GUEST, GW.solicitedNode(), new NdpRepr.NeighborSolicitation(GW, GUEST_MAC));
            hop.setByte(7, 64);
            assertEquals("ndp.badHopLimit", check(hop));
            hop.release();
            ByteBuf code = ndp(GUEST, GW.solicitedNode(), new NdpRepr.NeighborSolicitation(GW, GUEST_MAC));
            code.setByte(41, 1);
            fix(code);
            assertEquals("ndp.badCode", check(code));
            code.release();
            ByteBuf mcastTarget = ndp(GUEST, GW.solicitedNode(),
                    new NdpRepr.NeighborSolicitation(Ipv6Address.ALL_NODES, GUEST_MAC));
            assertEquals("ndp.badTarget", check(mcastTarget));
            mcastTarget.release();
            ByteBuf dadWithLl = ndp(Ipv6Address.UNSPECIFIED, GW.solicitedNode(),
                    new NdpRepr.NeighborSolicitation(GW, GUEST_MAC));
            assertEquals("ndp.badSource", check(dadWithLl));
            dadWithLl.release();
            ByteBuf dadUnicast = ndp(Ipv6Address.UNSPECIFIED, GW, new NdpRepr.NeighborSolicitation(GW, NdpRepr.NONE));
            assertEquals("ndp.badDestination", check(dadUnicast));
            dadUnicast.release();
            ByteBuf rsWithLl = ndp(Ipv6Address.UNSPECIFIED, Ipv6Address.ALL_ROUTERS,
                    new NdpRepr.RouterSolicitation(GUEST_MAC));
            assertEquals("ndp.badSource", check(rsWithLl));
            rsWithLl.release();
            ByteBuf raGlobal = ndp(GUEST_ULA, Ipv6Address.ALL_NODES, fullRa());
            assertEquals("ndp.badSource", check(raGlobal));
            raGlobal.release();
            ByteBuf solicitedToAll = ndp(GW, Ipv6Address.ALL_NODES,
                    new NdpRepr.NeighborAdvertisement(false, true, false, GW, GW_MAC));
            assertEquals("ndp.badFlags", check(solicitedToAll));
            solicitedToAll.release();
        }

        @Test
        void aZeroLengthOptionInvalidatesTheMessage() {
            ByteBuf p = ndp(GW, Ipv6Address.ALL_NODES, fullRa());
            int opts = NdpPacket.optionsOffset(p, 40);
            p.setByte(opts + 1, 0); // the first option (source link-layer) now claims zero length
            fix(p);
            assertEquals("ndp.badOptionLength", check(p));
            assertEquals(OptionIterator.MALFORMED, NdpOption.first(p, opts, p.capacity()));
            assertFalse(NdpOption.wellFormed(p, opts, p.capacity()));
            p.release();
            // And a length running past the message.
            ByteBuf q = ndp(GUEST, GW.solicitedNode(), new NdpRepr.NeighborSolicitation(GW, GUEST_MAC));
            q.setByte(40 + NdpPacket.NS_LEN + 1, 2);
            fix(q);
            assertEquals("ndp.badOptionLength", check(q));
            q.release();
            // An option cut after its type byte.
            ByteBuf r = ndp(GUEST, GW.solicitedNode(), new NdpRepr.NeighborSolicitation(GW, NdpRepr.NONE));
            ByteBuf icmp = Unpooled.buffer().writeBytes(r, 40, 24).writeByte(1);
            r.release();
            ByteBuf cut = ip(GUEST, GW.solicitedNode(), 255, icmp);
            fix(cut);
            assertEquals("ndp.badOptionLength", check(cut));
            cut.release();
        }

        @Test
        void knownOptionsOfTheWrongLengthAreSkippedUnknownOnesIgnored() {
            ByteBuf icmp = Unpooled.buffer();
            new NdpRepr.RouterAdvertisement(64, false, false, 0, 0, 0, NdpRepr.NONE, 0, List.of(), List.of(),
                    List.of()).writeBody(icmp);
            icmp.writeBytes(new byte[] {25, 2, 0, 0, 0, 0, 0, 60}).writeZero(8); // RDNSS without a server: invalid
            icmp.writeBytes(new byte[] {5, 2, 0, 0, 0, 0, 5, (byte) 0xdc}).writeZero(8); // MTU of 16 bytes: invalid
            icmp.writeBytes(new byte[] {(byte) 200, 1, 1, 2, 3, 4, 5, 6}); // unknown type
            icmp.writeBytes(new byte[] {31, 2, 0, 0, 0, 0, 0, 60, 3, 'a', 'b', 'c', 0x40, 0, 0, 0}); // DNSSL: bad label
            icmp.writeBytes(new byte[] {31, 2, 0, 0, 0, 0, 0, 60, 3, 'a', 'b', 'c', 0, 0, 0, 0}); // DNSSL "abc"
            ByteBuf p = ip(GW, Ipv6Address.ALL_NODES, 255, icmp);
            fix(p);
            assertNull(check(p));
            NdpRepr.RouterAdvertisement ra = assertInstanceOf(NdpRepr.RouterAdvertisement.class, parse(p));
            assertTrue(ra.rdnss().isEmpty());
            assertEquals(0, ra.mtu());
            assertEquals(List.of(new NdpRepr.Dnssl(60, List.of("abc"))), ra.dnssl());
            assertEquals(NdpRepr.NONE, ra.sourceLinkLayer());
            p.release();
        }

        @Test
        void everyTruncationOfAnAdvertisementIsRejected() {
            ByteBuf p = ndp(GW, Ipv6Address.ALL_NODES, fullRa());
            byte[] whole = ByteBufUtil.getBytes(p);
            p.release();
            for (int cut = 0; cut < whole.length; cut++) {
                ByteBuf b = Unpooled.wrappedBuffer(whole, 0, cut);
                String err = check(b);
                int c = cut;
                assertNotNull(err, () -> "cut at " + c);
                b.release();
                // The IPv6 header made consistent with the cut: the checksum or the NDP checks catch it.
                if (cut >= 40) {
                    byte[] shortened = java.util.Arrays.copyOf(whole, cut);
                    ByteBuf s = Unpooled.wrappedBuffer(shortened);
                    Ipv6Packet.setPayloadLength(s, 0, cut - 40);
                    assertNotNull(check(s), () -> "consistent cut at " + c);
                    if (cut - 40 >= 8) {
                        fix(s); // even with a right checksum the message is invalid
                        String e = check(s);
                        assertTrue(e != null || cut - 40 == NdpPacket.RA_LEN
                                || NdpOption.wellFormed(s, 40 + NdpPacket.RA_LEN, cut), "consistent cut at " + c);
                    }
                    s.release();
                }
            }
        }

        @Test
        void dnsslWriting() {
            assertEquals(8 + 24, NdpOption.dnsslLength(List.of("containers.internal")));
            assertThrows(IllegalArgumentException.class, () -> NdpOption.dnsslLength(List.of("a..b")));
            assertThrows(IllegalArgumentException.class, () -> NdpOption.dnsslLength(List.of("x".repeat(64))));
            assertThrows(IllegalArgumentException.class, () -> new NdpRepr.Rdnss(1, List.of()));
            assertThrows(IllegalArgumentException.class, () -> new NdpRepr.Dnssl(1, List.of()));
        }

        @Test
        void describedForTheDebugLog() {
            ByteBuf p = ndp(GW, Ipv6Address.ALL_NODES, fullRa());
            ByteBuf frame = Unpooled.buffer();
            EthernetFrame.writeHeader(frame, Ipv6Address.ALL_NODES.multicastMac(), GW_MAC, EtherType.IPV6);
            frame.writeBytes(p, 0, p.capacity());
            assertEquals("5a:94:ef:e4:0c:dd > 33:33:00:00:00:01 IPv6 fe80::1 > ff02::1 ICMPv6 router advertisement "
                    + "lifetime 1800 mtu 1500 prefix fd00::/64 rdnss fd00::1 len " + frame.readableBytes(),
                    FrameDescription.describe(frame));
            frame.release();
            p.release();
        }
    }
}
