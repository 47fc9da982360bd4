package dev.gvproxy.network;

import dev.gvproxy.dhcp.DhcpConfig;
import dev.gvproxy.dhcp.DhcpServer;
import dev.gvproxy.dns.DnsConfig;
import dev.gvproxy.dns.DnsServer;
import dev.gvproxy.dns.DnsTcpSession;
import dev.gvproxy.dns.Zone;
import dev.gvproxy.forwarder.GuestFlows;
import dev.gvproxy.forwarder.GuestStream;
import dev.gvproxy.forwarder.IcmpForwarder;
import dev.gvproxy.forwarder.PortForwarder;
import dev.gvproxy.forwarder.TcpForwarder;
import dev.gvproxy.forwarder.TunnelStream;
import dev.gvproxy.platform.SocketTransport;
import dev.gvproxy.forwarder.UdpForwarder;
import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.PcapWriter;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.transport.Listener;
import dev.gvproxy.transport.NetworkContext;
import dev.gvproxy.transport.Transports;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.model.PortForwards;
import dev.gvproxy.network.internal.NetworkInternals;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One virtual network: a switch, the gateway stack and its services, all on one Netty event loop of the
 * process's {@link SocketTransport} (epoll on Linux) (DESIGN.md "one event loop per virtual network"). This is the embedding API's root object: a VM
 * launcher builds one, attaches transports to it, and closes it when the VM is gone.
 *
 * <pre>{@code
 * try (VirtualNetwork net = VirtualNetwork.builder().mtu(1500).build()) {
 *     net.listenQemu("unix:///run/vm1/net.sock");
 *     // start QEMU with -netdev stream,addr.type=unix,addr.path=/run/vm1/net.sock ...
 * }
 * }</pre>
 */
