package dev.gvproxy.stack;

import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.ip.IpHeader;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.Icmpv6Packet;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import dev.gvproxy.stack.wire.NdpPacket;
import dev.gvproxy.stack.wire.NdpRepr;
import dev.gvproxy.stack.wire.UdpPacket;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The IPv6 gateway, packet by packet: neighbour discovery (NS/NA, DAD, learning), router advertisements
 * (solicited and periodic, their content), RA guard, echo, extension headers and unknown protocols, fragment
 * reassembly through IPv6 input and its bounds, the source guard, Packet Too Big and port unreachable.
 */
class Ipv6GatewayTest {
    static final long SECOND = 1_000_000_000L;
    static final Ipv6Address GW_LL = Ipv6Address.parse("fe80::1");
    static final Ipv6Address GW6 = Ipv6Address.parse("fd00:5a94:efe4::1");
    static final Ipv6Address HOST6 = Ipv6Address.parse("fd00:5a94:efe4:0:ffff:ffff:ffff:fffe");
    static final Ipv6Address GUEST6 = Ipv6Address.parse("fd00:5a94:efe4::2");
    static final Ipv6Address GUEST_LL = Ipv6Address.linkLocalFromMac(GUEST_MAC);
    static final Ipv6Address REMOTE = Ipv6Address.parse("2001:2::1");

    StackHarness h = new StackHarness(StackConfig.builder()
            .ipv6(Ipv6Config.builder().searchDomains(List.of("containers.internal")).build()).build());

    @AfterEach
    void tearDown() {
        h.stack.close();
    }

    // ---- frame building ---------------------------------------------------------------------------------------

    static byte[] packet(Ipv6Address src, Ipv6Address dst, int nh, int hop, byte[] payload) {
        ByteBuf b = Unpooled.buffer();
        Ipv6Packet.writeHeader(b, 0, 0, payload.length, nh, hop, src, dst);
        b.writeBytes(payload);
        byte[] r = Frames.bytes(b);
        b.release();
        return r;
    }

    static byte[] frame(Ipv6Address src, Ipv6Address dst, int nh, int hop, byte[] payload) {
        long mac = dst.isMulticast() ? dst.multicastMac() : GW_MAC;
        return Frames.ethernet(mac, GUEST_MAC, 0x86DD, packet(src, dst, nh, hop, payload));
    }

    static byte[] ndp(NdpRepr m, Ipv6Address src, Ipv6Address dst) {
        ByteBuf b = Unpooled.buffer();
        m.emit(b, src, dst);
        byte[] r = Frames.bytes(b);
        b.release();
        return frame(src, dst, IpProtocol.ICMPV6, 255, r);
    }

    static byte[] icmp(int type, int rest, byte[] data, Ipv6Address src, Ipv6Address dst) {
        ByteBuf b = Unpooled.buffer();
        Icmpv6Packet.writeHeader(b, type, 0, rest);
        b.writeBytes(data);
        Icmpv6Packet.fillChecksum(b, 0, b.readableBytes(), src, dst);
        byte[] r = Frames.bytes(b);
        b.release();
        return r;
    }

    static byte[] echo(Ipv6Address src, Ipv6Address dst, int id, int seq, int size) {
        return frame(src, dst, IpProtocol.ICMPV6, 64,
                icmp(Icmpv6Packet.TYPE_ECHO_REQUEST, (id << 16) | seq, new byte[size], src, dst));
    }

    static byte[] udp(Ipv6Address src, Ipv6Address dst, int srcPort, int dstPort, byte[] data) {
        ByteBuf b = Unpooled.buffer();
        UdpPacket.writeHeader(b, srcPort, dstPort, data.length);
        b.writeBytes(data);
        UdpPacket.fillChecksumIpv6(b, 0, b.readableBytes(), src, dst);
        byte[] r = Frames.bytes(b);
        b.release();
        return r;
    }

    /** A frame the gateway sent, parsed. */
    record Out(long dstMac, Ipv6Address src, Ipv6Address dst, int hopLimit, int nextHeader, ByteBuf l4) {
        int type() {
            return Icmpv6Packet.type(l4, 0);
        }

