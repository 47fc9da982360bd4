package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * One line describing an Ethernet frame, tcpdump-like, for {@code -debug} logs (the switch's frame log and the
 * guest agent's), read through the wire views, e.g.
 * {@code 5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 192.168.127.2:40000 > 192.168.127.1:80 TCP [S] len 74} or
 * {@code 02:00:00:00:00:0a > 33:33:ff:00:00:0b IPv6 fe80::ff:fe00:a > ff02::1:ff00:b ICMPv6 neighbor solicitation
 * who-has fe80::ff:fe00:b len 86}. IPv6 extension headers are walked as the stack walks them (bounded), and
 * ICMPv6 and NDP messages are named with their main fields.
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
            case EtherType.IPV6 -> ipv6(s, f, l3, l3len);
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

    private static void ipv6(StringBuilder s, ByteBuf f, int at, int len) {
        if (Ipv6Packet.check(f, at, len) != null) {
            s.append("IPv6 (truncated or bad header)");
            return;
        }
        Ipv6Packet.Chain c = new Ipv6Packet.Chain();
        Ipv6Packet.Error e = Ipv6Packet.walk(f, at, Ipv6Packet.DEFAULT_MAX_EXTENSION_HEADERS, c);
        int proto = c.protocol();
        int l4 = c.payloadOffset();
        int l4len = c.payloadLength();
        boolean whole = e == null && !c.isFragment();
        boolean first = whole || (e == null && Ipv6Packet.fragmentOffset(f, c.fragmentHeader()) == 0);
        boolean ports = e == null && first && (proto == IpProtocol.TCP || proto == IpProtocol.UDP) && l4len >= 4;
        s.append("IPv6 ");
        address(s, Ipv6Packet.src(f, at), ports ? TcpPacket.srcPort(f, l4) : -1);
        s.append(" > ");
        address(s, Ipv6Packet.dst(f, at), ports ? TcpPacket.dstPort(f, l4) : -1);
        if (e != null) {
            s.append(" (").append(e.counter()).append(')');
            return;
        }
        if (c.hopByHop() >= 0) {
            s.append(" HBH");
        }
        switch (proto) {
            case IpProtocol.ICMPV6 -> {
                s.append(" ICMPv6");
                if (first && l4len >= Icmpv6Packet.HEADER_LEN) {
                    icmpv6(s, f, l4, whole ? l4len : 0);
                }
            }
            case IpProtocol.TCP -> {
                s.append(" TCP");
                if (ports && l4len >= TcpPacket.MIN_HEADER_LEN) {
                    flags(s, TcpPacket.flags(f, l4));
                }
            }
            case IpProtocol.UDP -> s.append(" UDP");
            case Ipv6Packet.NH_NONE -> s.append(" no next header");
            default -> s.append(" proto ").append(proto);
        }
        if (!whole) {
            s.append(" (fragment)");
        }
    }

    private static void address(StringBuilder s, Ipv6Address a, int port) {
        if (port < 0) {
            s.append(a);
        } else {
            s.append('[').append(a).append("]:").append(port);
        }
    }

    /** @param len the whole message length, or 0 when only the 8-byte header may be read (a first fragment) */
    private static void icmpv6(StringBuilder s, ByteBuf f, int at, int len) {
        int type = Icmpv6Packet.type(f, at);
        int code = Icmpv6Packet.code(f, at);
        s.append(' ').append(Icmpv6Packet.typeName(type));
        switch (type) {
            case Icmpv6Packet.TYPE_ECHO_REQUEST, Icmpv6Packet.TYPE_ECHO_REPLY -> s.append(" id ")
                    .append(Icmpv6Packet.identifier(f, at)).append(" seq ").append(Icmpv6Packet.sequence(f, at));
            case Icmpv6Packet.TYPE_PACKET_TOO_BIG -> s.append(" mtu ").append(Icmpv6Packet.mtu(f, at));
            case Icmpv6Packet.TYPE_PARAMETER_PROBLEM -> s.append(" code ").append(code).append(" pointer ")
                    .append(Icmpv6Packet.pointer(f, at));
            case Icmpv6Packet.TYPE_DEST_UNREACHABLE, Icmpv6Packet.TYPE_TIME_EXCEEDED -> s.append(" code ").append(code);
            case Icmpv6Packet.TYPE_NEIGHBOR_SOLICITATION -> {
                if (len >= NdpPacket.NS_LEN) {
                    s.append(" who-has ").append(NdpPacket.target(f, at));
                    linkLayer(s, f, at + NdpPacket.NS_LEN, at + len, NdpOption.SOURCE_LINK_LAYER_ADDRESS, " from ");
                }
            }
            case Icmpv6Packet.TYPE_NEIGHBOR_ADVERTISEMENT -> {
                if (len >= NdpPacket.NA_LEN) {
                    s.append(' ').append(NdpPacket.target(f, at));
                    linkLayer(s, f, at + NdpPacket.NA_LEN, at + len, NdpOption.TARGET_LINK_LAYER_ADDRESS, " is-at ");
                    int fl = NdpPacket.naFlags(f, at);
                    if ((fl & (NdpPacket.NA_FLAG_ROUTER | NdpPacket.NA_FLAG_SOLICITED | NdpPacket.NA_FLAG_OVERRIDE))
                            != 0) {
                        s.append(" [").append((fl & NdpPacket.NA_FLAG_ROUTER) != 0 ? "R" : "")
                                .append((fl & NdpPacket.NA_FLAG_SOLICITED) != 0 ? "S" : "")
                                .append((fl & NdpPacket.NA_FLAG_OVERRIDE) != 0 ? "O" : "").append(']');
                    }
                }
            }
            case Icmpv6Packet.TYPE_ROUTER_ADVERTISEMENT -> {
                if (len >= NdpPacket.RA_LEN) {
                    s.append(" lifetime ").append(NdpPacket.routerLifetime(f, at));
                    int end = at + len;
                    for (int o = NdpOption.first(f, at + NdpPacket.RA_LEN, end); o >= 0;
                            o = NdpOption.next(f, o, end)) {
                        if (NdpOption.type(f, o) == NdpOption.PREFIX_INFORMATION && NdpOption.valid(f, o)) {
                            s.append(" prefix ").append(NdpOption.prefix(f, o)).append('/')
                                    .append(NdpOption.prefixLength(f, o));
                        } else if (NdpOption.type(f, o) == NdpOption.MTU && NdpOption.valid(f, o)) {
                            s.append(" mtu ").append(NdpOption.mtu(f, o));
                        } else if (NdpOption.type(f, o) == NdpOption.RDNSS && NdpOption.valid(f, o)) {
                            s.append(" rdnss ").append(NdpOption.rdnssServers(f, o).get(0));
                        }
                    }
                }
            }
            case Icmpv6Packet.TYPE_ROUTER_SOLICITATION, Icmpv6Packet.TYPE_REDIRECT -> { }
            default -> {
                if (code != 0) {
                    s.append(" code ").append(code);
                }
            }
        }
    }

    private static void linkLayer(StringBuilder s, ByteBuf f, int start, int end, int type, String label) {
        int o = NdpOption.find(f, start, end, type);
        if (o >= 0) {
            s.append(label).append(MacAddress.format(NdpOption.linkLayerAddress(f, o)));
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