public final class VirtualNetwork implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(VirtualNetwork.class.getName());

    private final StackConfig config;
    private final EventLoopGroup group; // null when running on the caller's loop (not ours to shut down)
    private final EventLoop loop;
    private final dev.gvproxy.model.PortForwardRegistry forwards;
    private volatile dev.gvproxy.model.PortForwardRegistry.Opener sshTunnels;
    private final NetworkInternals internals;
    private final Counters counters = new Counters();
    private final VirtualSwitch sw;
    private final NetworkStack stack;
    private final PcapWriter pcap;
    private final NetworkDriver driver;
    private final DhcpServer dhcp;
    private final dev.gvproxy.dhcp.Dhcpv6Server dhcpv6;
    private final DnsServer dns;
    private final UdpForwarder udpForwarder;
    private final IcmpForwarder icmpForwarder;
    private final TcpForwarder tcpForwarder;
    private final PortForwarder portForwarder;
    private final GuestFlows guestFlows;
    private final dev.gvproxy.forwarder.EgressFilter egress;
    private final long dnsTcpIdleNanos;
    private final NetworkContext transportContext;
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    private VirtualNetwork(Builder b) throws IOException {
        this.config = b.config;
        this.dnsTcpIdleNanos = b.dnsTcpIdle.toNanos();
        if (b.eventLoop != null) {
            this.group = null;
            this.loop = b.eventLoop;
        } else {
            this.group = SocketTransport.get().newEventLoopGroup(1, b.busyPoll);
            this.loop = group.next();
        }
        // Pcap timestamps are wall-clock; MAC ageing runs on the same monotonic clock as the stack's deadlines.
        this.sw = new VirtualSwitch(config.gatewayMac(), counters, VirtualNetwork::epochNanos, System::nanoTime,
                config.portSecurity());
        sw.setMtu(config.mtu()); // large TCP frames are cut to it for ports without offloads
        this.stack = new NetworkStack(config, sw, counters, b.alloc, System::nanoTime);
        if (b.pcap != null) {
            this.pcap = new PcapWriter(b.pcap, 262144);
        } else {
            this.pcap = null;
        }
        VirtualSwitch.FrameTap tap = SwitchFrameLog.compose(pcap, b.logFrames ? new SwitchFrameLog() : null);
        if (tap != null) {
            sw.setTap(tap);
        }
        this.transportContext = new NetworkContext(null, loop, sw, counters);
        this.driver = new NetworkDriver(loop, sw, stack, System::nanoTime, pcap);
        stack.tcp().setMemoryLimit(b.tcpMemory);
        this.guestFlows = GuestFlows.install(sw, counters, stack::now, b.guestLimits);
        stack.addDeadlineSource(guestFlows); // guests that left: their flows are aborted after the grace period
        guestFlows.setWakeup(stack::wakeup);
        this.dhcp = b.dhcp ? DhcpServer.install(stack, b.dhcpConfig != null ? b.dhcpConfig : DhcpConfig.defaults(config)) : null;
        // DHCPv6 goes with DHCP: on when the stack speaks IPv6 (stateless DNS for SLAAC guests, IA_NA for the rest).
        this.dhcpv6 = b.dhcp && config.ipv6().enabled() ? dev.gvproxy.dhcp.Dhcpv6Server.install(stack,
                b.dhcpv6Config != null ? b.dhcpv6Config : dev.gvproxy.dhcp.Dhcpv6Config.defaults(config)) : null;
        this.dns = b.dns ? DnsServer.install(stack, b.dnsConfig != null ? b.dnsConfig
                : DnsConfig.builder().zones(config.ipv6().enabled()
                        ? Zone.legacyDefaults(config.gatewayIp(), config.hostIp(), config.ipv6().gateway(),
                                config.ipv6().hostAlias())
                        : Zone.legacyDefaults(config.gatewayIp(), config.hostIp())).build(), loop) : null;
        this.udpForwarder = UdpForwarder.install(stack, loop, stack::now, b.udpOptions);
        udpForwarder.setGuestFlows(guestFlows);
        IcmpForwarder icmp = null;
        try {
            icmp = IcmpForwarder.install(stack, loop);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "ICMP forwarding disabled: " + e.getMessage());
        }
        this.icmpForwarder = icmp;
        if (icmp != null) {
            icmp.setGuestFlows(guestFlows);
        }
        this.tcpForwarder = TcpForwarder.install(stack, loop, b.tcpOptions);
        tcpForwarder.setGuestFlows(guestFlows);
        // Both families' destinations, NAT64 on or off (HostRoutes: one mapping for TCP, UDP and ICMP echo).
        dev.gvproxy.forwarder.HostRoutes routes = new dev.gvproxy.forwarder.HostRoutes(config, b.nat64,
                dev.gvproxy.forwarder.HostRoutes.hostHasIpv6Loopback());
        tcpForwarder.setRoutes(routes);
        udpForwarder.setRoutes(routes);
        if (icmp != null) {
            icmp.setRoutes(routes);
        }
        // The egress policy: every forwarder asks it before re-originating a new guest flow.
        this.egress = new dev.gvproxy.forwarder.EgressFilter(counters, b.egress);
        tcpForwarder.setEgress(egress);
        udpForwarder.setEgress(egress);
        if (icmp != null) {
            icmp.setEgress(egress);
        }
        this.portForwarder = new PortForwarder(stack, loop, b.portForwardOptions);
        dev.gvproxy.model.PortForwarderOpener direct = new dev.gvproxy.model.PortForwarderOpener(portForwarder);
        // ssh-tunnel:// remotes go to the opener gvproxy's CLI installs (NetworkInternals.sshTunnels); without one
        // the stack forwarder refuses them with gvproxy's text.
        this.forwards = new dev.gvproxy.model.PortForwardRegistry(f -> {
            dev.gvproxy.model.PortForwardRegistry.Opener ssh = sshTunnels;
            return ssh != null && f.remote().startsWith("ssh-tunnel://") ? ssh.open(f) : direct.open(f);
        }, b.guestPolicy, counters);
        if (b.trafficSummary != null) {
            // -debug's summary (issue 12): one of the stack's deadline sources, run by the network's one driver.
            stack.addDeadlineSource(new TrafficSummary(this::trafficSample, line -> SUMMARY_LOG.info(line),
                    b.trafficSummary.toNanos(), stack.now()));
        }
        this.internals = new NetworkInternals(config, loop, counters, sw, stack, transportContext, dhcp, dns,
                tcpForwarder, udpForwarder, portForwarder, guestFlows, forwards, tunneler(), o -> sshTunnels = o,
                icmpForwarder, dhcpv6);
        if (dns != null) {
            stack.tcp().listen(config.gatewayIp(), 53, this::dnsOverTcp);
            if (config.ipv6().enabled()) {
                stack.tcp().listen(config.ipv6().gateway(), 53, this::dnsOverTcp);
                stack.tcp().listen(config.ipv6().linkLocal(), 53, this::dnsOverTcp);
            }
        }
    }

    /** Logger of -debug's periodic traffic summary. */
    private static final Logger SUMMARY_LOG = Logger.getLogger("gvproxy.traffic");

    /** The totals the traffic summary compares (event loop). */
    private TrafficSummary.Sample trafficSample() {
        List<TrafficSummary.PortSample> ports = new java.util.ArrayList<>();
        for (dev.gvproxy.stack.link.SwitchPort p : sw.ports()) {
            ports.add(new TrafficSummary.PortSample(p.id(), p.name(), p.framesIn(), p.bytesIn(), p.framesOut(),
                    p.bytesOut()));
        }
        java.util.Map<String, Long> counts = counters.snapshot();
        return new TrafficSummary.Sample(ports,
                java.util.Map.of("tcp", stack.tcp().connectionsOpened(),
                        "udp", counts.getOrDefault("udp.fwd.flowsOpened", 0L),
                        "icmp", icmpForwarder == null ? 0L : icmpForwarder.flowsOpened()),
                java.util.Map.of("tcp", stack.tcp().connectionCount(), "udp", udpForwarder.flowCount(),
                        "icmp", icmpForwarder == null ? 0 : icmpForwarder.flowCount()),
                counts);
    }

    private static long epochNanos() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    /** DNS over TCP on gateway:53: each guest connection's {@link GuestStream} feeds a {@link DnsTcpSession}. */
    private TcpConnection.Handler dnsOverTcp() {
        GuestStream stream = new GuestStream(stack, loop);
        stream.start(new DnsOverTcp(stream));
        return stream;
    }

    /**
     * One DNS-over-TCP connection. RFC 7766 6.2.3: the server closes idle connections. After the idle time with
     * no query pending, a FIN; a client that does not close within another idle time is reset, so no guest can
     * hold connections (and their buffers) open for ever.
     */
    private final class DnsOverTcp implements TunnelStream.Handler {
        private final GuestStream stream;
        private final Counters.Counter idleClosed = counters.counter("dns.tcp.idleClosed");
        private DnsTcpSession session;
        private long lastActive = System.nanoTime();
        private ScheduledFuture<?> idleTimer;
        private boolean finSent;
        private boolean closed;

        DnsOverTcp(GuestStream stream) {
            this.stream = stream;
            stream.established().thenRun(() -> armIdle(dnsTcpIdleNanos));
        }

        private DnsTcpSession session() {
            if (session == null) {
                session = new DnsTcpSession(dns, counters, stream::send, stack.ipOutput().alloc(), 16,
                        stream.connection().remoteIp());
            }
            return session;
        }

        private void armIdle(long delay) {
            idleTimer = loop.schedule(this::idleCheck, delay, TimeUnit.NANOSECONDS);
        }

        private void idleCheck() {
            if (closed) {
                return;
            }
            long idleFor = System.nanoTime() - lastActive;
            if (idleFor < dnsTcpIdleNanos || (session != null && session.pending() > 0)) {
                armIdle(Math.max(dnsTcpIdleNanos - idleFor, 1_000_000L));
                return;
            }
            if (!finSent) {
                finSent = true;
                idleClosed.inc();
                stream.shutdownOutput();
                armIdle(dnsTcpIdleNanos);
                return;
            }
            stream.abort();
        }

        /** @param data <b>taken</b> */
        @Override
        public void onData(io.netty.buffer.ByteBuf data) {
            lastActive = System.nanoTime();
            int n = data.readableBytes();
            try {
                session().received(data);
            } finally {
                data.release();
            }
            stream.consumed(n);
        }

        @Override
        public void onFin() {
            // RFC 7766: the client may half-close after its queries; answer them, then close.
            session().finishThen(stream::shutdownOutput);
        }

        @Override
        public void onSendSpace() {}

        @Override
        public void onClosed() {
            closed = true;
            if (idleTimer != null) {
                idleTimer.cancel(false);
            }
            if (session != null) {
                session.close();
            }
        }
    }


    // --- the facade: forwards, in-stack services, stats ------------------------------------------------------

    /**
     * Forwards a host socket to a guest, as gvproxy's {@code /services/forwarder/expose}: same keys, checks and
     * error texts, in the network's one forward registry (the HTTP API's list). Callable from any thread.
     *
     * @param forward e.g. {@code new PortForward("127.0.0.1:2222", "192.168.127.2:22", "tcp")}; port 0 in
     *     {@code local} binds any free port
     * @return completes with the forward as listed (the port really bound for port 0), or fails with the bind
     *     error or {@link IllegalStateException} ({@code proxy already running for tcp on 127.0.0.1:2222})
     */
    public CompletableFuture<PortForward> expose(PortForward forward) {
        return onLoop(() -> forwards.expose(forward, PortForwards.Origin.HOST));
    }

    /**
     * Stops a forward, as gvproxy's {@code /services/forwarder/unexpose}. Callable from any thread.
     *
     * @param protocol {@code tcp}, {@code udp} or {@code unix}
     * @param local the forward's {@code local} exactly as listed
     * @return completes once the host listener is closed, or fails with {@link IllegalStateException}
     *     ({@code proxy not found})
     */
    public CompletableFuture<Void> unexpose(String protocol, String local) {
        return onLoop(() -> forwards.unexpose(protocol, local, PortForwards.Origin.HOST));
    }

    /**
     * Stops a forward.
     *
     * @param forward a forward as {@link #expose} or {@link #forwards()} returned it
     * @return as {@link #unexpose(String, String)}
     */
    public CompletableFuture<Void> unexpose(PortForward forward) {
        return unexpose(forward.protocol(), forward.local());
    }

    /**
     * The active forwards, sorted as gvproxy's {@code /all}, whoever made them (this API, the HTTP API, the
     * configuration or a guest). Callable from any thread.
     *
     * @return a snapshot
     */
    public List<PortForward> forwards() {
        return call(forwards::all);
    }

    private <T> CompletableFuture<T> onLoop(java.util.function.Supplier<java.util.concurrent.CompletionStage<T>> op) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Runnable task = () -> {
            try {
                op.get().whenComplete((v, e) -> {
                    if (e != null) {
                        result.completeExceptionally(e instanceof java.util.concurrent.CompletionException
                                && e.getCause() != null ? e.getCause() : e);
                    } else {
                        result.complete(v);
                    }
                });
            } catch (RuntimeException e) {
                result.completeExceptionally(e);
            }
        };
        if (loop.inEventLoop()) {
            task.run();
        } else {
            try {
                loop.execute(task);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                result.completeExceptionally(new IllegalStateException("virtual network closed", e));
            }
        }
        return result;
    }

    /**
     * Serves TCP {@code port} on the gateway IP inside the virtual network with a Netty pipeline: each guest
     * connection becomes a {@link StackChannel} (remote address = the guest) initialised by {@code initializer}.
     * Replaces an earlier service on the same port. Callable from any thread.
     *
     * <pre>{@code
     * net.serveTcp(7, new ChannelInitializer<StackChannel>() {
     *     protected void initChannel(StackChannel ch) {
     *         ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
     *             public void channelRead(ChannelHandlerContext ctx, Object msg) { ctx.writeAndFlush(msg); }
     *         });
     *     }
     * });
     * }</pre>
     *
     * @param port 1-65535
     * @param initializer sets up each connection's pipeline, on the network's event loop
     */
    public void serveTcp(int port, io.netty.channel.ChannelInitializer<? super StackChannel> initializer) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
        run(() -> {
            stack.tcp().unlisten(config.gatewayIp(), port);
            stack.tcp().listen(config.gatewayIp(), port, StackChannel.acceptor(stack, loop, initializer));
        });
    }

    /** A UDP service on the gateway IP inside the virtual network; runs on the network's event loop. */
    @FunctionalInterface
    public interface UdpService {
        /**
         * One datagram from a guest.
         *
         * @param sender the guest's address and port
         * @param payload <b>borrowed</b>: the UDP data; retain it to keep it past the call
         * @param reply sends datagrams back to {@code sender} from the service's port
         */
        void datagram(java.net.InetSocketAddress sender, io.netty.buffer.ByteBuf payload, UdpReply reply);
    }

    /** Sends a datagram back to the guest a {@link UdpService} heard from. */
    @FunctionalInterface
    public interface UdpReply {
        /**
         * Sends one datagram; call on the network's event loop (as the service runs).
         *
         * @param payload <b>taken</b>: the UDP data
         */
        void send(io.netty.buffer.ByteBuf payload);
    }

    /**
     * Serves UDP {@code port} on the gateway IP inside the virtual network. Replaces an earlier service on the
     * same port. Callable from any thread.
     *
     * @param port 1-65535
     * @param service called for each datagram, on the network's event loop
     * @throws IllegalStateException if the port is the gateway's DNS (53) or DHCP (67) port while that server is on
     */
    public void serveUdp(int port, UdpService service) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
        if ((port == 53 && dns != null) || (port == 67 && dhcp != null)) {
            throw new IllegalStateException("UDP port " + port + " is the gateway's " + (port == 53 ? "DNS" : "DHCP"));
        }
        int gw = config.gatewayIp();
        run(() -> {
            stack.udp().unbind(gw, port);
            stack.udp().bind(gw, port, (d, payload, now) -> service.datagram(
                    new java.net.InetSocketAddress(dev.gvproxy.stack.wire.Ipv4Address.toInet(d.srcIp()), d.srcPort()),
                    payload, reply -> stack.udp().send(gw, port, d.srcIp(), d.srcPort(), reply, stack.now())));
        });
    }

    /**
     * Stops a service {@link #serveUdp} started (no-op if none). Callable from any thread.
     *
     * @param port the service's port
     */
    public void unserveUdp(int port) {
        run(() -> stack.udp().unbind(config.gatewayIp(), port));
    }

    /**
     * A snapshot of the network's counters, as gvproxy-java's {@code /stats} exports them: drops and refusals
     * under {@code <layer>.<reason>} names, traffic totals. Callable from any thread.
     *
     * @return counter name to value
     */
    public java.util.Map<String, Long> stats() {
        return counters.snapshot();
    }

    // --- the egress policy ------------------------------------------------------------------------------

    /**
     * The egress policy in force: which destinations guests may reach (YAML {@code stack.egress}, the host API's
     * {@code /services/egress}). Callable from any thread.
     *
     * @return the current rules, first match wins, no match allows
     */
    public dev.gvproxy.forwarder.EgressPolicy egress() {
        return egress.policy();
    }

    /**
     * Replaces the egress policy. New flows meet the new rules at once; existing ones are kept unless
     * {@code closeDenied}, which resets the TCP connections (and abandons the connects in flight) and closes the
     * UDP and ICMP flows the new rules deny. Callable from any thread.
     *
     * @param policy the new rules (their hit counts start at zero)
     * @param closeDenied whether to close existing flows the new rules deny
     * @return completes on the network's loop with the number of flows closed
     */
    public CompletableFuture<Integer> setEgress(dev.gvproxy.forwarder.EgressPolicy policy, boolean closeDenied) {
        java.util.Objects.requireNonNull(policy, "policy");
        return onLoop(() -> {
            egress.replace(policy);
            return CompletableFuture.completedFuture(closeDenied ? egress.closeDenied(guestFlows) : 0);
        });
    }

    /**
     * Each egress rule with its hit count since the policy was set: for a deny rule the flows it refused, for an
     * allow rule the flows it let through (for {@code /stats} and metrics exporters; the totals are the counters
     * {@code egress.denied}, {@code egress.denied.tcp|udp|icmp}). Callable from any thread.
     *
     * @return the current policy's rules in order, with their counts
     */
    public List<dev.gvproxy.forwarder.EgressFilter.RuleHits> egressRuleHits() {
        return egress.ruleHits();
    }

    /**
     * gvproxy-java's own modules' access to the network's parts (stack, switch, loop, servers).
     *
     * @return not API: for gvproxy-java's own modules (api-http, gvproxy, tests); may change without notice
     */
    public NetworkInternals internals() {
        return internals;
    }

    /** Active TCP opens into the guests (for {@code /tunnel} and port forwards), 10 s connect timeout. */
    private dev.gvproxy.model.Tunneler tunneler() {
        return new dev.gvproxy.model.Tunneler() {
            @Override
            public java.util.concurrent.CompletionStage<dev.gvproxy.forwarder.TunnelStream> connect(int ip, int port) {
                return connect(Ipv6Address.ofIpv4(ip), port);
            }

            @Override
            public java.util.concurrent.CompletionStage<dev.gvproxy.forwarder.TunnelStream> connect(Ipv6Address ip,
                    int port) {
                return tunnel(ip, port);
            }
        };
    }

    /** An active open into a guest from the gateway's address of {@code ip}'s family (/tunnel, SSH forwards). */
    private java.util.concurrent.CompletionStage<dev.gvproxy.forwarder.TunnelStream> tunnel(Ipv6Address ip, int port) {
        Ipv6Address src = ip.isIpv4Mapped() ? Ipv6Address.ofIpv4(config.gatewayIp()) : config.ipv6().gateway();
        java.util.concurrent.CompletableFuture<dev.gvproxy.forwarder.TunnelStream> result =
                new java.util.concurrent.CompletableFuture<>();
        loop.execute(() -> {
            try {
                GuestStream.open(stack, loop, src, -1, ip, port, TUNNEL_DIAL_TIMEOUT_MILLIS)
                        .established().whenComplete((st, e) -> {
                            if (e != null) {
                                result.completeExceptionally(e);
                            } else {
                                result.complete(st);
                            }
                        });
            } catch (RuntimeException e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    /** gvproxy's dial timeout for connections into the guest. */
    private static final long TUNNEL_DIAL_TIMEOUT_MILLIS = 10_000;

    /**
     * Starts the options of a new network.
     *
     * @return a builder with gvproxy's defaults
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The network's addressing and limits (subnet, gateway and host IPs, MTU, ...).
     *
     * @return the configuration the network was built with
     */
    public StackConfig config() {
        return config;
    }

    /**
     * Listens for QEMU {@code -netdev stream}/{@code socket} guests (4-byte big-endian frames).
     *
     * @param uri {@code unix:///path} or {@code tcp://127.0.0.1:port}
     * @return the listener; closed with the network, or earlier by closing it
     * @throws IOException if the socket cannot be bound
     */
    public Listener listenQemu(String uri) throws IOException {
        return track(Transports.listenQemu(uri, transportContext));
    }

    /**
     * Serves the endpoint gvforwarder's {@code /connect} attaches guests through (vfkit/gvforwarder guests).
     *
     * @param uri {@code unix:///path} or {@code tcp://127.0.0.1:port}
     * @return the listener; closed with the network, or earlier by closing it
     * @throws IOException if the socket cannot be bound
     */
    public Listener listenApi(String uri) throws IOException {
        return track(Transports.listenApi(uri, transportContext, null));
    }

    /**
     * Listens for datagram guests (vfkit, QEMU {@code -netdev dgram}), a frame per datagram.
     *
     * @param uri {@code unixgram:///path}
     * @return the listener; closed with the network, or earlier by closing it
     * @throws IOException if the socket cannot be bound
     */
    public Listener listenDatagram(String uri) throws IOException {
        return track(Transports.listenDatagram(uri, transportContext));
    }

    /**
     * Listens for User-Mode Linux guests ({@code vec0:transport=bess}), a frame per message.
     *
     * @param uri {@code unixpacket:///path}
     * @return the listener; closed with the network, or earlier by closing it
     * @throws IOException if the socket cannot be bound
     */
    public Listener listenBess(String uri) throws IOException {
        return track(Transports.listenBess(uri, transportContext));
    }

    /**
     * Serves a TAP interface from this network's event loop, with no guest agent in between: this process holds
     * the TAP's file descriptor and the interface is the guest's, typically in a network namespace (pasta's way of
     * serving a namespace or container). A VM's own TAP backend holds that descriptor itself; a VM reaches the
     * network through one of the listeners instead.
     *
     * <pre>{@code
     * net.attachTap("tap://tap0?netns=ci-guest");              // ip netns add ci-guest first
     * net.attachTap("tap://tap0?netns=ci-guest&offload=true"); // 64 KiB TCP segments each way
     * }</pre>
     *
     * @param uri {@code tap://IFACE[?netns=NAME][&offload=true]}: an existing interface is used as it is, a missing
     *            one created (and removed when the attachment closes); the link is brought up, the guest
     *            configures its address (DHCP from the gateway, or static)
     * @return the attachment; its close future completes when the interface goes away or it is closed
     * @throws IOException if the interface cannot be opened (Linux only; needs {@code CAP_NET_ADMIN})
     */
    public Listener attachTap(String uri) throws IOException {
        return track(Transports.attachTap(uri, transportContext));
    }

    /**
     * Uses this process's stdin/stdout as one guest's link (2-byte little-endian frames).
     *
     * @return the attachment; its close future completes when stdin ends
     */
    public Listener attachStdio() {
        return track(Transports.attachStdio(transportContext));
    }

    private Listener track(Listener l) {
        listeners.add(l);
        return l;
    }

    private <T> T call(Callable<T> task) {
        return internals.call(task);
    }

    private void run(Runnable task) {
        internals.run(task);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Listener l : listeners) {
            try {
                l.close();
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "closing listener", e);
            }
        }
        try {
            run(() -> {
                driver.close();
                forwards.closeAll();
                portForwarder.close();
                udpForwarder.close();
                if (icmpForwarder != null) {
                    icmpForwarder.close();
                }
                if (dns != null) {
                    dns.close();
                }
                if (dhcp != null) {
                    dhcp.close();
                }
                if (dhcpv6 != null) {
                    dhcpv6.close();
                }
                stack.close();
                if (pcap != null) {
                    pcap.close();
                }
            });
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "closing virtual network", e);
        }
        if (group != null) {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    /** Options of a virtual network. */
    public static final class Builder {
        private StackConfig config = StackConfig.defaults();
        private Path pcap;
        private ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;
        private boolean dhcp = true;
        private DhcpConfig dhcpConfig;
        private dev.gvproxy.dhcp.Dhcpv6Config dhcpv6Config;
        private boolean dns = true;
        private DnsConfig dnsConfig;
        private TcpForwarder.Options tcpOptions = TcpForwarder.Options.DEFAULTS;
        private UdpForwarder.Options udpOptions = UdpForwarder.Options.DEFAULTS;
        private PortForwarder.Options portForwardOptions = PortForwarder.Options.DEFAULTS;
        private boolean logFrames;
        private java.time.Duration trafficSummary;
        private GuestFlows.Limits guestLimits = GuestFlows.Limits.defaults();
        private long tcpMemory = defaultTcpMemory();
        private java.time.Duration dnsTcpIdle = java.time.Duration.ofSeconds(30);
        private EventLoop eventLoop;
        private java.time.Duration busyPoll = java.time.Duration.ZERO;
        private dev.gvproxy.model.PortForwardRegistry.GuestPolicy guestPolicy =
                dev.gvproxy.model.PortForwardRegistry.GuestPolicy.DEFAULT;
        private dev.gvproxy.forwarder.EgressPolicy egress = dev.gvproxy.forwarder.EgressPolicy.ALLOW_ALL;
        private boolean nat64 = true;

        private Builder() {}

        /**
         * Runs the network on the caller's event loop instead of a loop of its own. The loop must be of the
         * process's socket transport (epoll on Linux, else NIO) so the network's host sockets can register on it;
         * {@link VirtualNetwork#close()} then leaves the loop running. Several networks may share one loop.
         *
         * @param loop the loop every channel and timer of this network runs on
         * @return this builder
         */
        public Builder eventLoop(EventLoop loop) {
            this.eventLoop = java.util.Objects.requireNonNull(loop, "loop");
            return this;
        }

        /**
         * Keeps the network's own event loop polling its sockets without sleeping for {@code window} after its
         * last work (default zero: it sleeps at once, as Netty's loops do). Each exchange with a guest then finds
         * the loop awake instead of paying a thread wake-up, which on a VM is most of a connection's cost:
         * connects per second and request/response latency improve, at the price of up to {@code window} of CPU
         * spinning after every burst of traffic (none while the network is idle). Figures: benchmarks/README.md.
         * Not with {@link #eventLoop}: a loop the caller brings is configured by the caller
         * ({@code SocketTransport.newEventLoopGroup(threads, busyPoll)}).
         *
         * @param window zero (off) up to 10 ms
         * @return this builder
         */
        public Builder busyPoll(java.time.Duration window) {
            this.busyPoll = dev.gvproxy.platform.BusyPoll.checkWindow(window);
            return this;
        }

        /**
         * What forwards a guest may create through the in-VM API (default
         * {@link dev.gvproxy.model.PortForwardRegistry.GuestPolicy#DEFAULT}: what podman needs).
         *
         * @param policy the policy the network's forward registry applies to guest-made forwards
         * @return this builder
         */
        public Builder guestPolicy(dev.gvproxy.model.PortForwardRegistry.GuestPolicy policy) {
            this.guestPolicy = java.util.Objects.requireNonNull(policy, "policy");
            return this;
        }

        /**
         * NAT64 (RFC 6052 {@code 64:ff9b::/96}, default on): an IPv6 guest's connections to the prefix go out as
         * IPv4 to the embedded address, under the same NAT and egress rules as IPv4 ({@code stack.nat64} in the
         * YAML). Off: they are refused ({@code tcp.forward.nat64Off}, {@code udp.fwd.nat64Off}).
         *
         * @param on whether NAT64 translates
         * @return this builder
         */
        public Builder nat64(boolean on) {
            this.nat64 = on;
            return this;
        }

        /**
         * Which destinations guests may reach through the gateway: ordered allow/deny rules, first match wins, no
         * match allows (default {@link dev.gvproxy.forwarder.EgressPolicy#ALLOW_ALL}). Replaceable at run time
         * with {@link VirtualNetwork#setEgress}. NAT64 destinations are judged as the IPv4 address they embed;
         * native IPv6 ones are refused while the policy has a deny rule ({@code egress.denied.ipv6}).
         *
         * @param policy the initial rules
         * @return this builder
         */
        public Builder egress(dev.gvproxy.forwarder.EgressPolicy policy) {
            this.egress = java.util.Objects.requireNonNull(policy, "policy");
            return this;
        }

        /**
         * How long a DNS-over-TCP connection may sit idle (no query pending) before the gateway closes it
         * ({@code dns.tcp.idleClosed}); default 30 s, as unbound's {@code tcp-idle-timeout}.
         *
         * @param idle a positive duration
         * @return this builder
         */
        public Builder dnsTcpIdleTimeout(java.time.Duration idle) {
            if (idle.isNegative() || idle.isZero()) {
                throw new IllegalArgumentException("idle timeout must be positive");
            }
            this.dnsTcpIdle = idle;
            return this;
        }

        /**
         * The default TCP buffer budget of a network: a quarter of the JVM's memory limit (direct buffers are
         * bounded by it too), at most 256 MiB. Enough for a few dozen connections at full windows; more
         * connections share it (see {@code TcpMemory}).
         *
         * @return bytes
         */
        public static long defaultTcpMemory() {
            return Math.max(16L << 20, Math.min(256L << 20, Runtime.getRuntime().maxMemory() / 4));
        }

        /**
         * Budgets for what guests make the host hold: host sockets per guest and per network, UDP and ICMP flows
         * per guest, connects in flight per guest and per destination, and the grace period after which a
         * departed guest's flows are closed. Default: {@link GuestFlows.Limits#defaults()}, derived from the
         * process's descriptor limit.
         *
         * @param limits the budgets
         * @return this builder
         */
        public Builder guestLimits(GuestFlows.Limits limits) {
            this.guestLimits = limits;
            return this;
        }

        /**
         * Bytes all TCP connections of the network may buffer together (default {@link #defaultTcpMemory()}).
         *
         * @param bytes the budget
         * @return this builder
         */
        public Builder tcpMemory(long bytes) {
            this.tcpMemory = bytes;
            return this;
        }

        /**
         * Host -> guest forwards: dial timeout, UDP idle timeout, passing the client's address through.
         *
         * @param options the forwarder's options
         * @return this builder
         */
        public Builder portForwarding(PortForwarder.Options options) {
            this.portForwardOptions = options;
            return this;
        }

        /**
         * DHCP on the gateway (default on, {@link DhcpConfig#defaults}).
         *
         * @param enabled whether the gateway answers DHCP
         * @param config the server's configuration; null for the defaults of the network's subnet
         * @return this builder
         */
        public Builder dhcp(boolean enabled, DhcpConfig config) {
            this.dhcp = enabled;
            this.dhcpConfig = config;
            return this;
        }

        /**
         * The DHCPv6 server's configuration (it runs when DHCP is enabled and the network speaks IPv6).
         *
         * @param config null for the defaults of the network's IPv6 prefix
         * @return this builder
         */
        public Builder dhcpv6(dev.gvproxy.dhcp.Dhcpv6Config config) {
            this.dhcpv6Config = config;
            return this;
        }

        /**
         * DNS on the gateway (default on: legacy zones, the host's resolv.conf and hosts file).
         *
         * @param enabled whether the gateway answers DNS
         * @param config the server's configuration; null for the defaults
         * @return this builder
         */
        public Builder dns(boolean enabled, DnsConfig config) {
            this.dns = enabled;
            this.dnsConfig = config;
            return this;
        }

        /**
         * Guest -> host TCP (NAT to the host's sockets): connect timeout, buffers.
         *
         * @param options the forwarder's options
         * @return this builder
         */
        public Builder tcpForwarding(TcpForwarder.Options options) {
            this.tcpOptions = options;
            return this;
        }

        /**
         * Guest -> host UDP (NAT to the host's sockets): idle timeout, flow cap, link-local access, ICMP port
         * unreachable relay.
         *
         * @param options the forwarder's options (default {@link UdpForwarder.Options#DEFAULTS})
         * @return this builder
         */
        public Builder udpForwarding(UdpForwarder.Options options) {
            this.udpOptions = java.util.Objects.requireNonNull(options, "options");
            return this;
        }

        /**
         * The network's addressing and limits (default {@link StackConfig#defaults()}: gvproxy's 192.168.127.0/24).
         *
         * @param config the stack configuration
         * @return this builder
         */
        public Builder config(StackConfig config) {
            this.config = config;
            return this;
        }

        /**
         * Shorthand for the current configuration with another MTU.
         *
         * @param mtu the link MTU
         * @return this builder
         */
        public Builder mtu(int mtu) {
            this.config = config.toBuilder().mtu(mtu).build();
            return this;
        }

        /**
         * Records every frame crossing the switch into this pcap file.
         *
         * @param file the capture file (created or truncated)
         * @return this builder
         */
        public Builder pcap(Path file) {
            this.pcap = file;
            return this;
        }

        /**
         * Logs one line per frame crossing the switch at FINE on logger {@code gvproxy.frames} (gvproxy's
         * {@code -debug}); its theory in the package docs.
         *
         * @param enabled whether to log frames
         * @return this builder
         */
        public Builder logFrames(boolean enabled) {
            this.logFrames = enabled;
            return this;
        }

        /**
         * Logs a traffic summary every {@code period} at INFO on logger {@code gvproxy.traffic} (gvproxy's
         * {@code -debug} statistics): frames and bytes per switch port, flows opened and closed per protocol, and
         * the counters that moved, since the previous summary; quiet periods log nothing. Run by the network's
         * deadline driver on its event loop.
         *
         * @param period how often, or null (the default) for no summary
         * @return this builder
         */
        public Builder trafficSummary(java.time.Duration period) {
            if (period != null && (period.isNegative() || period.isZero())) {
                throw new IllegalArgumentException("the traffic summary period must be positive");
            }
            this.trafficSummary = period;
            return this;
        }

        /**
         * The allocator of the stack's buffers (default {@link ByteBufAllocator#DEFAULT}).
         *
         * @param alloc the allocator
         * @return this builder
         */
        public Builder allocator(ByteBufAllocator alloc) {
            this.alloc = alloc;
            return this;
        }

        /**
         * Creates the network and starts its services (DHCP, DNS, forwarders) on its event loop.
         *
         * @return the running network; close it when the VM is gone
         * @throws IOException if a service cannot start (e.g. the pcap file cannot be created)
         */
        public VirtualNetwork build() throws IOException {
            if (eventLoop != null && !busyPoll.isZero()) {
                throw new IllegalStateException("busyPoll applies to the network's own loop, not to eventLoop(...)");
            }
            return new VirtualNetwork(this);
        }
    }
}
