package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/**
 * Frames captured from Linux 6.18 (see {@code src/test/resources/pcap/capture.sh}): every one passes the
 * checks, re-emits byte for byte from its Reprs, and every truncation and single-bit corruption of it is
 * rejected with a counter name and without an exception.
 */
class KernelCapturesTest {
    static final String[] FILES = {"icmp", "fragments", "record-route", "udp", "tcp", "tcp-nots", "tcp-rst"};
    static final Pattern COUNTER = Pattern.compile("[a-z0-9]+\\.[a-z][a-zA-Z]+");
    static final int A = Ipv4Address.parse("198.18.0.1");
    static final int B = Ipv4Address.parse("198.18.0.2");

    static Stream<String> files() {
        return Stream.of(FILES);
    }

    static List<byte[]> frames(String name) {
        List<byte[]> out = new ArrayList<>();
        for (PcapReader.Record r : PcapReader.resource("/pcap/" + name + ".pcap").records()) {
            assertEquals(r.originalLength(), r.data().length, "capture was cut by the snap length");
            out.add(r.data());
        }
        return out;
    }

    /** The IPv4 and ARP frames of a capture (the namespaces also chatter IPv6, which the stack ignores). */
    static List<byte[]> v4frames(String name) {
        return frames(name).stream().filter(f -> {
            int et = ((f[12] & 0xFF) << 8) | (f[13] & 0xFF);
            return et == EtherType.IPV4 || et == EtherType.ARP;
        }).toList();
    }

    /** The same bytes held three ways: heap at index 0, direct, and in the middle of a larger buffer. */
    static List<Function<byte[], ByteBuf>> holders() {
        return List.of(
                Unpooled::wrappedBuffer,
                f -> Unpooled.directBuffer(f.length).writeBytes(f),
                f -> {
                    ByteBuf b = Unpooled.buffer(f.length + 10).writeZero(7).writeBytes(f);
                    b.readerIndex(7);
                    return b;
                });
    }

