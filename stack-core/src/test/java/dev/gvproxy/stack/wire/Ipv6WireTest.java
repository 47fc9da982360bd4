package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.net.InetAddress;
import java.util.HexFormat;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** IPv6 addresses, the fixed header and the extension-header walk (RFC 4291, RFC 5952, RFC 8200). */
class Ipv6WireTest {
    static final Ipv6Address SRC = Ipv6Address.parse("fd00::2");
    static final Ipv6Address DST = Ipv6Address.parse("fd00::1");

    @Nested
    class Addresses {
        @ParameterizedTest
        @CsvSource({
            "2001:db8::1, 2001:db8::1",
            "2001:0db8:0000:0000:0000:0000:0000:0001, 2001:db8::1",
            "2001:DB8:0:0:0:0:2:1, 2001:db8::2:1",
            "2001:db8:0:1:1:1:1:1, 2001:db8:0:1:1:1:1:1", // a single zero group is not shortened (RFC 5952 4.2.2)
            "2001:db8:0:0:1:0:0:1, 2001:db8::1:0:0:1", // the first of equal runs (4.2.3)
            "1:0:0:2:0:0:0:3, 1:0:0:2::3", // the longest run (4.2.3)
            "::, ::",
            "::1, ::1",
            "0:0:0:0:0:0:0:1, ::1",
            "1::, 1::",
            "1:2:3:4:5:6:7::, 1:2:3:4:5:6:7:0",
            "::2:3:4:5:6:7:8, 0:2:3:4:5:6:7:8",
            "fe80::ff:fe00:a, fe80::ff:fe00:a",
            "::ffff:192.0.2.1, ::ffff:192.0.2.1", // IPv4-mapped (section 5)
            "::ffff:c000:0201, ::ffff:192.0.2.1",
            "64:ff9b::198.18.0.1, 64:ff9b::c612:1",
            "FF02::1:FF00:B, ff02::1:ff00:b",
        })
        void parseAndCanonicalText(String in, String canonical) {
            Ipv6Address a = Ipv6Address.parse(in);
            assertEquals(canonical, a.toString());
            assertEquals(a, Ipv6Address.parse(canonical));
            if (!a.isIpv4Mapped()) { // the JDK turns those into Inet4Address
                assertEquals(a, Ipv6Address.fromInet((java.net.Inet6Address) InetAddress.ofLiteral(in)));
            }
        }

        @ParameterizedTest
        @ValueSource(strings = {"", ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::",
            "1:", ":1", "fe80::1%eth0", "[::1]", "::1.2.3", "1.2.3.4::", "1:2:3:4:5:6:7:1.2.3.4", "::1/128",
            "1::2:3:4:5:6:7:8", "::256.0.0.1", "localhost", "1:2:3:4:5:6:7:8::", " : "})
        void rejectsAnythingElse(String in) {
            assertThrows(IllegalArgumentException.class, () -> Ipv6Address.parse(in));
        }

        @Test
        void randomAddressesRoundTripLikeTheJdk() {
            SplittableRandom rnd = new SplittableRandom(11);
            for (int i = 0; i < 20_000; i++) {
                long hi = 0;
                long lo = 0;
                for (int g = 0; g < 4; g++) { // many zero groups, so that every shortening case comes up
                    hi = (hi << 16) | (rnd.nextInt(3) == 0 ? rnd.nextInt(0x10000) : 0);
                    lo = (lo << 16) | (rnd.nextInt(3) == 0 ? rnd.nextInt(0x10000) : 0);
                }
                Ipv6Address a = new Ipv6Address(hi, lo);
                String s = a.toString();
                assertEquals(a, Ipv6Address.parse(s), s);
                assertEquals(a, Ipv6Address.fromInet(a.toInet()));
                assertEquals(a, Ipv6Address.fromBytes(a.toBytes()));
                assertTrue(s.length() <= 39);
                assertFalse(s.contains(":::"), s);
            }
        }

