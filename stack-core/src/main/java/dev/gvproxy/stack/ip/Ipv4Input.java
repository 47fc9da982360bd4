package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv4Packet;
import io.netty.buffer.ByteBuf;

/**
 * IPv4 receive path (RFC 791, RFC 1122 section 3.2.1): validates version, header length, total length and
 * header checksum (all through {@link Ipv4Packet#check}), drops TTL 0 and multicast, learns the sender's
 * MAC, reassembles fragments, and hands the payload to the protocol's handler.
 *
 * <p>The gateway is promiscuous (as gvproxy's netstack with spoofing): a datagram for any destination is
 * accepted, because everything off-link is terminated here and re-originated from the host.
 * The IPv4 total length, not the frame length, delimits the datagram (QEMU pads short frames).
 */
public final class Ipv4Input {
    private final StackConfig config;
    private final ArpCache arp;
    private final Ipv4Output output;
    private final FragmentReassembler reassembler;
    private final Counters counters;
    private final IpHeader header = new IpHeader();
    private final TransportHandler[] handlers = new TransportHandler[256];
    private AddressBindings bindings;

    private final Counters.Counter received;
    private final Counters.Counter ttlZero;
    private final Counters.Counter multicast;
    private final Counters.Counter badSource;
    private final Counters.Counter unknownProtocol;

    public Ipv4Input(StackConfig config, ArpCache arp, Ipv4Output output, FragmentReassembler reassembler,
            Counters counters) {
        this.config = config;
        this.arp = arp;
        this.output = output;
        this.reassembler = reassembler;
        this.counters = counters;
        this.received = counters.counter("ipv4.in.datagrams");
        this.ttlZero = counters.counter("ipv4.ttlZero");
        this.multicast = counters.counter("ipv4.multicast");
        this.badSource = counters.counter("ipv4.badSource");
        this.unknownProtocol = counters.counter("ipv4.unknownProtocol");
    }

    /**
     * Who holds which address: the source of a datagram is learned as a neighbour only when nobody else
     * holds it (a DHCP client renewing an address it lost is let through, but must not redirect the owner's
     * traffic).
     */
    public void setAddressBindings(AddressBindings bindings) {
        this.bindings = bindings;
    }

    /** Routes protocol {@code protocol} (e.g. 6 = TCP) to {@code handler}; null removes it. */
    public void setHandler(int protocol, TransportHandler handler) {
        handlers[protocol & 0xFF] = handler;
    }

    /**
     * @param frame <b>borrowed</b>; the IPv4 packet starts at {@code off}, {@code len} bytes follow in the frame
     * @param srcMac the frame's Ethernet source
     */
    public void input(ByteBuf frame, int off, int len, long srcMac, long now) {
        Ipv4Packet.Error err = Ipv4Packet.check(frame, off, len);
        if (err != null) {
            counters.counter(err.counter()).inc();
            return;
        }
        int hl = Ipv4Packet.headerLength(frame, off);
        int total = Ipv4Packet.totalLength(frame, off);
        int src = Ipv4Packet.src(frame, off);
        int dst = Ipv4Packet.dst(frame, off);
        int ttl = Ipv4Packet.ttl(frame, off);
        if (ttl == 0) {
            ttlZero.inc();
            return;
        }
        if (Ipv4Address.isMulticast(dst)) {
            multicast.inc();
            return;
        }
        if (Ipv4Address.isMulticast(src) || src == Ipv4Address.BROADCAST || config.isGatewayAddress(src)) {
            badSource.inc(); // spoofed gateway/broadcast sources would poison the ARP cache
            return;
        }
        received.inc();
        if (src != 0) {
            long owner = bindings == null ? AddressBindings.NONE : bindings.ownerOf(src);
            if (owner == AddressBindings.NONE || owner == srcMac) {
                arp.learn(src, srcMac, now);
            }
        }
        IpHeader h = header;
        h.srcMac = srcMac;
        h.setIpv4(src, dst);
        h.protocol = Ipv4Packet.protocol(frame, off);
        h.ttl = ttl;
        h.identification = Ipv4Packet.identification(frame, off);
        h.dscpEcn = Ipv4Packet.dscpEcn(frame, off);
        h.payloadLength = total - hl;
        h.reassembled = false;
        TransportHandler handler = handlers[h.protocol];
        if (handler == null) {
            unknownProtocol.inc();
            return;
        }
        boolean more = Ipv4Packet.moreFragments(frame, off);
        int fragOff = Ipv4Packet.fragmentOffset(frame, off);
        if (!more && fragOff == 0) {
            // The handler reads the frame itself, its indexes narrowed to the payload for the call: no slice
            // object per datagram. The frame is the stack's alone (the switch gives other ports duplicates),
            // and handlers keep bytes only through slices, whose indexes are their own.
            int ri = frame.readerIndex();
            int wi = frame.writerIndex();
            frame.setIndex(off + hl, off + total);
            try {
                handler.receive(h, frame, now);
            } finally {
                frame.setIndex(ri, wi);
            }
            return;
        }
        ByteBuf payload = frame.slice(off + hl, total - hl);
        ByteBuf whole = reassembler.add(src, dst, h.protocol, h.identification, fragOff, more, payload, now);
        if (whole == null) {
            return;
        }
        try {
            h.payloadLength = whole.readableBytes();
            h.reassembled = true;
            handler.receive(h, whole, now);
        } finally {
            whole.release();
        }
    }

    public Ipv4Output output() {
        return output;
    }
}