        NdpRepr ndp() {
            return NdpRepr.parse(l4, 0, l4.readableBytes());
        }
    }

    Out out() {
        byte[] f = h.poll();
        assertNotNull(f, "expected a frame from the gateway");
        ByteBuf b = Unpooled.wrappedBuffer(f);
        assertEquals(0x86DD, EthernetFrame.etherType(b, 0));
        int off = EthernetFrame.HEADER_LEN;
        assertNull(Ipv6Packet.check(b, off, f.length - off));
        int pl = Ipv6Packet.payloadLength(b, off);
        Ipv6Address src = Ipv6Packet.src(b, off);
        Ipv6Address dst = Ipv6Packet.dst(b, off);
        int nh = Ipv6Packet.nextHeader(b, off);
        ByteBuf l4 = b.slice(off + Ipv6Packet.HEADER_LEN, pl);
        if (nh == IpProtocol.ICMPV6) {
            assertNull(Icmpv6Packet.check(b, off + Ipv6Packet.HEADER_LEN, pl, off), "a correct ICMPv6 checksum");
        }
        return new Out(EthernetFrame.dst(b, 0), src, dst, Ipv6Packet.hopLimit(b, off), nh, l4);
    }

    void nothingOut() {
        assertNull(h.poll(), "expected silence");
    }

    long count(String name) {
        return h.count(name);
    }

    // ---- tests -----------------------------------------------------------------------------------------------------

    @Nested
    class NeighbourDiscovery {
        @Test
        void solicitationsForEachGatewayAddressAreAnsweredAndTheSenderIsLearned() {
            for (Ipv6Address target : List.of(GW_LL, GW6, HOST6)) {
                h.send(ndp(new NdpRepr.NeighborSolicitation(target, GUEST_MAC), GUEST_LL, target.solicitedNode()));
                Out o = out();
                assertEquals(GUEST_MAC, o.dstMac());
                assertEquals(GUEST_LL, o.dst());
                assertEquals(target, o.src());
                assertEquals(255, o.hopLimit());
                NdpRepr.NeighborAdvertisement na = assertInstanceOf(NdpRepr.NeighborAdvertisement.class, o.ndp());
                assertEquals(target, na.target());
                assertTrue(na.router() && na.solicited() && na.override());
                assertEquals(GW_MAC, na.targetLinkLayer());
            }
            assertEquals(GUEST_MAC, h.stack.neighborCache().lookup(GUEST_LL, h.now));
            nothingOut();
        }

        @Test
        void solicitationsForOtherAddressesAreNotAnswered() {
            h.send(ndp(new NdpRepr.NeighborSolicitation(REMOTE, GUEST_MAC), GUEST_LL, REMOTE.solicitedNode()));
            Ipv6Address other = Ipv6Address.parse("fd00:5a94:efe4::77");
            h.send(ndp(new NdpRepr.NeighborSolicitation(other, GUEST_MAC), GUEST_LL, other.solicitedNode()));
            nothingOut();
            // The first group is not one of the gateway's: dropped before NDP; the second reached it and was refused.
            assertEquals(1, count("ipv6.multicast"));
            assertEquals(1, count("ndp.notForGateway"));
        }

        @Test
        void duplicateAddressDetectionIsDefendedForOurAddressesOnly() {
            // An address whose solicited-node group is the gateway's (same last 24 bits), but not the gateway's.
            Ipv6Address other = Ipv6Address.parse("fd00:5a94:efe4:0:1::1");
            assertEquals(GW6.solicitedNode(), other.solicitedNode());
            h.send(ndp(new NdpRepr.NeighborSolicitation(other, NdpRepr.NONE), Ipv6Address.UNSPECIFIED,
                    other.solicitedNode()));
            nothingOut();
            assertEquals(1, count("ndp.dadIgnored"));
            h.send(ndp(new NdpRepr.NeighborSolicitation(GW6, NdpRepr.NONE), Ipv6Address.UNSPECIFIED,
                    GW6.solicitedNode()));
            Out o = out();
            assertEquals(Ipv6Address.ALL_NODES, o.dst(), "a DAD probe is answered to all nodes (RFC 4861 7.2.4)");
            NdpRepr.NeighborAdvertisement na = assertInstanceOf(NdpRepr.NeighborAdvertisement.class, o.ndp());
            assertEquals(GW6, na.target());
            assertFalse(na.solicited());
            assertEquals(1, count("ndp.out.dadDefended"));
        }

