package dev.gvproxy.stack.udp;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.ip.IcmpInput;
import dev.gvproxy.stack.ip.Icmpv6Input;
import dev.gvproxy.stack.ip.IpHeader;
import dev.gvproxy.stack.ip.Ipv4Output;
import dev.gvproxy.stack.ip.Ipv6Output;
import dev.gvproxy.stack.ip.TransportHandler;
import dev.gvproxy.stack.wire.Headroom;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Icmpv6Packet;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import dev.gvproxy.stack.wire.UdpPacket;
import io.netty.buffer.ByteBuf;
import java.util.HashMap;

/**
 * UDP demultiplexing at the gateway and the in-stack UDP endpoint API used by DHCP and DNS.
 *
 * <p>A datagram goes to the service bound to its exact (destination IP, port), else to a service bound to
 * (any IP, port) — DHCP binds port 67 that way to hear broadcasts — else to the UDP forwarder, which
 * re-originates it from a host socket. Datagrams to a gateway address with nothing bound get an ICMP port
 * unreachable, as a host would send; unbound broadcasts are dropped and counted.
 *
 * <p>Both families: a binding's address is an {@link Ipv6Address}, IPv4 ones IPv4-mapped. The wildcard of each
 * family is its own: {@code Ipv6Address.ofIpv4(0)} (or {@link #bind(int, int, UdpHandler)} with 0) hears every
 * IPv4 address, {@link Ipv6Address#UNSPECIFIED} every IPv6 one (multicast included, e.g. DHCPv6's
 * {@code ff02::1:2}), so a service chooses per family, as with a socket bound to {@code 0.0.0.0} or {@code ::}
 * with IPV6_V6ONLY.
 */
public final class UdpDemux implements TransportHandler {
    private final StackConfig config;
    private final Ipv4Output output;
    private final IcmpInput icmp;
    private final Counters counters;
    private final HashMap<Binding, UdpHandler> bindings = new HashMap<>();
    private UdpHandler forwarder;
    private Ipv6Output ipv6Output;
    private Icmpv6Input icmpv6;
    private final Counters.Counter noPort;
    private final Counters.Counter broadcastUnbound;
    private final Counters.Counter noForwarder;
    private final Counters.Counter delivered;
    private final Counters.Counter noIpv6;

    public UdpDemux(StackConfig config, Ipv4Output output, IcmpInput icmp, Counters counters) {
        this.config = config;
        this.output = output;
        this.icmp = icmp;
        this.counters = counters;
        this.noPort = counters.counter("udp.noPort");
        this.broadcastUnbound = counters.counter("udp.broadcastUnbound");
        this.noForwarder = counters.counter("udp.noForwarder");
        this.delivered = counters.counter("udp.in.datagrams");
        this.noIpv6 = counters.counter("udp.noIpv6Output");
    }

    private record Binding(Ipv6Address ip, int port) {}

    private static final Ipv6Address ANY_IPV4 = Ipv6Address.ofIpv4(0);

    /** Where IPv6 datagrams go, and who sends ICMPv6 port unreachable (the stack sets both when IPv6 is on). */
    public void setIpv6(Ipv6Output out, Icmpv6Input icmp) {
        this.ipv6Output = out;
        this.icmpv6 = icmp;
    }

    /**
     * Binds a service to {@code ip:port}: an IPv4-mapped address or {@code ofIpv4(0)} (every IPv4 address), an IPv6
     * address or {@link Ipv6Address#UNSPECIFIED} (every IPv6 address).
     *
     * @throws IllegalStateException when already bound
     */
    public void bind(Ipv6Address ip, int port, UdpHandler handler) {
        if (bindings.putIfAbsent(new Binding(ip, port), handler) != null) {
            throw new IllegalStateException("UDP " + ip + " port " + port + " already bound");
        }
    }

    /** Binds a service to IPv4 {@code ip:port}; ip 0 binds every IPv4 address. */
    public void bind(int ip, int port, UdpHandler handler) {
        bind(Ipv6Address.ofIpv4(ip), port, handler);
    }

    public void unbind(Ipv6Address ip, int port) {
        bindings.remove(new Binding(ip, port));
    }

    public void unbind(int ip, int port) {
        unbind(Ipv6Address.ofIpv4(ip), port);
    }

    /** Installs the handler for datagrams no service is bound to (the UDP forwarder). */
    public void setForwarder(UdpHandler forwarder) {
        this.forwarder = forwarder;
    }

