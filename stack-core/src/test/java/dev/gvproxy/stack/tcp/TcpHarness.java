package dev.gvproxy.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import dev.gvproxy.stack.wire.Icmpv6Packet;
import dev.gvproxy.stack.wire.NdpPacket;
import dev.gvproxy.stack.wire.NdpRepr;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpRepr;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Packet-level TCP test bench in the smoltcp/lwIP style: a real {@link NetworkStack} on a switch with one
 * guest port, a manual clock, fixed initial sequence numbers, and an application whose behaviour each test
 * sets. Segments go in as {@link TcpRepr}s from the guest and come out parsed back into {@link TcpRepr}s.
 *
 * <p>One bench, two families ({@link Family}): over IPv6 the guest is {@code fd00:5a94:efe4::2} on the default
 * prefix and talks to {@code 2001:2::1} (the benchmarking prefix), it announces itself with an unsolicited NA
 * instead of a gratuitous ARP and answers the gateway's neighbour solicitations as it answers ARP over IPv4.
 * Tests whose behaviour depends on the family are parameterised over both ({@code @ParameterizedClass}).
 */
final class TcpHarness implements LinkEndpoint {
    /** The address family a bench speaks. */
    enum Family {
        IPV4, IPV6
    }

    static final int GUEST_IP = Frames.GUEST_IP;
    static final Ipv6Address GUEST_IP6 = Ipv6Address.parse("fd00:5a94:efe4::2");
    static final Ipv6Address DST_IP6 = Ipv6Address.parse("2001:2::1");
    static final int DST_IP = Frames.ip("198.18.0.1");
    static final int GUEST_PORT = 40000;
    static final int DST_PORT = 80;
    static final int ISS = 10_000;
    static final int REMOTE_SEQ = 1_000;
    static final long MS = 1_000_000L;

    long now = 1_000 * MS;
    final Counters counters = new Counters();
    final VirtualSwitch sw;
    final NetworkStack stack;
    final SwitchPort guest;
    final TcpConfig config;
    final ArrayDeque<Segment> out = new ArrayDeque<>();
    final App app = new App();
    /** When false, SYNs stay pending (the test completes them with {@link #acceptPending}). */
    boolean autoAccept = true;
    TcpLayer.SynRequest lastSyn;
    TcpConnection conn;
    final Family family;
    /** The guest's and the destination's addresses in this bench's family (IPv4-mapped for IPv4). */
    final Ipv6Address guestAddr;
    final Ipv6Address dstAddr;

    /** A segment the stack sent: header value and payload bytes. */
    record Segment(TcpRepr tcp, byte[] payload, Ipv6Address src, Ipv6Address dst) {
        int seq() {
            return tcp.seq();
        }

        int ack() {
            return tcp.ack();
        }

        int len() {
            return payload.length;
        }

        boolean has(int flag) {
            return (tcp.flags() & flag) != 0;
        }

        @Override
        public String toString() {
            return tcp + " len=" + payload.length;
        }
    }

    /** The application on the gateway side (stands in for the host socket bridge). */
    static final class App implements TcpConnection.Handler {
        final ByteArrayOutputStream received = new ByteArrayOutputStream();
        final List<String> events = new ArrayList<>();
        boolean consumeImmediately = true;
        int unconsumed;

        @Override
        public void onEstablished(TcpConnection c) {
            events.add("established");
        }

        @Override
        public void onData(TcpConnection c, ByteBuf data) {
            int n = data.readableBytes();
            byte[] b = new byte[n];
            data.readBytes(b);
            data.release();
            received.writeBytes(b);
            if (consumeImmediately) {
                c.consumed(n, 0);
            } else {
                unconsumed += n;
            }
        }

        @Override
        public void onFin(TcpConnection c) {
            events.add("fin");
        }

        @Override
        public void onReset(TcpConnection c) {
            events.add("reset");
        }

        @Override
        public void onSendSpace(TcpConnection c) {
            events.add("sendSpace");
        }

        @Override
        public void onClosed(TcpConnection c) {
            events.add("closed");
        }
    }

    TcpHarness() {
        this(Family.IPV4);
    }

    TcpHarness(Family family) {
        this(defaultConfig(), family);
    }