        @Test
        void advertisementsTeachTheCacheButNeverForTheGatewaysAddresses() {
            h.send(ndp(new NdpRepr.NeighborAdvertisement(false, false, true, GUEST6, GUEST_MAC), GUEST6,
                    Ipv6Address.ALL_NODES));
            assertEquals(GUEST_MAC, h.stack.neighborCache().lookup(GUEST6, h.now));
            h.send(ndp(new NdpRepr.NeighborAdvertisement(false, false, true, GW6, GUEST_MAC), GUEST_LL,
                    Ipv6Address.ALL_NODES));
            assertEquals(-1, h.stack.neighborCache().lookup(GW6, h.now));
            assertEquals(1, count("ndp.spoofedTarget"), "dropped at the switch, before any guest or the gateway");
        }

        @Test
        void oneMacHoldsABoundedNumberOfAddresses() {
            for (int i = 0; i < 40; i++) {
                Ipv6Address a = new Ipv6Address(GUEST6.hi(), 0x1000 + i);
                h.send(ndp(new NdpRepr.NeighborAdvertisement(false, false, true, a, GUEST_MAC), a,
                        Ipv6Address.ALL_NODES));
            }
            assertEquals(16, h.stack.neighborCache().size(), "the default 16 addresses per MAC");
            assertTrue(count("ndp.perMacLimit") >= 24);
            // Another guest is still learned.
            long other = 0x0200_0000_0b0bL;
            Ipv6Address b = new Ipv6Address(GUEST6.hi(), 0xb0b);
            byte[] na = ndp(new NdpRepr.NeighborAdvertisement(false, false, true, b, other), b, Ipv6Address.ALL_NODES);
            System.arraycopy(Frames.ethernet(0, other, 0, new byte[0]), 6, na, 6, 6); // from its own MAC
            h.send(na);
            assertEquals(other, h.stack.neighborCache().lookup(b, h.now));
        }

        @Test
        void anUnknownNeighbourIsSolicitedAndTheWaitingPacketLeavesOnTheAdvertisement() {
            h.stack.udp().send(GW6, 53, GUEST6, 40000, Unpooled.wrappedBuffer(new byte[] {1, 2, 3}), h.now);
            Out ns = out();
            assertEquals(GUEST6.solicitedNode(), ns.dst());
            assertEquals(GUEST6.solicitedNode().multicastMac(), ns.dstMac());
            NdpRepr.NeighborSolicitation sol = assertInstanceOf(NdpRepr.NeighborSolicitation.class, ns.ndp());
            assertEquals(GUEST6, sol.target());
            assertEquals(GW_MAC, sol.sourceLinkLayer());
            nothingOut();
            h.send(ndp(new NdpRepr.NeighborAdvertisement(false, true, true, GUEST6, GUEST_MAC), GUEST6, GW_LL));
            Out d = out();
            assertEquals(GUEST_MAC, d.dstMac());
            assertEquals(IpProtocol.UDP, d.nextHeader());
            assertEquals(40000, UdpPacket.dstPort(d.l4(), 0));
        }

        @Test
        void ndpThatCrossedARouterOrCameInFragmentsIsDropped() {
            ByteBuf b = Unpooled.buffer();
            new NdpRepr.NeighborSolicitation(GW6, GUEST_MAC).emit(b, GUEST_LL, GW6.solicitedNode());
            byte[] ns = Frames.bytes(b);
            b.release();
            h.send(frame(GUEST_LL, GW6.solicitedNode(), IpProtocol.ICMPV6, 64, ns));
            assertEquals(1, count("ndp.badHopLimit"));
            for (byte[] f : fragments(GUEST_LL, GW6.solicitedNode(), IpProtocol.ICMPV6, 255, ns, 16)) {
                h.send(f);
            }
            assertEquals(1, count("ndp.fragmented"), "RFC 6980");
            nothingOut();
        }
    }

