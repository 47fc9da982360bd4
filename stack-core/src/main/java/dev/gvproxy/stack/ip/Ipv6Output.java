package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.Ipv6Config;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.EtherType;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.Headroom;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import dev.gvproxy.stack.wire.MacAddress;
import dev.gvproxy.stack.wire.NdpPacket;
import dev.gvproxy.stack.wire.NdpRepr;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import java.util.ArrayDeque;

/**
 * Emits IPv6 packets from the gateway towards guests, {@link Ipv4Output}'s counterpart: resolves the destination
 * MAC (multicast by RFC 2464 section 7, learned in the {@link NeighborCache}, or by a neighbour solicitation with
 * the packet waiting in a bounded queue), writes the Ethernet and IPv6 headers, fragments packets larger than the
 * link MTU (RFC 8200 section 4.5: the stack is the packets' source, so it may), and hands the frames to the
 * switch.
 *
 * <p>As in {@link Ipv4Output}, a message built in a {@link Headroom#buffer} with {@link Ipv6Packet#FRAME_HEADROOM}
 * bytes of headers' room (every message the stack builds) gets its headers written into that room, in place;
 * fragments and small payloads of other senders are copied behind new headers into a {@link Headroom#buffer}, and
 * large payloads of other senders sent as a two-component composite.
 */
public final class Ipv6Output {
    static final int HEADERS = Ipv6Packet.FRAME_HEADROOM;
    static final int COPY_THRESHOLD = 512;
    public static final int DEFAULT_HOP_LIMIT = 64;

    private final StackConfig config;
    private final Ipv6Config v6;
    private final VirtualSwitch sw;
    private final NeighborCache neighbors;
    private final ByteBufAllocator alloc;
    private int nextId;

    private final Counters.Counter noRoute;
    private final Counters.Counter sent;
    private final Counters.Counter fragmentsSent;
    private final Counters.Counter solicitations;

    public Ipv6Output(StackConfig config, VirtualSwitch sw, NeighborCache neighbors, ByteBufAllocator alloc,
            Counters counters) {
        this.config = config;
        this.v6 = config.ipv6();
        this.sw = sw;
        this.neighbors = neighbors;
        this.alloc = alloc;
        this.noRoute = counters.counter("ipv6.out.noRoute");
        this.sent = counters.counter("ipv6.out.packets");
        this.fragmentsSent = counters.counter("ipv6.out.fragments");
        this.solicitations = counters.counter("ndp.out.solicitations");
    }

    public ByteBufAllocator alloc() {
        return alloc;
    }

    public NeighborCache neighbors() {
        return neighbors;
    }

    /**
     * Sends a packet to {@code dst} with hop limit 64, resolving its MAC.
     *
     * @param l4 <b>taken</b>: the upper-layer header and payload, checksum filled in
     */
    public void send(Ipv6Address src, Ipv6Address dst, int nextHeader, ByteBuf l4, long now) {
        send(src, dst, nextHeader, DEFAULT_HOP_LIMIT, l4, now);
    }

    /**
     * Sends a packet to {@code dst}, resolving its MAC.
     *
     * @param l4 <b>taken</b>
     */
    public void send(Ipv6Address src, Ipv6Address dst, int nextHeader, int hopLimit, ByteBuf l4, long now) {
        long mac = dst.isMulticast() ? dst.multicastMac() : neighbors.lookup(dst, now);
        if (mac >= 0) {
            sendTo(mac, src, dst, nextHeader, hopLimit, l4);
            return;
        }
        if (!v6.onLink(dst) || dst.isUnspecified()) {
            noRoute.inc();
            l4.release();
            return;
        }
        if (Ipv6Packet.HEADER_LEN + l4.readableBytes() > config.mtu() && nextHeader != IpProtocol.TCP) {
            // Rare (a large datagram to an unresolved guest): fragments are not queued, the packet is dropped.
            noRoute.inc();
            l4.release();
            return;
        }
        // Unknown neighbour: build the frame now with a placeholder MAC and queue it until the NA comes.
        ByteBuf frame = frame(0, src, dst, nextHeader, hopLimit, l4);
        neighbors.enqueue(dst, frame, now, this::solicit);
    }

