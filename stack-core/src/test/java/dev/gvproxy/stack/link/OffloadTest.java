package dev.gvproxy.stack.link;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.Checksums;
import dev.gvproxy.stack.wire.Headroom;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import dev.gvproxy.stack.wire.MacAddress;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpPacket;
import dev.gvproxy.stack.wire.TcpRepr;
import dev.gvproxy.stack.wire.UdpPacket;
import dev.gvproxy.stack.wire.UdpRepr;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Packet-level tests of the offload boundary, for both families where the family matters: the virtio-net header
 * on the way in (partial checksums completed with either pseudo-header, malformed headers refused with a reason)
 * and out (GSO header for large TCP frames, TCPV4 or TCPV6), and software segmentation of large frames at the
 * switch for ports without offloads.
 */
class OffloadTest {
    static final long GW = MacAddress.parse("5a:94:ef:e4:0c:dd");
    static final long A = MacAddress.parse("02:00:00:00:00:0a");
    static final long B = MacAddress.parse("02:00:00:00:00:0b");
    static final int IP_A = Frames.ip("192.168.127.10");
    static final int IP_B = Frames.ip("192.168.127.11");

    /** The frames' address family: addresses, IP header and the virtio-net GSO type that goes with it. */
    enum Family {
        IPV4(Ipv6Address.ofIpv4(IP_A), Ipv6Address.ofIpv4(IP_B), 20, 0x0800, VirtioNetHeader.GSO_TCPV4),
        IPV6(Ipv6Address.parse("fd00:5a94:efe4::a"), Ipv6Address.parse("fd00:5a94:efe4::b"), 40, 0x86DD,
                VirtioNetHeader.GSO_TCPV6);

        final Ipv6Address a;
        final Ipv6Address b;
        final int ipLen;
        final int etherType;
        final int gsoType;

        Family(Ipv6Address a, Ipv6Address b, int ipLen, int etherType, int gsoType) {
            this.a = a;
            this.b = b;
            this.ipLen = ipLen;
            this.etherType = etherType;
            this.gsoType = gsoType;
        }

        /** An Ethernet frame carrying {@code l4} from address A to B (IPv4: identification 1000, DF). */
        byte[] frame(long dstMac, long srcMac, int protocol, byte[] l4) {
            if (this == IPV4) {
                return Frames.ethernet(dstMac, srcMac, etherType, Frames.ipv4(IP_A, IP_B, protocol, 1000, 0x4000, 64, l4));
            }
            ByteBuf ip = Unpooled.buffer();
            Ipv6Packet.writeHeader(ip, 0, 0, l4.length, protocol, 64, a, b);
            ip.writeBytes(l4);
            byte[] r = Frames.bytes(ip);
            ip.release();
            return Frames.ethernet(dstMac, srcMac, etherType, r);
        }

        /** The pseudo-header sum of an upper-layer packet of {@code l4Len} bytes from A to B. */
        long pseudoHeader(int protocol, int l4Len) {
            return Checksums.pseudoHeader(a, b, protocol, l4Len);
        }

        /** Length of the upper-layer part of the frame {@code f} (IPv4 total less header, IPv6 payload length). */
        int l4Length(ByteBuf f) {
            return this == IPV4 ? Ipv4Packet.totalLength(f, 14) - ipLen : Ipv6Packet.payloadLength(f, 14);
        }

        /** Null when the IP header at 14 and the TCP segment after it (checksum included) are valid. */
        Object checkTcp(ByteBuf f) {
            int l4 = l4Length(f);
            if (this == IPV4) {
                Object e = Ipv4Packet.check(f, 14, f.readableBytes() - 14);
                return e != null ? e : TcpPacket.check(f, 34, l4, IP_A, IP_B);
            }
            Object e = Ipv6Packet.check(f, 14, f.readableBytes() - 14);
            return e != null ? e : TcpPacket.checkIpv6(f, 54, l4, 14);
        }
    }

    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final List<ByteBuf> held = new ArrayList<>();

    /** Keeps the frames written to it; offloads as told. */
    static final class Port implements LinkEndpoint {
        final boolean offloads;
        final List<byte[]> frames = new ArrayList<>();
        /** Frames that came as a composite or without {@link Headroom#TRANSPORT} bytes of room of their own. */
        int notOneBuffer;

        Port(boolean offloads) {
            this.offloads = offloads;
        }

