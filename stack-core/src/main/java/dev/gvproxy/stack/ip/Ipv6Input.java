package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.Ipv6Config;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import io.netty.buffer.ByteBuf;

/**
 * IPv6 receive path (RFC 8200), {@link Ipv4Input}'s counterpart. In order:
 * <ol>
 *   <li>the fixed header ({@link Ipv6Packet#check}); the payload length, not the frame, delimits the packet;</li>
 *   <li>hop limit 0 is dropped ({@code ipv6.hopLimitZero}); the source guard drops multicast sources, the
 *       gateway's own addresses (a guest must not speak as fe80::1, the gateway or the host alias) and sources
 *       that are neither link-local nor in the prefix ({@code ipv6.badSource}), {@code ::} except for ICMPv6
 *       (DAD and router solicitation need it); multicast destinations beyond link scope, and link-scope groups
 *       other than all-nodes, all-routers, DHCPv6's and the gateway's solicited-node groups, are not for the
 *       gateway ({@code ipv6.multicast});</li>
 *   <li>the source's MAC is learned in the neighbour cache;</li>
 *   <li>a packet larger than the link MTU gets Packet Too Big (the gateway is every off-link destination's
 *       router and the RAs announce the MTU) and is dropped ({@code ipv6.tooBig}), unless it is a TCP segment
 *       from a port with offloads: that one is a GSO segment the guest's kernel handed over whole, which the
 *       TCP layer takes as it takes IPv4's (see {@link #largeSegmentAllowed});</li>
 *   <li>the extension-header chain is walked with the configured bound ({@link Ipv6Packet#walk}); an error is
 *       counted under its own name and answered with the Parameter Problem RFC 8200 asks for;</li>
 *   <li>fragments: a first fragment must carry the whole header chain and the upper-layer header (RFC 7112,
 *       {@code ipv6.incompleteFirstFragment}); fragments are reassembled with the same bounds and counters as
 *       IPv4 ({@link FragmentReassembler#forIpv6}), and the reassembled part is walked again;</li>
 *   <li>the upper layer goes to its {@link TransportHandler} (TCP 6 and UDP 17 to the same handlers as IPv4,
 *       ICMPv6 58 to {@link Icmpv6Input}); No Next Header is dropped silently, an unknown protocol gets Parameter
 *       Problem code 1 ({@code ipv6.unknownProtocol}).</li>
 * </ol>
 * The gateway is promiscuous as for IPv4: a unicast packet to any destination is accepted, because everything
 * off-link is terminated here and re-originated from the host.
 */
public final class Ipv6Input {
    private final StackConfig config;
    private final Ipv6Config v6;
    /** Where a source MAC was learned, to tell a port with offloads ({@link #largeSegmentAllowed}). */
    private final VirtualSwitch sw;
    private final NeighborCache neighbors;
    private final FragmentReassembler reassembler;
    private final Icmpv6Input icmp;
    private final Counters counters;
    private final IpHeader header = new IpHeader();
    private final Ipv6Packet.Chain chain = new Ipv6Packet.Chain();
    /** For walks inside a fragment's data (first fragments, reassembled parts): the outer chain stays intact. */
    private final Ipv6Packet.Chain inner = new Ipv6Packet.Chain();
    private final TransportHandler[] handlers = new TransportHandler[256];
    /** The last source learned, reused so a known guest is confirmed without allocating. */
    private Ipv6Address lastSource;

    private final Counters.Counter received;
    private final Counters.Counter hopLimitZero;
    private final Counters.Counter multicast;
    private final Counters.Counter badSource;
    private final Counters.Counter unknownProtocol;
    private final Counters.Counter noNextHeader;
    private final Counters.Counter tooBig;
    private final Counters.Counter incompleteFirst;

    public Ipv6Input(StackConfig config, VirtualSwitch sw, NeighborCache neighbors, FragmentReassembler reassembler,
            Icmpv6Input icmp, Counters counters) {
        this.config = config;
        this.v6 = config.ipv6();
        this.sw = sw;
        this.neighbors = neighbors;
        this.reassembler = reassembler;
        this.icmp = icmp;
        this.counters = counters;
        this.received = counters.counter("ipv6.in.packets");
        this.hopLimitZero = counters.counter("ipv6.hopLimitZero");
        this.multicast = counters.counter("ipv6.multicast");
        this.badSource = counters.counter("ipv6.badSource");
        this.unknownProtocol = counters.counter("ipv6.unknownProtocol");
        this.noNextHeader = counters.counter("ipv6.noNextHeader");
        this.tooBig = counters.counter("ipv6.tooBig");
        this.incompleteFirst = counters.counter("ipv6.incompleteFirstFragment");
        handlers[IpProtocol.ICMPV6] = icmp;
    }

    /** Routes upper-layer protocol {@code protocol} (e.g. 6 = TCP) to {@code handler}; null removes it. */
    public void setHandler(int protocol, TransportHandler handler) {
        handlers[protocol & 0xFF] = handler;
    }

