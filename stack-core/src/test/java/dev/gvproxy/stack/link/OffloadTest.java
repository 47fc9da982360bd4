package dev.gvproxy.stack.link;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.Checksums;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.MacAddress;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpPacket;
import dev.gvproxy.stack.wire.TcpRepr;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Packet-level tests of the offload boundary: the virtio-net header on the way in (partial checksums completed,
 * malformed headers refused with a reason) and out (GSO header for large TCP frames), and software segmentation
 * of large frames at the switch for ports without offloads.
 */
class OffloadTest {
    static final long GW = MacAddress.parse("5a:94:ef:e4:0c:dd");
    static final long A = MacAddress.parse("02:00:00:00:00:0a");
    static final long B = MacAddress.parse("02:00:00:00:00:0b");
    static final int IP_A = Frames.ip("192.168.127.10");
    static final int IP_B = Frames.ip("192.168.127.11");

    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final List<ByteBuf> held = new ArrayList<>();

    /** Keeps the frames written to it; offloads as told. */
    static final class Port implements LinkEndpoint {
        final boolean offloads;
        final List<byte[]> frames = new ArrayList<>();

        Port(boolean offloads) {
            this.offloads = offloads;
        }

        @Override
        public void transmit(ByteBuf frame) {
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
        TcpRepr r = TcpRepr.builder().srcPort(40000).dstPort(5201).seq(seq).ack(77).flags(flags).window(512)
                .timestamps(1, 2).build();
        ByteBuf l4 = Unpooled.buffer();
        r.emit(l4, IP_A, IP_B, Unpooled.wrappedBuffer(data));
        byte[] tcp = Frames.bytes(l4);
        l4.release();
        return Frames.ethernet(dstMac, srcMac, 0x0800, Frames.ipv4(IP_A, IP_B, 6, 1000, 0x4000, 64, tcp));
    }

    // ---- virtio-net header, inbound ------------------------------------------------------------------

    static ByteBuf withHeader(int flags, int gsoType, int gsoSize, int csumStart, int csumOffset, byte[] frame) {
        ByteBuf b = Unpooled.buffer();
        b.writeByte(flags).writeByte(gsoType).writeShortLE(0).writeShortLE(gsoSize).writeShortLE(csumStart)
                .writeShortLE(csumOffset).writeShortLE(0);
        b.writeBytes(frame);
        return b;
    }

    @Test
    void aPartialChecksumIsCompletedAndTheHeaderSkipped() {
        byte[] good = tcpFrame(B, A, 5000, TcpFlags.ACK | TcpFlags.PSH, payload(3000));
        byte[] partial = good.clone();
        int tcpOff = 14 + 20;
        int l4Len = good.length - tcpOff;
        // What a kernel with checksum offload hands over: the pseudo-header sum, not complemented, in the field.
        int seed = Checksums.fold(Checksums.pseudoHeader(IP_A, IP_B, 6, l4Len));
        partial[tcpOff + 16] = (byte) (seed >>> 8);
        partial[tcpOff + 17] = (byte) seed;
        ByteBuf in = withHeader(VirtioNetHeader.F_NEEDS_CSUM, VirtioNetHeader.GSO_TCPV4, 1448, tcpOff, 16, partial);
        held.add(in);
        assertNull(VirtioNetHeader.receive(in));
        assertArrayEquals(good, Frames.bytes(in), "the checksum a kernel would have computed");
    }

    @Test
    void aPartialUdpChecksumIsCompletedToo() {
        byte[] udp = Frames.udp(IP_A, IP_B, 5353, 53, payload(700));
        byte[] good = Frames.ethernet(B, A, 0x0800, Frames.ipv4(IP_A, IP_B, 17, 1, 0, 64, udp));
        byte[] partial = good.clone();
        int seed = Checksums.fold(Checksums.pseudoHeader(IP_A, IP_B, 17, udp.length));
        partial[34 + 6] = (byte) (seed >>> 8);
        partial[34 + 7] = (byte) seed;
        ByteBuf in = withHeader(VirtioNetHeader.F_NEEDS_CSUM, 0, 0, 34, 6, partial);
        held.add(in);
        assertNull(VirtioNetHeader.receive(in));
        assertArrayEquals(good, Frames.bytes(in));
    }

