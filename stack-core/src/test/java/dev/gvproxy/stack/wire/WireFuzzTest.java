package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.gvproxy.testing.FuzzInput;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;

/**
 * Coverage-guided fuzzing of the frame parsers (FUZZING.md): one input is one Ethernet frame, parsed layer by
 * layer as the stack does (Ethernet, then ARP, IPv4 with options or IPv6 with its extension headers, then TCP with
 * options, UDP, ICMP, or ICMPv6 and NDP with options), both
 * as it is and with its checksums repaired so that mutations reach the layers behind the checksum checks.
 * The properties: no parser throws on any input; a header that passed its check survives
 * parse-emit-parse unchanged (IPv4 and IPv6 headers, TCP header with options, ICMPv6 header, NDP message); every
 * frame has a {@code -debug} description. Seeds: frames captured from Linux
 * ({@code WireFuzzTestInputs/parseFrame}, made by {@code fuzz/make-seeds.py}).
 */
class WireFuzzTest {

    @FuzzTest(maxDuration = "60s")
    void parseFrame(byte[] frame) {
        parse(frame);
        parse(FuzzInput.repairChecksums(frame));
    }

    private static void parse(byte[] bytes) {
        // An offset in the buffer, as frames read behind a transport header arrive.
        ByteBuf buf = Unpooled.buffer(bytes.length + 3).writeZero(3).writeBytes(bytes);
        int off = 3;
        int len = bytes.length;
        if (EthernetFrame.check(buf, off, len) != null) {
            return;
        }
        EthernetFrame.dst(buf, off);
        EthernetFrame.src(buf, off);
        int type = EthernetFrame.etherType(buf, off);
        int l3 = off + EthernetFrame.HEADER_LEN;
        int l3Len = len - EthernetFrame.HEADER_LEN;
        if (type == EtherType.ARP) {
            if (ArpPacket.check(buf, l3, l3Len) == null) {
                ArpPacket.Repr.parse(buf, l3);
            }
        } else if (type == EtherType.IPV4) {
            ipv4(buf, l3, l3Len);
        } else if (type == EtherType.IPV6) {
            ipv6(buf, l3, l3Len);
        }
        FrameDescription.describe(buf.slice(off, len));
    }

    private static void ipv6(ByteBuf buf, int off, int len) {
        if (Ipv6Packet.check(buf, off, len) != null) {
            return;
        }
        Ipv6Repr ip = Ipv6Repr.parse(buf, off);
        ByteBuf once = Unpooled.buffer();
        ip.emit(once);
        assertEquals(ip, Ipv6Repr.parse(once, 0), "IPv6 header parse/emit round trip");
        Ipv6Packet.Chain c = new Ipv6Packet.Chain();
        if (Ipv6Packet.walk(buf, off, Ipv6Packet.DEFAULT_MAX_EXTENSION_HEADERS, c) != null || c.isFragment()) {
            return;
        }
        int l4 = c.payloadOffset();
        int l4Len = c.payloadLength();
        switch (c.protocol()) {
            case IpProtocol.TCP -> {
                if (TcpPacket.checkIpv6(buf, l4, l4Len, off) == null) {
                    TcpRepr.parse(buf, l4);
                }
            }
            case IpProtocol.UDP -> {
                if (UdpPacket.checkIpv6(buf, l4, l4Len, off) == null) {
                    UdpRepr.parse(buf, l4);
                }
            }
            case IpProtocol.ICMPV6 -> {
                if (Icmpv6Packet.check(buf, l4, l4Len, off) != null) {
                    return;
                }
                Icmpv6Repr.parse(buf, l4);
                if (NdpPacket.isNdp(Icmpv6Packet.type(buf, l4)) && NdpPacket.check(buf, l4, l4Len, off) == null) {
                    NdpRepr m = NdpRepr.parse(buf, l4, l4Len);
                    ByteBuf out = Unpooled.buffer();
                    m.emit(out, ip.src(), ip.dst());
                    assertEquals(m, NdpRepr.parse(out, 0, out.readableBytes()), "NDP parse/emit round trip");
                }
            }
            default -> { }
        }
    }

    private static void ipv4(ByteBuf buf, int off, int len) {
        if (Ipv4Packet.check(buf, off, len) != null) {
            return;
        }
        if (Ipv4Packet.checkOptions(buf, off) == null) {
            Ipv4Packet.findOption(buf, off, Ipv4Packet.OPT_RECORD_ROUTE);
            Ipv4Packet.findOption(buf, off, Ipv4Packet.OPT_ROUTER_ALERT);
        }
        Ipv4Repr ip = Ipv4Repr.parse(buf, off);
        ByteBuf once = Unpooled.buffer();
        ip.emit(once);
        ByteBuf twice = Unpooled.buffer();
        Ipv4Repr.parse(once, 0).emit(twice);
        assertEquals(ByteBufUtil.hexDump(once), ByteBufUtil.hexDump(twice), "IPv4 header parse/emit round trip");
        if (Ipv4Packet.isFragment(buf, off)) {
            return;
        }
        int src = Ipv4Packet.src(buf, off);
        int dst = Ipv4Packet.dst(buf, off);
        int l4 = Ipv4Packet.payloadOffset(buf, off);
        int l4Len = Ipv4Packet.payloadLength(buf, off);
        switch (Ipv4Packet.protocol(buf, off)) {
            case IpProtocol.TCP -> tcp(buf, l4, l4Len, src, dst);
            case IpProtocol.UDP -> {
                if (UdpPacket.check(buf, l4, l4Len, src, dst) == null) {
                    UdpRepr.parse(buf, l4);
                }
            }
            case IpProtocol.ICMP -> {
                if (Icmpv4Packet.check(buf, l4, l4Len) == null) {
                    Icmpv4Repr.parse(buf, l4);
                }
            }
            default -> { }
        }
    }

    private static void tcp(ByteBuf buf, int off, int len, int src, int dst) {
        if (TcpPacket.check(buf, off, len, src, dst) != null) {
            return;
        }
        TcpPacket.payloadLength(buf, off, len);
        TcpPacket.segmentLength(buf, off, len);
        int hl = TcpPacket.headerLength(buf, off);
        TcpOptions.check(buf, off + TcpPacket.MIN_HEADER_LEN, off + hl);
        TcpPacket.findOption(buf, off, TcpOptions.SACK);
        TcpRepr seg = TcpRepr.parse(buf, off);
        seg.toString();
        ByteBuf out = Unpooled.buffer();
        seg.emit(out, src, dst, null);
        assertEquals(null, TcpPacket.check(out, 0, out.readableBytes(), src, dst), "re-emitted segment checks");
        assertEquals(seg, TcpRepr.parse(out, 0), "TCP header parse/emit round trip");
    }
}