        @Test
        void classificationAndDerivedAddresses() {
            assertTrue(Ipv6Address.parse("fe80::1").isLinkLocal());
            assertTrue(Ipv6Address.parse("febf:ffff::1").isLinkLocal());
            assertFalse(Ipv6Address.parse("fec0::1").isLinkLocal());
            assertTrue(Ipv6Address.parse("fd12:3456::1").isUniqueLocal());
            assertTrue(Ipv6Address.parse("fc00::1").isUniqueLocal());
            assertFalse(Ipv6Address.parse("fe00::1").isUniqueLocal());
            assertTrue(Ipv6Address.ALL_NODES.isMulticast());
            assertEquals(2, Ipv6Address.ALL_NODES.multicastScope());
            assertFalse(Ipv6Address.parse("fe80::1").isMulticast());
            assertTrue(Ipv6Address.UNSPECIFIED.isUnspecified());
            assertTrue(Ipv6Address.LOOPBACK.isLoopback());
            assertTrue(Ipv6Address.parse("::ffff:10.0.0.1").isIpv4Mapped());
            // RFC 4291 2.7.1: 4037::01:800:200E:8C6C has the solicited-node address FF02:0:0:0:0:1:FF0E:8C6C.
            Ipv6Address sn = Ipv6Address.parse("4037::01:800:200E:8C6C").solicitedNode();
            assertEquals(Ipv6Address.parse("FF02:0:0:0:0:1:FF0E:8C6C"), sn);
            assertTrue(sn.isSolicitedNode());
            assertFalse(Ipv6Address.ALL_NODES.isSolicitedNode());
            assertEquals(0x3333_0000_0001L, Ipv6Address.ALL_NODES.multicastMac());
            assertEquals(0x3333_ff0e_8c6cL, sn.multicastMac());
            // Modified EUI-64 (RFC 4291 appendix A): the U/L bit flipped, ff:fe in the middle.
            assertEquals(Ipv6Address.parse("fe80::5894:efff:fee4:cee"),
                    Ipv6Address.linkLocalFromMac(MacAddress.parse("5a:94:ef:e4:0c:ee")));
            assertEquals(Ipv6Address.parse("fd00::5894:efff:fee4:cee"), Ipv6Address.fromPrefixAndMac(
                    Ipv6Address.parse("fd00::"), MacAddress.parse("5a:94:ef:e4:0c:ee")));
            Ipv6Address a = Ipv6Address.parse("fd00:1:2:3:4:5:6:7");
            assertEquals(Ipv6Address.parse("fd00:1:2:3::"), a.prefix(64));
            assertEquals(Ipv6Address.parse("fd00:1:2:3:4::"), a.prefix(80));
            assertEquals(Ipv6Address.parse("fd00::"), a.prefix(17));
            assertEquals(a, a.prefix(128));
            assertEquals(Ipv6Address.UNSPECIFIED, a.prefix(0));
            assertTrue(a.inPrefix(Ipv6Address.parse("fd00:1:2:3::"), 64));
            assertFalse(a.inPrefix(Ipv6Address.parse("fd00:1:2:4::"), 64));
            assertTrue(Ipv6Address.parse("::1").compareTo(Ipv6Address.parse("8000::")) < 0);
            assertEquals(0xfd00, a.group(0));
            assertEquals(7, a.group(7));
        }

        @Test
        void readAndWrittenInPlace() {
            ByteBuf b = Unpooled.buffer(20).writeZero(2);
            DST.write(b);
            assertEquals(DST, Ipv6Address.get(b, 2));
            assertTrue(DST.equalsAt(b, 2));
            assertFalse(SRC.equalsAt(b, 2));
            SRC.set(b, 2);
            assertEquals(SRC, Ipv6Address.get(b, 2));
            b.release();
        }
    }

    // ---- packets ---------------------------------------------------------------------------------------------

    /** An IPv6 packet: fixed header (next header {@code nh}), then {@code rest} (hex: extension headers + upper). */
    static ByteBuf packet(int nh, Ipv6Address dst, String rest) {
        byte[] r = HexFormat.of().parseHex(rest.replace(" ", ""));
        ByteBuf b = Unpooled.buffer();
        Ipv6Packet.writeHeader(b, 0, 0, r.length, nh, 64, SRC, dst);
        return b.writeBytes(r);
    }

    static ByteBuf packet(int nh, String rest) {
        return packet(nh, DST, rest);
    }

    /** An 8-byte destination options header (PadN) naming {@code nh}. */
    static String destOpts(int nh) {
        return String.format("%02x00 0104 00000000", nh);
    }

    static final String UDP = "0035 0035 0008 0000";

