package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Headroom;
import dev.gvproxy.stack.wire.Icmpv4Packet;
import dev.gvproxy.stack.wire.Ipv4Packet;
import io.netty.buffer.ByteBuf;

/**
 * ICMPv4 at the gateway (RFC 792): echo requests to the gateway's own addresses are answered here, with
 * the request's identifier, sequence and data (any size up to what reassembly allows); everything else
 * (echo to other destinations, errors the guests send back) goes to the forwarder's handler when one is
 * installed. Also builds the ICMP errors the stack itself sends (port unreachable).
 */
public final class IcmpInput implements TransportHandler {
    private final StackConfig config;
    private final Ipv4Output output;
    private final Counters counters;
    private final Counters.Counter echoReplies;
    private final Counters.Counter noForwarder;
    private final Counters.Counter unreachableSent;
    private TransportHandler forwarder;

    public IcmpInput(StackConfig config, Ipv4Output output, Counters counters) {
        this.config = config;
        this.output = output;
        this.counters = counters;
        this.echoReplies = counters.counter("icmp.out.echoReplies");
        this.noForwarder = counters.counter("icmp.noForwarder");
        this.unreachableSent = counters.counter("icmp.out.destUnreachable");
    }

    /** Installs the handler for ICMP not answered by the gateway itself (the ICMP echo forwarder). */
    public void setForwarder(TransportHandler forwarder) {
        this.forwarder = forwarder;
    }

    /** True when echo requests to {@code ip} are answered by the stack itself, not forwarded. */
    private boolean answersLocally(int ip) {
        return ip == config.gatewayIp() || (config.isGatewayAddress(ip) && !config.nat().containsKey(ip));
    }

    /** @param payload <b>borrowed</b> */
    @Override
    public void receive(IpHeader ip, ByteBuf payload, long now) {
        int off = payload.readerIndex();
        int len = payload.readableBytes();
        Icmpv4Packet.Error err = Icmpv4Packet.check(payload, off, len);
        if (err != null) {
            counters.counter(err.counter()).inc();
            return;
        }
        int type = Icmpv4Packet.type(payload, off);
        if (type == Icmpv4Packet.TYPE_ECHO_REQUEST && answersLocally(ip.dst)) {
            echoReplies.inc();
            ByteBuf reply = Headroom.buffer(output.alloc(), Ipv4Packet.FRAME_HEADROOM, len);
            int r = reply.readerIndex();
            reply.writeBytes(payload, off, len);
            reply.setByte(r, Icmpv4Packet.TYPE_ECHO_REPLY);
            Icmpv4Packet.fillChecksum(reply, r, len);
            output.send(ip.dst, ip.src, Ipv4Packet.PROTO_ICMP, reply, now);
            return;
        }
        TransportHandler f = forwarder;
        if (f == null) {
            noForwarder.inc();
            return;
        }
        f.receive(ip, payload, now);
    }

    /**
     * Sends "destination unreachable" about a datagram the stack received (RFC 792: the original IP header
     * plus the first 8 bytes of its payload; options are not reproduced).
     *
     * @param payload <b>borrowed</b>: the offending datagram's payload
     */
    public void sendUnreachable(IpHeader ip, ByteBuf payload, int code, long now) {
        if (ip.ipv6) {
            throw new IllegalArgumentException("ICMPv4 error about an IPv6 packet: use Icmpv6Input.sendUnreachable");
        }
        int quoted = Math.min(8, payload.readableBytes());
        ByteBuf m = Headroom.buffer(output.alloc(), Ipv4Packet.FRAME_HEADROOM,
                Icmpv4Packet.HEADER_LEN + Ipv4Packet.MIN_HEADER_LEN + quoted);
        m.writeByte(Icmpv4Packet.TYPE_DEST_UNREACHABLE).writeByte(code).writeShort(0).writeInt(0);
        Ipv4Packet.writeHeader(m, ip.dscpEcn, Ipv4Packet.MIN_HEADER_LEN + ip.payloadLength, ip.identification,
                false, ip.ttl, ip.protocol, ip.src, ip.dst);
        m.writeBytes(payload, payload.readerIndex(), quoted);
        Icmpv4Packet.fillChecksum(m, m.readerIndex(), m.readableBytes());
        unreachableSent.inc();
        output.send(ip.dst, ip.src, Ipv4Packet.PROTO_ICMP, m, now);
    }
}