    static TcpConfig defaultConfig() {
        return TcpConfig.forMtu(1500).withBuffers(65536, 65536).withOptions(true, true, 7);
    }

    TcpHarness(TcpConfig config) {
        this(config, Family.IPV4);
    }

    TcpHarness(TcpConfig config, Family family) {
        // The IPv6 bench has the largest link MTU so that no test segment meets Packet Too Big (IPv4 input has no
        // such check): the MSS comes from the TcpConfig, as over IPv4.
        this(config, family, family == Family.IPV6 ? StackConfig.MAX_MTU : 1500);
    }

    /**
     * A bench whose network has link MTU {@code mtu} (the MSS still comes from {@code config}): the offload tests
     * run at 1500, where the guest's large segments exceed it.
     */
    TcpHarness(TcpConfig config, Family family, int mtu) {
        this.config = config;
        this.family = family;
        boolean v6 = family == Family.IPV6;
        this.guestAddr = v6 ? GUEST_IP6 : Ipv6Address.ofIpv4(GUEST_IP);
        this.dstAddr = v6 ? DST_IP6 : Ipv6Address.ofIpv4(DST_IP);
        // The IPv4 bench runs an IPv4-only network (no RA timer among its deadlines).
        StackConfig sc = v6 ? StackConfig.builder().mtu(mtu).build()
                : StackConfig.builder().mtu(mtu).ipv6(dev.gvproxy.stack.Ipv6Config.builder().enabled(false).build())
                        .build();
        sw = new VirtualSwitch(sc.gatewayMac(), counters, () -> now);
        stack = new NetworkStack(sc, sw, counters, PooledByteBufAllocator.DEFAULT, () -> now, config, () -> ISS);
        guest = sw.attach("guest", this);
        stack.tcp().setSynHandler((layer, req, t) -> {
            lastSyn = req;
            if (autoAccept) {
                conn = layer.accept(req, app, t);
            }
        });
        // The guest announces itself (gratuitous ARP, or an unsolicited NA), so the switch and the neighbour
        // cache know it, as after DHCP or SLAAC.
        if (v6) {
            sw.deliver(guest, Unpooled.wrappedBuffer(advertisement(Ipv6Address.ALL_NODES, false)));
        } else {
            sw.deliver(guest, Unpooled.wrappedBuffer(Frames.ethernet(0xFFFF_FFFF_FFFFL, Frames.GUEST_MAC, 0x0806,
                    Frames.arp(1, Frames.GUEST_MAC, GUEST_IP, 0, GUEST_IP))));
        }
        sw.flush();
    }

    /** The guest's NA for its own address, to {@code dst}. */
    static byte[] advertisement(Ipv6Address dst, boolean solicited) {
        NdpRepr na = new NdpRepr.NeighborAdvertisement(false, solicited, true, GUEST_IP6, Frames.GUEST_MAC);
        ByteBuf m = Unpooled.buffer();
        na.emit(m, GUEST_IP6, dst);
        byte[] ip = ipv6(GUEST_IP6, dst, IpProtocol.ICMPV6, NdpPacket.HOP_LIMIT, Frames.bytes(m));
        m.release();
        long mac = dst.isMulticast() ? dst.multicastMac() : Frames.GW_MAC;
        return Frames.ethernet(mac, Frames.GUEST_MAC, 0x86DD, ip);
    }

    static byte[] ipv6(Ipv6Address src, Ipv6Address dst, int nextHeader, int hopLimit, byte[] payload) {
        ByteBuf b = Unpooled.buffer();
        Ipv6Packet.writeHeader(b, 0, 0, payload.length, nextHeader, hopLimit, src, dst);
        b.writeBytes(payload);
        byte[] r = Frames.bytes(b);
        b.release();
        return r;
    }

    /** Our MSS in this family: MTU minus the IP (20 or 40) and TCP headers. */
    int mss() {
        return family == Family.IPV6 ? config.mss() - 20 : config.mss();
    }

    /** The MSS assumed for a peer that sends none: 536 (IPv4), 1220 (IPv6). */
    int defaultPeerMss() {
        return family == Family.IPV6 ? 1220 : 536;
    }