    /**
     * @param frame <b>borrowed</b>; the IPv6 packet starts at {@code off}, {@code len} bytes follow in the frame
     * @param srcMac the frame's Ethernet source
     */
    public void input(ByteBuf frame, int off, int len, long srcMac, long now) {
        Ipv6Packet.Error err = Ipv6Packet.check(frame, off, len);
        if (err != null) {
            counters.counter(err.counter()).inc();
            return;
        }
        int total = Ipv6Packet.totalLength(frame, off);
        int hopLimit = Ipv6Packet.hopLimit(frame, off);
        if (hopLimit == 0) {
            hopLimitZero.inc();
            return;
        }
        long srcHi = frame.getLong(off + 8);
        long srcLo = frame.getLong(off + 16);
        long dstHi = frame.getLong(off + 24);
        long dstLo = frame.getLong(off + 32);
        boolean srcUnspecified = srcHi == 0 && srcLo == 0;
        if (!sourceAllowed(srcHi, srcLo)) {
            badSource.inc();
            return;
        }
        if ((dstHi >>> 56) == 0xFF && !multicastForUs(dstHi, dstLo)) {
            multicast.inc();
            return;
        }
        received.inc();
        if (!srcUnspecified) {
            Ipv6Address s = lastSource;
            if (s == null || s.hi() != srcHi || s.lo() != srcLo) {
                s = new Ipv6Address(srcHi, srcLo);
                lastSource = s;
            }
            neighbors.learn(s, srcMac, now);
        }
        if (total > config.mtu() && !largeSegmentAllowed(frame, off, srcMac)) {
            tooBig.inc();
            icmp.sendPacketTooBig(frame, off, total, config.mtu(), now);
            return;
        }
        Ipv6Packet.Chain c = chain;
        err = Ipv6Packet.walk(frame, off, v6.maxExtensionHeaders(), c);
        if (err != null) {
            counters.counter(err.counter()).inc();
            if (c.problemCode() >= 0) {
                icmp.sendParameterProblem(frame, off, total, c.problemCode(), c.problemPointer(), now);
            }
            return;
        }
        IpHeader h = header;
        h.srcMac = srcMac;
        h.setIpv6(srcHi, srcLo, dstHi, dstLo);
        h.ttl = hopLimit;
        h.dscpEcn = Ipv6Packet.trafficClass(frame, off);
        h.flowLabel = Ipv6Packet.flowLabel(frame, off);
        if (c.isFragment()) {
            fragment(frame, off, h, c, now);
            return;
        }
        int protocol = c.protocol();
        if (srcUnspecified && protocol != IpProtocol.ICMPV6) {
            badSource.inc();
            return;
        }
        TransportHandler handler = handlers[protocol];
        if (handler == null) {
            unknown(frame, off, total, protocol, c.protocolPointer(), now);
            return;
        }
        h.protocol = protocol;
        h.payloadLength = c.payloadLength();
        h.reassembled = false;
        h.ipOffset = off;
        // As for IPv4: the handler reads the frame itself, its indexes narrowed to the payload for the call.
        int ri = frame.readerIndex();
        int wi = frame.writerIndex();
        frame.setIndex(c.payloadOffset(), c.payloadOffset() + c.payloadLength());
        try {
            handler.receive(h, frame, now);
        } finally {
            frame.setIndex(ri, wi);
        }
    }

    private void fragment(ByteBuf frame, int off, IpHeader h, Ipv6Packet.Chain c, long now) {
        int fh = c.fragmentHeader();
        int fragOff = Ipv6Packet.fragmentOffset(frame, fh);
        boolean dstMulticast = (h.dstHi >>> 56) == 0xFF;
        int nextHeader = c.protocol();
        if (fragOff == 0 && !headerChainComplete(frame, c.payloadOffset(), c.payloadLength(), nextHeader,
                dstMulticast)) {
            incompleteFirst.inc(); // RFC 7112 5: the first fragment must hold the whole header chain
            return;
        }
        ByteBuf data = frame.slice(c.payloadOffset(), c.payloadLength());
        FragmentReassembler.Reassembled r = reassembler.addIpv6(h.srcAddress(), h.dstAddress(),
                Ipv6Packet.fragmentIdentification(frame, fh), nextHeader, fragOff, Ipv6Packet.moreFragments(frame, fh),
                data, now);
        if (r == null) {
            return;
        }
        ByteBuf whole = r.payload();
        try {
            Ipv6Packet.Chain rc = inner;
            Ipv6Packet.Error err = Ipv6Packet.walkPayload(whole, whole.readerIndex(), whole.readableBytes(),
                    r.nextHeader(), dstMulticast, v6.maxExtensionHeaders(), rc);
            if (err != null) {
                counters.counter(err.counter()).inc(); // pointers are into the reassembled part: no error sent
                return;
            }
            int protocol = rc.protocol();
            if (h.srcHi == 0 && h.srcLo == 0 && protocol != IpProtocol.ICMPV6) {
                badSource.inc();
                return;
            }
            TransportHandler handler = handlers[protocol];
            if (handler == null) {
                (protocol == Ipv6Packet.NH_NONE ? noNextHeader : unknownProtocol).inc();
                return;
            }
            h.protocol = protocol;
            h.payloadLength = rc.payloadLength();
            h.reassembled = true;
            h.ipOffset = -1;
            ByteBuf payload = whole.slice(rc.payloadOffset(), rc.payloadLength());
            handler.receive(h, payload, now);
        } finally {
            whole.release();
        }
    }