    @Nested
    class RouterAdvertisements {
        void checkContent(NdpRepr.RouterAdvertisement ra) {
            assertEquals(1800, ra.routerLifetime());
            assertFalse(ra.managed());
            assertTrue(ra.other(), "O=1: a DHCPv6 client asks for DNS");
            assertEquals(GW_MAC, ra.sourceLinkLayer());
            assertEquals(1500, ra.mtu());
            assertEquals(1, ra.prefixes().size());
            NdpRepr.PrefixInformation p = ra.prefixes().get(0);
            assertEquals(64, p.prefixLength());
            assertTrue(p.onLink() && p.autonomous(), "on-link and autonomous: SLAAC");
            assertEquals(Ipv6Address.parse("fd00:5a94:efe4::"), p.prefix());
            assertTrue(p.preferredLifetime() <= p.validLifetime());
            assertEquals(List.of(GW6), ra.rdnss().get(0).servers());
            assertTrue(ra.rdnss().get(0).lifetime() >= 600, "RFC 8106 5.1: at least MaxRtrAdvInterval");
            assertEquals(List.of("containers.internal"), ra.dnssl().get(0).domains());
        }

        @Test
        void aSolicitationFromAnAddressGetsAUnicastAdvertisement() {
            h.send(ndp(new NdpRepr.RouterSolicitation(GUEST_MAC), GUEST_LL, Ipv6Address.ALL_ROUTERS));
            Out o = out();
            assertEquals(GUEST_LL, o.dst());
            assertEquals(GUEST_MAC, o.dstMac());
            assertEquals(GW_LL, o.src(), "RAs come from the link-local address");
            assertEquals(255, o.hopLimit());
            checkContent(assertInstanceOf(NdpRepr.RouterAdvertisement.class, o.ndp()));
            assertEquals(GUEST_MAC, h.stack.neighborCache().lookup(GUEST_LL, h.now));
        }

        @Test
        void aSolicitationFromTheUnspecifiedAddressGetsAMulticastOneRateLimited() {
            h.send(ndp(new NdpRepr.RouterSolicitation(NdpRepr.NONE), Ipv6Address.UNSPECIFIED,
                    Ipv6Address.ALL_ROUTERS));
            Out o = out();
            assertEquals(Ipv6Address.ALL_NODES, o.dst());
            assertEquals(Ipv6Address.ALL_NODES.multicastMac(), o.dstMac());
            checkContent(assertInstanceOf(NdpRepr.RouterAdvertisement.class, o.ndp()));
            h.send(ndp(new NdpRepr.RouterSolicitation(NdpRepr.NONE), Ipv6Address.UNSPECIFIED,
                    Ipv6Address.ALL_ROUTERS));
            nothingOut();
            assertEquals(1, count("ndp.rsRateLimited"));
            // Three seconds on, a multicast RA goes out again: the periodic one if it fell due, else the answer.
            h.advance(3 * SECOND);
            h.send(ndp(new NdpRepr.RouterSolicitation(NdpRepr.NONE), Ipv6Address.UNSPECIFIED,
                    Ipv6Address.ALL_ROUTERS));
            assertEquals(Ipv6Address.ALL_NODES, out().dst());
            nothingOut();
        }

        @Test
        void periodicAdvertisementsFollowRfc4861Intervals() {
            List<Long> sentAt = new ArrayList<>();
            long start = h.now;
            for (int i = 0; i < 6; i++) {
                long d = h.stack.nextDeadline();
                assertTrue(d > h.now, "a deadline ahead");
                h.advance(d - h.now);
                Out o = out();
                assertEquals(Ipv6Address.ALL_NODES, o.dst());
                checkContent(assertInstanceOf(NdpRepr.RouterAdvertisement.class, o.ndp()));
                sentAt.add(h.now);
            }
            assertTrue(sentAt.get(0) - start <= 16 * SECOND, "the first within 16 s of link-up");
            for (int i = 1; i <= 3; i++) {
                long gap = sentAt.get(i) - sentAt.get(i - 1);
                assertTrue(gap <= 16 * SECOND, "initial ones at most 16 s apart (6.2.4): " + gap);
            }
            for (int i = 4; i < 6; i++) {
                long gap = sentAt.get(i) - sentAt.get(i - 1);
                assertTrue(gap >= 200 * SECOND && gap <= 600 * SECOND, "between Min and MaxRtrAdvInterval: " + gap);
            }
            assertEquals(6, count("ndp.out.unsolicitedRa"));
        }