    @Test
    void malformedHeadersAreRefusedWithTheirReason() {
        byte[] tcp = tcpFrame(B, A, 1, TcpFlags.ACK, payload(100));
        byte[] udp = Frames.ethernet(B, A, 0x0800, Frames.ipv4(IP_A, IP_B, 17, 1, 0, 64,
                Frames.udp(IP_A, IP_B, 1, 2, payload(10))));
        assertRefused(VirtioNetHeader.Error.RUNT, Unpooled.wrappedBuffer(new byte[20]));
        assertRefused(VirtioNetHeader.Error.BAD_FLAGS, withHeader(0x10, 0, 0, 0, 0, tcp));
        assertRefused(VirtioNetHeader.Error.UNSUPPORTED_GSO, withHeader(0, VirtioNetHeader.GSO_UDP, 1400, 0, 0, udp));
        assertRefused(VirtioNetHeader.Error.UNSUPPORTED_GSO, withHeader(0, VirtioNetHeader.GSO_UDP_L4, 1400, 0, 0, udp));
        assertRefused(VirtioNetHeader.Error.UNSUPPORTED_GSO, withHeader(0, 9, 1400, 0, 0, tcp));
        assertRefused(VirtioNetHeader.Error.BAD_GSO, withHeader(0, VirtioNetHeader.GSO_TCPV4, 0, 0, 0, tcp));
        assertRefused(VirtioNetHeader.Error.BAD_GSO, withHeader(0, VirtioNetHeader.GSO_TCPV4, 1448, 0, 0, udp));
        assertRefused(VirtioNetHeader.Error.BAD_GSO, withHeader(0, VirtioNetHeader.GSO_TCPV6, 1448, 0, 0, tcp));
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

    @Test
    void aLargeTcpFrameGoesOutWithAGsoHeaderAndASmallOneWithout() {
        ByteBuf large = Unpooled.wrappedBuffer(tcpFrame(B, A, 1, TcpFlags.ACK, payload(20000)));
        ByteBuf small = Unpooled.wrappedBuffer(tcpFrame(B, A, 1, TcpFlags.ACK, payload(1448)));
        held.add(large);
        held.add(small);
        ByteBuf h = Unpooled.buffer();
        held.add(h);
        byte[] before = Frames.bytes(large);
        VirtioNetHeader.write(large, 1500, h);
        assertArrayEquals(before, Frames.bytes(large), "never modified: a frame may be shared");
        assertEquals(VirtioNetHeader.LENGTH, h.readableBytes());
        assertEquals(0, h.getByte(0), "the checksum is complete: no NEEDS_CSUM");
        assertEquals(VirtioNetHeader.GSO_TCPV4, h.getByte(1));
        assertEquals(14 + 20 + 32, h.getUnsignedShortLE(2), "hdr_len");
        assertEquals(1448, h.getUnsignedShortLE(4), "gso_size: MTU less IP and TCP headers");
        h.clear();
        VirtioNetHeader.write(small, 1500, h);
        assertEquals(VirtioNetHeader.LENGTH, h.readableBytes());
        for (int i = 0; i < VirtioNetHeader.LENGTH; i++) {
            assertEquals(0, h.getByte(i));
        }
    }

    // ---- software GSO at the switch ------------------------------------------------------------------

    @Test
    void aLargeFrameFromAnOffloadPortIsSegmentedForAPortWithout() {
        Port pa = new Port(true);
        Port pb = new Port(false);
        SwitchPort a = sw.attach("a", pa);
        SwitchPort b = sw.attach("b", pb);
        sw.deliver(b, Unpooled.wrappedBuffer(tcpFrame(A, B, 1, TcpFlags.ACK, new byte[0]))); // learn B
        byte[] data = payload(10_000);
        int seq = 0xFFFF_F000; // wraps inside the frame
        sw.deliver(a, Unpooled.wrappedBuffer(tcpFrame(B, A, seq, TcpFlags.ACK | TcpFlags.PSH | TcpFlags.FIN, data)));
        assertEquals(7, pb.frames.size(), "ceil(10000 / 1448) segments");
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        int expectSeq = seq;
        for (int i = 0; i < pb.frames.size(); i++) {
            ByteBuf f = Unpooled.wrappedBuffer(pb.frames.get(i));
            assertTrue(f.readableBytes() <= 1514, "fits the MTU");
            assertNull(Ipv4Packet.check(f, 14, f.readableBytes() - 14), "IPv4 header valid");
            assertEquals(1000 + i, Ipv4Packet.identification(f, 14));
            int tl = Ipv4Packet.totalLength(f, 14);
            assertNull(TcpPacket.check(f, 34, tl - 20, IP_A, IP_B), "TCP checksum valid");
            TcpRepr r = TcpRepr.parse(f, 34);
            assertEquals(expectSeq, r.seq());
            boolean last = i == pb.frames.size() - 1;
            assertEquals(last, (r.flags() & TcpFlags.FIN) != 0, "FIN on the last segment only");
            assertEquals(last, (r.flags() & TcpFlags.PSH) != 0, "PSH on the last segment only");
            assertTrue(r.hasTimestamps(), "options copied");
            byte[] p = new byte[tl - 20 - r.headerLength()];
            f.getBytes(34 + r.headerLength(), p);
            got.writeBytes(p);
            expectSeq += p.length;
        }
        assertArrayEquals(data, got.toByteArray());
        assertEquals(1, counters.get("switch.gso.frames"));
        assertEquals(7, counters.get("switch.gso.segments"));
    }

    @Test
    void aLargeFrameToAnOffloadPortPassesWholeAndBetweenPlainPortsUnchanged() {
        Port pa = new Port(true);
        Port pb = new Port(true);
        Port pc = new Port(false);
        SwitchPort a = sw.attach("a", pa);
        SwitchPort b = sw.attach("b", pb);
        SwitchPort c = sw.attach("c", pc);
        long cMac = MacAddress.parse("02:00:00:00:00:0c");
        sw.deliver(b, Unpooled.wrappedBuffer(tcpFrame(A, B, 1, TcpFlags.ACK, new byte[0])));
        sw.deliver(c, Unpooled.wrappedBuffer(tcpFrame(A, cMac, 1, TcpFlags.ACK, new byte[0])));
        pa.frames.clear();
        byte[] big = tcpFrame(B, A, 1, TcpFlags.ACK, payload(30_000));
        sw.deliver(a, Unpooled.wrappedBuffer(big));
        assertEquals(1, pb.frames.size());
        assertArrayEquals(big, pb.frames.get(0));
        // A plain port's oversized frame is its own business (gvproxy passes VM-to-VM frames unchanged).
        byte[] bigFromC = tcpFrame(A, cMac, 1, TcpFlags.ACK, payload(3000));
        sw.deliver(c, Unpooled.wrappedBuffer(bigFromC));
        assertEquals(1, pa.frames.size());
        assertArrayEquals(bigFromC, pa.frames.get(0));
        assertEquals(0, counters.get("switch.gso.frames"));
    }

    @Test
    void aLargeFrameFromTheGatewayIsSegmentedForAPortWithoutOffloads() {
        Port pb = new Port(false);
        SwitchPort b = sw.attach("b", pb);
        sw.deliver(b, Unpooled.wrappedBuffer(tcpFrame(GW, B, 1, TcpFlags.ACK, new byte[0])));
        sw.setMtu(9000);
        sw.transmitFromGateway(Unpooled.wrappedBuffer(tcpFrame(B, GW, 1, TcpFlags.ACK, payload(20_000))));
        assertEquals(3, pb.frames.size(), "ceil(20000 / 8948)");
        assertEquals(14 + 9000, pb.frames.get(0).length);
    }

    @Test
    void aLargeNonTcpFrameIsCountedAndPassed() {
        Port pa = new Port(true);
        Port pb = new Port(false);
        SwitchPort a = sw.attach("a", pa);
        SwitchPort b = sw.attach("b", pb);
        sw.deliver(b, Unpooled.wrappedBuffer(tcpFrame(A, B, 1, TcpFlags.ACK, new byte[0])));
        byte[] udp = Frames.ethernet(B, A, 0x0800, Frames.ipv4(IP_A, IP_B, 17, 1, 0, 64,
                Frames.udp(IP_A, IP_B, 1, 2, payload(4000))));
        sw.deliver(a, Unpooled.wrappedBuffer(udp));
        assertEquals(1, pb.frames.size());
        assertEquals(1, counters.get("switch.gso.notTcp"));
    }

    @Test
    void ipv6TcpIsSegmentedWithItsPayloadLength() {
        byte[] data = payload(5000);
        byte[] src = new byte[16];
        byte[] dst = new byte[16];
        src[0] = 0x20;
        src[1] = 0x01;
        src[15] = 1;
        dst[0] = 0x20;
        dst[1] = 0x01;
        dst[15] = 2;
        byte[] tcp = new byte[20 + data.length];
        ByteBuf t = Unpooled.wrappedBuffer(tcp);
        t.writerIndex(0);
        t.writeShort(1).writeShort(2).writeInt(100).writeInt(1).writeByte(5 << 4).writeByte(TcpFlags.ACK)
                .writeShort(100).writeShort(0).writeShort(0).writeBytes(data);
        byte[] ip6 = new byte[40 + tcp.length];
        ByteBuf p = Unpooled.wrappedBuffer(ip6);
        p.writerIndex(0);
        p.writeInt(0x6000_0000).writeShort(tcp.length).writeByte(6).writeByte(64).writeBytes(src).writeBytes(dst)
                .writeBytes(tcp);
        byte[] frame = Frames.ethernet(B, A, 0x86DD, ip6);
        List<byte[]> out = new ArrayList<>();
        assertEquals(SoftwareGso.Result.SEGMENTED, SoftwareGso.segment(Unpooled.wrappedBuffer(frame), 1500, s -> {
            out.add(Frames.bytes(s));
            s.release();
        }));
        assertEquals(4, out.size(), "ceil(5000 / 1440)");
        int total = 0;
        for (byte[] s : out) {
            ByteBuf f = Unpooled.wrappedBuffer(s);
            int plen = f.getUnsignedShort(14 + 4);
            assertEquals(s.length - 54, plen);
            assertTrue(Checksums.verify(f, 54, plen, Checksums.ipv6PseudoHeader(f, 14, 6, plen)));
            total += plen - 20;
        }
        assertEquals(5000, total);
    }
}