    static Ipv6Packet.Error walk(ByteBuf p, int max, Ipv6Packet.Chain c) {
        assertNull(Ipv6Packet.check(p, 0, p.readableBytes()));
        return Ipv6Packet.walk(p, 0, max, c);
    }

    @Nested
    class FixedHeader {
        @Test
        void fieldsAndRepr() {
            Ipv6Repr r = new Ipv6Repr(0xb8, 0xabcde, IpProtocol.TCP, 63, SRC, DST, 20);
            ByteBuf b = Unpooled.buffer();
            r.emit(b);
            b.writeZero(20);
            assertEquals("6b8abcde0014063f", ByteBufUtil.hexDump(b, 0, 8));
            assertNull(Ipv6Packet.check(b, 0, 60));
            assertEquals(r, Ipv6Repr.parse(b, 0));
            assertEquals(60, Ipv6Packet.totalLength(b, 0));
            assertEquals(0xb8, Ipv6Packet.trafficClass(b, 0));
            assertEquals(0xabcde, Ipv6Packet.flowLabel(b, 0));
            Ipv6Packet.setHopLimit(b, 0, 1);
            Ipv6Packet.setSrc(b, 0, DST);
            Ipv6Packet.setDst(b, 0, SRC);
            Ipv6Packet.setPayloadLength(b, 0, 8);
            Ipv6Packet.setNextHeader(b, 0, IpProtocol.UDP);
            assertEquals(new Ipv6Repr(0xb8, 0xabcde, IpProtocol.UDP, 1, DST, SRC, 8), Ipv6Repr.parse(b, 0));
            assertThrows(IllegalArgumentException.class, () -> new Ipv6Repr(0, 0x100000, 6, 64, SRC, DST, 0));
            b.release();
        }

        @Test
        void badVersionTruncationAndPadding() {
            ByteBuf b = packet(IpProtocol.UDP, UDP);
            assertNull(Ipv6Packet.check(b, 0, 48));
            assertEquals(Ipv6Packet.Error.TRUNCATED, Ipv6Packet.check(b, 0, 47));
            assertEquals(Ipv6Packet.Error.TRUNCATED, Ipv6Packet.check(b, 0, 39));
            ByteBuf exact = Unpooled.wrappedBuffer(ByteBufUtil.getBytes(b));
            assertEquals(Ipv6Packet.Error.TRUNCATED, Ipv6Packet.check(exact, 1, 48)); // past the buffer
            exact.release();
            b.writeZero(12); // Ethernet padding: more bytes than the payload length says is fine
            assertNull(Ipv6Packet.check(b, 0, 60));
            b.setByte(0, 0x40);
            assertEquals(Ipv6Packet.Error.BAD_VERSION, Ipv6Packet.check(b, 0, 60));
            assertEquals("ipv6.badVersion", Ipv6Packet.Error.BAD_VERSION.counter());
            b.release();
        }
    }

    @Nested
    class ExtensionHeaders {
        final Ipv6Packet.Chain c = new Ipv6Packet.Chain();

        @Test
        void noExtensionHeaders() {
            ByteBuf b = packet(IpProtocol.UDP, UDP);
            assertNull(walk(b, 8, c));
            assertEquals(IpProtocol.UDP, c.protocol());
            assertEquals(6, c.protocolPointer());
            assertEquals(40, c.payloadOffset());
            assertEquals(8, c.payloadLength());
            assertEquals(0, c.headers());
            assertEquals(-1, c.hopByHop());
            assertFalse(c.isFragment());
            b.release();
        }

        @Test
        void aChainAtTheBoundPassesOneBeyondIsCountedAndDropped() {
            for (int n = 1; n <= 10; n++) {
                StringBuilder s = new StringBuilder();
                for (int i = 0; i < n; i++) {
                    s.append(destOpts(i == n - 1 ? IpProtocol.UDP : Ipv6Packet.NH_DEST_OPTIONS));
                }
                ByteBuf b = packet(Ipv6Packet.NH_DEST_OPTIONS, s + UDP);
                assertNull(walk(b, n, c), "chain of " + n);
                assertEquals(n, c.headers());
                assertEquals(IpProtocol.UDP, c.protocol());
                assertEquals(40 + 8 * n, c.payloadOffset());
                assertEquals(40 + 8 * (n - 1), c.protocolPointer());
                assertEquals(Ipv6Packet.Error.TOO_MANY_HEADERS, walk(b, n - 1, c));
                assertEquals("ipv6.tooManyExtensionHeaders", Ipv6Packet.Error.TOO_MANY_HEADERS.counter());
                assertEquals(-1, c.problemCode());
                b.release();
            }
        }

