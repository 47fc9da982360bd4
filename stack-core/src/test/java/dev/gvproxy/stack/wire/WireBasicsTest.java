package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

/** Builds frames with the writers and reads them back with the checked views. */
class WireBasicsTest {
    static final long MAC_A = MacAddress.parse("5a:94:ef:e4:0c:dd");
    static final long MAC_B = MacAddress.parse("02:00:00:00:00:0b");
    static final int IP_A = Ipv4Address.parse("198.18.0.1");
    static final int IP_B = Ipv4Address.parse("198.18.0.2");

    @Test
    void ethernetHeader() {
        ByteBuf b = Unpooled.buffer();
        b.writeByte(0xAA); // a leading byte so that offsets are not 0
        EthernetFrame.writeHeader(b, MAC_A, MAC_B, EtherType.ARP);
        assertEquals(15, b.writerIndex());
        assertNull(EthernetFrame.check(b, 1, 14));
        assertEquals(EthernetFrame.Error.TRUNCATED, EthernetFrame.check(b, 1, 13));
        ByteBuf small = Unpooled.wrappedBuffer(new byte[20]);
        assertNull(EthernetFrame.check(small, 6, 14));
        assertEquals(EthernetFrame.Error.TRUNCATED, EthernetFrame.check(small, 7, 14));
        assertEquals(EthernetFrame.Error.TRUNCATED, EthernetFrame.check(small, -1, 14));
        small.release();
        assertEquals(MAC_A, EthernetFrame.dst(b, 1));
        assertEquals(MAC_B, EthernetFrame.src(b, 1));
        assertEquals(EtherType.ARP, EthernetFrame.etherType(b, 1));
        assertEquals("ARP", EtherType.name(EtherType.ARP));
        assertEquals("0x88cc", EtherType.name(0x88cc));
        b.release();
    }

    @Test
    void arpRequestRoundTrip() {
        ByteBuf b = Unpooled.buffer();
        ArpPacket.write(b, ArpPacket.OP_REQUEST, MAC_B, IP_B, 0, IP_A);
        b.writeZero(18); // padding up to 60 bytes is allowed
        assertNull(ArpPacket.check(b, 0, b.readableBytes()));
        assertEquals(ArpPacket.OP_REQUEST, ArpPacket.operation(b, 0));
        assertEquals(MAC_B, ArpPacket.senderHardwareAddress(b, 0));
        assertEquals(IP_B, ArpPacket.senderProtocolAddress(b, 0));
        assertEquals(0, ArpPacket.targetHardwareAddress(b, 0));
        assertEquals(IP_A, ArpPacket.targetProtocolAddress(b, 0));
        ByteBuf out = Unpooled.buffer();
        ArpPacket.Repr.parse(b, 0).emit(out);
        assertEquals(ByteBufUtil.hexDump(b, 0, 28), ByteBufUtil.hexDump(out));
        for (int len = 0; len < 28; len++) {
            assertEquals(ArpPacket.Error.TRUNCATED, ArpPacket.check(b, 0, len));
        }
        b.setShort(0, 6);
        assertEquals(ArpPacket.Error.BAD_HARDWARE_TYPE, ArpPacket.check(b, 0, 28));
        b.setShort(0, 1);
        b.setShort(2, EtherType.IPV6);
        assertEquals(ArpPacket.Error.BAD_PROTOCOL_TYPE, ArpPacket.check(b, 0, 28));
        b.setShort(2, EtherType.IPV4);
        b.setByte(4, 8);
        assertEquals(ArpPacket.Error.BAD_ADDRESS_LENGTH, ArpPacket.check(b, 0, 28));
        b.setByte(4, 6);
        b.setByte(5, 16);
        assertEquals(ArpPacket.Error.BAD_ADDRESS_LENGTH, ArpPacket.check(b, 0, 28));
        b.release();
        out.release();
    }

    /** An IPv4 + UDP packet with 5 payload bytes, padded like QEMU pads short frames. */
    static ByteBuf udpPacket() {
        ByteBuf b = Unpooled.buffer();
        Ipv4Packet.writeHeader(b, 0, 20 + 8 + 5, 0x1234, true, 64, Ipv4Packet.PROTO_UDP, IP_A, IP_B);
        int udp = b.writerIndex();
        UdpPacket.writeHeader(b, 5353, 53, 5);
        b.writeBytes(new byte[] {'h', 'e', 'l', 'l', 'o'});
        UdpPacket.fillChecksum(b, udp, 13, IP_A, IP_B);
        b.writeZero(46 - 33); // Ethernet minimum payload
        return b;
    }