    /**
     * RFC 7112: the first fragment's fragmentable part walks to an upper-layer header that is wholly inside it
     * (TCP's 20 bytes, UDP's 8, ICMPv6's 4; another upper layer: its Next Header at least).
     */
    private boolean headerChainComplete(ByteBuf frame, int start, int len, int nextHeader, boolean dstMulticast) {
        Ipv6Packet.Chain rc = inner;
        if (Ipv6Packet.walkPayload(frame, start, len, nextHeader, dstMulticast, v6.maxExtensionHeaders(), rc) != null
                || rc.isFragment()) {
            return false;
        }
        int need = switch (rc.protocol()) {
            case IpProtocol.TCP -> 20;
            case IpProtocol.UDP -> 8;
            case IpProtocol.ICMPV6 -> 4;
            default -> 0;
        };
        return rc.payloadLength() >= need;
    }

    private void unknown(ByteBuf frame, int off, int total, int protocol, int pointer, long now) {
        if (protocol == Ipv6Packet.NH_NONE) {
            noNextHeader.inc(); // RFC 8200 4.7: nothing follows, nothing to do
            return;
        }
        unknownProtocol.inc();
        if (!Ipv6Packet.dstIsMulticast(frame, off) && pointer >= 0) {
            icmp.sendParameterProblem(frame, off, total, Ipv6Packet.PROBLEM_UNRECOGNIZED_NEXT_HEADER, pointer, now);
        }
    }

    /**
     * A packet over the MTU that is still taken whole: a TCP segment right after the fixed header (the shape
     * {@link dev.gvproxy.stack.link.VirtioNetHeader} admits as GSO and {@link dev.gvproxy.stack.link.SoftwareGso}
     * cuts) from a port whose endpoint has offloads. IPv4 input has no size gate at all: an oversized IPv4 datagram
     * reaches TCP whatever port sent it, and the only size decisions are the switch's (by the ingress port's
     * {@code offloads()}) and TcpSender's (by the guest's port, {@code sw.portOf(mac).offloads()} through
     * TcpLayer.Links). IPv6 asks the same question the same way (the port the source MAC was learned on, which
     * the switch did just before handing the frame over) and keeps Packet Too Big for everything else: a guest
     * whose link MTU exceeds the network's still learns the path MTU.
     */
    private boolean largeSegmentAllowed(ByteBuf frame, int off, long srcMac) {
        if (Ipv6Packet.nextHeader(frame, off) != IpProtocol.TCP) {
            return false;
        }
        SwitchPort port = sw.portOf(srcMac);
        return port != null && port.offloads();
    }

    /** Multicast and the gateway's own addresses may not be a guest's source; off-link ones are not its own. */
    private boolean sourceAllowed(long hi, long lo) {
        if (hi == 0 && lo == 0) {
            return true; // checked against the protocol once it is known
        }
        if ((hi >>> 56) == 0xFF) {
            return false;
        }
        if (is(v6.linkLocal(), hi, lo) || is(v6.gateway(), hi, lo) || is(v6.hostAlias(), hi, lo)) {
            return false;
        }
        boolean linkLocal = (hi >>> 54) == (0xFE80L >>> 6);
        return linkLocal || hi == v6.prefix().hi();
    }

    /**
     * Link-scope groups the gateway listens to: all nodes, all routers, DHCPv6 agents, and the solicited-node
     * groups of its addresses.
     */
    private boolean multicastForUs(long hi, long lo) {
        if (is(Ipv6Address.ALL_NODES, hi, lo) || is(Ipv6Address.ALL_ROUTERS, hi, lo)
                || is(Ipv6Address.ALL_DHCP_AGENTS, hi, lo)) {
            return true;
        }
        Ipv6Address group = new Ipv6Address(hi, lo);
        return group.isSolicitedNode() && (group.equals(v6.linkLocal().solicitedNode())
                || group.equals(v6.gateway().solicitedNode()) || group.equals(v6.hostAlias().solicitedNode()));
    }

    private static boolean is(Ipv6Address a, long hi, long lo) {
        return a.hi() == hi && a.lo() == lo;
    }

    public Icmpv6Input icmp() {
        return icmp;
    }
}
