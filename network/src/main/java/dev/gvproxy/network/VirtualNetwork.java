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
import dev.gvproxy.model.PortForward;
import dev.gvproxy.model.PortForwardRegistry;
import dev.gvproxy.model.PortForwarderOpener;
import dev.gvproxy.model.PortForwards;
import dev.gvproxy.model.Tunneler;
import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.PcapWriter;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.transport.Listener;
import dev.gvproxy.transport.NetworkContext;
import dev.gvproxy.transport.Transports;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One virtual network: a switch, the gateway stack and its services (DHCP, DNS, NAT to the host), all on one Netty
 * event loop (DESIGN.md "one event loop per virtual network"). This is the embedding API's root object: a VM
 * launcher builds one, attaches guests to it, and closes it when the VM is gone.
 *
 * <pre>{@code
 * try (VirtualNetwork net = VirtualNetwork.builder().mtu(1500).build()) {       // or .eventLoop(myLoop)
 *     net.listenQemu("unix:///run/vm1/net.sock");                                 // listen* / attachStdio()
 *     // start QEMU with -netdev stream,addr.type=unix,addr.path=/run/vm1/net.sock ...
 *     net.expose(new PortForward("127.0.0.1:2222", "192.168.127.2:22", "tcp")).get(); // host:2222 -> guest:22
 *     net.serveUdp(9999, (from, data, reply) -> reply.send(data.retain()));      // an in-stack echo service
 *     System.out.println(net.stats().get("eth.in.frames"));
 * }
 * }</pre>
 *
 * <p>The API: {@link #builder()} and {@link Builder}; guests attach with {@link #listenQemu}, {@link #listenApi},
 * {@link #listenDatagram}, {@link #listenBess}, {@link #attachStdio}; {@link #expose}/{@link #unexpose}/
 * {@link #forwards()} manage host-to-guest port forwards; {@link #serveInStack}/{@link #serveUdp} serve TCP and UDP
 * on the gateway inside the network; {@link #stats()}; {@link #config()}; {@link #close()}. These are callable
 * from any thread. Members marked <b>Not API</b> are for gvproxy-java's own modules (the HTTP API, the CLI,
 * tests): they hand out event-loop-only internals and may change without notice.
 */
public final class VirtualNetwork implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(VirtualNetwork.class.getName());

    private final StackConfig config;
    private final EventLoopGroup group;
    private final EventLoop loop;
    private final Counters counters = new Counters();
    private final VirtualSwitch sw;
    private final NetworkStack stack;
    private final PcapWriter pcap;
    private final NetworkDriver driver;
    private final DhcpServer dhcp;
    private final DnsServer dns;
    private final UdpForwarder udpForwarder;
    private final IcmpForwarder icmpForwarder;
    private final TcpForwarder tcpForwarder;
    private final PortForwarder portForwarder;
    private final GuestFlows guestFlows;
    private final PortForwardRegistry forwards;
    private final long dnsTcpIdleNanos;
    private final NetworkContext transportContext;
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    private VirtualNetwork(Builder b) throws IOException {
        this.config = b.config;
        this.dnsTcpIdleNanos = b.dnsTcpIdle.toNanos();
        // A caller's loop is borrowed: the network runs on it but never shuts it down (close() only stops its own).
        this.group = b.eventLoop == null ? SocketTransport.get().newEventLoopGroup(1) : null;
        this.loop = b.eventLoop != null ? b.eventLoop : group.next();
        // Pcap timestamps are wall-clock; MAC ageing runs on the same monotonic clock as the stack's deadlines.
        this.sw = new VirtualSwitch(config.gatewayMac(), counters, VirtualNetwork::epochNanos, System::nanoTime,
                config.portSecurity());
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
        this.dns = b.dns ? DnsServer.install(stack, b.dnsConfig != null ? b.dnsConfig
                : DnsConfig.builder().zones(Zone.legacyDefaults(config.gatewayIp(), config.hostIp())).build(), loop) : null;
        this.udpForwarder = UdpForwarder.install(stack, loop);
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
        this.portForwarder = new PortForwarder(stack, loop, b.portForwardOptions);
        this.forwards = new PortForwardRegistry(new PortForwarderOpener(portForwarder,
                b.tunnelOpener == null ? null : b.tunnelOpener.apply(this)), b.guestPolicy, counters);
        if (dns != null) {
            stack.tcp().listen(config.gatewayIp(), 53, this::dnsOverTcp);
        }
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

    // --- in-stack services --------------------------------------------------------------------------------

    /**
     * Serves TCP {@code port} on the gateway IP inside the virtual network with a Netty pipeline: each guest
     * connection becomes a {@link StackChannel} (remote address = the guest) initialised by {@code initializer}.
     * E.g. gvproxy's in-VM API: {@code serveInStack(80, ApiServer.inVm(api))}. Replaces an earlier service on
     * the same port. Callable from any thread; returns once the port is served.
     *
     * @param port the gateway's TCP port, 1-65535
     * @param initializer sets up each accepted connection's pipeline (runs on the network's event loop)
     * @throws IllegalArgumentException if {@code port} is out of range
     */
    public void serveInStack(int port, io.netty.channel.ChannelInitializer<? super StackChannel> initializer) {
        checkPort(port);
        run(() -> {
            stack.tcp().unlisten(config.gatewayIp(), port);
            stack.tcp().listen(config.gatewayIp(), port, StackChannel.acceptor(stack, loop, initializer));
        });
    }

    /** Stops the in-stack TCP service on {@code port} (established connections stay); callable from any thread.
     *
     * @param port the gateway's TCP port given to {@link #serveInStack}
     */
    public void stopServingInStack(int port) {
        checkPort(port);
        run(() -> stack.tcp().unlisten(config.gatewayIp(), port));
    }

    /**
     * An in-stack UDP service: receives the datagrams guests send to one gateway port. Runs on the network's
     * event loop and must not block it.
     */
    @FunctionalInterface
    public interface UdpService {
        /**
         * One datagram from a guest.
         *
         * @param sender the guest's address and port
         * @param payload <b>borrowed</b>: the UDP data, valid during this call only (retain or copy to keep it)
         * @param reply sends datagrams back to {@code sender} from the service's port
         */
        void datagram(java.net.InetSocketAddress sender, io.netty.buffer.ByteBuf payload, UdpReply reply);
    }

    /** Answers one guest's datagram: callable from any thread, any number of times. */
    @FunctionalInterface
    public interface UdpReply {
        /**
         * Sends {@code data} to the guest that sent the datagram, from the service's address and port.
         *
         * @param data <b>taken</b>: released by the network
         */
        void send(io.netty.buffer.ByteBuf data);
    }

    /**
     * Serves UDP {@code port} on the gateway IP inside the virtual network (as the gateway's DHCP and DNS are
     * served): every datagram a guest sends to {@code gateway:port} goes to {@code service}. Callable from any
     * thread; returns once the port is served.
     *
     * @param port the gateway's UDP port, 1-65535
     * @param service receives the datagrams (on the network's event loop)
     * @throws IllegalArgumentException if {@code port} is out of range
     * @throws IllegalStateException if a service (or the gateway's own DNS) already serves the port
     */
    public void serveUdp(int port, UdpService service) {
        checkPort(port);
        int gw = config.gatewayIp();
        run(() -> stack.udp().bind(gw, port, (d, payload, now) -> {
            java.net.InetSocketAddress sender = new java.net.InetSocketAddress(
                    dev.gvproxy.stack.wire.Ipv4Address.toInet(d.srcIp()), d.srcPort());
            service.datagram(sender, payload, data -> {
                if (loop.inEventLoop()) {
                    sendUdp(d, data);
                } else {
                    loop.execute(() -> sendUdp(d, data));
                }
            });
        }));
    }

    private void sendUdp(dev.gvproxy.stack.udp.UdpDatagram d, io.netty.buffer.ByteBuf data) {
        if (closed) {
            data.release();
            return;
        }
        stack.udp().send(d.dstIp(), d.dstPort(), d.srcIp(), d.srcPort(), data, stack.now()); // the driver flushes
    }

    /**
     * Stops the in-stack UDP service on {@code port}; callable from any thread.
     *
     * @param port the gateway's UDP port given to {@link #serveUdp}
     */
    public void stopServingUdp(int port) {
        checkPort(port);
        run(() -> stack.udp().unbind(config.gatewayIp(), port));
    }

    private static void checkPort(int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
    }

    // --- host -> guest port forwards -----------------------------------------------------------------------

    /**
     * Exposes a guest port on the host: a host listener on {@code forward.local()} whose clients are relayed to
     * {@code forward.remote()} in the virtual network ({@code tcp}, {@code udp}, or {@code unix} with a
     * {@code tcp://ip:port} remote), with gvproxy's checks, keying ({@code protocol/local}) and error texts, in
     * the same registry the HTTP API uses. Callable from any thread.
     *
     * <pre>{@code
     * PortForward f = net.expose(new PortForward("127.0.0.1:2222", "192.168.127.2:22", "tcp")).get();
     * }</pre>
     *
     * @param forward what to expose; a {@code local} port 0 binds any free port
     * @return completes with the forward as listed (the bound port in place of 0) once the host listener is
     *     bound; fails with {@link IllegalStateException} for a duplicate, or with the validation or bind error
     */
    public java.util.concurrent.CompletableFuture<PortForward> expose(PortForward forward) {
        return onLoop(() -> forwards.expose(forward, PortForwards.Origin.HOST));
    }

    /**
     * Stops a forward made by {@link #expose} (or by the host's API); its host listener is closed and live
     * relays end. Callable from any thread.
     *
     * @param protocol {@code tcp}, {@code udp} or {@code unix}
     * @param local the forward's {@code local} exactly as listed
     * @return completes when the listener is closed; fails with {@link IllegalStateException}
     *     ({@code proxy not found}) if there is no such forward
     */
    public java.util.concurrent.CompletableFuture<Void> unexpose(String protocol, String local) {
        return onLoop(() -> forwards.unexpose(protocol, local, PortForwards.Origin.HOST));
    }

    /**
     * The active forwards, sorted as gvproxy's {@code /services/forwarder/all}. Callable from any thread.
     *
     * @return a snapshot of every forward (host- and guest-created)
     */
    public List<PortForward> forwards() {
        return call(forwards::all);
    }

    /** Runs {@code op} on the loop and completes the result with its stage, from any thread. */
    private <T> java.util.concurrent.CompletableFuture<T> onLoop(
            java.util.function.Supplier<java.util.concurrent.CompletionStage<T>> op) {
        java.util.concurrent.CompletableFuture<T> result = new java.util.concurrent.CompletableFuture<>();
        Runnable task = () -> {
            try {
                op.get().whenComplete((v, e) -> {
                    if (e != null) {
                        result.completeExceptionally(e);
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
                result.completeExceptionally(new IllegalStateException("the network is closed", e));
            }
        }
        return result;
    }

    // --- statistics ----------------------------------------------------------------------------------------

    /**
     * The network's counters ({@code <layer>.<reason>}, as gvproxy-java's {@code /stats} shows them): frames,
     * drops and refusals by reason, connections, flows. Callable from any thread.
     *
     * @return a sorted snapshot, name to value
     */
    public java.util.SortedMap<String, Long> stats() {
        return new java.util.TreeMap<>(counters.snapshot());
    }

    // --- not API: gvproxy-java's own modules -----------------------------------------------------------------

    /**
     * Active TCP opens into the guests (for {@code /tunnel} and port forwards), 10 s connect timeout.
     * <b>Not API</b>: for gvproxy-java's own modules (api-http, gvproxy, tests).
     *
     * @return a tunneler dialling from the gateway IP; callable from the network's event loop
     */
    public Tunneler tunneler() {
        return (ip, port) -> {
            java.util.concurrent.CompletableFuture<dev.gvproxy.forwarder.TunnelStream> result =
                    new java.util.concurrent.CompletableFuture<>();
            loop.execute(() -> {
                try {
                    GuestStream.open(stack, loop, config.gatewayIp(), -1, ip, port, TUNNEL_DIAL_TIMEOUT_MILLIS)
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
        };
    }

    /** gvproxy's dial timeout for connections into the guest. */
    private static final long TUNNEL_DIAL_TIMEOUT_MILLIS = 10_000;

    /**
     * The port-forward registry behind {@link #expose}/{@link #unexpose}, for the HTTP API and the state file.
     * <b>Not API</b>: event-loop only.
     *
     * @return the network's one registry
     */
    public PortForwardRegistry portForwards() {
        return forwards;
    }

    /**
     * The gateway's DHCP server. <b>Not API</b>: event-loop only.
     *
     * @return the server, or null when built with {@code dhcp(false, ..)}
     */
    public DhcpServer dhcp() {
        return dhcp;
    }

    /**
     * The gateway's DNS server. <b>Not API</b>: event-loop only.
     *
     * @return the server, or null when built with {@code dns(false, ..)}
     */
    public DnsServer dns() {
        return dns;
    }

    /**
     * NAT of guest TCP connections to host sockets. <b>Not API</b>: event-loop only.
     *
     * @return the forwarder
     */
    public TcpForwarder tcpForwarder() {
        return tcpForwarder;
    }

    /**
     * Host -&gt; guest listeners (tcp, udp, unix) behind the registry. <b>Not API</b>: event-loop only; embedders
     * use {@link #expose}.
     *
     * @return the forwarder
     */
    public PortForwarder portForwarder() {
        return portForwarder;
    }

    /**
     * NAT of guest UDP flows to host sockets. <b>Not API</b>: event-loop only.
     *
     * @return the forwarder
     */
    public UdpForwarder udpForwarder() {
        return udpForwarder;
    }

    /**
     * Who owns which host sockets and flows, and their budgets. <b>Not API</b>: event-loop only.
     *
     * @return the network's guest budgets
     */
    public GuestFlows guestFlows() {
        return guestFlows;
    }

    /**
     * Starts building a network with the defaults (192.168.127.0/24, gateway .1, host .254, DHCP and DNS on).
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The addresses and limits the network was built with.
     *
     * @return the stack configuration (immutable)
     */
    public StackConfig config() {
        return config;
    }

    /**
     * The network's single event loop: every channel of this network must be registered on it.
     * <b>Not API</b>: embedders use the thread-safe methods of this class.
     *
     * @return the loop (the caller's, if given to {@link Builder#eventLoop})
     */
    public EventLoop eventLoop() {
        return loop;
    }

    /**
     * The virtual switch guests attach to. <b>Not API</b>: event-loop only.
     *
     * @return the switch
     */
    public VirtualSwitch virtualSwitch() {
        return sw;
    }

    /**
     * The gateway's IP stack. <b>Not API</b>: event-loop only.
     *
     * @return the stack
     */
    public NetworkStack stack() {
        return stack;
    }

    /**
     * The live counters behind {@link #stats()}. <b>Not API</b>: embedders use {@link #stats()}.
     *
     * @return the network's counters (thread-safe to read)
     */
    public Counters counters() {
        return counters;
    }

    /**
     * What transports need to attach VMs to this network. <b>Not API</b>: embedders use {@code listen*} and
     * {@code attach*}.
     *
     * @return the transport context
     */
    public NetworkContext transportContext() {
        return transportContext;
    }

    // --- attaching guests ----------------------------------------------------------------------------------

    /**
     * Listens for QEMU {@code -netdev stream}/{@code socket} guests (4-byte big-endian frames) on a unix:// or
     * tcp:// URI. Every accepted connection is one guest port on the switch.
     *
     * @param uri {@code unix:///path} or {@code tcp://127.0.0.1:PORT}
     * @return the listener; closed with the network, or earlier by its {@code close()}
     * @throws IOException if the socket cannot be bound
     */
    public Listener listenQemu(String uri) throws IOException {
        return track(Transports.listenQemu(uri, transportContext));
    }

    /**
     * Serves the API endpoint on a unix:// or tcp:// URI; for now only gvforwarder's {@code /connect}, which
     * turns the HTTP connection into a guest link (how the gvforwarder agent attaches).
     *
     * @param uri {@code unix:///path} or {@code tcp://127.0.0.1:PORT}
     * @return the listener; closed with the network
     * @throws IOException if the socket cannot be bound
     */
    public Listener listenApi(String uri) throws IOException {
        return track(Transports.listenApi(uri, transportContext, null));
    }

    /**
     * Listens for datagram guests (vfkit, QEMU {@code -netdev dgram}) on a unixgram:// URI, a frame per datagram.
     *
     * @param uri {@code unixgram:///path}
     * @return the listener; closed with the network
     * @throws IOException if the socket cannot be bound
     */
    public Listener listenDatagram(String uri) throws IOException {
        return track(Transports.listenDatagram(uri, transportContext));
    }

    /**
     * Listens for User-Mode Linux guests ({@code vec0:transport=bess}) on a unixpacket:// URI, a frame per
     * message.
     *
     * @param uri {@code unixpacket:///path}
     * @return the listener; closed with the network
     * @throws IOException if the socket cannot be bound
     */
    public Listener listenBess(String uri) throws IOException {
        return track(Transports.listenBess(uri, transportContext));
    }

    /**
     * Uses this process's stdin/stdout as one guest's link (2-byte little-endian frames).
     *
     * @return the attachment; closed with the network
     */
    public Listener attachStdio() {
        return track(Transports.attachStdio(transportContext));
    }

    private Listener track(Listener l) {
        listeners.add(l);
        return l;
    }

    /**
     * Runs {@code task} on the network's event loop and waits (at most 30 s) for its result.
     * <b>Not API</b>: for gvproxy-java's own modules and tests.
     *
     * @param <T> the result type
     * @param task what to run
     * @return the task's result
     * @throws IllegalStateException if the task throws a checked exception, times out or is interrupted
     */
    public <T> T call(Callable<T> task) {
        if (loop.inEventLoop()) {
            try {
                return task.call();
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        Future<T> f = loop.submit(task);
        try {
            return f.get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException | TimeoutException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(e);
        }
    }

    /**
     * Runs {@code task} on the event loop and waits for it. <b>Not API</b>: for gvproxy-java's own modules and
     * tests.
     *
     * @param task what to run
     */
    public void run(Runnable task) {
        call(() -> {
            task.run();
            return null;
        });
    }

    /**
     * Stops the network: closes its listeners and forwards, the guests' links and host sockets, and shuts down
     * its event loop unless the loop was the caller's ({@link Builder#eventLoop}). Idempotent; callable from
     * any thread but the network's event loop.
     */
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

    /** Options of a virtual network; {@link #build()} starts it. Not thread-safe. */
    public static final class Builder {
        private StackConfig config = StackConfig.defaults();
        private Path pcap;
        private ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;
        private boolean dhcp = true;
        private DhcpConfig dhcpConfig;
        private boolean dns = true;
        private DnsConfig dnsConfig;
        private TcpForwarder.Options tcpOptions = TcpForwarder.Options.DEFAULTS;
        private PortForwarder.Options portForwardOptions = PortForwarder.Options.DEFAULTS;
        private boolean logFrames;
        private GuestFlows.Limits guestLimits = GuestFlows.Limits.defaults();
        private long tcpMemory = defaultTcpMemory();
        private java.time.Duration dnsTcpIdle = java.time.Duration.ofSeconds(30);
        private EventLoop eventLoop;
        private PortForwardRegistry.GuestPolicy guestPolicy = PortForwardRegistry.GuestPolicy.DEFAULT;
        private java.util.function.Function<VirtualNetwork, PortForwardRegistry.Opener> tunnelOpener;

        private Builder() {}

        /**
         * Runs the network on the caller's event loop instead of a loop of its own; the network never shuts it
         * down ({@link VirtualNetwork#close()} only stops what the network created). The loop must belong to the
         * process's socket transport (an epoll loop on Linux, {@code SocketTransport.get().newEventLoopGroup(n)}),
         * since the network registers its host channels on it. Several networks may share one loop.
         *
         * @param loop the loop every state change of the network will run on
         * @return this builder
         */
        public Builder eventLoop(EventLoop loop) {
            this.eventLoop = java.util.Objects.requireNonNull(loop, "loop");
            return this;
        }

        /**
         * What guests may expose through the in-VM API (default {@link PortForwardRegistry.GuestPolicy#DEFAULT}).
         *
         * @param policy the guest policy of the network's port-forward registry
         * @return this builder
         */
        public Builder guestPolicy(PortForwardRegistry.GuestPolicy policy) {
            this.guestPolicy = java.util.Objects.requireNonNull(policy, "policy");
            return this;
        }

        /**
         * Opens {@code unix} forwards whose remote is {@code ssh-tunnel://...} (gvproxy's SSH forwards); without
         * one they are refused. <b>Not API</b>: for the gvproxy module.
         *
         * @param factory called once while the network is built, with the network (its {@code eventLoop()} and
         *     {@code tunneler()} are ready)
         * @return this builder
         */
        public Builder tunnelOpener(java.util.function.Function<VirtualNetwork, PortForwardRegistry.Opener> factory) {
            this.tunnelOpener = factory;
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
         * @return the default budget in bytes
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
         * Host -&gt; guest forwards: dial timeout, UDP idle timeout, passing the client's address through.
         *
         * @param options the forwarder's options (default {@link PortForwarder.Options#DEFAULTS})
         * @return this builder
         */
        public Builder portForwarding(PortForwarder.Options options) {
            this.portForwardOptions = options;
            return this;
        }

        /**
         * DHCP on the gateway (default on, {@link DhcpConfig#defaults}).
         *
         * @param enabled whether the gateway serves DHCP
         * @param config pool, lease time, options; null for the defaults
         * @return this builder
         */
        public Builder dhcp(boolean enabled, DhcpConfig config) {
            this.dhcp = enabled;
            this.dhcpConfig = config;
            return this;
        }

        /**
         * DNS on the gateway (default on: legacy zones, the host's resolv.conf and hosts file).
         *
         * @param enabled whether the gateway answers DNS on port 53
         * @param config zones and upstreams; null for the defaults
         * @return this builder
         */
        public Builder dns(boolean enabled, DnsConfig config) {
            this.dns = enabled;
            this.dnsConfig = config;
            return this;
        }

        /**
         * NAT of guest TCP connections: connect timeout, connects in flight, buffer sizes.
         *
         * @param options the forwarder's options (default {@link TcpForwarder.Options#DEFAULTS})
         * @return this builder
         */
        public Builder tcpForwarding(TcpForwarder.Options options) {
            this.tcpOptions = options;
            return this;
        }

        /**
         * The addresses (subnet, gateway, host, NAT table, static leases), MTU and stack limits.
         *
         * @param config the stack configuration (default {@link StackConfig#defaults()})
         * @return this builder
         */
        public Builder config(StackConfig config) {
            this.config = config;
            return this;
        }

        /**
         * Shorthand for the current configuration with another MTU.
         *
         * @param mtu the link MTU guests are told by DHCP
         * @return this builder
         */
        public Builder mtu(int mtu) {
            this.config = config.toBuilder().mtu(mtu).build();
            return this;
        }

        /**
         * Records every frame crossing the switch into this pcap file.
         *
         * @param file created or truncated when the network is built
         * @return this builder
         */
        public Builder pcap(Path file) {
            this.pcap = file;
            return this;
        }

        /**
         * Logs one line per frame crossing the switch at FINE on logger {@code gvproxy.frames} (gvproxy's
         * {@code -debug}); see {@link SwitchFrameLog}.
         *
         * @param enabled whether to log frames
         * @return this builder
         */
        public Builder logFrames(boolean enabled) {
            this.logFrames = enabled;
            return this;
        }

        /**
         * Where the stack allocates its buffers.
         *
         * @param alloc the allocator (default {@link ByteBufAllocator#DEFAULT})
         * @return this builder
         */
        public Builder allocator(ByteBufAllocator alloc) {
            this.alloc = alloc;
            return this;
        }

        /**
         * Builds and starts the network: its services run from now until {@link VirtualNetwork#close()}.
         *
         * @return the running network, with no guest attached yet
         * @throws IOException if the pcap file cannot be created
         */
        public VirtualNetwork build() throws IOException {
            return new VirtualNetwork(this);
        }
    }
}
