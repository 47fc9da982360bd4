package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.Ipv6Config;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Headroom;
import dev.gvproxy.stack.wire.Icmpv6Packet;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import dev.gvproxy.stack.wire.NdpOption;
import dev.gvproxy.stack.wire.NdpPacket;
import dev.gvproxy.stack.wire.NdpRepr;
import io.netty.buffer.ByteBuf;

/**
 * ICMPv6 at the gateway (RFC 4443) and neighbour discovery (RFC 4861), {@link IcmpInput}'s IPv6 counterpart:
 * <ul>
 *   <li>echo requests to the gateway's own addresses (link-local, prefix gateway) are answered here; everything
 *       else that is not NDP (echo to other destinations and to the host alias, echo replies, errors the guests
 *       send back) goes to the forwarder's handler when one is installed ({@link #setForwarder});</li>
 *   <li>neighbour solicitations for the gateway's addresses (link-local, gateway, host alias) are answered with
 *       a solicited NA (router flag set); a duplicate address detection probe ({@code ::} source) for one of
 *       them is defended with an NA to all nodes, one for any other address is ignored (the address belongs to
 *       no one the gateway speaks for);</li>
 *   <li>router solicitations are answered at once by the {@link RouterAdvertiser} (which also sends the periodic
 *       ones);</li>
 *   <li>the neighbour cache learns from NS and RS source link-layer options and NA target link-layer options,
 *       never for an address of the gateway (a guest claiming one is counted as {@code ndp.conflict});</li>
 *   <li>RA guard (RFC 6105's idea at the gateway): router advertisements and redirects from guests are dropped
 *       and counted ({@code ndp.raFromGuest}, {@code ndp.redirectFromGuest}): the gateway is the only router;</li>
 *   <li>NDP inside fragments is dropped (RFC 6980, {@code ndp.fragmented}), as is NDP whose hop limit is not
 *       255 or that fails the other RFC 4861 validity checks ({@link NdpPacket#check}).</li>
 * </ul>
 * Also builds the ICMPv6 errors the stack sends ({@link #sendUnreachable}, {@link #sendPacketTooBig},
 * {@link #sendParameterProblem}), rate limited by a token bucket (RFC 4443 2.4 (f),
 * {@link Ipv6Config#icmpErrorsPerSecond()}, {@code icmpv6.out.rateLimited}) and never about a packet from
 * {@code ::} or a multicast source, or about an ICMPv6 error (2.4 (e)).
 */
public final class Icmpv6Input implements TransportHandler {
    private final StackConfig config;
    private final Ipv6Config v6;
    private final Ipv6Output output;
    private final NeighborCache neighbors;
    private final Counters counters;
    private RouterAdvertiser advertiser;
    private TransportHandler forwarder;

    private final Counters.Counter echoReplies;
    private final Counters.Counter noForwarder;
    private final Counters.Counter unreachableSent;
    private final Counters.Counter tooBigSent;
    private final Counters.Counter problemSent;
    private final Counters.Counter rateLimited;
    private final Counters.Counter fragmentedNdp;
    private final Counters.Counter raFromGuest;
    private final Counters.Counter redirectFromGuest;
    private final Counters.Counter advertisements;
    private final Counters.Counter defended;
    private final Counters.Counter dadIgnored;
    private final Counters.Counter notForGateway;
    private final Counters.Counter conflict;
    private final Counters.Counter unresolvedReply;

    /** Token bucket for ICMPv6 errors: tokens scaled by 1e9 (one token = one error). */
    private long errorTokens;
    private long errorRefilled = Long.MIN_VALUE;

    public Icmpv6Input(StackConfig config, Ipv6Output output, Counters counters) {
        this.config = config;
        this.v6 = config.ipv6();
        this.output = output;
        this.neighbors = output.neighbors();
        this.counters = counters;
        this.echoReplies = counters.counter("icmpv6.out.echoReplies");
        this.noForwarder = counters.counter("icmpv6.noForwarder");
        this.unreachableSent = counters.counter("icmpv6.out.destUnreachable");
        this.tooBigSent = counters.counter("icmpv6.out.packetTooBig");
        this.problemSent = counters.counter("icmpv6.out.parameterProblem");
        this.rateLimited = counters.counter("icmpv6.out.rateLimited");
        this.fragmentedNdp = counters.counter("ndp.fragmented");
        this.raFromGuest = counters.counter("ndp.raFromGuest");
        this.redirectFromGuest = counters.counter("ndp.redirectFromGuest");
        this.advertisements = counters.counter("ndp.out.advertisements");
        this.defended = counters.counter("ndp.out.dadDefended");
        this.dadIgnored = counters.counter("ndp.dadIgnored");
        this.notForGateway = counters.counter("ndp.notForGateway");
        this.conflict = counters.counter("ndp.conflict");
        this.unresolvedReply = counters.counter("ndp.noLinkLayerAddress");
    }