    void acceptPending() {
        conn = stack.tcp().accept(lastSyn, app, now);
    }

    // ---- templates -------------------------------------------------------------------------------

    static TcpRepr.Builder fromGuest() {
        return TcpRepr.builder().srcPort(GUEST_PORT).dstPort(DST_PORT).window(65535);
    }

    /** The guest's SYN with Linux's options (mss 1460, sackOK, timestamps, wscale 7). */
    static TcpRepr.Builder syn() {
        return fromGuest().seq(REMOTE_SEQ).flags(TcpFlags.SYN).window(64240).mss(1460).sackPermitted(true)
                .timestamps(100, 0).windowScale(7);
    }

    // ---- driving ---------------------------------------------------------------------------------

    void send(TcpRepr.Builder b) {
        send(b.build(), new byte[0]);
    }

    void send(TcpRepr.Builder b, byte[] payload) {
        send(b.build(), payload);
    }

    /** The guest sends one segment, in a read batch of its own (the switch is flushed after it). */
    void send(TcpRepr r, byte[] payload) {
        sendInBatch(r, payload);
        endBatch();
    }

    /**
     * The guest sends one segment as part of a read batch: the switch is not flushed, so the stack's end-of-batch
     * work (the ACK it owes) waits for {@link #endBatch}.
     */
    void sendInBatch(TcpRepr r, byte[] payload) {
        ByteBuf l4 = Unpooled.buffer();
        if (family == Family.IPV6) {
            r.emit(l4, guestAddr, dstAddr, Unpooled.wrappedBuffer(payload));
            byte[] ip = ipv6(guestAddr, dstAddr, IpProtocol.TCP, 64, Frames.bytes(l4));
            l4.release();
            sw.deliver(guest, Unpooled.wrappedBuffer(Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x86DD, ip)));
            return;
        }
        r.emit(l4, GUEST_IP, DST_IP, Unpooled.wrappedBuffer(payload));
        byte[] tcp = Frames.bytes(l4);
        l4.release();
        byte[] ip = Frames.ipv4(GUEST_IP, DST_IP, IpProtocol.TCP, 1, 0x4000, 64, tcp);
        sw.deliver(guest, Unpooled.wrappedBuffer(Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x0800, ip)));
    }

    /** The transport's read batch ended: the switch flushes (the gateway first). */
    void endBatch() {
        sw.flush();
    }

    /** Advances the clock and runs the stack's timers. */
    void advance(long nanos) {
        now += nanos;
        stack.poll(now);
        answerArp();
    }

    final ArrayDeque<byte[]> pendingArpReplies = new ArrayDeque<>();

    private void answerArp() {
        for (byte[] r; (r = pendingArpReplies.pollFirst()) != null; ) {
            sw.deliver(guest, Unpooled.wrappedBuffer(r));
        }
        sw.flush();
    }

    void advanceMs(long ms) {
        advance(ms * MS);
    }

    /** The next segment the stack sent (fails when there is none). */
    Segment recv() {
        Segment s = out.pollFirst();
        assertNotNull(s, "expected a segment, got silence");
        return s;
    }

    void expectNothing() {
        assertNull(out.peekFirst(), "expected silence");
    }

    List<Segment> drain() {
        List<Segment> l = new ArrayList<>(out);
        out.clear();
        return l;
    }

    /** Runs the handshake: SYN in, SYN-ACK out, ACK in; returns with an ESTABLISHED connection. */
    Segment establish() {
        send(syn());
        Segment synAck = recv();
        send(fromGuest().seq(REMOTE_SEQ + 1).ack(ISS + 1).flags(TcpFlags.ACK).timestamps(101, synAck.tcp().tsVal()));
        expectNothing();
        assertEquals(TcpState.ESTABLISHED, conn.state());
        return synAck;
    }

    /** An ACK from the guest in the established connection; timestamps echo the last ones seen. */
    TcpRepr.Builder ack(int remoteSeq, int ack) {
        return fromGuest().seq(remoteSeq).ack(ack).flags(TcpFlags.ACK).timestamps(200, 0);
    }

    byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (seed + i * 31);
        }
        return b;
    }

    void appSend(byte[] data) {
        conn.send(Unpooled.wrappedBuffer(data), now);
        sw.flush();
    }

    @Override
    public void transmit(ByteBuf frame) {
        try {
            if (EthernetFrame.etherType(frame, frame.readerIndex()) == 0x0806) {
                // The guest answers ARP for its address, like a real kernel would (after cache expiry).
                int a = frame.readerIndex() + EthernetFrame.HEADER_LEN;
                if (frame.getUnsignedShort(a + 6) == 1 && frame.getInt(a + 24) == GUEST_IP) {
                    byte[] reply = Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x0806,
                            Frames.arp(2, Frames.GUEST_MAC, GUEST_IP, Frames.GW_MAC, frame.getInt(a + 14)));
                    pendingArpReplies.add(reply);
                }
                return;
            }
            if (EthernetFrame.etherType(frame, frame.readerIndex()) == 0x86DD) {
                if (family == Family.IPV6) {
                    receive6(frame, frame.readerIndex() + EthernetFrame.HEADER_LEN);
                }
                return; // an IPv4 bench ignores router advertisements, as an IPv4-only guest would
            }
            int off = frame.readerIndex() + EthernetFrame.HEADER_LEN;
            int len = frame.readableBytes() - EthernetFrame.HEADER_LEN;
            assertEquals(null, Ipv4Packet.check(frame, off, len));
            if (Ipv4Packet.protocol(frame, off) != IpProtocol.TCP) {
                return;
            }
            int hl = Ipv4Packet.headerLength(frame, off);
            int tl = Ipv4Packet.totalLength(frame, off);
            int src = Ipv4Packet.src(frame, off);
            int dst = Ipv4Packet.dst(frame, off);
            assertEquals(null, dev.gvproxy.stack.wire.TcpPacket.check(frame, off + hl, tl - hl, src, dst),
                    "a valid TCP segment with a correct checksum");
            TcpRepr r = TcpRepr.parse(frame, off + hl);
            int pOff = off + hl + r.headerLength();
            byte[] payload = new byte[off + tl - pOff];
            frame.getBytes(pOff, payload);
            out.addLast(new Segment(r, payload, Ipv6Address.ofIpv4(src), Ipv6Address.ofIpv4(dst)));
        } finally {
            frame.release();
        }
    }

    /** An IPv6 frame from the gateway: a TCP segment, or a solicitation for the guest (answered later). */
    private void receive6(ByteBuf frame, int off) {
        int len = frame.readableBytes() - EthernetFrame.HEADER_LEN;
        assertEquals(null, Ipv6Packet.check(frame, off, len));
        int pl = Ipv6Packet.payloadLength(frame, off);
        int nh = Ipv6Packet.nextHeader(frame, off);
        int l4 = off + Ipv6Packet.HEADER_LEN;
        if (nh == IpProtocol.ICMPV6) {
            if (Icmpv6Packet.type(frame, l4) == Icmpv6Packet.TYPE_NEIGHBOR_SOLICITATION
                    && NdpPacket.target(frame, l4).equals(GUEST_IP6)) {
                pendingArpReplies.add(advertisement(Ipv6Packet.src(frame, off), true));
            }
            return;
        }
        if (nh != IpProtocol.TCP) {
            return;
        }
        assertEquals(null, dev.gvproxy.stack.wire.TcpPacket.checkIpv6(frame, l4, pl, off),
                "a valid TCP segment with a correct IPv6 checksum");
        TcpRepr r = TcpRepr.parse(frame, l4);
        int pOff = l4 + r.headerLength();
        byte[] payload = new byte[l4 + pl - pOff];
        frame.getBytes(pOff, payload);
        out.addLast(new Segment(r, payload, Ipv6Packet.src(frame, off), Ipv6Packet.dst(frame, off)));
    }

    @Override
    public void flush() {}

    /** The guest port's transport queue has room (false: full, as a guest that stopped reading). */
    boolean writable = true;

    @Override
    public boolean isWritable() {
        return writable;
    }

    /** The guest port takes large TCP segments (an offload port); the test sets it before the handshake. */
    boolean offloads;

    @Override
    public boolean offloads() {
        return offloads;
    }

    void close() {
        stack.close();
        out.clear();
    }
}
