package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.ArpPacket;
import dev.gvproxy.stack.wire.Checksums;
import dev.gvproxy.stack.wire.EtherType;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.Headroom;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import java.util.ArrayDeque;

/**
 * Emits IPv4 datagrams from the gateway towards guests: resolves the destination MAC (broadcast, learned,
 * or by ARP with a bounded wait queue), prepends Ethernet and IPv4 headers, fragments datagrams larger
 * than the MTU (RFC 791), and hands the frames to the switch.
 *
 * <p>A frame is one buffer wherever the sender allows it, with the transport's room in front
 * ({@link Headroom#buffer}). A message built in a {@link Headroom#buffer} with {@link Ipv4Packet#FRAME_HEADROOM}
 * bytes of headers' room (every message the stack builds: TCP segments, UDP datagrams, ICMP) gets its Ethernet and
 * IPv4 headers written into that room, in place: no second buffer and no composite. Fragments, and small payloads
 * of other senders, are copied behind the headers into a new buffer (cheaper than a composite); large payloads of
 * other senders are sent as a two-component composite so payload bytes are never copied.
 */
public final class Ipv4Output {
    static final int HEADERS = Ipv4Packet.FRAME_HEADROOM;
    static final int COPY_THRESHOLD = 512;
    public static final int DEFAULT_TTL = 64;

    private final StackConfig config;
    private final VirtualSwitch sw;
    private final ArpCache arp;
    private final ByteBufAllocator alloc;
    private int nextId;

    private final Counters.Counter noRoute;
    private final Counters.Counter sent;
    private final Counters.Counter fragmentsSent;
    private final Counters.Counter arpRequests;

    public Ipv4Output(StackConfig config, VirtualSwitch sw, ArpCache arp, ByteBufAllocator alloc, Counters counters) {
        this.config = config;
        this.sw = sw;
        this.arp = arp;
        this.alloc = alloc;
        this.noRoute = counters.counter("ipv4.out.noRoute");
        this.sent = counters.counter("ipv4.out.datagrams");
        this.fragmentsSent = counters.counter("ipv4.out.fragments");
        this.arpRequests = counters.counter("arp.out.requests");
    }

    public ByteBufAllocator alloc() {
        return alloc;
    }

    /**
     * Sends a datagram to {@code dst}, resolving its MAC.
     *
     * @param l4 <b>taken</b>: the transport header and payload
     */
    public void send(int src, int dst, int protocol, ByteBuf l4, long now) {
        long mac;
        if (dst == Ipv4Address.BROADCAST || dst == config.broadcast()) {
            mac = MacAddress.BROADCAST;
        } else {
            mac = arp.lookup(dst, now);
        }
        if (mac >= 0) {
            sendTo(mac, src, dst, protocol, l4);
            return;
        }
        if (!config.inSubnet(dst)) {
            noRoute.inc();
            l4.release();
            return;
        }
        // Unknown neighbour: build the frame now with a placeholder MAC and queue it until ARP resolves.
        int total = Ipv4Packet.MIN_HEADER_LEN + l4.readableBytes();
        if (total > config.mtu()) {
            // Rare (large UDP to an unresolved guest): fragments are not queued, the datagram is dropped.
            noRoute.inc();
            l4.release();
            return;
        }
        ByteBuf frame = frame(0, src, dst, protocol, l4, nextId());
        arp.enqueue(dst, frame, now, this::arpRequest);
    }