    /** Installs the handler for ICMPv6 not answered by the gateway itself (the ICMPv6 echo forwarder). */
    public void setForwarder(TransportHandler forwarder) {
        this.forwarder = forwarder;
    }

    /** Who answers router solicitations (the stack sets it). */
    public void setAdvertiser(RouterAdvertiser advertiser) {
        this.advertiser = advertiser;
    }

    /** True when echo requests to {@code dst} are answered by the stack (the host alias's go to the host). */
    private boolean answersLocally(Ipv6Address dst) {
        return dst.equals(v6.gateway()) || dst.equals(v6.linkLocal());
    }

    /** @param payload <b>borrowed</b> */
    @Override
    public void receive(IpHeader ip, ByteBuf payload, long now) {
        int off = payload.readerIndex();
        int len = payload.readableBytes();
        Ipv6Address src = ip.srcAddress();
        Ipv6Address dst = ip.dstAddress();
        Icmpv6Packet.Error err = Icmpv6Packet.check(payload, off, len, src, dst);
        if (err != null) {
            counters.counter(err.counter()).inc();
            return;
        }
        int type = Icmpv6Packet.type(payload, off);
        if (NdpPacket.isNdp(type)) {
            ndp(ip, src, dst, payload, off, len, type, now);
            return;
        }
        if (type == Icmpv6Packet.TYPE_ECHO_REQUEST && answersLocally(dst)) {
            echoReplies.inc();
            ByteBuf reply = Headroom.buffer(output.alloc(), Ipv6Packet.FRAME_HEADROOM, len);
            int r = reply.readerIndex();
            reply.writeBytes(payload, off, len);
            reply.setByte(r, Icmpv6Packet.TYPE_ECHO_REPLY);
            Icmpv6Packet.fillChecksum(reply, r, len, dst, src);
            output.send(dst, src, IpProtocol.ICMPV6, reply, now);
            return;
        }
        TransportHandler f = forwarder;
        if (f == null || dst.isMulticast()) {
            noForwarder.inc();
            return;
        }
        f.receive(ip, payload, now);
    }

    private void ndp(IpHeader ip, Ipv6Address src, Ipv6Address dst, ByteBuf buf, int off, int len, int type,
            long now) {
        if (ip.reassembled || ip.ipOffset < 0) {
            fragmentedNdp.inc(); // RFC 6980: NDP in fragments is dropped
            return;
        }
        NdpPacket.Error err = NdpPacket.check(buf, off, len, ip.ipOffset);
        if (err != null) {
            counters.counter(err.counter()).inc();
            return;
        }
        int opts = NdpPacket.optionsOffset(buf, off);
        int end = off + len;
        switch (type) {
            case Icmpv6Packet.TYPE_ROUTER_SOLICITATION -> {
                long mac = linkLayer(buf, opts, end, NdpOption.SOURCE_LINK_LAYER_ADDRESS);
                if (!src.isUnspecified() && mac >= 0) {
                    learn(src, mac, now);
                }
                if (advertiser != null) {
                    advertiser.solicited(src, mac >= 0 ? mac : ip.srcMac, now);
                }
            }
            case Icmpv6Packet.TYPE_NEIGHBOR_SOLICITATION -> {
                Ipv6Address target = NdpPacket.target(buf, off);
                long mac = linkLayer(buf, opts, end, NdpOption.SOURCE_LINK_LAYER_ADDRESS);
                if (src.isUnspecified()) {
                    // Duplicate address detection (RFC 4862 5.4.3): defend our own addresses, stay silent for
                    // any other (answering would make the guest give up an address nobody holds).
                    if (!v6.isGatewayAddress(target)) {
                        dadIgnored.inc();
                        return;
                    }
                    defended.inc();
                    advertise(target, Ipv6Address.ALL_NODES, Ipv6Address.ALL_NODES.multicastMac(), false);
                    return;
                }
                if (mac >= 0) {
                    learn(src, mac, now);
                }
                if (!v6.isGatewayAddress(target)) {
                    notForGateway.inc();
                    return;
                }
                long to = mac >= 0 ? mac : neighbors.lookup(src, now);
                if (to < 0) {
                    to = ip.srcMac; // unicast NS without the option (7.2.4): the frame's source is the sender
                }
                advertise(target, src, to, true);
            }
            case Icmpv6Packet.TYPE_NEIGHBOR_ADVERTISEMENT -> {
                Ipv6Address target = NdpPacket.target(buf, off);
                if (v6.isGatewayAddress(target)) {
                    conflict.inc(); // a guest claiming the gateway's address: never learned
                    return;
                }
                long mac = linkLayer(buf, opts, end, NdpOption.TARGET_LINK_LAYER_ADDRESS);
                if (mac < 0) {
                    mac = ip.srcMac;
                }
                learn(target, mac, now);
            }
            case Icmpv6Packet.TYPE_ROUTER_ADVERTISEMENT -> raFromGuest.inc();
            default -> redirectFromGuest.inc();
        }
    }