        @Test
        void linkLayerOptionsMustBeTheFramesSource() {
            h.send(ndp(new NdpRepr.NeighborSolicitation(GW6, 0x0200_0000_0001L), GUEST_LL, GW6.solicitedNode()));
            assertEquals(1, count("ndp.linkLayerMismatch"));
            nothingOut();
        }

        @Test
        void anAdvertisementHiddenBehindExtensionHeadersOrFragmentsIsStillStopped() {
            NdpRepr.RouterAdvertisement rogue = new NdpRepr.RouterAdvertisement(64, false, false, 1800, 0, 0,
                    GUEST_MAC, 0, List.of(), List.of(), List.of());
            ByteBuf b = Unpooled.buffer();
            rogue.emit(b, GUEST_LL, Ipv6Address.ALL_NODES);
            byte[] ra = Frames.bytes(b);
            b.release();
            byte[] p = new byte[8 + ra.length];
            p[0] = (byte) IpProtocol.ICMPV6;
            p[2] = 1;
            p[3] = 4; // PadN: an empty destination-options header in front
            System.arraycopy(ra, 0, p, 8, ra.length);
            h.send(frame(GUEST_LL, Ipv6Address.ALL_NODES, Ipv6Packet.NH_DEST_OPTIONS, 255, p));
            assertEquals(1, count("ndp.raFromGuest"));
            // The options header in the first fragment, the RA in the second (RFC 7113).
            for (byte[] f : fragments(GUEST_LL, Ipv6Address.ALL_NODES, Ipv6Packet.NH_DEST_OPTIONS, 255, p, 8)) {
                h.send(f);
            }
            assertEquals(1, count("ipv6.incompleteFirstFragment"));
            nothingOut();
        }

        @Test
        void advertisementsAndRedirectsFromGuestsAreDropped() {
            NdpRepr.RouterAdvertisement rogue = new NdpRepr.RouterAdvertisement(64, false, false, 1800, 0, 0,
                    GUEST_MAC, 0, List.of(), List.of(), List.of());
            h.send(ndp(rogue, GUEST_LL, Ipv6Address.ALL_NODES));
            h.send(ndp(new NdpRepr.Redirect(GUEST_LL, REMOTE, GUEST_MAC), GUEST_LL, GUEST6));
            assertEquals(1, count("ndp.raFromGuest"));
            assertEquals(1, count("ndp.redirectFromGuest"));
            nothingOut();
        }
    }

    @Nested
    class Echo {
        @Test
        void echoToTheGatewayAddressesIsAnswered() {
            for (Ipv6Address dst : List.of(GW6, GW_LL)) {
                Ipv6Address src = dst.isLinkLocal() ? GUEST_LL : GUEST6;
                h.send(echo(src, dst, 7, 1, 56));
                Out o = out();
                assertEquals(dst, o.src());
                assertEquals(src, o.dst());
                assertEquals(Icmpv6Packet.TYPE_ECHO_REPLY, o.type());
                assertEquals(7, Icmpv6Packet.identifier(o.l4(), 0));
                assertEquals(56 + 8, o.l4().readableBytes());
            }
            assertEquals(2, count("icmpv6.out.echoReplies"));
        }

        @Test
        void echoToOtherDestinationsAndTheHostAliasGoesToTheForwarder() {
            h.send(echo(GUEST6, REMOTE, 7, 1, 8));
            assertEquals(1, count("icmpv6.noForwarder"));
            List<String> seen = new ArrayList<>();
            h.stack.icmpv6().setForwarder((IpHeader ip, ByteBuf p, long now) -> seen.add(ip.dstAddress() + " "
                    + Icmpv6Packet.type(p, p.readerIndex())));
            h.send(echo(GUEST6, REMOTE, 7, 2, 8));
            h.send(echo(GUEST6, HOST6, 7, 3, 8));
            assertEquals(List.of(REMOTE + " 128", HOST6 + " 128"), seen);
            nothingOut();
        }
    }