    @ParameterizedTest
    @MethodSource("files")
    void everyFramePassesAndReemitsByteForByte(String file) {
        List<byte[]> frames = v4frames(file);
        assertFalse(frames.isEmpty());
        for (byte[] f : frames) {
            for (Function<byte[], ByteBuf> holder : holders()) {
                ByteBuf buf = holder.apply(f);
                try {
                    assertNull(Frames.check(buf), () -> file + ": " + ByteBufUtil.hexDump(f));
                    ByteBuf again = Frames.reemit(buf);
                    try {
                        assertEquals(ByteBufUtil.hexDump(f), ByteBufUtil.hexDump(again), file);
                    } finally {
                        again.release();
                    }
                } finally {
                    buf.release();
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("files")
    void everyTruncationIsRejectedWithACounter(String file) {
        for (byte[] f : v4frames(file)) {
            for (int cut = 0; cut < f.length; cut++) {
                // A buffer whose capacity ends at the cut, so that any read past it would throw.
                ByteBuf buf = Unpooled.wrappedBuffer(f, 0, cut);
                String err = Frames.check(buf);
                int c = cut;
                assertNotNull(err, () -> file + " cut at " + c + " accepted");
                assertTrue(COUNTER.matcher(err).matches(), err);
                buf.release();
            }
        }
    }

    @ParameterizedTest
    @MethodSource("files")
    void everySingleBitFlipIsRejected(String file) {
        for (byte[] orig : v4frames(file)) {
            int et = ((orig[12] & 0xFF) << 8) | (orig[13] & 0xFF);
            if (et != EtherType.IPV4) {
                continue; // ARP has no checksum
            }
            ByteBuf o = Unpooled.wrappedBuffer(orig);
            boolean fragment = Ipv4Packet.isFragment(o, 14);
            int hl = Ipv4Packet.headerLength(o, 14);
            int end = 14 + (fragment ? hl : Ipv4Packet.totalLength(o, 14));
            o.release();
            byte[] f = orig.clone();
            for (int i = 14; i < end; i++) {
                for (int bit = 0; bit < 8; bit += (end - 14 > 200 ? 7 : 1)) {
                    f[i] ^= (byte) (1 << bit);
                    ByteBuf buf = Unpooled.wrappedBuffer(f);
                    String err = Frames.check(buf);
                    buf.release();
                    f[i] ^= (byte) (1 << bit);
                    int at = i;
                    int b = bit;
                    assertNotNull(err, () -> file + ": flip of bit " + b + " at " + at + " accepted");
                }
            }
        }
    }

    static ByteBuf l3(byte[] frame) {
        return Unpooled.wrappedBuffer(frame, 14, frame.length - 14);
    }

    @Test
    void arpAndEcho() {
        List<byte[]> frames = v4frames("icmp");
        ByteBuf req = l3(frames.get(0));
        ByteBuf rep = l3(frames.get(1));
        assertEquals(ArpPacket.OP_REQUEST, ArpPacket.operation(req, 0));
        assertEquals(A, ArpPacket.senderProtocolAddress(req, 0));
        assertEquals(B, ArpPacket.targetProtocolAddress(req, 0));
        assertEquals(ArpPacket.OP_REPLY, ArpPacket.operation(rep, 0));
        assertEquals(EthernetFrame.src(Unpooled.wrappedBuffer(frames.get(1)), 0),
                ArpPacket.senderHardwareAddress(rep, 0));
        int requests = 0;
        int replies = 0;
        for (byte[] f : frames) {
            ByteBuf p = l3(f);
            if (f.length > 42 && Ipv4Packet.protocol(p, 0) == IpProtocol.ICMP) {
                int t = Icmpv4Packet.type(p, 20);
                if (t == Icmpv4Packet.TYPE_ECHO_REQUEST) {
                    requests++;
                    assertTrue(Ipv4Packet.dontFragment(p, 0));
                    assertEquals(A, Ipv4Packet.src(p, 0));
                } else if (t == Icmpv4Packet.TYPE_ECHO_REPLY) {
                    replies++;
                    assertEquals(B, Ipv4Packet.src(p, 0));
                }
                assertEquals(84, Ipv4Packet.totalLength(p, 0));
                assertEquals(requests, Icmpv4Packet.sequence(p, 20));
            }
        }
        assertEquals(2, requests);
        assertEquals(2, replies);
    }

    @Test
    void fragments() {
        List<byte[]> ip = v4frames("fragments").stream().filter(f -> f.length > 42).toList();
        assertEquals(4, ip.size());
        ByteBuf first = l3(ip.get(0));
        ByteBuf second = l3(ip.get(1));
        assertTrue(Ipv4Packet.moreFragments(first, 0));
        assertTrue(Ipv4Packet.isFragment(first, 0));
        assertEquals(0, Ipv4Packet.fragmentOffset(first, 0));
        assertEquals(1500, Ipv4Packet.totalLength(first, 0));
        assertFalse(Ipv4Packet.moreFragments(second, 0));
        assertTrue(Ipv4Packet.isFragment(second, 0));
        assertEquals(1480, Ipv4Packet.fragmentOffset(second, 0));
        assertEquals(548, Ipv4Packet.totalLength(second, 0));
        assertEquals(Ipv4Packet.identification(first, 0), Ipv4Packet.identification(second, 0));
        // The reassembled echo request (8 + 2000 bytes) has a valid ICMP checksum.
        ByteBuf whole = Unpooled.buffer();
        whole.writeBytes(first, 20, 1480).writeBytes(second, 20, 528);
        assertNull(Icmpv4Packet.check(whole, 0, 2008));
        whole.release();
        // Writing the fragment header back.
        ByteBuf out = Unpooled.buffer();
        Ipv4Packet.writeHeader(out, 0, 548, Ipv4Packet.identification(second, 0), false, false, 1480,
                64, IpProtocol.ICMP, A, B);
        assertEquals(ByteBufUtil.hexDump(second, 0, 20), ByteBufUtil.hexDump(out));
        out.release();
    }

    @Test
    void recordRouteOptions() {
        List<byte[]> ip = v4frames("record-route").stream().filter(f -> f.length > 42).toList();
        assertEquals(2, ip.size());
        for (byte[] f : ip) {
            ByteBuf p = l3(f);
            assertEquals(60, Ipv4Packet.headerLength(p, 0));
            assertNull(Ipv4Packet.checkOptions(p, 0));
            int rr = Ipv4Packet.findOption(p, 0, Ipv4Packet.OPT_RECORD_ROUTE);
            assertTrue(rr >= 20);
            assertEquals(39, p.getUnsignedByte(rr + 1));
            assertEquals(A, p.getInt(rr + 3));
            assertEquals(40, Ipv4Repr.parse(p, 0).options().length);
            assertEquals(64, Ipv4Repr.parse(p, 0).payloadLen());
            // A bad option length is reported without throwing.
            byte[] bad = f.clone();
            bad[14 + (rr + 1)] = 1;
            assertEquals(Ipv4Packet.Error.BAD_OPTION, Ipv4Packet.checkOptions(l3(bad), 0));
            bad[14 + (rr + 1)] = 60;
            assertEquals(Ipv4Packet.Error.BAD_OPTION, Ipv4Packet.checkOptions(l3(bad), 0));
            assertEquals(-1, Ipv4Packet.findOption(l3(bad), 0, 99));
        }
    }

    @Test
    void udpExchange() {
        List<byte[]> ip = v4frames("udp").stream().filter(f -> f.length > 42).toList();
        assertEquals(2, ip.size());
        ByteBuf p = l3(ip.get(0));
        assertEquals(IpProtocol.UDP, Ipv4Packet.protocol(p, 0));
        assertEquals(7777, UdpPacket.dstPort(p, 20));
        assertEquals(21, UdpPacket.length(p, 20));
        assertTrue(UdpPacket.checksum(p, 20) != 0);
        assertEquals("hello-from-a\n", p.toString(28, 13, StandardCharsets.US_ASCII));
        ByteBuf r = l3(ip.get(1));
        assertEquals(7777, UdpPacket.srcPort(r, 20));
        assertEquals(UdpPacket.srcPort(p, 20), UdpPacket.dstPort(r, 20));
        assertEquals("reply-from-b\n", r.toString(28, 13, StandardCharsets.US_ASCII));
    }

    static List<TcpRepr> tcp(String file) {
        List<TcpRepr> out = new ArrayList<>();
        for (byte[] f : v4frames(file)) {
            ByteBuf p = l3(f);
            if (f.length > 42 && Ipv4Packet.protocol(p, 0) == IpProtocol.TCP) {
                out.add(TcpRepr.parse(p, Ipv4Packet.headerLength(p, 0)));
            }
        }
        return out;
    }

    @Test
    void tcpWithAllTheOptions() {
        List<TcpRepr> segs = tcp("tcp");
        TcpRepr syn = segs.get(0);
        assertEquals(TcpFlags.SYN, syn.flags());
        assertEquals(1460, syn.mss());
        assertTrue(syn.sackPermitted());
        assertTrue(syn.hasTimestamps());
        assertEquals(0, syn.tsEcr());
        assertEquals(10, syn.windowScale());
        assertEquals(8080, syn.dstPort());
        assertEquals(40, syn.headerLength());
        TcpRepr synAck = segs.get(1);
        assertEquals(TcpFlags.SYN | TcpFlags.ACK, synAck.flags());
        assertEquals(syn.seq() + 1, synAck.ack());
        assertEquals(syn.tsVal(), synAck.tsEcr());
        TcpRepr ack = segs.get(2);
        assertEquals(TcpFlags.ACK, ack.flags());
        assertEquals(-1, ack.mss());
        assertEquals(-1, ack.windowScale());
        assertFalse(ack.sackPermitted());
        assertTrue(ack.hasTimestamps());
        assertEquals(32, ack.headerLength());
        // The receiver saw a segment dropped and answered with SACK blocks above its cumulative ACK.
        TcpRepr sack = segs.stream().filter(s -> s.sackBlockCount() > 0).findFirst().orElseThrow();
        assertTrue(SeqNum.lt(sack.ack(), sack.sackBlocks()[0]));
        assertTrue(SeqNum.lt(sack.sackBlocks()[0], sack.sackBlocks()[1]));
        assertTrue(segs.stream().anyMatch(TcpRepr::fin));
        assertTrue(sack.toString().contains("sack "), sack.toString());
    }

    @Test
    void tcpWithoutTimestampsAndRefused() {
        TcpRepr syn = tcp("tcp-nots").get(0);
        assertFalse(syn.hasTimestamps());
        assertTrue(syn.sackPermitted());
        assertEquals(1460, syn.mss());
        assertEquals(32, syn.headerLength());
        assertEquals("<mss 1460,sackOK,wscale 10>", syn.toString().replaceAll(".*(<.*>)", "$1"));
        List<TcpRepr> rst = tcp("tcp-rst");
        assertEquals(TcpFlags.RST | TcpFlags.ACK, rst.get(1).flags());
        assertEquals(0, rst.get(1).window());
        assertEquals(rst.get(0).seq() + 1, rst.get(1).ack());
    }

    @Test
    void emitHeaderChecksumsAPayloadItDoesNotCopy() {
        for (byte[] f : v4frames("tcp")) {
            ByteBuf p = l3(f);
            if (f.length <= 42 || Ipv4Packet.protocol(p, 0) != IpProtocol.TCP) {
                continue;
            }
            int l4 = Ipv4Packet.headerLength(p, 0);
            int total = Ipv4Packet.totalLength(p, 0);
            int po = TcpPacket.payloadOffset(p, l4);
            ByteBuf payload = p.slice(po, total - po);
            ByteBuf header = Unpooled.buffer();
            TcpRepr.parse(p, l4).emitHeader(header, A, B, payload);
            byte[] expected = new byte[po - l4];
            p.getBytes(l4, expected);
            byte[] got = new byte[header.readableBytes()];
            header.getBytes(0, got);
            // Direction does not matter for the sum: the pseudo-header adds both addresses.
            assertArrayEquals(expected, got);
            header.release();
        }
    }
}