    @Test
    void ipv4AndUdp() {
        ByteBuf b = udpPacket();
        int len = b.readableBytes();
        assertNull(Ipv4Packet.check(b, 0, len));
        assertEquals(4, Ipv4Packet.version(b, 0));
        assertEquals(20, Ipv4Packet.headerLength(b, 0));
        assertEquals(33, Ipv4Packet.totalLength(b, 0));
        assertEquals(0x1234, Ipv4Packet.identification(b, 0));
        assertTrue(Ipv4Packet.dontFragment(b, 0));
        assertFalse(Ipv4Packet.moreFragments(b, 0));
        assertFalse(Ipv4Packet.isFragment(b, 0));
        assertEquals(0, Ipv4Packet.fragmentOffset(b, 0));
        assertEquals(64, Ipv4Packet.ttl(b, 0));
        assertEquals(IpProtocol.UDP, Ipv4Packet.protocol(b, 0));
        assertEquals(IP_A, Ipv4Packet.src(b, 0));
        assertEquals(IP_B, Ipv4Packet.dst(b, 0));
        assertTrue(Checksums.verifyIpv4Header(b, 0, 20));

        ByteBuf again = Unpooled.buffer();
        Ipv4Repr.parse(b, 0).emit(again);
        assertEquals(ByteBufUtil.hexDump(b, 0, 20), ByteBufUtil.hexDump(again));
        again.release();

        int udp = Ipv4Packet.payloadOffset(b, 0);
        int udpLen = Ipv4Packet.payloadLength(b, 0);
        assertEquals(13, udpLen);
        assertNull(UdpPacket.check(b, udp, udpLen, IP_A, IP_B));
        assertEquals(5353, UdpPacket.srcPort(b, udp));
        assertEquals(53, UdpPacket.dstPort(b, udp));
        assertEquals(13, UdpPacket.length(b, udp));
        assertEquals(UdpPacket.Error.BAD_CHECKSUM, UdpPacket.check(b, udp, udpLen, IP_A, IP_A));
        for (int l = 0; l < 8; l++) {
            assertEquals(UdpPacket.Error.TRUNCATED, UdpPacket.check(b, udp, l, IP_A, IP_B));
        }
        for (int l = 8; l < 13; l++) {
            assertEquals(UdpPacket.Error.BAD_LENGTH, UdpPacket.check(b, udp, l, IP_A, IP_B));
        }
        // Checksum 0 means none.
        int ck = UdpPacket.checksum(b, udp);
        UdpPacket.setChecksum(b, udp, 0);
        assertNull(UdpPacket.check(b, udp, udpLen, IP_A, IP_A));
        UdpPacket.setChecksum(b, udp, ck);
        UdpPacket.setLength(b, udp, 7);
        assertEquals(UdpPacket.Error.BAD_LENGTH, UdpPacket.check(b, udp, udpLen, IP_A, IP_B));
        b.release();
    }

    @Test
    void udpReprEmitsTheSameBytes() {
        ByteBuf b = udpPacket();
        ByteBuf payload = Unpooled.wrappedBuffer(new byte[] {'h', 'e', 'l', 'l', 'o'});
        ByteBuf out = Unpooled.buffer();
        UdpRepr.parse(b, 20).emit(out, IP_A, IP_B, payload);
        assertEquals(ByteBufUtil.hexDump(b, 20, 13), ByteBufUtil.hexDump(out));
        assertEquals(5, payload.readableBytes());
        b.release();
        payload.release();
        out.release();
    }

    @Test
    void ipv4Rejections() {
        ByteBuf b = udpPacket();
        int len = b.readableBytes();
        for (int l = 0; l < 33; l++) {
            assertEquals(Ipv4Packet.Error.TRUNCATED, Ipv4Packet.check(b, 0, l), "len " + l);
        }
        assertNull(Ipv4Packet.check(b, 0, 33));

        b.setByte(0, 0x65);
        assertEquals(Ipv4Packet.Error.BAD_VERSION, Ipv4Packet.check(b, 0, len));
        for (int ihl = 0; ihl < 5; ihl++) {
            b.setByte(0, 0x40 | ihl);
            assertEquals(Ipv4Packet.Error.BAD_HEADER_LENGTH, Ipv4Packet.check(b, 0, len));
        }
        b.setByte(0, 0x4F); // 60-byte header in a 33-byte packet
        assertEquals(Ipv4Packet.Error.BAD_TOTAL_LENGTH, Ipv4Packet.check(b, 0, len));
        b.setByte(0, 0x45);
        assertNull(Ipv4Packet.check(b, 0, len));

        Ipv4Packet.setTotalLength(b, 0, 19);
        assertEquals(Ipv4Packet.Error.BAD_TOTAL_LENGTH, Ipv4Packet.check(b, 0, len));
        Ipv4Packet.setTotalLength(b, 0, len + 1);
        assertEquals(Ipv4Packet.Error.TRUNCATED, Ipv4Packet.check(b, 0, len));
        Ipv4Packet.setTotalLength(b, 0, 33);
        Ipv4Packet.setTtl(b, 0, 63);
        assertEquals(Ipv4Packet.Error.BAD_CHECKSUM, Ipv4Packet.check(b, 0, len));
        Ipv4Packet.fillChecksum(b, 0);
        assertNull(Ipv4Packet.check(b, 0, len));

        Ipv4Packet.setFragment(b, 0, false, false, 65528);
        Ipv4Packet.fillChecksum(b, 0);
        assertEquals(Ipv4Packet.Error.BAD_FRAGMENT, Ipv4Packet.check(b, 0, len));
        Ipv4Packet.setFragment(b, 0, false, true, 1480);
        Ipv4Packet.fillChecksum(b, 0);
        assertNull(Ipv4Packet.check(b, 0, len));
        assertTrue(Ipv4Packet.moreFragments(b, 0));
        assertTrue(Ipv4Packet.isFragment(b, 0));
        assertEquals(1480, Ipv4Packet.fragmentOffset(b, 0));
        assertEquals(Ipv4Packet.Error.TRUNCATED, Ipv4Packet.check(b, b.capacity() - 20, 21));
        b.release();
    }