    @Nested
    class Validation {
        @Test
        void sourcesAGuestMayNotUseAreDropped() {
            h.send(echo(GW_LL, GW6, 1, 1, 8));
            h.send(echo(HOST6, GW6, 1, 1, 8));
            h.send(echo(Ipv6Address.parse("ff02::1"), GW6, 1, 1, 8));
            assertEquals(3, count("ipv6.spoofedSource"), "the gateway's addresses and multicast: dropped at the switch");
            h.send(echo(REMOTE, GW6, 1, 1, 8));
            assertEquals(1, count("ipv6.badSource"), "off-link: dropped by the gateway");
            h.send(frame(Ipv6Address.UNSPECIFIED, GW6, IpProtocol.UDP, 64, udp(Ipv6Address.UNSPECIFIED, GW6, 1, 53,
                    new byte[4])));
            assertEquals(2, count("ipv6.badSource"), ":: only for ICMPv6 (DAD, RS)");
            nothingOut();
        }

        @Test
        void hopLimitZeroIsDropped() {
            h.send(frame(GUEST6, GW6, IpProtocol.ICMPV6, 0,
                    icmp(Icmpv6Packet.TYPE_ECHO_REQUEST, 1, new byte[8], GUEST6, GW6)));
            assertEquals(1, count("ipv6.hopLimitZero"));
            nothingOut();
        }

        @Test
        void anUnknownUpperLayerGetsParameterProblemCodeOnePointingAtItsNextHeader() {
            h.send(frame(GUEST6, GW6, 200, 64, new byte[16]));
            Out o = out();
            assertEquals(Icmpv6Packet.TYPE_PARAMETER_PROBLEM, o.type());
            assertEquals(Ipv6Packet.PROBLEM_UNRECOGNIZED_NEXT_HEADER, Icmpv6Packet.code(o.l4(), 0));
            assertEquals(6, Icmpv6Packet.pointer(o.l4(), 0), "the fixed header's Next Header field");
            assertEquals(GUEST6, o.dst());
            assertEquals(1, count("ipv6.unknownProtocol"));
            h.send(frame(GUEST6, GW6, Ipv6Packet.NH_NONE, 64, new byte[0]));
            nothingOut();
            assertEquals(1, count("ipv6.noNextHeader"));
        }

        @Test
        void anUnknownOptionThatAsksForAReportGetsCodeTwo() {
            // Destination options: an option of type 0x80 (high bits 10: discard and report), then ICMPv6.
            byte[] ping = icmp(Icmpv6Packet.TYPE_ECHO_REQUEST, 1, new byte[8], GUEST6, GW6);
            byte[] p = new byte[8 + ping.length];
            p[0] = (byte) IpProtocol.ICMPV6;
            p[1] = 0;
            p[2] = (byte) 0x80;
            p[3] = 4;
            System.arraycopy(ping, 0, p, 8, ping.length);
            h.send(frame(GUEST6, GW6, Ipv6Packet.NH_DEST_OPTIONS, 64, p));
            Out o = out();
            assertEquals(Icmpv6Packet.TYPE_PARAMETER_PROBLEM, o.type());
            assertEquals(Ipv6Packet.PROBLEM_UNRECOGNIZED_OPTION, Icmpv6Packet.code(o.l4(), 0));
            assertEquals(42, Icmpv6Packet.pointer(o.l4(), 0), "the option's type byte");
            assertEquals(1, count("ipv6.unknownOption"));
        }

        @Test
        void tooManyExtensionHeadersAreDroppedAtTheBound() {
            byte[] ping = icmp(Icmpv6Packet.TYPE_ECHO_REQUEST, 1, new byte[8], GUEST6, GW6);
            int n = 9; // one more than the default bound of 8
            byte[] p = new byte[8 * n + ping.length];
            for (int i = 0; i < n; i++) {
                p[8 * i] = (byte) (i == n - 1 ? IpProtocol.ICMPV6 : Ipv6Packet.NH_DEST_OPTIONS);
                p[8 * i + 2] = 1; // PadN over the rest
                p[8 * i + 3] = 4;
            }
            System.arraycopy(ping, 0, p, 8 * n, ping.length);
            h.send(frame(GUEST6, GW6, Ipv6Packet.NH_DEST_OPTIONS, 64, p));
            assertEquals(1, count("ipv6.tooManyExtensionHeaders"));
            nothingOut();
        }

