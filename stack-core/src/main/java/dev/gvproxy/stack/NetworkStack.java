package dev.gvproxy.stack;

import dev.gvproxy.stack.ip.AddressBindings;
import dev.gvproxy.stack.ip.ArpCache;
import dev.gvproxy.stack.ip.ArpResponder;
import dev.gvproxy.stack.ip.FragmentReassembler;
import dev.gvproxy.stack.ip.GuestAddressGuard;
import dev.gvproxy.stack.ip.IcmpInput;
import dev.gvproxy.stack.ip.Icmpv6Input;
import dev.gvproxy.stack.ip.Ipv4Input;
import dev.gvproxy.stack.ip.Ipv4Output;
import dev.gvproxy.stack.ip.Ipv6Input;
import dev.gvproxy.stack.ip.Ipv6Output;
import dev.gvproxy.stack.ip.NeighborCache;
import dev.gvproxy.stack.ip.RouterAdvertiser;
import dev.gvproxy.stack.ip.TransportHandler;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.tcp.TcpConfig;
import dev.gvproxy.stack.tcp.TcpLayer;
import dev.gvproxy.stack.udp.UdpDemux;
import dev.gvproxy.stack.wire.EtherType;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.security.SecureRandom;
import java.util.function.IntSupplier;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/**
 * The gateway: the switch's endpoint for frames addressed to the gateway MAC (or broadcast, or IPv6
 * multicast). It answers ARP, validates and reassembles IPv4 and IPv6, answers ICMP and ICMPv6 echo, speaks
 * neighbour discovery and sends router advertisements (when {@link Ipv6Config#enabled()}), and demultiplexes
 * UDP (services, then the forwarder) and TCP (the forwarder's connection table) of both families.
 *
 * <p>Deterministic frame-in/frame-out: no sockets, no threads. Time comes from the injected
 * {@code nanoClock} (monotonic nanoseconds) when a frame arrives, or as the argument of {@link #poll}. The
 * stack's owner (the network's driver) keeps one timer at {@link #nextDeadline()}, which gathers the stack's own
 * timers and every registered {@link DeadlineSource}, calls {@link #poll} when it fires, and re-arms it when
 * {@link #setWakeup told} of an earlier deadline.
 */
public final class NetworkStack implements LinkEndpoint {
    private final StackConfig config;
    private final VirtualSwitch sw;
    private final Counters counters;
    private final LongSupplier nanoClock;
    private final ArpCache arpCache;
    private final Ipv4Output ipOutput;
    private final ArpResponder arp;
    private final FragmentReassembler reassembler;
    private final Ipv4Input ipv4;
    private final IcmpInput icmp;
    private final UdpDemux udp;
    private final TcpLayer tcp;
    private final AddressBindings bindings = new AddressBindings();
    private final Counters.Counter unknownEtherType;
    private final Counters.Counter ipv6Off;
    private final NeighborCache neighbors;
    private final Ipv6Output ipv6Output;
    private final Icmpv6Input icmpv6;
    private final FragmentReassembler reassembler6;
    private final Ipv6Input ipv6;
    private final RouterAdvertiser advertiser;
    private DeadlineSource[] sources = new DeadlineSource[0];
    private LongConsumer wakeup = d -> { };

    public NetworkStack(StackConfig config, VirtualSwitch sw, Counters counters, ByteBufAllocator alloc,
            LongSupplier nanoClock) {
        this(config, sw, counters, alloc, nanoClock, TcpConfig.forMtu(config.mtu()), randomIss());
    }

    /** Initial sequence numbers are random (RFC 6528 allows any unpredictable choice). */
    private static IntSupplier randomIss() {
        SecureRandom rnd = new SecureRandom();
        return rnd::nextInt;
    }