    /** @param payload <b>borrowed</b> */
    @Override
    public void receive(IpHeader ip, ByteBuf payload, long now) {
        int off = payload.readerIndex();
        UdpPacket.Error err = UdpPacket.checkWithAddressSum(payload, off, payload.readableBytes(), ip.addressSum(),
                ip.ipv6);
        if (err != null) {
            counters.counter(err.counter()).inc();
            return;
        }
        int srcPort = UdpPacket.srcPort(payload, off);
        int dstPort = UdpPacket.dstPort(payload, off);
        int udpLen = UdpPacket.length(payload, off);
        Ipv6Address dst = ip.dstAddress();
        UdpHandler h = bindings.get(new Binding(dst, dstPort));
        if (h == null) {
            h = bindings.get(new Binding(ip.ipv6 ? Ipv6Address.UNSPECIFIED : ANY_IPV4, dstPort));
        }
        boolean broadcast = ip.ipv6 ? dst.isMulticast()
                : ip.dst == Ipv4Address.BROADCAST || ip.dst == config.broadcast();
        if (h == null) {
            if (broadcast) {
                broadcastUnbound.inc();
                return;
            }
            if (ip.ipv6 ? config.ipv6().isGatewayAddress(dst) && !dst.equals(config.ipv6().hostAlias())
                    : config.isGatewayAddress(ip.dst) && !config.nat().containsKey(ip.dst)) {
                noPort.inc();
                if (ip.ipv6) {
                    if (icmpv6 != null) {
                        icmpv6.sendUnreachable(ip, payload, Icmpv6Packet.CODE_PORT_UNREACHABLE, now);
                    }
                } else {
                    icmp.sendUnreachable(ip, payload, 3, now);
                }
                return;
            }
            h = forwarder;
            if (h == null) {
                noForwarder.inc();
                return;
            }
        }
        delivered.inc();
        ByteBuf data = payload.slice(off + UdpPacket.HEADER_LEN, udpLen - UdpPacket.HEADER_LEN);
        h.datagram(new UdpDatagram(ip.srcMac, ip.srcAddress(), srcPort, dst, dstPort), data, now);
    }

    /**
     * Sends a datagram of either family (both addresses IPv4-mapped, or both IPv6), resolving the destination's MAC.
     *
     * @param payload <b>taken</b>
     */
    public void send(Ipv6Address src, int srcPort, Ipv6Address dst, int dstPort, ByteBuf payload, long now) {
        if (src.isIpv4Mapped()) {
            send(src.ipv4(), srcPort, dst.ipv4(), dstPort, payload, now);
            return;
        }
        if (ipv6Output == null) {
            noIpv6.inc();
            payload.release();
            return;
        }
        ipv6Output.send(src, dst, IpProtocol.UDP, build6(src, srcPort, dst, dstPort, payload), now);
    }

    /**
     * Sends an IPv6 datagram to a known MAC (a DHCPv6 reply to a client's link-local address, which needs no
     * resolution); IPv4-mapped addresses go as {@link #sendTo(long, int, int, int, int, ByteBuf)}.
     *
     * @param payload <b>taken</b>
     */
    public void sendTo(long dstMac, Ipv6Address src, int srcPort, Ipv6Address dst, int dstPort, ByteBuf payload) {
        if (src.isIpv4Mapped()) {
            sendTo(dstMac, src.ipv4(), srcPort, dst.ipv4(), dstPort, payload);
            return;
        }
        if (ipv6Output == null) {
            noIpv6.inc();
            payload.release();
            return;
        }
        ipv6Output.sendTo(dstMac, src, dst, IpProtocol.UDP, Ipv6Output.DEFAULT_HOP_LIMIT,
                build6(src, srcPort, dst, dstPort, payload));
    }

    private ByteBuf build6(Ipv6Address src, int srcPort, Ipv6Address dst, int dstPort, ByteBuf payload) {
        try {
            int len = payload.readableBytes();
            ByteBuf d = Headroom.buffer(ipv6Output.alloc(), Ipv6Packet.FRAME_HEADROOM, UdpPacket.HEADER_LEN + len);
            UdpPacket.writeHeader(d, srcPort, dstPort, len);
            d.writeBytes(payload, payload.readerIndex(), len);
            UdpPacket.fillChecksumIpv6(d, d.readerIndex(), d.readableBytes(), src, dst);
            return d;
        } finally {
            payload.release();
        }
    }

    /**
     * Sends a datagram, resolving the destination's MAC.
     *
     * @param payload <b>taken</b>
     */
    public void send(int srcIp, int srcPort, int dstIp, int dstPort, ByteBuf payload, long now) {
        output.send(srcIp, dstIp, Ipv4Packet.PROTO_UDP, build(srcIp, srcPort, dstIp, dstPort, payload), now);
    }

    /**
     * Sends a datagram to a known MAC (DHCP replies to clients without an address).
     *
     * @param payload <b>taken</b>
     */
    public void sendTo(long dstMac, int srcIp, int srcPort, int dstIp, int dstPort, ByteBuf payload) {
        output.sendTo(dstMac, srcIp, dstIp, Ipv4Packet.PROTO_UDP, build(srcIp, srcPort, dstIp, dstPort, payload));
    }

    private ByteBuf build(int srcIp, int srcPort, int dstIp, int dstPort, ByteBuf payload) {
        try {
            int len = payload.readableBytes();
            ByteBuf d = Headroom.buffer(output.alloc(), Ipv4Packet.FRAME_HEADROOM, UdpPacket.HEADER_LEN + len);
            UdpPacket.writeHeader(d, srcPort, dstPort, len);
            d.writeBytes(payload, payload.readerIndex(), len);
            UdpPacket.fillChecksum(d, d.readerIndex(), d.readableBytes(), srcIp, dstIp);
            return d;
        } finally {
            payload.release();
        }
    }
}