        @Test
        void aPacketLargerThanTheLinkMtuGetsPacketTooBig() {
            h.send(echo(GUEST6, REMOTE, 1, 1, 1500));
            Out o = out();
            assertEquals(Icmpv6Packet.TYPE_PACKET_TOO_BIG, o.type());
            assertEquals(1500, Icmpv6Packet.mtu(o.l4(), 0));
            assertEquals(REMOTE, o.src(), "from the destination the guest addressed");
            assertTrue(o.l4().readableBytes() <= 1280 - 40, "quotes at most what fits the minimum MTU");
            assertEquals(1, count("ipv6.tooBig"));
        }

        @Test
        void errorsAreRateLimited() {
            for (int i = 0; i < 150; i++) {
                h.send(frame(GUEST6, GW6, 200, 64, new byte[16]));
            }
            assertEquals(100, count("icmpv6.out.parameterProblem"), "the configured 100 per second");
            assertEquals(50, count("icmpv6.out.rateLimited"));
            h.advance(SECOND / 10);
            h.out.clear();
            for (int i = 0; i < 20; i++) {
                h.send(frame(GUEST6, GW6, 200, 64, new byte[16]));
            }
            assertEquals(110, count("icmpv6.out.parameterProblem"), "refilled at 100 per second");
        }

        @Test
        void ipv6OffDropsAndCountsAsBefore() {
            StackHarness off = new StackHarness();
            off.send(echo(GUEST6, GW6, 1, 1, 8));
            assertEquals(1, off.count("eth.ipv6"));
            assertNull(off.poll());
            off.stack.close();
        }
    }

    @Nested
    class Udp {
        @Test
        void anUnboundGatewayPortAnswersPortUnreachable() {
            h.send(frame(GUEST6, GW6, IpProtocol.UDP, 64, udp(GUEST6, GW6, 40000, 9999, new byte[4])));
            Out o = out();
            assertEquals(Icmpv6Packet.TYPE_DEST_UNREACHABLE, o.type());
            assertEquals(Icmpv6Packet.CODE_PORT_UNREACHABLE, Icmpv6Packet.code(o.l4(), 0));
            assertEquals(1, count("udp.noPort"));
        }

        @Test
        void bindingsOfEachFamilyAndItsWildcard() {
            List<String> got = new ArrayList<>();
            h.stack.udp().bind(Ipv6Address.UNSPECIFIED, 547, (d, p, now) -> got.add("any6 " + d.dst()));
            h.stack.udp().bind(GW6, 53, (d, p, now) -> got.add("gw6 " + d.src() + " " + d.isIpv4()));
            h.send(frame(GUEST_LL, Ipv6Address.ALL_DHCP_AGENTS, IpProtocol.UDP, 1,
                    udp(GUEST_LL, Ipv6Address.ALL_DHCP_AGENTS, 546, 547, new byte[4])));
            h.send(frame(GUEST6, GW6, IpProtocol.UDP, 64, udp(GUEST6, GW6, 40000, 53, new byte[4])));
            assertEquals(List.of("any6 " + Ipv6Address.ALL_DHCP_AGENTS, "gw6 " + GUEST6 + " false"), got);
        }

        @Test
        void datagramsToOtherDestinationsReachTheForwarderHook() {
            List<String> got = new ArrayList<>();
            h.stack.udp().setForwarder((d, p, now) -> got.add(d.flowKey().toString()));
            h.send(frame(GUEST6, REMOTE, IpProtocol.UDP, 64, udp(GUEST6, REMOTE, 40000, 53, new byte[4])));
            assertEquals(List.of("[" + GUEST6 + "]:40000 -> [" + REMOTE + "]:53"), got);
        }
    }