    /**
     * @param tcpConfig TCP tunables (default {@link TcpConfig#forMtu})
     * @param issGenerator initial send sequence numbers (tests inject fixed ones)
     */
    public NetworkStack(StackConfig config, VirtualSwitch sw, Counters counters, ByteBufAllocator alloc,
            LongSupplier nanoClock, TcpConfig tcpConfig, IntSupplier issGenerator) {
        this.config = config;
        this.sw = sw;
        this.counters = counters;
        this.nanoClock = nanoClock;
        // Neighbour entries lapse well before the switch forgets a silent MAC: an entry the gateway still
        // trusts then always has a learned port behind it, and an idle guest is re-resolved by a broadcast
        // request (which it answers, and so is learned again) instead of being sent frames the switch drops.
        this.arpCache = new ArpCache(counters, Math.min(300_000_000_000L, config.portSecurity().macAgeingNanos() / 2));
        this.ipOutput = new Ipv4Output(config, sw, arpCache, alloc, counters);
        this.arp = new ArpResponder(config, sw, arpCache, ipOutput, alloc, counters);
        this.reassembler = new FragmentReassembler(alloc, counters, config.reassemblyTimeoutNanos(),
                config.reassemblyMaxBytes());
        this.ipv4 = new Ipv4Input(config, arpCache, ipOutput, reassembler, counters);
        this.icmp = new IcmpInput(config, ipOutput, counters);
        this.udp = new UdpDemux(config, ipOutput, icmp, counters);
        ipv4.setHandler(Ipv4Packet.PROTO_ICMP, icmp);
        ipv4.setHandler(Ipv4Packet.PROTO_UDP, udp);
        this.tcp = new TcpLayer(tcpConfig, ipOutput, alloc, counters, issGenerator);
        // Guest-port backpressure: a connection's sender pauses while its guest's switch port is full, and the
        // switch wakes it when the transport drains.
        tcp.setLinks(new TcpLayer.Links() {
            @Override
            public dev.gvproxy.stack.link.SwitchPort byMac(long mac) {
                return sw.portOf(mac);
            }

            @Override
            public dev.gvproxy.stack.link.SwitchPort byIp(Ipv6Address ip, long now) {
                long mac = ip.isIpv4Mapped() ? arpCache.lookup(ip.ipv4(), now) : neighbors.lookup(ip, now);
                return mac < 0 ? null : sw.portOf(mac);
            }
        });
        sw.setWritableListener(port -> tcp.linkWritable(port, nanoClock.getAsLong()));
        ipv4.setHandler(Ipv4Packet.PROTO_TCP, tcp);
        this.unknownEtherType = counters.counter("eth.unknownEtherType");
        this.ipv6Off = counters.counter("eth.ipv6");
        // IPv6: the same neighbour expiry as ARP, its own bounded table; TCP and UDP are the same handlers.
        this.neighbors = new NeighborCache(counters,
                Math.min(300_000_000_000L, config.portSecurity().macAgeingNanos() / 2), config.ipv6().maxNeighbors(),
                config.ipv6().maxNeighborsPerMac());
        this.ipv6Output = new Ipv6Output(config, sw, neighbors, alloc, counters);
        this.icmpv6 = new Icmpv6Input(config, ipv6Output, counters);
        this.reassembler6 = FragmentReassembler.forIpv6(alloc, counters, config.reassemblyTimeoutNanos(),
                config.reassemblyMaxBytes());
        this.ipv6 = new Ipv6Input(config, sw, neighbors, reassembler6, icmpv6, counters);
        ipv6.setHandler(IpProtocol.TCP, tcp);
        ipv6.setHandler(IpProtocol.UDP, udp);
        tcp.setIpv6Output(ipv6Output);
        udp.setIpv6(ipv6Output, icmpv6);
        this.advertiser = new RouterAdvertiser(config, ipv6Output, counters, new java.util.SplittableRandom(),
                nanoClock.getAsLong());
        icmpv6.setAdvertiser(advertiser);
        if (config.ipv6().enabled()) {
            addDeadlineSource(advertiser);
            sw.setIpv6MulticastToGateway(true);
        }
        sw.setGateway(this);
        config.dhcpStaticLeases().forEach((ip, mac) -> bindings.bind(ip, mac));
        ipv4.setAddressBindings(bindings);
        sw.setIngressFilter(new GuestAddressGuard(config, bindings, counters));
    }

    /**
     * Who holds which address, for source validation: the static leases, and what the DHCP server binds
     * into it.
     */
    public AddressBindings addressBindings() {
        return bindings;
    }

    /** @param frame <b>taken</b>: a frame the switch routed to the gateway */
    @Override
    public void transmit(ByteBuf frame) {
        input(frame, nanoClock.getAsLong());
    }

    /**
     * Processes one frame addressed to the gateway (or broadcast).
     *
     * @param frame <b>taken</b>
     */
    public void input(ByteBuf frame, long now) {
        try {
            int off = frame.readerIndex();
            int len = frame.readableBytes();
            if (len < EthernetFrame.HEADER_LEN) {
                counters.counter("eth.runt").inc();
                return;
            }
            long srcMac = EthernetFrame.src(frame, off);
            int type = EthernetFrame.etherType(frame, off);
            int l3 = off + EthernetFrame.HEADER_LEN;
            int l3len = len - EthernetFrame.HEADER_LEN;
            switch (type) {
                case EtherType.IPV4 -> ipv4.input(frame, l3, l3len, srcMac, now);
                case EtherType.ARP -> arp.input(frame, l3, l3len, now);
                case EtherType.IPV6 -> {
                    if (config.ipv6().enabled()) {
                        ipv6.input(frame, l3, l3len, srcMac, now);
                    } else {
                        ipv6Off.inc();
                    }
                }
                default -> unknownEtherType.inc();
            }
        } finally {
            frame.release();
        }
    }