        @Test
        void hopByHopOnlyFirst() {
            ByteBuf ok = packet(Ipv6Packet.NH_HOP_BY_HOP, destOpts(IpProtocol.UDP) + UDP);
            assertNull(walk(ok, 8, c));
            assertEquals(40, c.hopByHop());
            ok.release();
            ByteBuf b = packet(Ipv6Packet.NH_DEST_OPTIONS, destOpts(Ipv6Packet.NH_HOP_BY_HOP) + destOpts(17) + UDP);
            assertEquals(Ipv6Packet.Error.HOP_BY_HOP_NOT_FIRST, walk(b, 8, c));
            assertEquals(Ipv6Packet.PROBLEM_UNRECOGNIZED_NEXT_HEADER, c.problemCode());
            assertEquals(40, c.problemPointer()); // the Next Header field that named it
            b.release();
            ByteBuf m = packet(Ipv6Packet.NH_DEST_OPTIONS, Ipv6Address.ALL_NODES,
                    destOpts(Ipv6Packet.NH_HOP_BY_HOP) + destOpts(17) + UDP);
            assertEquals(Ipv6Packet.Error.HOP_BY_HOP_NOT_FIRST, walk(m, 8, c));
            assertEquals(-1, c.problemCode(), "no ICMPv6 error about a multicast packet (RFC 4443 2.4 e)");
            m.release();
        }

        @Test
        void anUnknownUpperLayerIsReportedWithItsPointer() {
            ByteBuf b = packet(Ipv6Packet.NH_DEST_OPTIONS, destOpts(99) + "00000000");
            assertNull(walk(b, 8, c));
            assertEquals(99, c.protocol());
            assertEquals(40, c.protocolPointer()); // for a Parameter Problem code 1 if the caller has no use for 99
            b.release();
            ByteBuf esp = packet(Ipv6Packet.NH_ESP, "0000000000000000");
            assertNull(walk(esp, 8, c));
            assertEquals(Ipv6Packet.NH_ESP, c.protocol());
            assertEquals(6, c.protocolPointer());
            esp.release();
            ByteBuf none = packet(Ipv6Packet.NH_NONE, "");
            assertNull(walk(none, 8, c));
            assertEquals(Ipv6Packet.NH_NONE, c.protocol());
            assertEquals(0, c.payloadLength());
            none.release();
        }

        @Test
        void extensionHeadersTheStackDoesNotImplementEndTheWalkLikeAnUnknownProtocol() {
            for (int nh : new int[] {Ipv6Packet.NH_AUTH, Ipv6Packet.NH_MOBILITY, Ipv6Packet.NH_HIP,
                    Ipv6Packet.NH_SHIM6, Ipv6Packet.NH_EXPERIMENT1}) {
                assertTrue(Ipv6Packet.isExtensionHeader(nh));
                assertFalse(Ipv6Packet.isWalked(nh));
                ByteBuf b = packet(Ipv6Packet.NH_DEST_OPTIONS,
                        destOpts(nh) + "1102 0000 00000001 00000001 00000000" + UDP);
                assertNull(walk(b, 8, c));
                assertEquals(nh, c.protocol());
                assertEquals(40, c.protocolPointer()); // for the caller's Parameter Problem code 1
                assertEquals(48, c.payloadOffset());
                b.release();
            }
        }

        @Test
        void headersRunningPastThePayload() {
            ByteBuf b = packet(Ipv6Packet.NH_DEST_OPTIONS, "1101 0104 00000000"); // says 16 bytes, has 8
            assertEquals(Ipv6Packet.Error.BAD_EXTENSION_LENGTH, walk(b, 8, c));
            assertEquals(Ipv6Packet.PROBLEM_ERRONEOUS_FIELD, c.problemCode());
            assertEquals(41, c.problemPointer());
            b.release();
            ByteBuf one = packet(Ipv6Packet.NH_DEST_OPTIONS, "11");
            assertEquals(Ipv6Packet.Error.BAD_EXTENSION_LENGTH, walk(one, 8, c));
            one.release();
            ByteBuf frag = packet(Ipv6Packet.NH_FRAGMENT, "110000010000");
            assertEquals(Ipv6Packet.Error.BAD_EXTENSION_LENGTH, walk(frag, 8, c));
            frag.release();
        }