    @Test
    void icmpEcho() {
        ByteBuf b = Unpooled.buffer();
        ByteBuf payload = Unpooled.wrappedBuffer(new byte[] {1, 2, 3, 4, 5, 6, 7});
        Icmpv4Repr.echo(Icmpv4Packet.TYPE_ECHO_REQUEST, 0xBEEF, 7).emit(b, payload);
        assertEquals(15, b.readableBytes());
        assertNull(Icmpv4Packet.check(b, 0, 15));
        assertEquals(Icmpv4Packet.TYPE_ECHO_REQUEST, Icmpv4Packet.type(b, 0));
        assertEquals(0, Icmpv4Packet.code(b, 0));
        assertEquals(0xBEEF, Icmpv4Packet.identifier(b, 0));
        assertEquals(7, Icmpv4Packet.sequence(b, 0));
        for (int l = 0; l < 8; l++) {
            assertEquals(Icmpv4Packet.Error.TRUNCATED, Icmpv4Packet.check(b, 0, l));
        }
        for (int l = 8; l < 15; l++) {
            assertEquals(Icmpv4Packet.Error.BAD_CHECKSUM, Icmpv4Packet.check(b, 0, l));
        }
        // Turning a request into a reply in place.
        Icmpv4Packet.setType(b, 0, Icmpv4Packet.TYPE_ECHO_REPLY);
        assertEquals(Icmpv4Packet.Error.BAD_CHECKSUM, Icmpv4Packet.check(b, 0, 15));
        Icmpv4Packet.fillChecksum(b, 0, 15);
        assertNull(Icmpv4Packet.check(b, 0, 15));
        assertEquals(new Icmpv4Repr(0, 0, 0xBEEF0007), Icmpv4Repr.parse(b, 0));
        b.release();
        payload.release();
    }

    @Test
    void ipv4ReprWithOptionsAndFragmentFields() {
        byte[] opts = {Ipv4Packet.OPT_NOP, 7, 7, 4, 0, 0, 0, 0}; // NOP + an empty record-route
        Ipv4Repr r = new Ipv4Repr(0xB8, 0xABCD, false, true, 2960, 1, IpProtocol.UDP, IP_A, IP_B, opts, 100);
        assertEquals(28, r.headerLength());
        assertEquals(128, r.totalLength());
        ByteBuf b = Unpooled.buffer();
        r.emit(b);
        b.writeZero(100);
        assertNull(Ipv4Packet.check(b, 0, b.readableBytes()));
        assertNull(Ipv4Packet.checkOptions(b, 0));
        assertEquals(21, Ipv4Packet.findOption(b, 0, Ipv4Packet.OPT_RECORD_ROUTE));
        assertEquals(0xB8, Ipv4Packet.dscpEcn(b, 0));
        assertEquals(2960, Ipv4Packet.fragmentOffset(b, 0));
        assertTrue(Ipv4Packet.moreFragments(b, 0));
        assertEquals(r, Ipv4Repr.parse(b, 0));
        assertTrue(r.toString().contains("198.18.0.1 > 198.18.0.2"), r.toString());
        assertEquals(Ipv4Repr.of(IpProtocol.TCP, IP_A, IP_B, 64, 1, true, 0),
                new Ipv4Repr(0, 1, true, false, 0, 64, IpProtocol.TCP, IP_A, IP_B, null, 0));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new Ipv4Repr(0, 0, false, false, 0, 1, 1, 0, 0, new byte[3], 0));
        b.release();
    }

    @Test
    void udpChecksumThatComputesToZeroIsSentAsAllOnes() {
        ByteBuf b = Unpooled.buffer();
        UdpPacket.writeHeader(b, 1, 2, 2);
        b.writeShort(0);
        // Choose the last payload word so that the ones'-complement sum is 0xFFFF, i.e. the checksum is 0.
        int s = Checksums.fold(Checksums.pseudoHeader(IP_A, IP_B, IpProtocol.UDP, 10) + Checksums.partial(b, 0, 10, 0));
        b.setShort(8, 0xFFFF - s);
        UdpPacket.fillChecksum(b, 0, 10, IP_A, IP_B);
        assertEquals(0xFFFF, UdpPacket.checksum(b, 0));
        assertNull(UdpPacket.check(b, 0, 10, IP_A, IP_B));
        b.release();
    }
}