        @Override
        public void transmit(ByteBuf frame) {
            if (frame instanceof CompositeByteBuf || !Headroom.isOwn(frame, Headroom.TRANSPORT)) {
                notOneBuffer++;
            }
            frames.add(Frames.bytes(frame));
            frame.release();
        }

        @Override
        public void flush() {}

        @Override
        public boolean offloads() {
            return offloads;
        }
    }

    @AfterEach
    void release() {
        held.forEach(ByteBuf::release);
    }

    static byte[] payload(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 7 + i / 251);
        }
        return b;
    }

    /** A TCP/IPv4 frame A -> B with timestamps (32-byte TCP header) and a correct checksum. */
    static byte[] tcpFrame(long dstMac, long srcMac, int seq, int flags, byte[] data) {
        return tcpFrame(Family.IPV4, dstMac, srcMac, seq, flags, data);
    }

    /** A TCP frame A -> B of {@code family} with timestamps (32-byte TCP header) and a correct checksum. */
    static byte[] tcpFrame(Family family, long dstMac, long srcMac, int seq, int flags, byte[] data) {
        TcpRepr r = TcpRepr.builder().srcPort(40000).dstPort(5201).seq(seq).ack(77).flags(flags).window(512)
                .timestamps(1, 2).build();
        ByteBuf l4 = Unpooled.buffer();
        r.emit(l4, family.a, family.b, Unpooled.wrappedBuffer(data));
        byte[] tcp = Frames.bytes(l4);
        l4.release();
        return family.frame(dstMac, srcMac, IpProtocol.TCP, tcp);
    }

    /** A UDP frame A -> B of {@code family} with a correct checksum. */
    static byte[] udpFrame(Family family, long dstMac, long srcMac, int srcPort, int dstPort, byte[] data) {
        ByteBuf l4 = Unpooled.buffer();
        UdpRepr u = new UdpRepr(srcPort, dstPort);
        if (family == Family.IPV4) {
            u.emit(l4, IP_A, IP_B, Unpooled.wrappedBuffer(data));
        } else {
            u.emitIpv6(l4, family.a, family.b, Unpooled.wrappedBuffer(data));
        }
        byte[] udp = Frames.bytes(l4);
        l4.release();
        return family.frame(dstMac, srcMac, IpProtocol.UDP, udp);
    }

    // ---- virtio-net header, inbound ------------------------------------------------------------------

    static ByteBuf withHeader(int flags, int gsoType, int gsoSize, int csumStart, int csumOffset, byte[] frame) {
        ByteBuf b = Unpooled.buffer();
        b.writeByte(flags).writeByte(gsoType).writeShortLE(0).writeShortLE(gsoSize).writeShortLE(csumStart)
                .writeShortLE(csumOffset).writeShortLE(0);
        b.writeBytes(frame);
        return b;
    }

    @ParameterizedTest
    @EnumSource(Family.class)
    void aPartialChecksumIsCompletedAndTheHeaderSkipped(Family family) {
        byte[] good = tcpFrame(family, B, A, 5000, TcpFlags.ACK | TcpFlags.PSH, payload(3000));
        byte[] partial = good.clone();
        int tcpOff = 14 + family.ipLen;
        int l4Len = good.length - tcpOff;
        // What a kernel with checksum offload hands over: the pseudo-header sum (IPv4's or IPv6's), not
        // complemented, in the field.
        int seed = Checksums.fold(family.pseudoHeader(IpProtocol.TCP, l4Len));
        partial[tcpOff + 16] = (byte) (seed >>> 8);
        partial[tcpOff + 17] = (byte) seed;
        ByteBuf in = withHeader(VirtioNetHeader.F_NEEDS_CSUM, family.gsoType, 1448, tcpOff, 16, partial);
        held.add(in);
        assertNull(VirtioNetHeader.receive(in));
        assertArrayEquals(good, Frames.bytes(in), "the checksum a kernel would have computed");
    }

    @ParameterizedTest
    @EnumSource(Family.class)
    void aPartialUdpChecksumIsCompletedToo(Family family) {
        byte[] good = udpFrame(family, B, A, 5353, 53, payload(700));
        byte[] partial = good.clone();
        int udpOff = 14 + family.ipLen;
        int seed = Checksums.fold(family.pseudoHeader(IpProtocol.UDP, good.length - udpOff));
        partial[udpOff + 6] = (byte) (seed >>> 8);
        partial[udpOff + 7] = (byte) seed;
        ByteBuf in = withHeader(VirtioNetHeader.F_NEEDS_CSUM, 0, 0, udpOff, 6, partial);
        held.add(in);
        assertNull(VirtioNetHeader.receive(in));
        assertArrayEquals(good, Frames.bytes(in));
        if (family == Family.IPV6) {
            ByteBuf f = Unpooled.wrappedBuffer(good);
            assertNull(UdpPacket.checkIpv6(f, udpOff, good.length - udpOff, 14), "IPv6's mandatory checksum");
        }
    }

    @Test
    void malformedHeadersAreRefusedWithTheirReason() {
        byte[] tcp = tcpFrame(B, A, 1, TcpFlags.ACK, payload(100));
        byte[] tcp6 = tcpFrame(Family.IPV6, B, A, 1, TcpFlags.ACK, payload(100));
        byte[] udp = Frames.ethernet(B, A, 0x0800, Frames.ipv4(IP_A, IP_B, 17, 1, 0, 64,
                Frames.udp(IP_A, IP_B, 1, 2, payload(10))));
        assertRefused(VirtioNetHeader.Error.RUNT, Unpooled.wrappedBuffer(new byte[20]));
        assertRefused(VirtioNetHeader.Error.BAD_FLAGS, withHeader(0x10, 0, 0, 0, 0, tcp));
        assertRefused(VirtioNetHeader.Error.UNSUPPORTED_GSO, withHeader(0, VirtioNetHeader.GSO_UDP, 1400, 0, 0, udp));
        assertRefused(VirtioNetHeader.Error.UNSUPPORTED_GSO, withHeader(0, VirtioNetHeader.GSO_UDP_L4, 1400, 0, 0, udp));
        assertRefused(VirtioNetHeader.Error.UNSUPPORTED_GSO, withHeader(0, 9, 1400, 0, 0, tcp));
        assertRefused(VirtioNetHeader.Error.BAD_GSO, withHeader(0, VirtioNetHeader.GSO_TCPV4, 0, 0, 0, tcp));
        assertRefused(VirtioNetHeader.Error.BAD_GSO, withHeader(0, VirtioNetHeader.GSO_TCPV6, 0, 0, 0, tcp6));
        assertRefused(VirtioNetHeader.Error.BAD_GSO, withHeader(0, VirtioNetHeader.GSO_TCPV4, 1448, 0, 0, udp));
        assertRefused(VirtioNetHeader.Error.BAD_GSO, withHeader(0, VirtioNetHeader.GSO_TCPV6, 1448, 0, 0, tcp));
        assertRefused(VirtioNetHeader.Error.BAD_GSO, withHeader(0, VirtioNetHeader.GSO_TCPV4, 1428, 0, 0, tcp6));
        assertRefused(VirtioNetHeader.Error.BAD_CHECKSUM_OFFSETS,
                withHeader(VirtioNetHeader.F_NEEDS_CSUM, 0, 0, tcp.length - 1, 0, tcp));
        assertRefused(VirtioNetHeader.Error.BAD_CHECKSUM_OFFSETS,
                withHeader(VirtioNetHeader.F_NEEDS_CSUM, 0, 0, 34, 0xFFFF, tcp));
        assertRefused(VirtioNetHeader.Error.BAD_CHECKSUM_OFFSETS,
                withHeader(VirtioNetHeader.F_NEEDS_CSUM, 0, 0, 4, 0, tcp));
    }

    private void assertRefused(VirtioNetHeader.Error expected, ByteBuf in) {
        held.add(in);
        int ri = in.readerIndex();
        byte[] before = Frames.bytes(in);
        assertEquals(expected, VirtioNetHeader.receive(in));
        assertEquals(ri, in.readerIndex());
        assertArrayEquals(before, Frames.bytes(in), "a refused frame is not modified");
        assertTrue(expected.counter().startsWith("vnet."));
    }

    // ---- virtio-net header, outbound -----------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Family.class)
    void aLargeTcpFrameGoesOutWithAGsoHeaderAndASmallOneWithout(Family family) {
        int mss = 1500 - family.ipLen - 32;
        ByteBuf large = Unpooled.wrappedBuffer(tcpFrame(family, B, A, 1, TcpFlags.ACK, payload(20000)));
        ByteBuf small = Unpooled.wrappedBuffer(tcpFrame(family, B, A, 1, TcpFlags.ACK, payload(mss)));
        held.add(large);
        held.add(small);
        ByteBuf h = Unpooled.buffer();
        held.add(h);
        byte[] before = Frames.bytes(large);
        VirtioNetHeader.write(large, 1500, h);
        assertArrayEquals(before, Frames.bytes(large), "never modified: a frame may be shared");
        assertEquals(VirtioNetHeader.LENGTH, h.readableBytes());
        assertEquals(0, h.getByte(0), "the checksum is complete: no NEEDS_CSUM");
        assertEquals(family.gsoType, h.getByte(1));
        assertEquals(14 + family.ipLen + 32, h.getUnsignedShortLE(2), "hdr_len");
        assertEquals(mss, h.getUnsignedShortLE(4), "gso_size: MTU less IP and TCP headers");
        h.clear();
        VirtioNetHeader.write(small, 1500, h);
        assertEquals(VirtioNetHeader.LENGTH, h.readableBytes());
        for (int i = 0; i < VirtioNetHeader.LENGTH; i++) {
            assertEquals(0, h.getByte(i));
        }
    }

    // ---- software GSO at the switch ------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Family.class)
    void aLargeFrameFromAnOffloadPortIsSegmentedForAPortWithout(Family family) {
        Port pa = new Port(true);
        Port pb = new Port(false);
        SwitchPort a = sw.attach("a", pa);
        SwitchPort b = sw.attach("b", pb);
        sw.deliver(b, Unpooled.wrappedBuffer(tcpFrame(family, A, B, 1, TcpFlags.ACK, new byte[0]))); // learn B
        byte[] data = payload(10_000);
        int seq = 0xFFFF_F000; // wraps inside the frame
        sw.deliver(a, Unpooled.wrappedBuffer(tcpFrame(family, B, A, seq,
                TcpFlags.ACK | TcpFlags.PSH | TcpFlags.FIN, data)));
        int mss = 1500 - family.ipLen - 32;
        int segments = (data.length + mss - 1) / mss;
        assertEquals(segments, pb.frames.size(), "ceil(10000 / " + mss + ") segments");
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        int expectSeq = seq;
        for (int i = 0; i < pb.frames.size(); i++) {
            ByteBuf f = Unpooled.wrappedBuffer(pb.frames.get(i));
            assertTrue(f.readableBytes() <= 1514, "fits the MTU");
            assertNull(family.checkTcp(f), "IP header and TCP checksum valid");
            if (family == Family.IPV4) {
                assertEquals(1000 + i, Ipv4Packet.identification(f, 14));
            }
            int l4 = family.l4Length(f);
            int tcpOff = 14 + family.ipLen;
            TcpRepr r = TcpRepr.parse(f, tcpOff);
            assertEquals(expectSeq, r.seq());
            boolean last = i == pb.frames.size() - 1;
            assertEquals(last, (r.flags() & TcpFlags.FIN) != 0, "FIN on the last segment only");
            assertEquals(last, (r.flags() & TcpFlags.PSH) != 0, "PSH on the last segment only");
            assertTrue(r.hasTimestamps(), "options copied");
            byte[] p = new byte[l4 - r.headerLength()];
            f.getBytes(tcpOff + r.headerLength(), p);
            got.writeBytes(p);
            expectSeq += p.length;
        }
        assertArrayEquals(data, got.toByteArray());
        assertEquals(1, counters.get("switch.gso.frames"));
        assertEquals(segments, counters.get("switch.gso.segments"));
    }

    /** Buffers as in production, where leak detection is off: a leak-detection wrapper is a view, never "own". */
    static final ByteBufAllocator UNWRAPPED = new UnpooledByteBufAllocator(true, true);

    /** The segments {@code frame} is cut into for a port without offloads, from an offload port's buffer. */
    private Port segmentsOf(ByteBuf frame, Family family) {
        VirtualSwitch s = new VirtualSwitch(GW, new Counters(), () -> 0L);
        Port pb = new Port(false);
        SwitchPort a = s.attach("a", new Port(true));
        SwitchPort b = s.attach("b", pb);
        s.deliver(b, Unpooled.wrappedBuffer(tcpFrame(family, A, B, 1, TcpFlags.ACK, new byte[0])));
        s.deliver(a, frame);
        return pb;
    }

    @ParameterizedTest
    @EnumSource(Family.class)
    void eachSegmentIsOneBufferWithTheTransportsRoomAndTheSameBytes(Family family) {
        byte[] big = tcpFrame(family, B, A, 1, TcpFlags.ACK | TcpFlags.PSH, payload(10_000));
        Port own = segmentsOf(UNWRAPPED.directBuffer().writeBytes(big), family);
        Port wrapped = segmentsOf(Unpooled.wrappedBuffer(big), family);
        int mss = 1500 - family.ipLen - 32;
        assertEquals((10_000 + mss - 1) / mss, own.frames.size(), "ceil(10000 / MSS)");
        assertEquals(0, own.notOneBuffer, "a segment's prefix goes into its own buffer, not one beside it");
        assertEquals(wrapped.frames.size(), own.frames.size());
        for (int i = 0; i < own.frames.size(); i++) {
            assertArrayEquals(wrapped.frames.get(i), own.frames.get(i), "segment " + i);
        }
    }

    @ParameterizedTest
    @EnumSource(Family.class)
    void aLargeFrameToAnOffloadPortPassesWholeAndBetweenPlainPortsUnchanged(Family family) {
        Port pa = new Port(true);
        Port pb = new Port(true);
        Port pc = new Port(false);
        SwitchPort a = sw.attach("a", pa);
        SwitchPort b = sw.attach("b", pb);
        SwitchPort c = sw.attach("c", pc);
        long cMac = MacAddress.parse("02:00:00:00:00:0c");
        sw.deliver(b, Unpooled.wrappedBuffer(tcpFrame(family, A, B, 1, TcpFlags.ACK, new byte[0])));
        sw.deliver(c, Unpooled.wrappedBuffer(tcpFrame(family, A, cMac, 1, TcpFlags.ACK, new byte[0])));
        pa.frames.clear();
        byte[] big = tcpFrame(family, B, A, 1, TcpFlags.ACK, payload(30_000));
        sw.deliver(a, Unpooled.wrappedBuffer(big));
        assertEquals(1, pb.frames.size());
        assertArrayEquals(big, pb.frames.get(0));
        // A plain port's oversized frame is its own business (gvproxy passes VM-to-VM frames unchanged).
        byte[] bigFromC = tcpFrame(family, A, cMac, 1, TcpFlags.ACK, payload(3000));
        sw.deliver(c, Unpooled.wrappedBuffer(bigFromC));
        assertEquals(1, pa.frames.size());
        assertArrayEquals(bigFromC, pa.frames.get(0));
        assertEquals(0, counters.get("switch.gso.frames"));
    }

    @ParameterizedTest
    @EnumSource(Family.class)
    void aLargeFrameFromTheGatewayIsSegmentedForAPortWithoutOffloads(Family family) {
        Port pb = new Port(false);
        SwitchPort b = sw.attach("b", pb);
        sw.deliver(b, Unpooled.wrappedBuffer(tcpFrame(family, GW, B, 1, TcpFlags.ACK, new byte[0])));
        sw.setMtu(9000);
        byte[] data = payload(20_000);
        sw.transmitFromGateway(Unpooled.wrappedBuffer(tcpFrame(family, B, GW, 1, TcpFlags.ACK, data)));
        int mss = 9000 - family.ipLen - 32;
        assertEquals(3, pb.frames.size(), "ceil(20000 / " + mss + ")");
        assertEquals(14 + 9000, pb.frames.get(0).length);
        int total = 0;
        for (byte[] s : pb.frames) {
            ByteBuf f = Unpooled.wrappedBuffer(s);
            assertNull(family.checkTcp(f), "the length and checksum of each segment (" + family + " pseudo-header)");
            total += family.l4Length(f) - 32;
        }
        assertEquals(data.length, total);
    }

    @ParameterizedTest
    @EnumSource(Family.class)
    void aLargeNonTcpFrameIsCountedAndPassed(Family family) {
        Port pa = new Port(true);
        Port pb = new Port(false);
        SwitchPort a = sw.attach("a", pa);
        SwitchPort b = sw.attach("b", pb);
        sw.deliver(b, Unpooled.wrappedBuffer(tcpFrame(family, A, B, 1, TcpFlags.ACK, new byte[0])));
        sw.deliver(a, Unpooled.wrappedBuffer(udpFrame(family, B, A, 1, 2, payload(4000))));
        assertEquals(1, pb.frames.size());
        assertEquals(1, counters.get("switch.gso.notTcp"));
    }
}