        @ParameterizedTest
        @CsvSource({
            // option type, unicast: error / problem code / pointer, multicast: problem code
            "07, , -1, -1", // 00: skip
            "47, ipv6.unknownOption, -1, -1", // 01: discard silently
            "87, ipv6.unknownOption, 2, 2", // 10: discard, report even to multicast
            "c7, ipv6.unknownOption, 2, -1", // 11: discard, report to unicast only
            "c2, ipv6.unknownOption, 2, -1", // the jumbo payload option: not supported
        })
        void unknownOptionsActAsTheirTypeSays(String type, String error, int unicastCode, int multicastCode) {
            for (boolean multicast : new boolean[] {false, true}) {
                ByteBuf b = packet(Ipv6Packet.NH_HOP_BY_HOP, multicast ? Ipv6Address.ALL_NODES : DST,
                        "1100 " + type + "02 0000 0100" + UDP);
                Ipv6Packet.Error e = walk(b, 8, c);
                assertEquals(error, e == null ? null : e.counter());
                if (e != null) {
                    assertEquals(multicast ? multicastCode : unicastCode, c.problemCode());
                    if (c.problemCode() >= 0) {
                        assertEquals(42, c.problemPointer()); // the option type byte
                    }
                }
                b.release();
            }
        }

        @Test
        void malformedOptionsPadsAndRouterAlert() {
            ByteBuf over = packet(Ipv6Packet.NH_DEST_OPTIONS, "1100 0105 00000000" + UDP); // PadN of 5 in 4 bytes
            assertEquals(Ipv6Packet.Error.BAD_OPTION, walk(over, 8, c));
            assertEquals(43, c.problemPointer());
            over.release();
            ByteBuf lone = packet(Ipv6Packet.NH_DEST_OPTIONS, "1100 00000000 0001" + UDP); // a type without length
            assertEquals(Ipv6Packet.Error.BAD_OPTION, walk(lone, 8, c));
            lone.release();
            ByteBuf pads = packet(Ipv6Packet.NH_HOP_BY_HOP, "1100 0000 0502 0001" + UDP); // Pad1 x2, router alert 1
            assertNull(walk(pads, 8, c));
            assertEquals(1, c.routerAlert());
            pads.release();
        }

        @Test
        void routingHeaders() {
            ByteBuf done = packet(Ipv6Packet.NH_ROUTING, "1100 0400 00000000" + UDP); // segments left 0: ignored
            assertNull(walk(done, 8, c));
            assertEquals(IpProtocol.UDP, c.protocol());
            done.release();
            ByteBuf left = packet(Ipv6Packet.NH_ROUTING, "1102 0401 00000000" + "00".repeat(16) + UDP);
            assertEquals(Ipv6Packet.Error.ROUTING_HEADER, walk(left, 8, c));
            assertEquals(Ipv6Packet.PROBLEM_ERRONEOUS_FIELD, c.problemCode());
            assertEquals(42, c.problemPointer()); // the routing type
            left.release();
        }

