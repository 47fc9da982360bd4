package dev.gvproxy.forwarder;

import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.tcp.TcpLayer;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Host -> guest port forwards (spec 5.6: {@code expose}/{@code unexpose}, {@code stack.forwards}, the
 * default SSH forward).
 *
 * <p>This class owns the live host listeners and nothing else: {@link #open} validates a forward, binds its
 * listener and returns a {@link Listener} handle; closing the handle stops it. Keying ({@code protocol/local},
 * the literal strings), duplicate refusal, ownership and listing live in one place above it, the network
 * module's {@code dev.gvproxy.model.PortForwardRegistry}, which also holds forwards no listener of this class
 * serves (SSH tunnels). Protocols:
 * <ul>
 *   <li>{@code tcp}: a host listener; each accepted client gets a connection actively opened into the
 *       guest ({@link GuestStream}) and relayed with half-close ({@link TcpBridge});</li>
 *   <li>{@code udp}: a host UDP socket; each host client address gets its own gateway-side source port
 *       ({@link UdpPortForward}), idle flows close after 90 s;</li>
 *   <li>{@code unix}: a host unix socket (path; only a stale socket there is replaced, see
 *       {@code UnixPortForward}) relayed to a guest TCP port
 *       given as {@code tcp://IPv4:port}.</li>
 * </ul>
 * The guest sees connections from the gateway IP and an ephemeral port (49152-65535, unique per guest
 * ip:port), or with {@link Options#preserveClientAddress} from the real client (see there).
 *
 * <p><b>Errors.</b> The futures fail with {@link IllegalArgumentException} for a malformed request (the
 * HTTP API answers 400: e.g. an IPv6 literal or a host name as {@code remote}, which crash or fail
 * obscurely in gvproxy) and with {@link IllegalStateException} for a refused operation (500: the same
 * forwarder closed, a busy host port with Go's message
 * {@code listen tcp 127.0.0.1:9090: bind: address already in use}).
 *
 * <p><b>Threading.</b> Listeners and relays live on the network's event loop. {@link #open},
 * {@link Listener#close} and {@link #close} may be called from any thread, including the loop
 * itself (the in-VM API runs there), and return futures.
 */
public final class PortForwarder implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PortForwarder.class.getName());
    static final int EPHEMERAL_FIRST = TcpLayer.EPHEMERAL_FIRST;
    static final int EPHEMERAL_LAST = TcpLayer.EPHEMERAL_LAST;

    /**
     * A forward as the API and configuration spell it (gvproxy's JSON field names).
     *
     * @param local host side: {@code ip:port} / {@code :port} for tcp and udp, a socket path for unix
     * @param remote guest side: {@code IPv4:port}; for unix {@code tcp://IPv4:port}
     * @param protocol {@code tcp} (default when null or empty), {@code udp} or {@code unix}
     */
    public record Forward(String local, String remote, String protocol) {
        public Forward {
            protocol = protocol == null || protocol.isEmpty() ? "tcp" : protocol;
        }

        /**
         * A {@code stack.forwards} entry: a {@code udp:} key prefix selects UDP, otherwise TCP.
         * {@code fromConfig("127.0.0.1:2222", "192.168.127.2:22")} is the default SSH forward.
         */
        public static Forward fromConfig(String key, String remote) {
            if (key.startsWith("udp:")) {
                return new Forward(key.substring(4), remote, "udp");
            }
            return new Forward(key, remote, "tcp");
        }
    }

    /**
     * @param dialTimeoutMillis how long an active open into the guest may stay unanswered (gvproxy: 10 s)
     * @param udpIdleTimeoutNanos a UDP forward's client flow without datagrams either way for this long is
     *     closed (gvproxy: 90 s)
     * @param maxUdpFlows client flows per UDP forward; datagrams from further clients are dropped
     *     ({@code udp.portfwd.flowLimit})
     * @param preserveClientAddress instead of the gateway IP and an ephemeral port, the guest sees the
     *     host client's address and port (gvproxy PR #634). A loopback client (127.0.0.0/8, ::1) is shown
     *     as the host alias ({@code StackConfig.hostIp}, 192.168.127.254), since a guest drops packets from
     *     127.0.0.1 arriving on an ethernet interface and 192.168.127.254 already means "the host" to it;
     *     a non-IPv4 client, or one whose address lies inside the virtual subnet (the guest would answer it
     *     directly, not through the gateway), is shown as the gateway. The client's port is kept unless
     *     that 4-tuple is taken, then an ephemeral port is used.
     */
    public record Options(long dialTimeoutMillis, long udpIdleTimeoutNanos, int maxUdpFlows,
            boolean preserveClientAddress) {
        public static final Options DEFAULTS = new Options(10_000, TimeUnit.SECONDS.toNanos(90), 4096, false);

        public Options withPreserveClientAddress(boolean v) {
            return new Options(dialTimeoutMillis, udpIdleTimeoutNanos, maxUdpFlows, v);
        }

        public Options withUdpIdleTimeoutNanos(long v) {
            return new Options(dialTimeoutMillis, v, maxUdpFlows, preserveClientAddress);
        }

        public Options withDialTimeoutMillis(long v) {
            return new Options(v, udpIdleTimeoutNanos, maxUdpFlows, preserveClientAddress);
        }
    }

    /**
     * A live forward: the listener this forwarder owns until {@link #close} (or the forwarder's close).
     */
    public final class Listener {
        private final Active active;

        private Listener(Active active) {
            this.active = active;
        }

        /** The forward as bound: a requested port 0 replaced by the port the listener got. */
        public Forward forward() {
            return active.bound();
        }

        /** Stops the listener (running TCP relays continue, UDP flows end); idempotent. */
        public CompletableFuture<Void> close() {
            CompletableFuture<Void> done = new CompletableFuture<>();
            onLoop(done, () -> {
                if (live.remove(active)) {
                    active.close();
                    LOG.info(() -> "unexposed " + active.bound().protocol() + " " + active.bound().local());
                }
                done.complete(null);
            });
            return done;
        }

        Active active() {
            return active;
        }
    }

    /** One running forward. */
    interface Active {
        Forward forward();

        /** The forward as listed: {@link #forward()} with the bound port when {@code local} asked for port 0. */
        default Forward bound() {
            return forward();
        }

        /** Closes the listener (existing TCP relays continue; UDP flows end). Runs on the loop. */
        void close();
    }

    /** A guest TCP/UDP endpoint parsed from {@code remote}: IPv4 (IPv4-mapped) or, for TCP, IPv6. */
    record GuestAddress(Ipv6Address address, int port) {
        GuestAddress(int ipv4, int port) {
            this(Ipv6Address.ofIpv4(ipv4), port);
        }

        /** The IPv4 address (IPv4 remotes only). */
        int ip() {
            return address.ipv4();
        }

        boolean isIpv6() {
            return !address.isIpv4Mapped();
        }

        @Override
        public String toString() {
            return isIpv6() ? "[" + address + "]:" + port : Ipv4Address.format(ip()) + ":" + port;
        }
    }

    private final NetworkStack stack;
    private final EventLoop loop;
    private final Options options;
    /** The live listeners, so {@link #close} can stop them. Written on the loop only. */
    private final Set<Active> live = ConcurrentHashMap.newKeySet();
    private int nextUdpPort = EPHEMERAL_FIRST;
    private boolean closed;

    /**
     * @param loop the network's event loop (epoll); every listener and relay runs on it
     */
    public PortForwarder(NetworkStack stack, EventLoop loop, Options options) {
        this.stack = stack;
        this.loop = loop;
        this.options = options;
    }

    public Options options() {
        return options;
    }

    NetworkStack stack() {
        return stack;
    }

    EventLoop loop() {
        return loop;
    }

    // ---- API ----------------------------------------------------------------------------------------

    /**
     * Validates {@code f} and binds its host listener. A tcp/udp {@code local} with port 0 binds any free port;
     * the listener's {@link Listener#forward} names it, e.g. {@code 127.0.0.1:0} as {@code 127.0.0.1:45678}.
     *
     * @return completes once the listener is bound; fails with {@link IllegalArgumentException} (bad request)
     *     or {@link IllegalStateException} (bind failure, forwarder closed)
     */
    public CompletableFuture<Listener> open(Forward f) {
        CompletableFuture<Listener> result = new CompletableFuture<>();
        Forward spec;
        Runnable start;
        try {
            spec = f;
            start = switch (f.protocol()) {
                case "tcp" -> {
                    SocketAddress local = parseLocal(f.local());
                    GuestAddress remote = parseRemote(f.remote(), true);
                    yield () -> TcpPortForward.start(this, spec, local, remote, result);
                }
                case "udp" -> {
                    SocketAddress local = parseLocal(f.local());
                    GuestAddress remote = parseRemote(f.remote(), true);
                    yield () -> UdpPortForward.start(this, spec, local, remote, result);
                }
                case "unix" -> {
                    String path = parseUnixPath(f.local());
                    GuestAddress remote = parseUnixRemote(f.remote());
                    yield () -> UnixPortForward.start(this, spec, path, remote, result);
                }
                case "npipe" -> throw new IllegalArgumentException(
                        "npipe forwards are only available on Windows");
                default -> throw new IllegalArgumentException("unknown protocol " + f.protocol());
            };
        } catch (IllegalArgumentException e) {
            result.completeExceptionally(e);
            return result;
        }
        onLoop(result, () -> {
            if (closed) {
                throw new IllegalStateException("port forwarder closed");
            }
            start.run();
        });
        return result;
    }

    /** Called by a forward on the loop once its listener is bound. */
    void registered(Active a, CompletableFuture<Listener> result) {
        if (closed) {
            a.close();
            result.completeExceptionally(new IllegalStateException("port forwarder closed"));
            return;
        }
        live.add(a);
        Forward listed = a.bound();
        LOG.info(() -> "exposed " + listed.protocol() + " " + listed.local() + " -> " + listed.remote());
        result.complete(new Listener(a));
    }

    /** {@code f} with the bound port in place of a requested port 0 (tcp/udp). */
    static Forward withBoundPort(Forward f, SocketAddress bound) {
        if (!f.protocol().equals("unix") && f.local().endsWith(":0") && bound instanceof InetSocketAddress isa) {
            return new Forward(f.local().substring(0, f.local().length() - 1) + isa.getPort(), f.remote(), f.protocol());
        }
        return f;
    }

    /** The live listeners' forwards, in no particular order (tests; listing is the registry's). */
    List<Forward> live() {
        List<Forward> out = new ArrayList<>();
        for (Active a : live) {
            out.add(a.bound());
        }
        return out;
    }

    /** Closes every forward (not the running relays). */
    @Override
    public void close() {
        CompletableFuture<Void> done = new CompletableFuture<>();
        onLoop(done, () -> {
            closed = true;
            for (Active a : live) {
                a.close();
            }
            live.clear();
            done.complete(null);
        });
        if (!loop.inEventLoop()) {
            try {
                done.get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.log(Level.WARNING, "closing port forwards", e);
            }
        }
    }

    // ---- shared by the forwards (loop only) ---------------------------------------------------------

    /** Each guest connection's host client, for the live flow table; removed when the client closes. */
    private final java.util.HashMap<TcpConnection, Channel> hostChannels = new java.util.HashMap<>();

    /**
     * Opens a guest connection for a host client. {@code srcPort} -1 (or a taken 4-tuple) picks an
     * ephemeral port.
     *
     * @param initial <b>taken</b>, may be null
     */
    CompletableFuture<TcpConnection> openGuest(Channel host, int guestIp, int guestPort, int srcIp, int srcPort,
            ByteBuf initial) {
        return openGuest(host, Ipv6Address.ofIpv4(guestIp), guestPort, Ipv6Address.ofIpv4(srcIp), srcPort, initial);
    }

    /** {@link #openGuest(Channel, int, int, int, int, ByteBuf)} for either family. */
    CompletableFuture<TcpConnection> openGuest(Channel host, Ipv6Address guestIp, int guestPort, Ipv6Address srcIp,
            int srcPort, ByteBuf initial) {
        GuestStream s;
        try {
            s = GuestStream.open(stack, loop, srcIp, srcPort, guestIp, guestPort, options.dialTimeoutMillis());
        } catch (RuntimeException e) {
            if (initial != null) {
                initial.release();
            }
            host.close();
            return CompletableFuture.failedFuture(e);
        }
        if (initial != null) {
            if (initial.isReadable()) {
                s.send(initial);
            } else {
                initial.release();
            }
        }
        TcpConnection c = s.connection();
        if (c != null) {
            hostChannels.put(c, host);
            host.closeFuture().addListener(x -> hostChannels.remove(c));
        }
        TcpBridge.attach(stack.counters(), host).connect(s);
        return s.established().thenApply(GuestStream::connection);
    }

    /** The host client a port-forward connection is bridged to, or null (not one of ours, or closed). Loop only. */
    public Channel hostChannel(TcpConnection c) {
        return hostChannels.get(c);
    }

    /** The source a guest sees for a forward to its IPv6 address: the gateway's address in the IPv6 prefix. */
    Ipv6Address ipv6Source() {
        return stack.config().ipv6().gateway();
    }

    /** The source the guest should see for a host client (gateway, or the client with the option on). */
    int sourceIpFor(SocketAddress client) {
        StackConfig cfg = stack.config();
        if (!options.preserveClientAddress() || !(client instanceof InetSocketAddress isa)) {
            return cfg.gatewayIp();
        }
        InetAddress a = isa.getAddress();
        if (a == null) {
            return cfg.gatewayIp();
        }
        if (a.isLoopbackAddress()) {
            return cfg.hostIp();
        }
        if (a instanceof Inet4Address v4) {
            int ip = Ipv4Address.fromInet(v4);
            if (cfg.inSubnet(ip) && ip != cfg.hostIp()) {
                return cfg.gatewayIp();
            }
            return ip;
        }
        return cfg.gatewayIp();
    }

    /** The client's port when preserving client addresses, else -1 (ephemeral). */
    int sourcePortFor(SocketAddress client, int srcIp) {
        if (options.preserveClientAddress() && srcIp != stack.config().gatewayIp()
                && client instanceof InetSocketAddress isa) {
            return isa.getPort();
        }
        return -1;
    }

    /** Next UDP source port candidate (the caller tries to bind it in the stack's UDP demux). */
    int nextUdpPort() {
        int p = nextUdpPort;
        nextUdpPort = p == EPHEMERAL_LAST ? EPHEMERAL_FIRST : p + 1;
        return p;
    }

    private void onLoop(CompletableFuture<?> result, Runnable task) {
        Runnable guarded = () -> {
            try {
                task.run();
            } catch (RuntimeException e) {
                result.completeExceptionally(e);
            }
        };
        if (loop.inEventLoop()) {
            guarded.run();
        } else {
            try {
                loop.execute(guarded);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                result.completeExceptionally(new IllegalStateException("network closed"));
            }
        }
    }

    /** Go's wording for a failed listen: {@code listen tcp 127.0.0.1:9090: bind: address already in use}. */
    static IllegalStateException listenFailure(String network, String local, Throwable cause) {
        String m = cause.getMessage() == null ? cause.toString() : cause.getMessage();
        // Netty native errors read "bind(..) failed with error(-98): Address already in use".
        java.util.regex.Matcher nat = NATIVE_ERROR.matcher(m);
        String op = "bind";
        if (nat.matches()) {
            op = nat.group(1);
            m = nat.group(2);
        }
        m = m.isEmpty() ? m : Character.toLowerCase(m.charAt(0)) + m.substring(1);
        return new IllegalStateException("listen " + network + " " + local + ": " + op + ": " + m, cause);
    }

    private static final java.util.regex.Pattern NATIVE_ERROR =
            java.util.regex.Pattern.compile("(\\w+)\\(\\.\\.\\) failed(?: with error\\(-?\\d+\\))?: (.*)");

    // ---- parsing --------------------------------------------------------------------------------------

    /**
     * A tcp/udp {@code local}: {@code ip:port}, {@code [v6]:port}, {@code :port} (every address, IPv4 and
     * IPv6) or {@code localhost:port}. Other host names are refused (no resolution happens here).
     */
    static SocketAddress parseLocal(String local) {
        if (local == null || local.isEmpty()) {
            throw new IllegalArgumentException("local address is mandatory");
        }
        int colon = local.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("invalid local address " + local + ": missing port in address");
        }
        String host = local.substring(0, colon);
        int port = parsePort(local.substring(colon + 1), "local address " + local);
        if (host.isEmpty()) {
            return new InetSocketAddress(port);
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            try {
                InetAddress a = InetAddress.ofLiteral(host.substring(1, host.length() - 1));
                if (!(a instanceof Inet6Address) && !(a instanceof Inet4Address)) {
                    throw new IllegalArgumentException();
                }
                return new InetSocketAddress(a, port);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("invalid local address " + local + ": bad IPv6 literal");
            }
        }
        if (host.indexOf(':') >= 0) {
            throw new IllegalArgumentException("invalid local address " + local + ": too many colons (write IPv6 as [addr]:port)");
        }
        if (host.equalsIgnoreCase("localhost")) {
            return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
        }
        try {
            return new InetSocketAddress(Ipv4Address.toInet(Ipv4Address.parse(host)), port);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid local address " + local
                    + ": the host must be an IP address, localhost or empty");
        }
    }

    /** {@link #parseRemote(String, boolean)} for IPv4 only. */
    static GuestAddress parseRemote(String remote) {
        return parseRemote(remote, false);
    }

    /**
     * A tcp/udp {@code remote}: {@code a.b.c.d:port}, or with {@code ipv6} also {@code [v6]:port} for a
     * guest's IPv6 address. Host names are refused with a message saying why (gvproxy crashes on them).
     */
    static GuestAddress parseRemote(String remote, boolean ipv6) {
        if (remote == null || remote.isEmpty()) {
            throw new IllegalArgumentException("invalid remote addr: remote is mandatory");
        }
        int colon = remote.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("invalid remote addr " + remote + ": missing port in address");
        }
        String host = remote.substring(0, colon);
        int port = parsePort(remote.substring(colon + 1), "remote addr " + remote);
        if (port == 0) {
            throw new IllegalArgumentException("invalid remote addr " + remote + ": port 0");
        }
        if (ipv6 && host.startsWith("[") && host.endsWith("]")) {
            Ipv6Address a;
            try {
                a = Ipv6Address.parse(host.substring(1, host.length() - 1));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("invalid remote addr " + remote + ": bad IPv6 literal");
            }
            if (a.isIpv4Mapped()) {
                return new GuestAddress(a, port);
            }
            if (a.isMulticast() || a.isUnspecified() || a.isLoopback()) {
                throw new IllegalArgumentException("invalid remote addr " + remote + ": not a guest unicast address");
            }
            return new GuestAddress(a, port);
        }
        if (host.startsWith("[") || host.indexOf(':') >= 0) {
            throw new IllegalArgumentException("invalid remote addr " + remote + (ipv6
                    ? ": write an IPv6 guest address as [addr]:port"
                    : ": IPv6 guest addresses are supported for tcp and udp forwards only"));
        }
        return new GuestAddress(parseGuestIp(host, remote), port);
    }

    static int parseGuestIp(String host, String whole) {
        if (host == null || host.isEmpty()) {
            throw new IllegalArgumentException("invalid remote addr " + whole + ": missing guest IPv4 address");
        }
        if (host.startsWith("[") || host.indexOf(':') >= 0) {
            throw new IllegalArgumentException("invalid remote addr " + whole
                    + ": IPv6 guest addresses are not supported (the virtual network is IPv4 only)");
        }
        try {
            return Ipv4Address.parse(host);
        } catch (IllegalArgumentException e) {
            if (host.chars().anyMatch(Character::isLetter) || host.indexOf('-') >= 0) {
                throw new IllegalArgumentException("invalid remote addr " + whole
                        + ": must be an IPv4 address, host names are not resolved");
            }
            throw new IllegalArgumentException("invalid remote addr " + whole + ": not an IPv4 address");
        }
    }

    static int parsePort(String s, String what) {
        if (s.isEmpty() || s.length() > 5 || !s.chars().allMatch(Character::isDigit)) {
            throw new IllegalArgumentException("invalid " + what + ": bad port \"" + s + "\"");
        }
        int p = Integer.parseInt(s);
        if (p > 65535) {
            throw new IllegalArgumentException("invalid " + what + ": port out of range");
        }
        return p;
    }

    /** A unix {@code local}: an absolute path, or {@code unix:///abs/path}. */
    static String parseUnixPath(String local) {
        if (local == null || local.isEmpty()) {
            throw new IllegalArgumentException("local socket path is mandatory");
        }
        String p = local.startsWith("unix://") ? local.substring("unix://".length()) : local;
        if (!p.startsWith("/")) {
            throw new IllegalArgumentException("local socket path must be absolute: " + local);
        }
        if (p.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
            throw new IllegalArgumentException("local socket path too long (max 107 bytes): " + local);
        }
        return p;
    }

    /** A unix {@code remote}: {@code tcp://IPv4:port}. */
    static GuestAddress parseUnixRemote(String remote) {
        if (remote == null || remote.isEmpty()) {
            throw new IllegalArgumentException("remote is mandatory");
        }
        URI u;
        try {
            u = new URI(remote);
        } catch (java.net.URISyntaxException e) {
            throw new IllegalArgumentException("failed to parse remote uri :" + remote + " : " + e.getMessage());
        }
        String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("tcp")) {
            throw new IllegalArgumentException("remote protocol for unix forwarder is not implemented: " + scheme);
        }
        String authority = u.getRawAuthority();
        if (authority == null) {
            throw new IllegalArgumentException("invalid remote addr " + remote + ": expected tcp://IPv4:port");
        }
        return parseRemote(authority, true);
    }
}
