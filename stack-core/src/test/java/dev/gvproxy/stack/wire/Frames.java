package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

/** Test helpers: the whole receive-side check pipeline, and re-emission of a frame from its Reprs. */
final class Frames {
    private Frames() {}

    /**
     * Runs every check a receiving stack runs on the frame at the buffer's reader index (Ethernet, then ARP,
     * IPv4 or IPv6 with its extension headers, then ICMP/ICMPv6 and NDP/UDP/TCP unless the packet is a fragment)
     * and returns the counter name of the first failure, or null. buf: borrowed.
     */
    static String check(ByteBuf buf) {
        int off = buf.readerIndex();
        int len = buf.readableBytes();
        EthernetFrame.Error e = EthernetFrame.check(buf, off, len);
        if (e != null) {
            return e.counter();
        }
        int l3 = off + EthernetFrame.HEADER_LEN;
        int l3len = len - EthernetFrame.HEADER_LEN;
        switch (EthernetFrame.etherType(buf, off)) {
            case EtherType.ARP -> {
                ArpPacket.Error a = ArpPacket.check(buf, l3, l3len);
                return a == null ? null : a.counter();
            }
            case EtherType.IPV4 -> {
                Ipv4Packet.Error i = Ipv4Packet.check(buf, l3, l3len);
                if (i != null) {
                    return i.counter();
                }
                if (Ipv4Packet.isFragment(buf, l3)) {
                    return null;
                }
                int l4 = Ipv4Packet.payloadOffset(buf, l3);
                int l4len = Ipv4Packet.payloadLength(buf, l3);
                int src = Ipv4Packet.src(buf, l3);
                int dst = Ipv4Packet.dst(buf, l3);
                return switch (Ipv4Packet.protocol(buf, l3)) {
                    case IpProtocol.ICMP -> name(Icmpv4Packet.check(buf, l4, l4len));
                    case IpProtocol.UDP -> name(UdpPacket.check(buf, l4, l4len, src, dst));
                    case IpProtocol.TCP -> name(TcpPacket.check(buf, l4, l4len, src, dst));
                    default -> null;
                };
            }
            case EtherType.IPV6 -> {
                return checkIpv6(buf, l3, l3len);
            }
            default -> {
                return null;
            }
        }
    }

    private static String checkIpv6(ByteBuf buf, int l3, int l3len) {
        Ipv6Packet.Error i = Ipv6Packet.check(buf, l3, l3len);
        if (i != null) {
            return i.counter();
        }
        Ipv6Packet.Chain c = new Ipv6Packet.Chain();
        i = Ipv6Packet.walk(buf, l3, Ipv6Packet.DEFAULT_MAX_EXTENSION_HEADERS, c);
        if (i != null) {
            return i.counter();
        }
        if (c.isFragment()) {
            return null;
        }
        int l4 = c.payloadOffset();
        int l4len = c.payloadLength();
        return switch (c.protocol()) {
            case IpProtocol.ICMPV6 -> {
                Icmpv6Packet.Error e = Icmpv6Packet.check(buf, l4, l4len, l3);
                if (e != null) {
                    yield e.counter();
                }
                if (NdpPacket.isNdp(Icmpv6Packet.type(buf, l4))) {
                    NdpPacket.Error n = NdpPacket.check(buf, l4, l4len, l3);
                    yield n == null ? null : n.counter();
                }
                yield null;
            }
            case IpProtocol.UDP -> name(UdpPacket.checkIpv6(buf, l4, l4len, l3));
            case IpProtocol.TCP -> name(TcpPacket.checkIpv6(buf, l4, l4len, l3));
            default -> null;
        };
    }

    private static String name(Enum<?> e) {
        if (e == null) {
            return null;
        }
        return switch (e) {
            case Icmpv4Packet.Error x -> x.counter();
            case UdpPacket.Error x -> x.counter();
            case TcpPacket.Error x -> x.counter();
            default -> throw new AssertionError(e);
        };
    }