    /**
     * Sends a packet to a known MAC (an answer to a solicitation whose source has no address yet).
     *
     * @param l4 <b>taken</b>
     */
    public void sendTo(long dstMac, Ipv6Address src, Ipv6Address dst, int nextHeader, int hopLimit, ByteBuf l4) {
        int len = l4.readableBytes();
        // A TCP segment larger than the MTU was made for a port with offloads (TcpSender sizes it so); it leaves
        // whole, and the switch segments it in software should the port it reaches have none (as Ipv4Output).
        if (Ipv6Packet.HEADER_LEN + len <= config.mtu() || nextHeader == IpProtocol.TCP) {
            sent.inc();
            sw.transmitFromGateway(frame(dstMac, src, dst, nextHeader, hopLimit, l4));
            return;
        }
        // RFC 8200 4.5: the unfragmentable part is the bare header here; every fragment but the last carries a
        // multiple of 8 bytes.
        int chunk = (config.mtu() - Ipv6Packet.HEADER_LEN - Ipv6Packet.FRAGMENT_HEADER_LEN) & ~7;
        int id = nextId();
        try {
            for (int off = 0; off < len; off += chunk) {
                int n = Math.min(chunk, len - off);
                boolean more = off + n < len;
                fragmentsSent.inc();
                ByteBuf f = Headroom.buffer(alloc, 0, HEADERS + Ipv6Packet.FRAGMENT_HEADER_LEN + n);
                EthernetFrame.writeHeader(f, dstMac, config.gatewayMac(), EtherType.IPV6);
                Ipv6Packet.writeHeader(f, 0, 0, Ipv6Packet.FRAGMENT_HEADER_LEN + n, Ipv6Packet.NH_FRAGMENT, hopLimit,
                        src, dst);
                Ipv6Packet.writeFragmentHeader(f, nextHeader, off, more, id);
                f.writeBytes(l4, l4.readerIndex() + off, n);
                sw.transmitFromGateway(f);
            }
            sent.inc();
        } finally {
            l4.release();
        }
    }

    /** Patches in the MAC and sends every frame that waited for {@code ip}. */
    public void flushResolved(Ipv6Address ip, long mac) {
        ArrayDeque<ByteBuf> frames = neighbors.resolved(ip);
        for (ByteBuf f; (f = frames.pollFirst()) != null; ) {
            MacAddress.set(f, f.readerIndex(), mac);
            sent.inc();
            sw.transmitFromGateway(f);
        }
    }

    /**
     * Multicasts a neighbour solicitation for {@code target} (RFC 4861 section 7.2.2) from the gateway's
     * link-local address, with its MAC as the source link-layer option.
     */
    public void solicit(Ipv6Address target) {
        solicitations.inc();
        NdpRepr ns = new NdpRepr.NeighborSolicitation(target, config.gatewayMac());
        Ipv6Address dst = target.solicitedNode();
        ByteBuf m = Headroom.buffer(alloc, HEADERS, ns.bufferLen());
        ns.emit(m, v6.linkLocal(), dst);
        sendTo(dst.multicastMac(), v6.linkLocal(), dst, dev.gvproxy.stack.wire.IpProtocol.ICMPV6,
                NdpPacket.HOP_LIMIT, m);
    }

    private int nextId() {
        nextId++;
        return nextId;
    }

    /** Builds one unfragmented frame; {@code l4} is taken. */
    private ByteBuf frame(long dstMac, Ipv6Address src, Ipv6Address dst, int nextHeader, int hopLimit, ByteBuf l4) {
        int len = l4.readableBytes();
        if (Headroom.isOwn(l4, HEADERS)) {
            // The headers go into the room in front of the segment: the frame is the segment's own buffer.
            int end = l4.writerIndex();
            int start = l4.readerIndex() - HEADERS;
            l4.setIndex(start, start);
            EthernetFrame.writeHeader(l4, dstMac, config.gatewayMac(), EtherType.IPV6);
            Ipv6Packet.writeHeader(l4, 0, 0, len, nextHeader, hopLimit, src, dst);
            l4.writerIndex(end);
            return l4;
        }
        boolean copy = len <= COPY_THRESHOLD;
        ByteBuf h = copy ? Headroom.buffer(alloc, 0, HEADERS + len) : alloc.buffer(HEADERS);
        EthernetFrame.writeHeader(h, dstMac, config.gatewayMac(), EtherType.IPV6);
        Ipv6Packet.writeHeader(h, 0, 0, len, nextHeader, hopLimit, src, dst);
        if (copy) {
            h.writeBytes(l4, l4.readerIndex(), len);
            l4.release();
            return h;
        }
        CompositeByteBuf c = alloc.compositeBuffer(2);
        c.addComponent(true, h);
        c.addComponent(true, l4);
        return c;
    }
}
