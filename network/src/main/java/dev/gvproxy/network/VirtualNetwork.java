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
    private final long dnsTcpIdleNanos;
    private final NetworkContext transportContext;
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    private VirtualNetwork(Builder b) throws IOException {
        this.config = b.config;
        this.dnsTcpIdleNanos = b.dnsTcpIdle.toNanos();
        this.group = SocketTransport.get().newEventLoopGroup(1);
        this.loop = group.next();
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

    /**
     * Serves TCP {@code port} on the gateway IP inside the virtual network with a Netty pipeline: each guest
     * connection becomes a {@link StackChannel} (remote address = the guest) initialised by {@code initializer}.
     * E.g. gvproxy's in-VM API: {@code serveInStack(80, ApiServer.inVm(api))}. Replaces an earlier service on
     * the same port.
     */
    public void serveInStack(int port, io.netty.channel.ChannelInitializer<? super StackChannel> initializer) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
        run(() -> {
            stack.tcp().unlisten(config.gatewayIp(), port);
            stack.tcp().listen(config.gatewayIp(), port, StackChannel.acceptor(stack, loop, initializer));
        });
    }

    /** Active TCP opens into the guests (for {@code /tunnel} and port forwards), 10 s connect timeout. */
    public dev.gvproxy.model.Tunneler tunneler() {
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

    public DhcpServer dhcp() {
        return dhcp;
    }

    public DnsServer dns() {
        return dns;
    }

    public TcpForwarder tcpForwarder() {
        return tcpForwarder;
    }

    /** Host -> guest port forwards (tcp, udp, unix) and {@code /tunnel}. */
    public PortForwarder portForwarder() {
        return portForwarder;
    }

    public UdpForwarder udpForwarder() {
        return udpForwarder;
    }

    /** Who owns which host sockets and flows, and their budgets (event-loop only). */
    public GuestFlows guestFlows() {
        return guestFlows;
    }

    public static Builder builder() {
        return new Builder();
    }

    public StackConfig config() {
        return config;
    }

    /** The network's single event loop: every channel of this network must be registered on it. */
    public EventLoop eventLoop() {
        return loop;
    }

    public VirtualSwitch virtualSwitch() {
        return sw;
    }

    public NetworkStack stack() {
        return stack;
    }

    public Counters counters() {
        return counters;
    }

    /** What transports need to attach VMs to this network. */
    public NetworkContext transportContext() {
        return transportContext;
    }

    /** Listens for QEMU {@code -netdev stream}/{@code socket} guests (4-byte big-endian frames) on a unix:// or tcp:// URI. */
    public Listener listenQemu(String uri) throws IOException {
        return track(Transports.listenQemu(uri, transportContext));
    }

    /** Serves the API endpoint on a unix:// or tcp:// URI; for now only gvforwarder's {@code /connect}. */
    public Listener listenApi(String uri) throws IOException {
        return track(Transports.listenApi(uri, transportContext, null));
    }

    /** Listens for datagram guests (vfkit, QEMU {@code -netdev dgram}) on a unixgram:// URI. */
    public Listener listenDatagram(String uri) throws IOException {
        return track(Transports.listenDatagram(uri, transportContext));
    }

    /** Listens for User-Mode Linux guests ({@code vec0:transport=bess}) on a unixpacket:// URI, a frame per message. */
    public Listener listenBess(String uri) throws IOException {
        return track(Transports.listenBess(uri, transportContext));
    }

    /** Uses this process's stdin/stdout as one guest's link (2-byte little-endian frames). */
    public Listener attachStdio() {
        return track(Transports.attachStdio(transportContext));
    }

    private Listener track(Listener l) {
        listeners.add(l);
        return l;
    }

    /** Runs {@code task} on the network's event loop and waits for its result (for the API and tests). */
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
            throw new IllegalStateException(e);
        }
    }

    /** Runs {@code task} on the event loop and waits for it. */
    public void run(Runnable task) {
        call(() -> {
            task.run();
            return null;
        });
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
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** Options of a virtual network. */
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

        /**
         * How long a DNS-over-TCP connection may sit idle (no query pending) before the gateway closes it
         * ({@code dns.tcp.idleClosed}); default 30 s, as unbound's {@code tcp-idle-timeout}.
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
         */
        public static long defaultTcpMemory() {
            return Math.max(16L << 20, Math.min(256L << 20, Runtime.getRuntime().maxMemory() / 4));
        }

        /**
         * Budgets for what guests make the host hold: host sockets per guest and per network, UDP and ICMP flows
         * per guest, connects in flight per guest and per destination, and the grace period after which a
         * departed guest's flows are closed. Default: {@link GuestFlows.Limits#defaults()}, derived from the
         * process's descriptor limit.
         */
        public Builder guestLimits(GuestFlows.Limits limits) {
            this.guestLimits = limits;
            return this;
        }

        /** Bytes all TCP connections of the network may buffer together (default {@link #defaultTcpMemory()}). */
        public Builder tcpMemory(long bytes) {
            this.tcpMemory = bytes;
            return this;
        }

        /** Host -> guest forwards: dial timeout, UDP idle timeout, passing the client's address through. */
        public Builder portForwarding(PortForwarder.Options options) {
            this.portForwardOptions = options;
            return this;
        }

        /** DHCP on the gateway (default on, {@link DhcpConfig#defaults}). */
        public Builder dhcp(boolean enabled, DhcpConfig config) {
            this.dhcp = enabled;
            this.dhcpConfig = config;
            return this;
        }

        /** DNS on the gateway (default on: legacy zones, the host's resolv.conf and hosts file). */
        public Builder dns(boolean enabled, DnsConfig config) {
            this.dns = enabled;
            this.dnsConfig = config;
            return this;
        }

        public Builder tcpForwarding(TcpForwarder.Options options) {
            this.tcpOptions = options;
            return this;
        }

        public Builder config(StackConfig config) {
            this.config = config;
            return this;
        }

        /** Shorthand for a default configuration with another MTU. */
        public Builder mtu(int mtu) {
            this.config = config.toBuilder().mtu(mtu).build();
            return this;
        }

        /** Records every frame crossing the switch into this pcap file. */
        public Builder pcap(Path file) {
            this.pcap = file;
            return this;
        }

        /**
         * Logs one line per frame crossing the switch at FINE on logger {@code gvproxy.frames} (gvproxy's
         * {@code -debug}); see {@link SwitchFrameLog}.
         */
        public Builder logFrames(boolean enabled) {
            this.logFrames = enabled;
            return this;
        }

        public Builder allocator(ByteBufAllocator alloc) {
            this.alloc = alloc;
            return this;
        }

        public VirtualNetwork build() throws IOException {
            return new VirtualNetwork(this);
        }
    }
}