    /**
     * Builds the frame again from parsed Reprs (copying only payloads and trailing padding raw) and returns the
     * new buffer (the caller releases it). The frame must pass {@link #check}. buf: borrowed.
     */
    static ByteBuf reemit(ByteBuf buf) {
        // IPv6: the fixed header from its Repr, extension headers raw, then ICMPv6/NDP/UDP/TCP from theirs when the
        // message is whole (NDP only when every option is one NdpRepr keeps).
        int off = buf.readerIndex();
        int end = buf.writerIndex();
        ByteBuf out = Unpooled.buffer(buf.readableBytes());
        int et = EthernetFrame.etherType(buf, off);
        EthernetFrame.writeHeader(out, EthernetFrame.dst(buf, off), EthernetFrame.src(buf, off), et);
        int l3 = off + EthernetFrame.HEADER_LEN;
        int rest = l3;
        if (et == EtherType.ARP) {
            ArpPacket.Repr.parse(buf, l3).emit(out);
            rest = l3 + ArpPacket.LEN;
        } else if (et == EtherType.IPV4) {
            Ipv4Repr ip = Ipv4Repr.parse(buf, l3);
            ip.emit(out);
            int l4 = l3 + ip.headerLength();
            int l4end = l3 + ip.totalLength();
            rest = l4;
            if (!Ipv4Packet.isFragment(buf, l3)) {
                switch (ip.protocol()) {
                    case IpProtocol.ICMP -> {
                        Icmpv4Repr.parse(buf, l4).emit(out, buf.slice(l4 + 8, l4end - l4 - 8));
                        rest = l4end;
                    }
                    case IpProtocol.UDP -> {
                        int ulen = UdpPacket.length(buf, l4);
                        UdpRepr.parse(buf, l4).emit(out, ip.src(), ip.dst(), buf.slice(l4 + 8, ulen - 8));
                        rest = l4 + ulen;
                    }
                    case IpProtocol.TCP -> {
                        int p = TcpPacket.payloadOffset(buf, l4);
                        TcpRepr.parse(buf, l4).emit(out, ip.src(), ip.dst(), buf.slice(p, l4end - p));
                        rest = l4end;
                    }
                    default -> { }
                }
            }
        }
        if (et == EtherType.IPV6) {
            rest = reemitIpv6(buf, l3, out);
        }
        out.writeBytes(buf, rest, end - rest);
        return out;
    }

    /** The IPv6 part of {@link #reemit}; returns where the raw copy of the rest starts. */
    private static int reemitIpv6(ByteBuf buf, int l3, ByteBuf out) {
        Ipv6Repr ip = Ipv6Repr.parse(buf, l3);
        ip.emit(out);
        Ipv6Packet.Chain c = new Ipv6Packet.Chain();
        Ipv6Packet.walk(buf, l3, Ipv6Packet.DEFAULT_MAX_EXTENSION_HEADERS, c);
        int l4 = c.payloadOffset();
        int l4end = l4 + c.payloadLength();
        out.writeBytes(buf, l3 + Ipv6Packet.HEADER_LEN, l4 - l3 - Ipv6Packet.HEADER_LEN); // extension headers
        if (c.isFragment()) {
            return l4;
        }
        switch (c.protocol()) {
            case IpProtocol.ICMPV6 -> {
                int type = Icmpv6Packet.type(buf, l4);
                if (!NdpPacket.isNdp(type)) {
                    Icmpv6Repr.parse(buf, l4).emit(out, ip.src(), ip.dst(), buf.slice(l4 + 8, l4end - l4 - 8));
                    return l4end;
                }
                ByteBuf m = Unpooled.buffer();
                NdpRepr.parse(buf, l4, l4end - l4).emit(m, ip.src(), ip.dst());
                try {
                    // Only when the repr holds every option (else the lengths would not match): raw otherwise.
                    if (onlyKeptOptions(buf, l4, l4end) && m.readableBytes() == l4end - l4) {
                        out.writeBytes(m);
                        return l4end;
                    }
                    return l4;
                } finally {
                    m.release();
                }
            }
            case IpProtocol.UDP -> {
                int ulen = UdpPacket.length(buf, l4);
                UdpRepr.parse(buf, l4).emitIpv6(out, ip.src(), ip.dst(), buf.slice(l4 + 8, ulen - 8));
                return l4 + ulen;
            }
            default -> {
                return l4;
            }
        }
    }

    private static boolean onlyKeptOptions(ByteBuf buf, int l4, int end) {
        for (int at = NdpOption.first(buf, NdpPacket.optionsOffset(buf, l4), end); at >= 0;
                at = NdpOption.next(buf, at, end)) {
            int t = NdpOption.type(buf, at);
            if (t != NdpOption.SOURCE_LINK_LAYER_ADDRESS && t != NdpOption.TARGET_LINK_LAYER_ADDRESS) {
                return false;
            }
        }
        return true;
    }
}