    private void learn(Ipv6Address ip, long mac, long now) {
        if (v6.isGatewayAddress(ip)) {
            conflict.inc();
            return;
        }
        neighbors.learn(ip, mac, now);
        output.flushResolved(ip, mac);
    }

    private static long linkLayer(ByteBuf buf, int start, int end, int type) {
        int at = NdpOption.find(buf, start, end, type);
        return at < 0 || !NdpOption.valid(buf, at) ? -1 : NdpOption.linkLayerAddress(buf, at);
    }

    /** Sends an NA for our {@code target} to {@code dst} at {@code dstMac} (router flag, override set). */
    private void advertise(Ipv6Address target, Ipv6Address dst, long dstMac, boolean solicited) {
        advertisements.inc();
        NdpRepr na = new NdpRepr.NeighborAdvertisement(true, solicited, true, target, config.gatewayMac());
        ByteBuf m = Headroom.buffer(output.alloc(), Ipv6Packet.FRAME_HEADROOM, na.bufferLen());
        na.emit(m, target, dst);
        output.sendTo(dstMac, target, dst, IpProtocol.ICMPV6, NdpPacket.HOP_LIMIT, m);
    }

    // ---- errors the stack sends -----------------------------------------------------------------------------------

    /**
     * Sends "destination unreachable" (RFC 4443 3.1) about a packet the stack received, e.g. no service on a
     * gateway port, or (the forwarder) a host refusing or unreachable. The invoking packet is quoted as its fixed
     * header rebuilt from {@code ip} (extension headers are not reproduced) and as much of its payload as fits
     * in the minimum MTU.
     *
     * @param payload <b>borrowed</b>: the offending packet's upper-layer message
     * @param code one of {@code Icmpv6Packet.CODE_*} (e.g. 4 port unreachable, 1 administratively prohibited)
     */
    public void sendUnreachable(IpHeader ip, ByteBuf payload, int code, long now) {
        if (sendError(ip, payload, Icmpv6Packet.TYPE_DEST_UNREACHABLE, code, 0, now)) {
            unreachableSent.inc();
        }
    }

    /**
     * Sends "packet too big" (RFC 4443 3.2) with the link MTU, about a guest packet larger than the link MTU the
     * router advertisements announce (a guest that ignores the RA's MTU option or has a larger one set by hand):
     * the gateway, the router towards every off-link destination, does not pass it on.
     *
     * @param packet <b>borrowed</b>: {@code len} bytes from the IPv6 header at {@code ipOff}
     */
    public void sendPacketTooBig(ByteBuf packet, int ipOff, int len, int mtu, long now) {
        if (quoteError(packet, ipOff, len, Icmpv6Packet.TYPE_PACKET_TOO_BIG, 0, mtu, true, now)) {
            tooBigSent.inc();
        }
    }

    /**
     * Sends "parameter problem" (RFC 4443 3.4) quoting the invoking packet as received.
     *
     * @param packet <b>borrowed</b>: {@code len} bytes from the IPv6 header at {@code ipOff}
     */
    public void sendParameterProblem(ByteBuf packet, int ipOff, int len, int code, int pointer, long now) {
        if (quoteError(packet, ipOff, len, Icmpv6Packet.TYPE_PARAMETER_PROBLEM, code, pointer, false, now)) {
            problemSent.inc();
        }
    }