    /**
     * Sends a datagram to a known MAC (e.g. a DHCP reply to a client that has no address yet).
     *
     * @param l4 <b>taken</b>
     */
    public void sendTo(long dstMac, int src, int dst, int protocol, ByteBuf l4) {
        int len = l4.readableBytes();
        int id = nextId();
        // A TCP segment larger than the MTU was made for a port with offloads (TcpSender sizes it so); it leaves
        // whole, and the switch segments it in software should the port it reaches have none.
        if (Ipv4Packet.MIN_HEADER_LEN + len <= config.mtu() || protocol == IpProtocol.TCP) {
            sent.inc();
            sw.transmitFromGateway(frame(dstMac, src, dst, protocol, l4, id));
            return;
        }
        int chunk = (config.mtu() - Ipv4Packet.MIN_HEADER_LEN) & ~7;
        try {
            for (int off = 0; off < len; off += chunk) {
                int n = Math.min(chunk, len - off);
                boolean more = off + n < len;
                fragmentsSent.inc();
                // Each fragment is copied behind its headers, as Ipv6Output's are: at most an MTU, and the frame is
                // then one buffer with the transport's room, where a view of the datagram would need a composite.
                ByteBuf f = Headroom.buffer(alloc, 0, HEADERS + n);
                writeHeaders(f, dstMac, src, dst, protocol, n, id, more, off);
                f.writeBytes(l4, l4.readerIndex() + off, n);
                sw.transmitFromGateway(f);
            }
            sent.inc();
        } finally {
            l4.release();
        }
    }

    /** Patches in the MAC and sends every frame that waited for {@code ip}. */
    void flushResolved(int ip, long mac) {
        ArrayDeque<ByteBuf> frames = arp.resolved(ip);
        for (ByteBuf f; (f = frames.pollFirst()) != null; ) {
            MacAddress.set(f, f.readerIndex(), mac);
            sent.inc();
            sw.transmitFromGateway(f);
        }
    }

    /** Broadcasts "who has {@code ip}? tell gateway". */
    public void arpRequest(int ip) {
        arpRequests.inc();
        ByteBuf f = Headroom.buffer(alloc, 0, EthernetFrame.HEADER_LEN + ArpPacket.LEN);
        EthernetFrame.writeHeader(f, MacAddress.BROADCAST, config.gatewayMac(), EtherType.ARP);
        ArpPacket.write(f, ArpPacket.OP_REQUEST, config.gatewayMac(), config.gatewayIp(), 0L, ip);
        sw.transmitFromGateway(f);
    }

    private int nextId() {
        nextId = (nextId + 1) & 0xFFFF;
        return nextId;
    }

    /** Builds one unfragmented frame; {@code l4} is taken. */
    private ByteBuf frame(long dstMac, int src, int dst, int protocol, ByteBuf l4, int id) {
        int len = l4.readableBytes();
        if (Headroom.isOwn(l4, HEADERS)) {
            // The headers go into the room in front of the segment: the frame is the segment's own buffer.
            int end = l4.writerIndex();
            int start = l4.readerIndex() - HEADERS;
            l4.setIndex(start, start);
            writeHeaders(l4, dstMac, src, dst, protocol, len, id, false, 0);
            l4.writerIndex(end);
            return l4;
        }
        if (len <= COPY_THRESHOLD) {
            ByteBuf h = Headroom.buffer(alloc, 0, HEADERS + len);
            writeHeaders(h, dstMac, src, dst, protocol, len, id, false, 0);
            h.writeBytes(l4, l4.readerIndex(), len);
            l4.release();
            return h;
        }
        ByteBuf h = alloc.buffer(HEADERS);
        writeHeaders(h, dstMac, src, dst, protocol, len, id, false, 0);
        CompositeByteBuf c = alloc.compositeBuffer(2);
        c.addComponent(true, h);
        c.addComponent(true, l4);
        return c;
    }

    /** Appends the Ethernet and IPv4 headers of a datagram (or fragment) of {@code len} payload bytes. */
    private void writeHeaders(ByteBuf h, long dstMac, int src, int dst, int protocol, int len, int id, boolean more,
            int fragOff) {
        EthernetFrame.writeHeader(h, dstMac, config.gatewayMac(), EtherType.IPV4);
        int ipOff = h.writerIndex();
        Ipv4Packet.writeHeader(h, 0, Ipv4Packet.MIN_HEADER_LEN + len, id, false, DEFAULT_TTL, protocol, src, dst);
        if (more || fragOff != 0) {
            h.setShort(ipOff + 6, (more ? 0x2000 : 0) | (fragOff >>> 3));
            h.setShort(ipOff + 10, 0);
            h.setShort(ipOff + 10, Checksums.ipv4Header(h, ipOff, Ipv4Packet.MIN_HEADER_LEN));
        }
    }
}
