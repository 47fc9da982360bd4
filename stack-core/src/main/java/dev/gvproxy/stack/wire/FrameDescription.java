package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * One line describing an Ethernet frame, tcpdump-like, for {@code -debug} logs (the switch's frame log and the
 * guest agent's), read through the wire views, e.g.
 * {@code 5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 192.168.127.2:40000 > 192.168.127.1:80 TCP [S] len 74}.
 * The bytes are untrusted: a field is read only after the length check that covers it, and odd frames are
 * described, never thrown on.
 */
public final class FrameDescription {
    private FrameDescription() {}

    /** @param f <b>borrowed</b>: the frame between reader and writer index; its indices are not changed */
    public static String describe(ByteBuf f) {
        int off = f.readerIndex();
        int len = f.readableBytes();
        if (len < EthernetFrame.HEADER_LEN) {
            return "short frame, len " + len;
        }
        StringBuilder s = new StringBuilder(96);
        s.append(MacAddress.format(EthernetFrame.src(f, off))).append(" > ")
                .append(MacAddress.format(EthernetFrame.dst(f, off))).append(' ');
        int type = EthernetFrame.etherType(f, off);
        int l3 = off + EthernetFrame.HEADER_LEN;
        int l3len = len - EthernetFrame.HEADER_LEN;
        switch (type) {
            case EtherType.IPV4 -> ipv4(s, f, l3, l3len);
            case EtherType.ARP -> arp(s, f, l3, l3len);
            default -> s.append(EtherType.name(type));
        }
        return s.append(" len ").append(len).toString();
    }

    private static void arp(StringBuilder s, ByteBuf f, int at, int len) {
        if (len < ArpPacket.LEN) {
            s.append("ARP (truncated)");
            return;
        }
        int op = ArpPacket.operation(f, at);
        if (op == ArpPacket.OP_REQUEST) {
            s.append("ARP who-has ").append(Ipv4Address.format(ArpPacket.targetProtocolAddress(f, at)))
                    .append(" tell ").append(Ipv4Address.format(ArpPacket.senderProtocolAddress(f, at)));
        } else if (op == ArpPacket.OP_REPLY) {
            s.append("ARP reply ").append(Ipv4Address.format(ArpPacket.senderProtocolAddress(f, at)))
                    .append(" is-at ").append(MacAddress.format(ArpPacket.senderHardwareAddress(f, at)));
        } else {
            s.append("ARP op ").append(op);
        }
    }

    private static void ipv4(StringBuilder s, ByteBuf f, int at, int len) {
        if (len < Ipv4Packet.MIN_HEADER_LEN || Ipv4Packet.version(f, at) != 4) {
            s.append("IPv4 (truncated or bad header)");
            return;
        }
        int ihl = Ipv4Packet.headerLength(f, at);
        int proto = Ipv4Packet.protocol(f, at);
        boolean firstFragment = Ipv4Packet.fragmentOffset(f, at) == 0;
        boolean headerOk = ihl >= Ipv4Packet.MIN_HEADER_LEN;
        int l4 = at + ihl;
        boolean ports = (proto == IpProtocol.TCP || proto == IpProtocol.UDP) && firstFragment && headerOk
                && len >= ihl + 4;
        s.append("IPv4 ").append(Ipv4Address.format(Ipv4Packet.src(f, at)));
        if (ports) {
            s.append(':').append(TcpPacket.srcPort(f, l4)); // TCP and UDP put the ports in the same place
        }
        s.append(" > ").append(Ipv4Address.format(Ipv4Packet.dst(f, at)));
        if (ports) {
            s.append(':').append(TcpPacket.dstPort(f, l4));
        }
        switch (proto) {
            case IpProtocol.ICMP -> {
                s.append(" ICMP");
                if (firstFragment && headerOk && len >= ihl + 2) {
                    s.append(" type ").append(Icmpv4Packet.type(f, l4)).append(" code ")
                            .append(Icmpv4Packet.code(f, l4));
                }
            }
            case IpProtocol.TCP -> {
                s.append(" TCP");
                if (ports && len >= ihl + TcpPacket.MIN_HEADER_LEN) {
                    flags(s, TcpPacket.flags(f, l4));
                }
            }
            case IpProtocol.UDP -> s.append(" UDP");
            default -> s.append(" proto ").append(proto);
        }
        if (!firstFragment) {
            s.append(" (fragment)");
        }
    }

    private static void flags(StringBuilder s, int flags) {
        s.append(" [");
        if ((flags & TcpFlags.FIN) != 0) {
            s.append('F');
        }
        if ((flags & TcpFlags.SYN) != 0) {
            s.append('S');
        }
        if ((flags & TcpFlags.RST) != 0) {
            s.append('R');
        }
        if ((flags & TcpFlags.PSH) != 0) {
            s.append('P');
        }
        if ((flags & TcpFlags.ACK) != 0) {
            s.append('A');
        }
        if ((flags & TcpFlags.URG) != 0) {
            s.append('U');
        }
        s.append(']');
    }
}