        @Test
        void fragmentHeaders() {
            // First fragment: M set, offset 0; the walk stops at the fragment header.
            ByteBuf first = packet(Ipv6Packet.NH_FRAGMENT, "1100 0001 12345678" + "00".repeat(16));
            assertNull(walk(first, 8, c));
            assertTrue(c.isFragment());
            assertEquals(40, c.fragmentHeader());
            assertEquals(IpProtocol.UDP, c.protocol());
            assertEquals(48, c.payloadOffset());
            assertEquals(16, c.payloadLength());
            assertEquals(0x12345678, Ipv6Packet.fragmentIdentification(first, 40));
            assertTrue(Ipv6Packet.moreFragments(first, 40));
            first.release();
            ByteBuf later = packet(Ipv6Packet.NH_FRAGMENT, "3a00 0010 12345678" + "00".repeat(5));
            assertNull(walk(later, 8, c));
            assertEquals(16, Ipv6Packet.fragmentOffset(later, 40));
            assertFalse(Ipv6Packet.moreFragments(later, 40));
            assertEquals(IpProtocol.ICMPV6, c.protocol());
            later.release();
            // An atomic fragment (RFC 6946) is a whole packet.
            ByteBuf atomic = packet(Ipv6Packet.NH_FRAGMENT, "1100 0000 00000001" + UDP);
            assertNull(walk(atomic, 8, c));
            assertFalse(c.isFragment());
            assertEquals(IpProtocol.UDP, c.protocol());
            assertEquals(48, c.payloadOffset());
            atomic.release();
            // A non-final fragment whose data is not a multiple of 8: Parameter Problem at the Payload Length.
            ByteBuf odd = packet(Ipv6Packet.NH_FRAGMENT, "1100 0001 00000001" + "00".repeat(12));
            assertEquals(Ipv6Packet.Error.BAD_FRAGMENT, walk(odd, 8, c));
            assertEquals(0, c.problemCode());
            assertEquals(4, c.problemPointer());
            odd.release();
            // A fragment that would end beyond 65,535 bytes: Parameter Problem at the Fragment Offset.
            ByteBuf big = packet(Ipv6Packet.NH_FRAGMENT, "1100 fff8 00000001" + "00".repeat(16));
            assertEquals(Ipv6Packet.Error.BAD_FRAGMENT, walk(big, 8, c));
            assertEquals(42, c.problemPointer());
            big.release();
        }

        @Test
        void theReassembledPayloadIsWalkedAgainWithoutHopByHop() {
            ByteBuf p = Unpooled.wrappedBuffer(HexFormat.of().parseHex(destOpts(IpProtocol.UDP).replace(" ", "")
                    + UDP.replace(" ", "")));
            assertNull(Ipv6Packet.walkPayload(p, 0, 16, Ipv6Packet.NH_DEST_OPTIONS, false, 8, c));
            assertEquals(IpProtocol.UDP, c.protocol());
            assertEquals(8, c.payloadOffset());
            assertEquals(0, c.protocolPointer());
            assertEquals(Ipv6Packet.Error.HOP_BY_HOP_NOT_FIRST,
                    Ipv6Packet.walkPayload(p, 0, 16, Ipv6Packet.NH_HOP_BY_HOP, false, 8, c));
            assertThrows(IndexOutOfBoundsException.class,
                    () -> Ipv6Packet.walkPayload(p, 0, 17, Ipv6Packet.NH_DEST_OPTIONS, false, 8, c));
            p.release();
        }

        /** Random chains cut anywhere: the walk never reads past the payload (the buffer ends there). */
        @Test
        void randomChainsNeverThrow() {
            SplittableRandom rnd = new SplittableRandom(8200);
            int[] kinds = {0, 43, 44, 51, 60, 135, 139, 140, 253, 254, 6, 17, 58, 59, 50};
            for (int i = 0; i < 20_000; i++) {
                byte[] body = new byte[rnd.nextInt(200)];
                for (int k = 0; k < body.length; k++) {
                    body[k] = (byte) (rnd.nextInt(3) == 0 ? kinds[rnd.nextInt(kinds.length)] : rnd.nextInt(4));
                }
                ByteBuf b = Unpooled.buffer();
                Ipv6Packet.writeHeader(b, 0, 0, body.length, kinds[rnd.nextInt(kinds.length)], 64, SRC,
                        rnd.nextBoolean() ? DST : Ipv6Address.ALL_NODES);
                b.writeBytes(body);
                ByteBuf exact = Unpooled.wrappedBuffer(ByteBufUtil.getBytes(b));
                assertNull(Ipv6Packet.check(exact, 0, exact.capacity()));
                Ipv6Packet.Error e = Ipv6Packet.walk(exact, 0, 1 + rnd.nextInt(8), c);
                if (e == null) {
                    assertTrue(c.payloadOffset() + c.payloadLength() == exact.capacity());
                } else {
                    assertTrue(c.problemCode() >= -1 && c.problemCode() <= 2);
                    int at = i;
                    assertTrue(c.problemCode() < 0 || c.problemPointer() < exact.capacity(),
                            () -> e + " pointer " + c.problemPointer() + " case " + at + ": "
                                    + ByteBufUtil.hexDump(exact));
                }
                b.release();
                exact.release();
            }
        }
    }
}