    @Nested
    class Fragments {
        @Test
        void aFragmentedEchoIsReassembledAndAnswered() {
            byte[] ping = icmp(Icmpv6Packet.TYPE_ECHO_REQUEST, (9 << 16) | 1, new byte[3000], GUEST6, GW6);
            for (byte[] f : fragments(GUEST6, GW6, IpProtocol.ICMPV6, 64, ping, 1232)) {
                h.send(f);
            }
            assertEquals(1, count("ipv6.reassembled"));
            // The reply (3008 bytes) leaves in fragments of the link MTU, which this test reassembles by size.
            int total = 0;
            for (byte[] f; (f = h.poll()) != null; ) {
                assertTrue(f.length <= 14 + 1500);
                ByteBuf b = Unpooled.wrappedBuffer(f);
                assertEquals(Ipv6Packet.NH_FRAGMENT, Ipv6Packet.nextHeader(b, 14));
                total += Ipv6Packet.payloadLength(b, 14) - 8;
            }
            assertEquals(3008, total);
            assertEquals(3, count("ipv6.out.fragments"));
        }

        @Test
        void aFirstFragmentWithoutTheUpperLayerHeaderIsDropped() {
            // Destination options of 16 bytes in the first fragment, the ICMPv6 header only in the second.
            byte[] ping = icmp(Icmpv6Packet.TYPE_ECHO_REQUEST, 1, new byte[16], GUEST6, GW6);
            byte[] p = new byte[16 + ping.length];
            p[0] = (byte) IpProtocol.ICMPV6;
            p[1] = 1;
            p[2] = 1;
            p[3] = 12;
            System.arraycopy(ping, 0, p, 16, ping.length);
            List<byte[]> fs = fragments(GUEST6, GW6, Ipv6Packet.NH_DEST_OPTIONS, 64, p, 16);
            for (byte[] f : fs) {
                h.send(f);
            }
            assertEquals(1, count("ipv6.incompleteFirstFragment"), "RFC 7112");
            assertEquals(0, count("ipv6.reassembled"));
            nothingOut();
        }

        @Test
        void incompleteDatagramsTimeOutAndFreeTheirMemory() {
            byte[] ping = icmp(Icmpv6Packet.TYPE_ECHO_REQUEST, 1, new byte[3000], GUEST6, GW6);
            List<byte[]> fs = fragments(GUEST6, GW6, IpProtocol.ICMPV6, 64, ping, 1232);
            h.send(fs.get(0));
            h.send(fs.get(1));
            h.advance(29 * SECOND);
            assertEquals(0, count("ipv6.reassemblyTimeout"));
            h.advance(2 * SECOND);
            assertEquals(1, count("ipv6.reassemblyTimeout"));
            h.out.clear(); // router advertisements meanwhile
            h.send(fs.get(2));
            nothingOut();
        }

        @Test
        void memoryIsBoundedPerSource() {
            // Many incomplete datagrams from one source: the per-source share stops them, the counter says so.
            for (int id = 0; id < 400; id++) {
                byte[] ping = icmp(Icmpv6Packet.TYPE_ECHO_REQUEST, id, new byte[3000], GUEST6, GW6);
                h.send(fragments(GUEST6, GW6, IpProtocol.ICMPV6, 64, ping, 1232, id).get(0));
            }
            assertTrue(count("ipv6.reassemblyPerSourceLimit") + count("ipv6.reassemblyEvicted") > 0);
            nothingOut();
        }
    }

    static List<byte[]> fragments(Ipv6Address src, Ipv6Address dst, int nh, int hop, byte[] payload, int chunk) {
        return fragments(src, dst, nh, hop, payload, chunk, 0x1234);
    }

    /** The payload in fragments of {@code chunk} bytes (a multiple of 8 but the last). */
    static List<byte[]> fragments(Ipv6Address src, Ipv6Address dst, int nh, int hop, byte[] payload, int chunk,
            int id) {
        List<byte[]> r = new ArrayList<>();
        for (int off = 0; off < payload.length; off += chunk) {
            int n = Math.min(chunk, payload.length - off);
            ByteBuf b = Unpooled.buffer();
            Ipv6Packet.writeFragmentHeader(b, nh, off, off + n < payload.length, id);
            b.writeBytes(payload, off, n);
            r.add(frame(src, dst, Ipv6Packet.NH_FRAGMENT, hop, Frames.bytes(b)));
            b.release();
        }
        return r;
    }
}