    /**
     * @param toMulticast whether an error about a packet to a multicast address is allowed (2.4 (e): only Packet
     *     Too Big, and Parameter Problem code 2 which the walk already filters)
     */
    private boolean quoteError(ByteBuf packet, int ipOff, int len, int type, int code, int rest, boolean toMulticast,
            long now) {
        Ipv6Address origSrc = Ipv6Packet.src(packet, ipOff);
        Ipv6Address origDst = Ipv6Packet.dst(packet, ipOff);
        if ((origDst.isMulticast() && !toMulticast && type != Icmpv6Packet.TYPE_PARAMETER_PROBLEM)
                || !errorAllowed(origSrc, now)) {
            return false;
        }
        int quoted = Math.min(len, Icmpv6Packet.MAX_ERROR_LEN - Icmpv6Packet.HEADER_LEN);
        ByteBuf m = Headroom.buffer(output.alloc(), Ipv6Packet.FRAME_HEADROOM, Icmpv6Packet.HEADER_LEN + quoted);
        Icmpv6Packet.writeHeader(m, type, code, rest);
        m.writeBytes(packet, ipOff, quoted);
        Ipv6Address from = errorSource(origDst);
        Icmpv6Packet.fillChecksum(m, m.readerIndex(), m.readableBytes(), from, origSrc);
        output.send(from, origSrc, IpProtocol.ICMPV6, m, now);
        return true;
    }

    private boolean sendError(IpHeader ip, ByteBuf payload, int type, int code, int rest, long now) {
        if (!ip.ipv6) {
            throw new IllegalArgumentException("ICMPv6 error about an IPv4 datagram");
        }
        Ipv6Address origSrc = ip.srcAddress();
        Ipv6Address origDst = ip.dstAddress();
        if (ip.protocol == IpProtocol.ICMPV6 && payload.readableBytes() > 0
                && Icmpv6Packet.isError(payload.getUnsignedByte(payload.readerIndex()))) {
            return false; // 2.4 (e): never an error about an error
        }
        if (!errorAllowed(origSrc, now)) {
            return false;
        }
        int quoted = Math.min(payload.readableBytes(),
                Icmpv6Packet.MAX_ERROR_LEN - Icmpv6Packet.HEADER_LEN - Ipv6Packet.HEADER_LEN);
        ByteBuf m = Headroom.buffer(output.alloc(), Ipv6Packet.FRAME_HEADROOM,
                Icmpv6Packet.HEADER_LEN + Ipv6Packet.HEADER_LEN + quoted);
        Icmpv6Packet.writeHeader(m, type, code, rest);
        Ipv6Packet.writeHeader(m, ip.dscpEcn, ip.flowLabel, ip.payloadLength, ip.protocol, ip.ttl, origSrc, origDst);
        m.writeBytes(payload, payload.readerIndex(), quoted);
        Ipv6Address from = errorSource(origDst);
        Icmpv6Packet.fillChecksum(m, m.readerIndex(), m.readableBytes(), from, origSrc);
        output.send(from, origSrc, IpProtocol.ICMPV6, m, now);
        return true;
    }

    /** The error's source: the offending packet's destination when unicast (the peer the guest addressed). */
    private Ipv6Address errorSource(Ipv6Address origDst) {
        if (!origDst.isMulticast() && !origDst.isUnspecified()) {
            return origDst;
        }
        return v6.linkLocal();
    }

    /** 2.4 (e) and (f): no error to {@code ::} or a multicast source, and at most the configured rate. */
    private boolean errorAllowed(Ipv6Address origSrc, long now) {
        if (origSrc.isUnspecified() || origSrc.isMulticast()) {
            return false;
        }
        long cap = (long) v6.icmpErrorsPerSecond() * 1_000_000_000L;
        if (errorRefilled == Long.MIN_VALUE) {
            errorTokens = cap;
        } else {
            errorTokens = Math.min(cap, errorTokens + Math.max(0, now - errorRefilled) * v6.icmpErrorsPerSecond());
        }
        errorRefilled = now;
        if (errorTokens < 1_000_000_000L) {
            rateLimited.inc();
            return false;
        }
        errorTokens -= 1_000_000_000L;
        return true;
    }

    public Ipv6Output output() {
        return output;
    }
}
