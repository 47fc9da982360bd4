package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;
import dev.gvproxy.stack.ip.FlowKey;
import io.netty.channel.socket.DatagramChannel;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.DeadlineSource;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.ip.IpHeader;
import dev.gvproxy.stack.ip.Ipv4Output;
import dev.gvproxy.stack.udp.UdpDatagram;
import dev.gvproxy.stack.wire.Icmpv6Packet;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.udp.UdpHandler;
import dev.gvproxy.stack.wire.Icmpv4Packet;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.UdpPacket;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.SocketProtocolFamily;
import java.net.InetSocketAddress;
import java.net.PortUnreachableException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Outbound UDP (spec 5.3): every guest datagram that no in-stack service is bound to is re-originated from
 * a host socket, one {@link UdpFlow} per (guest ip, guest port, destination ip, destination port).
 *
 * <p>The first datagram of a 4-tuple applies NAT ({@code StackConfig.translate}) and opens an IPv4
 * UDP socket ({@link SocketTransport}) on the network's event loop, bound to an ephemeral port and connected to
 * the real destination, so the kernel filters replies to that exact address and port (no full-cone
 * mapping). Replies go to the guest as coming from the original, pre-NAT destination.
 *
 * <p><b>Time.</b> Idle expiry is a pure function of injected time: {@link #poll(long)} closes flows idle
 * for {@link Options#idleTimeoutNanos()} and {@link #nextDeadline()} says when that is next due; activity
 * time-stamps come from the injected {@code clock}. {@link #install} registers the forwarder as one of the
 * stack's {@link DeadlineSource}s, so the network's one timer runs {@link #poll} when the least recently active
 * flow times out (no sweeper of its own); tests call {@link #poll} with a manual clock and never sleep.
 *
 * <p>Not thread-safe: all methods run on the network's event loop.
 */
public final class UdpForwarder implements UdpHandler, DeadlineSource, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(UdpForwarder.class.getName());
    /** Largest UDP payload in an IPv4 datagram; also the host read buffer size so nothing is truncated. */
    static final int MAX_PAYLOAD = 65507;
    /**
     * SO_RCVBUF and SO_SNDBUF of a flow's host socket (the kernel caps them at {@code net.core.rmem_max} and
     * {@code wmem_max}). The default (212992 bytes) holds about 90 datagrams of 1400 bytes, 2 ms at 500 Mbit/s:
     * the host peer's bursts overflowed it whenever the loop was busy or descheduled that long, and the kernel
     * dropped the datagrams (UdpRcvbufErrors). Memory is charged only while datagrams wait.
     */
    static final int SOCKET_BUFFER = 4 << 20;

    /**
     * Forwarder limits.
     *
     * @param idleTimeoutNanos a flow with no datagram either way for this long is closed (gvproxy: 90 s)
     * @param maxFlows new 4-tuples beyond this many open flows are dropped ({@code udp.flowLimit})
     * @param allowLinkLocal forward to 169.254.0.0/16 (gvproxy's {@code stack.ec2MetadataAccess})
     * @param relayPortUnreachable answer the guest with ICMP port unreachable when the host socket gets
     *     ECONNREFUSED (gvproxy relays nothing; this lets a guest fail fast, e.g. a DNS client)
     */
    public record Options(long idleTimeoutNanos, int maxFlows, boolean allowLinkLocal, boolean relayPortUnreachable) {
        public static final Options DEFAULTS = new Options(TimeUnit.SECONDS.toNanos(90), 4096, false, true);

        public Options {
            if (idleTimeoutNanos <= 0 || maxFlows <= 0) {
                throw new IllegalArgumentException("idle timeout and flow limit must be positive");
            }
        }

        public Options withIdleTimeoutNanos(long v) {
            return new Options(v, maxFlows, allowLinkLocal, relayPortUnreachable);
        }

        public Options withMaxFlows(int v) {
            return new Options(idleTimeoutNanos, v, allowLinkLocal, relayPortUnreachable);
        }

        public Options withAllowLinkLocal(boolean v) {
            return new Options(idleTimeoutNanos, maxFlows, v, relayPortUnreachable);
        }

        public Options withRelayPortUnreachable(boolean v) {
            return new Options(idleTimeoutNanos, maxFlows, allowLinkLocal, v);
        }
    }

    private final NetworkStack stack;
    private final EventLoop loop;
    private final LongSupplier clock;
    private final Options options;
    /** Access-ordered: iteration starts at the least recently active flow, so expiry stops at the first live one. */
    private final IdleFlows<FlowKey, UdpFlow> flows = new IdleFlows<>(64, f -> f.lastActive);
    /** The read buffer of every flow's host socket. */
    private final DatagramReadBuffer reads = new DatagramReadBuffer(MAX_PAYLOAD + 1);
    /** Flows with datagrams written to their host socket but not flushed yet (see {@link #flushHosts}). */
    private final ArrayList<UdpFlow> unflushed = new ArrayList<>();
    private final Runnable flushHosts = this::flushHosts;
    private boolean installed;
    private boolean closed;
    private GuestFlows guests;
    private EgressFilter egress;

    private final Counters.Counter flowLimit;
    private final Counters.Counter linkLocalDrop;
    private final Counters.Counter badDestination;
    private final Counters.Counter nat64Off;
    /** Flows opened per host family: IPv4, IPv6 host sockets, IPv4 through NAT64. */
    private final HostRoutes.FamilyCounters flowsByFamily;
    private HostRoutes routes;
    private final Counters.Counter tooBig;
    private final Counters.Counter flowsOpened;
    private final Counters.Counter flowsExpired;
    private final Counters.Counter toHost;
    private final Counters.Counter toGuest;
    private final Counters.Counter hostFlushes;
    private final Counters.Counter gsoWrites;
    private final Counters.Counter hostBackpressure;
    private final Counters.Counter pendingOverflow;
    private final Counters.Counter socketError;
    private final Counters.Counter connectError;
    private final Counters.Counter hostError;
    private final Counters.Counter portUnreachable;

    /**
     * @param loop the network's event loop (an epoll loop); host channels are registered on it
     * @param clock monotonic nanoseconds, the same clock the stack uses (for activity time-stamps of replies)
     */
    public UdpForwarder(NetworkStack stack, EventLoop loop, LongSupplier clock, Options options) {
        this.stack = stack;
        this.loop = loop;
        this.clock = clock;
        this.options = options;
        Counters c = stack.counters();
        this.flowLimit = c.counter("udp.flowLimit");
        this.linkLocalDrop = c.counter("udp.linkLocalDrop");
        this.badDestination = c.counter("udp.fwd.badDestination");
        this.nat64Off = c.counter("udp.fwd.nat64Off");
        this.flowsByFamily = HostRoutes.FamilyCounters.of(c, "udp");
        this.routes = HostRoutes.defaults(stack.config());
        this.tooBig = c.counter("udp.fwd.tooBig");
        this.flowsOpened = c.counter("udp.fwd.flowsOpened");
        this.flowsExpired = c.counter("udp.fwd.flowsExpired");
        this.toHost = c.counter("udp.fwd.toHost");
        this.toGuest = c.counter("udp.fwd.toGuest");
        this.hostFlushes = c.counter("udp.fwd.hostFlushes");
        this.gsoWrites = c.counter("udp.fwd.gsoWrites");
        this.hostBackpressure = c.counter("udp.fwd.hostBackpressure");
        this.pendingOverflow = c.counter("udp.fwd.pendingOverflow");
        this.socketError = c.counter("udp.fwd.socketError");
        this.connectError = c.counter("udp.fwd.connectError");
        this.hostError = c.counter("udp.fwd.hostError");
        this.portUnreachable = c.counter("udp.fwd.portUnreachable");
    }

    /** {@link #install(NetworkStack, EventLoop, LongSupplier, Options)} with the stack's clock and defaults. */
    public static UdpForwarder install(NetworkStack stack, EventLoop loop) {
        return install(stack, loop, stack::now, Options.DEFAULTS);
    }

    /**
     * Creates a forwarder, makes it the stack's UDP forwarder and one of its deadline sources (idle flows).
     * Call on the loop (or before the network carries traffic); {@link #close()} undoes it.
     */
    public static UdpForwarder install(NetworkStack stack, EventLoop loop, LongSupplier clock, Options options) {
        UdpForwarder f = new UdpForwarder(stack, loop, clock, options);
        stack.udp().setForwarder(f);
        stack.addDeadlineSource(f);
        f.installed = true;
        return f;
    }

    public Options options() {
        return options;
    }

    /** Charges every flow to its guest (UDP flows and host sockets per guest); call before traffic flows. */
    public void setGuestFlows(GuestFlows guests) {
        this.guests = guests;
    }

    /** Every flow as a row of the live flow table. Loop only. */
    public void flows(java.util.function.Consumer<dev.gvproxy.stack.FlowEntry> out) {
        for (UdpFlow f : flows.values()) {
            out.accept(f.flowEntry());
        }
    }

    /**
     * Applies the network's egress policy to new flows: a denied datagram is answered with ICMP destination
     * unreachable, administratively prohibited, and opens no host socket. Call before traffic flows.
     */
    public void setEgress(EgressFilter egress) {
        this.egress = egress;
    }

    /** Number of open flows. */
    public int flowCount() {
        return flows.size();
    }

    /** The open flows' guest-side 4-tuples and host local ports, for diagnostics and tests. */
    public List<String> describeFlows() {
        List<String> out = new ArrayList<>();
        for (UdpFlow f : flows.values()) {
            out.add(f + " via " + f.channel.localAddress());
        }
        return out;
    }

    /** Host-side local port of the flow for this 4-tuple, or -1 (for tests). */
    public int hostLocalPort(int guestIp, int guestPort, int dstIp, int dstPort) {
        UdpFlow f = flow(guestIp, guestPort, dstIp, dstPort);
        if (f == null || f.channel.localAddress() == null) {
            return -1;
        }
        return f.channel.localAddress().getPort();
    }

    /** The flow of this IPv4 4-tuple, or null (for tests). */
    UdpFlow flow(int guestIp, int guestPort, int dstIp, int dstPort) {
        return flows.get(FlowKey.ipv4(guestIp, guestPort, dstIp, dstPort));
    }

    /** Buffers the host sockets' reads allocated: 1 while every reader copies its datagram out (for tests). */
    long readBufferAllocations() {
        return reads.allocations();
    }

    /** @param payload <b>borrowed</b>: the UDP data; a retained slice goes to the host socket */
    @Override
    public void datagram(UdpDatagram d, ByteBuf payload, long now) {
        if (closed) {
            socketError.inc();
            return;
        }
        if (d.dstPort() == 0) {
            badDestination.inc();
            return;
        }
        // One path for both families: HostRoutes decodes NAT64 and the IPv6 host alias into what the egress
        // policy sees and where the host socket goes.
        HostRoutes.Route route = routes.route(d.dst());
        if (route.refused() && route.refusal() != HostRoutes.Refusal.LINK_LOCAL) {
            // Broadcast, multicast, the gateway, other guests: before the egress policy, no ICMP error answers
            // them (RFC 1122 3.2.2). NAT64 switched off is counted apart.
            (route.refusal() == HostRoutes.Refusal.NAT64_OFF ? nat64Off : badDestination).inc();
            return;
        }
        FlowKey key = d.flowKey();
        // The policy decides new flows (an existing flow was allowed, or outlived a change made without closing).
        if (egress != null && !flows.containsKey(key) && egress.denies(EgressPolicy.Protocol.UDP, route, d.dstPort(),
                false)) {
            sendUnreachable(d.src(), d.srcPort(), d.dst(), d.dstPort(), UdpPacket.HEADER_LEN + payload.readableBytes(),
                    true, now);
            return;
        }
        if (route.refused() && !options.allowLinkLocal()) {
            linkLocalDrop.inc();
            return;
        }
        if (payload.readableBytes() > MAX_PAYLOAD) {
            tooBig.inc();
            return;
        }
        UdpFlow flow = flows.get(key); // moves it to the most recently active end
        if (flow == null) {
            if (flows.size() >= options.maxFlows()) {
                flowLimit.inc();
                return;
            }
            flow = open(key, route, d.srcMac(), now);
            if (flow == null) {
                return;
            }
        }
        flow.lastActive = now;
        flow.datagramsFromGuest++;
        flow.bytesFromGuest += payload.readableBytes();
        flow.lastUdpLength = UdpPacket.HEADER_LEN + payload.readableBytes();
        if (!flow.isConnected()) {
            if (!flow.enqueue(payload.retainedSlice())) {
                pendingOverflow.inc();
            }
            return;
        }
        if (!flow.channel.isWritable()) {
            flow.channel.flush(); // a long batch filled the channel's queue: send it now
            if (!flow.channel.isWritable()) {
                // UDP may be lost; queueing behind a full socket buffer would only add latency and memory.
                hostBackpressure.inc();
                return;
            }
        }
        toHost.inc();
        if (payload.isReadable()) {
            flow.channel.write(payload.retainedSlice(), flow.channel.voidPromise());
            if (!flow.unflushed) {
                flow.unflushed = true;
                if (unflushed.isEmpty()) {
                    loop.execute(flushHosts);
                }
                unflushed.add(flow);
            }
        } else {
            flow.channel.flush(); // what was written before it goes first
            flow.writeEmpty();
        }
    }

    /**
     * Flushes every flow written to since the last flush. It runs as a task queued by the first write, after the
     * task that wrote (the read of a batch of guest frames): all the datagrams a batch carried for one flow leave
     * in one flush, which the epoll transport sends with one {@code sendmmsg} instead of one system call each
     * (and, to loopback, in runs of one UDP GSO write each: {@link UdpGso}).
     */
    private void flushHosts() {
        for (int i = 0; i < unflushed.size(); i++) {
            UdpFlow f = unflushed.get(i);
            f.unflushed = false;
            if (!f.isClosed()) {
                hostFlushes.inc();
                f.channel.flush();
            }
        }
        unflushed.clear();
    }

    private UdpFlow open(FlowKey key, HostRoutes.Route route, long mac, long now) {
        GuestFlows.Flow owner = null;
        if (guests != null) {
            owner = guests.open(mac, GuestFlows.Kind.UDP, null);
            if (owner == null) {
                return null; // the guest's (or the network's) budget; counted as budget.*
            }
        }
        InetSocketAddress remote = route.socket(key.peerPort());
        DatagramChannel ch;
        try {
            ch = SocketTransport.get().newDatagramChannel(remote.getAddress() instanceof java.net.Inet6Address
                    ? SocketProtocolFamily.INET6 : SocketProtocolFamily.INET);
        } catch (RuntimeException e) {
            // Out of descriptors, typically.
            socketError.inc();
            LOG.log(Level.FINE, "udp: cannot create host socket", e);
            if (owner != null) {
                owner.release();
            }
            return null;
        }
        reads.install(ch);
        ch.config().setReceiveBufferSize(SOCKET_BUFFER);
        ch.config().setSendBufferSize(SOCKET_BUFFER);
        // Level-triggered: Netty stops a read batch at an empty datagram, and with edge triggering the
        // datagrams queued behind it would wait for the next arrival.
        SocketTransport.get().levelTriggered(ch);
        UdpFlow flow = new UdpFlow(key, remote, ch, now);
        if (owner != null) {
            flow.owner = owner;
            owner.target(route, key.peer(), key.peerPort()); // what egress rules see
            owner.onAbort(() -> remove(flow));
        }
        if (remote.getAddress().isLoopbackAddress() && SocketTransport.get().segmentsDatagrams()) {
            // Loopback's 64 KiB MTU carries any guest datagram in one segment (see UdpGso).
            ch.pipeline().addLast(new UdpGso(remote, SocketTransport.get()::segmentedDatagram, gsoWrites));
        }
        ch.pipeline().addLast(new UdpFlow.HostHandler(this, flow));
        flows.put(key, flow);
        flowsOpened.inc();
        flowsByFamily.count(route);
        loop.register(ch).addListener((ChannelFuture rf) -> {
            if (!rf.isSuccess()) {
                connectFailed(flow, rf.cause());
                return;
            }
            ch.connect(remote).addListener((ChannelFuture cf) -> {
                if (!cf.isSuccess()) {
                    connectFailed(flow, cf.cause());
                } else if (!flow.isClosed()) {
                    flow.connected();
                }
            });
        });
        return flow;
    }

    private void connectFailed(UdpFlow flow, Throwable cause) {
        connectError.inc();
        LOG.log(Level.FINE, () -> flow + ": host socket failed: " + cause);
        remove(flow);
    }

    /**
     * A datagram read from a flow's host socket.
     *
     * @param data <b>taken</b>
     */
    void fromHost(UdpFlow flow, ByteBuf data) {
        if (flow.isClosed()) {
            data.release();
            return;
        }
        long now = clock.getAsLong();
        flow.lastActive = now;
        flows.get(flow.key); // refresh its place in the expiry order
        toGuest.inc();
        flow.datagramsToGuest++;
        flow.bytesToGuest += data.readableBytes();
        stack.udp().send(flow.origDstIp, flow.dstPort, flow.guestIp, flow.guestPort, data, now);
    }

    void hostError(UdpFlow flow, Throwable cause) {
        if (cause instanceof PortUnreachableException) {
            portUnreachable.inc();
            if (options.relayPortUnreachable() && !flow.isClosed()) {
                sendPortUnreachable(flow);
            }
            return;
        }
        hostError.inc();
        LOG.log(Level.FINE, () -> flow + ": host socket error: " + cause);
    }

    /**
     * Tells the guest that the destination port is closed: an ICMP port unreachable quoting a reconstruction of
     * its last datagram's IPv4 and UDP headers (the guest's kernel matches the quote to its socket by
     * addresses and ports; the quoted UDP checksum is 0, "none").
     */
    private void sendPortUnreachable(UdpFlow flow) {
        sendUnreachable(flow.guestIp, flow.guestPort, flow.origDstIp, flow.dstPort, flow.lastUdpLength,
                false, clock.getAsLong());
    }

    /**
     * An ICMP destination unreachable to the guest about one of its datagrams, quoting a reconstruction of its IPv4
     * and UDP headers (the quoted UDP checksum is 0, "none"): port unreachable, or administratively prohibited
     * (code 13, RFC 1812 5.2.7.1) for a datagram the egress policy refuses.
     */
    private void sendUnreachable(Ipv6Address guestIp, int guestPort, Ipv6Address dstIp, int dstPort, int udpLength,
            boolean prohibited, long now) {
        IpHeader h = new IpHeader();
        boolean v4 = guestIp.isIpv4Mapped();
        if (v4) {
            h.setIpv4(guestIp.ipv4(), dstIp.ipv4());
        } else {
            h.setIpv6(guestIp.hi(), guestIp.lo(), dstIp.hi(), dstIp.lo());
        }
        h.protocol = Ipv4Packet.PROTO_UDP;
        h.ttl = Ipv4Output.DEFAULT_TTL;
        h.payloadLength = udpLength;
        ByteBuf quote = stack.ipOutput().alloc().buffer(UdpPacket.HEADER_LEN);
        try {
            quote.writeShort(guestPort).writeShort(dstPort).writeShort(udpLength).writeShort(0);
            if (v4) {
                stack.icmp().sendUnreachable(h, quote,
                        prohibited ? Icmpv4Packet.CODE_ADMIN_PROHIBITED : Icmpv4Packet.CODE_PORT_UNREACHABLE, now);
            } else {
                stack.icmpv6().sendUnreachable(h, quote, prohibited ? Icmpv6Packet.CODE_ADMIN_PROHIBITED
                        : Icmpv6Packet.CODE_PORT_UNREACHABLE, now);
            }
        } finally {
            quote.release();
        }
    }

    /**
     * How destinations reach the host (NAT64 on or off, the host's loopback). Default
     * {@link HostRoutes#defaults}. Call before traffic flows.
     */
    public void setRoutes(HostRoutes routes) {
        this.routes = routes;
    }

    /** The host channel closed (by us or by an error): forget the flow. */
    void hostClosed(UdpFlow flow) {
        remove(flow);
    }

    private void remove(UdpFlow flow) {
        // Only if the mapping still belongs to this flow (a new flow may have replaced it); no reordering.
        flows.remove(flow.key, flow);
        flow.close();
    }

    /** Closes flows idle since {@code now - idleTimeout}. */
    @Override
    public void poll(long now) {
        for (UdpFlow f : flows.removeIdle(now - options.idleTimeoutNanos())) {
            flowsExpired.inc();
            f.close();
        }
    }

    /** When {@link #poll} next has work, or {@code Long.MAX_VALUE}. */
    @Override
    public long nextDeadline() {
        return flows.nextDeadline(options.idleTimeoutNanos());
    }

    /** Closes every flow and uninstalls; run on the loop. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (installed) {
            stack.removeDeadlineSource(this);
            stack.udp().setForwarder(null);
        }
        for (UdpFlow f : flows.removeAll()) {
            f.close();
        }
        unflushed.clear();
        reads.close();
    }
}