    /**
     * The end of a batch of frames the switch handed the gateway (one transport read, or one event-loop task): TCP
     * sends the ACKs it owes for the batch, one per connection. Output goes straight to the switch, which then
     * flushes the ports written.
     */
    @Override
    public void flush() {
        tcp.flush(nanoClock.getAsLong());
    }

    /**
     * Runs timers due at {@code now}: TCP timers, fragment, ARP and switch MAC expiry, then every registered
     * {@link DeadlineSource} that is due.
     */
    public void poll(long now) {
        sw.expire(now);
        tcp.poll(now);
        reassembler.expire(now);
        reassembler6.expire(now);
        arpCache.expire(now);
        neighbors.expire(now);
        for (DeadlineSource s : sources) { // a snapshot: a source may unregister itself (or another) while polled
            if (s.nextDeadline() - now <= 0) {
                s.poll(now);
            }
        }
    }

    /** Told (with a deadline) whenever a timer earlier than every queued one appears, to reschedule the loop. */
    public void setWakeup(LongConsumer wakeup) {
        this.wakeup = wakeup;
        tcp.setWakeup(wakeup);
    }

    /**
     * Adds a source of deadlines to the ones {@link #nextDeadline()} gathers and {@link #poll} serves. Event loop
     * (or before the network carries traffic).
     */
    public void addDeadlineSource(DeadlineSource source) {
        DeadlineSource[] a = java.util.Arrays.copyOf(sources, sources.length + 1);
        a[sources.length] = source;
        sources = a;
        wakeup(source.nextDeadline());
    }

    /** Removes a source added with {@link #addDeadlineSource}; unknown sources are ignored. Event loop. */
    public void removeDeadlineSource(DeadlineSource source) {
        DeadlineSource[] a = sources;
        for (int i = 0; i < a.length; i++) {
            if (a[i] == source) {
                DeadlineSource[] b = new DeadlineSource[a.length - 1];
                System.arraycopy(a, 0, b, 0, i);
                System.arraycopy(a, i + 1, b, i, a.length - i - 1);
                sources = b;
                return;
            }
        }
    }

    /**
     * A deadline source's word that it now has work at {@code deadline} (monotonic nanoseconds), earlier than
     * before: the owner re-arms its timer if that is earlier than the armed one. {@code Long.MAX_VALUE} is ignored.
     */
    public void wakeup(long deadline) {
        if (deadline != Long.MAX_VALUE) {
            wakeup.accept(deadline);
        }
    }

    public TcpLayer tcp() {
        return tcp;
    }

    /** The earliest time {@link #poll} has work, or {@code Long.MAX_VALUE}. */
    public long nextDeadline() {
        long d = Math.min(Math.min(reassembler.nextDeadline(), tcp.nextDeadline()), sw.nextDeadline());
        d = Math.min(d, reassembler6.nextDeadline());
        if (arpCache.hasPending() || neighbors.hasPending()) {
            d = Math.min(d, nanoClock.getAsLong() + 1_000_000_000L);
        }
        for (DeadlineSource s : sources) {
            d = Math.min(d, s.nextDeadline());
        }
        return d;
    }

    /**
     * Routes IPv4 protocol {@code protocol} to {@code handler} (TCP = 6 goes to the forwarder); TCP and UDP are
     * routed for IPv6 too (one handler for both families). ICMPv6 has its own input: see {@link #icmpv6()}.
     */
    public void setProtocolHandler(int protocol, TransportHandler handler) {
        ipv4.setHandler(protocol, handler);
        if (protocol == IpProtocol.TCP || protocol == IpProtocol.UDP) {
            ipv6.setHandler(protocol, handler);
        }
    }

    public StackConfig config() {
        return config;
    }

    public VirtualSwitch virtualSwitch() {
        return sw;
    }

    public Counters counters() {
        return counters;
    }

    public UdpDemux udp() {
        return udp;
    }

    public IcmpInput icmp() {
        return icmp;
    }

    public Ipv4Output ipOutput() {
        return ipOutput;
    }

    /** ICMPv6 at the gateway: {@code setForwarder} for echo to other destinations, {@code sendUnreachable}. */
    public Icmpv6Input icmpv6() {
        return icmpv6;
    }

    public Ipv6Output ipv6Output() {
        return ipv6Output;
    }

    public NeighborCache neighborCache() {
        return neighbors;
    }

    public RouterAdvertiser routerAdvertiser() {
        return advertiser;
    }

    public ArpCache arpCache() {
        return arpCache;
    }

    public long now() {
        return nanoClock.getAsLong();
    }

    /** Releases every buffer the stack holds (fragments, frames waiting for ARP). */
    public void close() {
        tcp.close(nanoClock.getAsLong());
        reassembler.clear();
        reassembler6.clear();
        arpCache.clear();
        neighbors.clear();
    }
}
