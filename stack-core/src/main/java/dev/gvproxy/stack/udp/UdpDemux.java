package dev.gvproxy.stack.udp;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.ip.IcmpInput;
import dev.gvproxy.stack.ip.Ipv4Header;
import dev.gvproxy.stack.ip.Ipv4Output;
import dev.gvproxy.stack.ip.TransportHandler;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.UdpPacket;
import io.netty.buffer.ByteBuf;
import io.netty.util.collection.LongObjectHashMap;

/**
 * UDP demultiplexing at the gateway and the in-stack UDP endpoint API used by DHCP and DNS.
 *
 * <p>A datagram goes to the service bound to its exact (destination IP, port), else to a service bound to
 * (any IP, port) — DHCP binds port 67 that way to hear broadcasts — else to the UDP forwarder, which
 * re-originates it from a host socket. Datagrams to a gateway address with nothing bound get an ICMP port
 * unreachable, as a host would send; unbound broadcasts are dropped and counted.
 */
public final class UdpDemux implements TransportHandler {
    private final StackConfig config;
    private final Ipv4Output output;
    private final IcmpInput icmp;
    private final Counters counters;
    private final LongObjectHashMap<UdpHandler> bindings = new LongObjectHashMap<>();
    private UdpHandler forwarder;
    private final Counters.Counter noPort;
    private final Counters.Counter broadcastUnbound;
    private final Counters.Counter noForwarder;
    private final Counters.Counter delivered;

    public UdpDemux(StackConfig config, Ipv4Output output, IcmpInput icmp, Counters counters) {
        this.config = config;
        this.output = output;
        this.icmp = icmp;
        this.counters = counters;
        this.noPort = counters.counter("udp.noPort");
        this.broadcastUnbound = counters.counter("udp.broadcastUnbound");
        this.noForwarder = counters.counter("udp.noForwarder");
        this.delivered = counters.counter("udp.in.datagrams");
    }

    private static long key(int ip, int port) {
        return ((long) ip << 16) | port;
    }

    /** Binds a service to {@code ip:port}; ip 0 binds every address. */
    public void bind(int ip, int port, UdpHandler handler) {
        if (bindings.containsKey(key(ip, port))) {
            throw new IllegalStateException("UDP " + Ipv4Address.format(ip) + ":" + port + " already bound");
        }
        bindings.put(key(ip, port), handler);
    }

    public void unbind(int ip, int port) {
        bindings.remove(key(ip, port));
    }

    /** Installs the handler for datagrams no service is bound to (the UDP forwarder). */
    public void setForwarder(UdpHandler forwarder) {
        this.forwarder = forwarder;
    }

    /** @param payload <b>borrowed</b> */
    @Override
    public void receive(Ipv4Header ip, ByteBuf payload, long now) {
        int off = payload.readerIndex();
        UdpPacket.Error err = UdpPacket.check(payload, off, payload.readableBytes(), ip.src, ip.dst);
        if (err != null) {
            counters.counter(err.counter()).inc();
            return;
        }
        int srcPort = UdpPacket.srcPort(payload, off);
        int dstPort = UdpPacket.dstPort(payload, off);
        int udpLen = UdpPacket.length(payload, off);
        UdpHandler h = bindings.get(key(ip.dst, dstPort));
        if (h == null) {
            h = bindings.get(key(0, dstPort));
        }
        boolean broadcast = ip.dst == Ipv4Address.BROADCAST || ip.dst == config.broadcast();
        if (h == null) {
            if (broadcast) {
                broadcastUnbound.inc();
                return;
            }
            if (config.isGatewayAddress(ip.dst) && !config.nat().containsKey(ip.dst)) {
                noPort.inc();
                icmp.sendUnreachable(ip, payload, 3, now);
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
        h.datagram(new UdpDatagram(ip.srcMac, ip.src, srcPort, ip.dst, dstPort), data, now);
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
            ByteBuf d = output.alloc().buffer(UdpPacket.HEADER_LEN + len);
            UdpPacket.writeHeader(d, srcPort, dstPort, len);
            d.writeBytes(payload, payload.readerIndex(), len);
            UdpPacket.fillChecksum(d, 0, d.readableBytes(), srcIp, dstIp);
            return d;
        } finally {
            payload.release();
        }
    }
}
