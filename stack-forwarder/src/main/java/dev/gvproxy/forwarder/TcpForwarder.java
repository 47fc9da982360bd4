package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.tcp.TcpLayer;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Outbound TCP: the SYN gate. A guest's SYN for a new 4-tuple is held while a host connection to the
 * (NAT'ed) destination is made on the network's own event loop; only when that connect succeeds does the
 * guest get its SYN-ACK, and a refused, unreachable or timed-out connect answers the SYN with a RST, so
 * the guest sees exactly what a direct connection would have seen (DESIGN.md "How a frame flows", 4).
 *
 * <p>Connects in flight are bounded per network and, through {@link GuestFlows}, per guest and per
 * destination, each with its own connect timeout, so neither one slow destination nor one guest blocks the
 * others. A SYN over one of those bounds waits in a FIFO (bounded per network and per guest; the guest's
 * retransmissions of it are ignored meanwhile) and is connected as soon as a slot frees
 * ({@code tcp.forward.synWaited}); one that waited longer than a connect timeout is dropped
 * ({@code tcp.forward.synWaitExpired}); a full queue drops it ({@code tcp.forwardMaxInFlightDrop},
 * {@code tcp.forward.budgetDropped}; the guest retransmits). A guest out of host sockets gets a RST.
 * 169.254.0.0/16 is refused unless enabled (spec 3.3).
 *
 * <p>Both families take this one path: {@link HostRoutes} turns the destination the guest addressed (IPv4,
 * the IPv6 host alias, a NAT64 {@code 64:ff9b::/96} address or a native IPv6 one) into the host address and
 * the IPv4 address the egress policy and the per-destination budgets see.
 *
 * <p>Hosts are reached through a {@link HostConnector} (host sockets by default); the connect timeout is the
 * forwarder's own, a task on the network's loop that fails the connect and closes its channel, so a scripted
 * connector on an embedded loop exercises the whole gate (TcpForwarderGateTest).
 */
public final class TcpForwarder implements TcpLayer.SynHandler {
    private static final Logger LOG = Logger.getLogger(TcpForwarder.class.getName());

    /**
     * @param connectTimeoutMillis host connect timeout (default 30 s)
     * @param maxInFlight connects in flight per network (default 128)
     * @param allowLinkLocal forward 169.254.0.0/16 (EC2 metadata) instead of refusing
     */
    public record Options(int connectTimeoutMillis, int maxInFlight, boolean allowLinkLocal) {
        /** 512 in flight per network: the per-guest and per-destination budgets ({@link GuestFlows}) come first. */
        public static final Options DEFAULTS = new Options(30_000, 512, false);
    }

    /** Name of the pipeline handler that keeps errors before the bridge is attached off Netty's tail. */
    static final String HOST_ERRORS = "hostErrors";

    private final NetworkStack stack;
    private final EventLoop loop;
    private final Options options;
    private final HostConnector connector;
    private int inFlight;
    private GuestFlows guests;
    /** Each forwarded connection's host socket, for the live flow table; removed when the socket closes. */
    private final java.util.HashMap<TcpConnection, Channel> hostChannels = new java.util.HashMap<>();
    private EgressFilter egress;

    private final Counters.Counter maxInFlightDrop;
    private final Counters.Counter linkLocalRefused;
    private final Counters.Counter nat64Off;
    private final Counters.Counter notRoutable;
    /** Connections established per host family: IPv4, IPv6 host sockets, IPv4 through NAT64. */
    private final HostRoutes.FamilyCounters connectedByFamily;
    private HostRoutes routes;
    private final Counters.Counter connectFailed;
    private final Counters.Counter connected;
    private final Counters.Counter budgetRefused;
    private final Counters.Counter budgetDropped;
    private final Counters.Counter synQueued;
    private final Counters.Counter synQueueExpired;
    private final HostErrors hostErrors;

    public TcpForwarder(NetworkStack stack, EventLoop loop, Options options) {
        this(stack, loop, options, null);
    }

    /**
     * @param loop the network's event loop: connects complete and connect timeouts run there
     * @param connector how hosts are reached; null for {@link HostConnector#sockets} on {@code loop}
     */
    public TcpForwarder(NetworkStack stack, EventLoop loop, Options options, HostConnector connector) {
        this.stack = stack;
        this.loop = loop;
        this.options = options;
        Counters c = stack.counters();
        this.maxInFlightDrop = c.counter("tcp.forwardMaxInFlightDrop");
        this.linkLocalRefused = c.counter("tcp.forward.linkLocalRefused");
        this.nat64Off = c.counter("tcp.forward.nat64Off");
        this.notRoutable = c.counter("tcp.forward.notRoutable");
        this.connectedByFamily = HostRoutes.FamilyCounters.of(c, "tcp");
        this.routes = HostRoutes.defaults(stack.config());
        this.connectFailed = c.counter("tcp.forward.connectFailed");
        this.connected = c.counter("tcp.forward.connected");
        this.budgetRefused = c.counter("tcp.forward.budgetRefused");
        this.budgetDropped = c.counter("tcp.forward.budgetDropped");
        this.synQueued = c.counter("tcp.forward.synWaited");
        this.synQueueExpired = c.counter("tcp.forward.synWaitExpired");
        this.hostErrors = new HostErrors(c.counter("tcp.forward.readBeforeConnect"),
                c.counter("tcp.forward.hostErrorUnattached"));
        this.connector = connector != null ? connector : HostConnector.sockets(loop, hostErrors);
    }

    /**
     * Charges every forwarded connection to its guest (host sockets, connects in flight) and lets a guest
     * that leaves take its connections with it. Call before traffic flows.
     */
    public void setGuestFlows(GuestFlows guests) {
        this.guests = guests;
    }

    /**
     * Applies the network's egress policy to every new connection: a denied SYN is answered with a RST at once
     * (no host socket is opened), counted by the filter. Call before traffic flows.
     */
    public void setEgress(EgressFilter egress) {
        this.egress = egress;
    }

    /** Makes a forwarder the stack's SYN handler. Call on the loop or before traffic flows. */
    public static TcpForwarder install(NetworkStack stack, EventLoop loop, Options options) {
        return install(stack, loop, options, null);
    }

    /** {@link #install} with a {@link HostConnector} (null: host sockets). */
    public static TcpForwarder install(NetworkStack stack, EventLoop loop, Options options, HostConnector connector) {
        TcpForwarder f = new TcpForwarder(stack, loop, options, connector);
        stack.tcp().setSynHandler(f);
        return f;
    }

    public int inFlight() {
        return inFlight;
    }

    /** The host socket a forwarded connection is bridged to, or null (not forwarded, or closed). Loop only. */
    public Channel hostChannel(TcpConnection c) {
        return hostChannels.get(c);
    }

    /** SYNs waiting for a connect slot (loop only). */
    public int waiting() {
        return waiting.size();
    }

    @Override
    public void onSyn(TcpLayer layer, TcpLayer.SynRequest req, long now) {
        HostRoutes.Route r = routes.route(req.dstIp());
        if (r.refused() && !(r.refusal() == HostRoutes.Refusal.LINK_LOCAL && options.allowLinkLocal())) {
            switch (r.refusal()) {
                case LINK_LOCAL -> linkLocalRefused.inc();
                case NAT64_OFF -> nat64Off.inc();
                case NOT_ROUTABLE -> notRoutable.inc();
                default -> { } // the gateway itself: a port nothing listens on
            }
            layer.reject(req, now);
            return;
        }
        if (egress != null && egress.denies(EgressPolicy.Protocol.TCP, r, req.dstPort(), false)) {
            layer.reject(req, now); // the egress policy: "connection refused", before any host socket exists
            return;
        }
        if (!tryConnect(layer, req, r, now, true)) {
            enqueue(layer, req, now);
        }
    }

    /**
     * How destinations reach the host (NAT64 on or off, the host's loopback). Default
     * {@link HostRoutes#defaults}. Call before traffic flows.
     */
    public void setRoutes(HostRoutes routes) {
        this.routes = routes;
    }

    /** A SYN waiting for a connect slot: the guest's retransmissions of it are ignored meanwhile. */
    private record Waiting(TcpLayer layer, TcpLayer.SynRequest req, long since, Object guest) {}

    /**
     * SYNs over a half-open budget or the network's connect cap wait here, in arrival order, instead of being
     * dropped: a dropped SYN is retransmitted after 1, 3, 7, 15 s..., so a burst of connects (a thousand
     * clients at once, all to one server) would be served in ever slower synchronized waves. A waiting SYN
     * holds no descriptor. Bounded per network and per guest; beyond, the SYN is dropped (counted) and the
     * guest retransmits it.
     */
    private final java.util.ArrayDeque<Waiting> waiting = new java.util.ArrayDeque<>();
    private final java.util.HashMap<Object, Integer> waitingPerGuest = new java.util.HashMap<>();
    static final int MAX_WAITING = 8192;
    static final int MAX_WAITING_PER_GUEST = 2048;

    private void enqueue(TcpLayer layer, TcpLayer.SynRequest req, long now) {
        Object guest = guests != null ? guests.guestOf(req.guestMac()) : Boolean.TRUE;
        int mine = waitingPerGuest.getOrDefault(guest, 0);
        if (waiting.size() >= MAX_WAITING || mine >= MAX_WAITING_PER_GUEST) {
            (inFlight >= options.maxInFlight() ? maxInFlightDrop : budgetDropped).inc();
            layer.drop(req);
            return;
        }
        synQueued.inc();
        waitingPerGuest.put(guest, mine + 1);
        waiting.addLast(new Waiting(layer, req, now, guest));
    }

    /** Starts what waits and now fits; forgets what vanished or waited longer than a connect timeout. */
    private void drainWaiting() {
        if (draining) {
            drainAgain = true; // a connect completed inline while draining: go round once more
            return;
        }
        draining = true;
        try {
            do {
                drainAgain = false;
                drainOnce();
            } while (drainAgain);
        } finally {
            draining = false;
        }
    }

    private boolean draining;
    private boolean drainAgain;

    private void drainOnce() {
        if (waiting.isEmpty()) {
            return;
        }
        long now = stack.now();
        long maxWait = options.connectTimeoutMillis() * 1_000_000L;
        // Destinations found full in this pass: the SYNs behind them are not tried again.
        java.util.HashSet<Long> full = new java.util.HashSet<>();
        for (java.util.Iterator<Waiting> it = waiting.iterator(); it.hasNext(); ) {
            Waiting w = it.next();
            boolean done;
            HostRoutes.Route r = routes.route(w.req().dstIp());
            long dst = ((long) r.policyIpv4() << 16) | w.req().dstPort();
            if (w.layer().pendingSyns().get(w.req().key()) != w.req()) {
                done = true; // aborted meanwhile (its guest left, the stack closed)
            } else if (egress != null && egress.denies(EgressPolicy.Protocol.TCP, r, w.req().dstPort(), true)) {
                w.layer().reject(w.req(), now); // the policy changed while it waited
                done = true;
            } else if (now - w.since() > maxWait) {
                synQueueExpired.inc();
                w.layer().drop(w.req());
                done = true;
            } else if (inFlight >= options.maxInFlight()) {
                return; // nothing more can start now; expiry waits for the next pass
            } else if (full.contains(dst)) {
                done = false;
            } else {
                done = tryConnect(w.layer(), w.req(), r, now, false);
                if (!done) {
                    full.add(dst);
                }
            }
            if (done) {
                it.remove();
                waitingPerGuest.computeIfPresent(w.guest(), (k, n) -> n <= 1 ? null : n - 1);
            }
        }
    }

    /**
     * Starts the host connect for a pending SYN, or refuses it (RST) when the guest is out of host sockets.
     *
     * @return false when it must wait for a connect slot (network cap, half-open per guest or destination)
     */
    private boolean tryConnect(TcpLayer layer, TcpLayer.SynRequest req, HostRoutes.Route route, long now,
            boolean first) {
        if (inFlight >= options.maxInFlight()) {
            return false;
        }
        // Budgets per destination key on the host address of an IPv4 (or NAT64) flow, on a hash of a native one.
        int hostDst = route.nativeIpv6() ? route.policyIpv4() : stack.config().translate(route.policyIpv4());
        GuestFlows.Flow flow = null;
        if (guests != null) {
            flow = first ? guests.openConnect(req.guestMac(), hostDst, req.dstPort(), null)
                    : guests.retryConnect(req.guestMac(), hostDst, req.dstPort());
            if (flow != null) {
                flow.target(route, req.dstIp(), req.dstPort()); // what egress rules see
            }
            if (flow == null) {
                if (guests.socketsExhausted(req.guestMac())) {
                    // Out of host sockets: refuse at once, as a host out of descriptors would (counted by budget.*).
                    budgetRefused.inc();
                    layer.reject(req, now);
                    return true;
                }
                return false; // too many connects in flight for this guest or destination
            }
        }
        inFlight++;
        InetSocketAddress target = route.socket(req.dstPort());
        ChannelFuture f = connector.connect(target);
        // The outcome: the connect's, or a timeout's if that comes first (the late channel is then closed).
        Promise<Channel> outcome = loop.newPromise();
        f.addListener((ChannelFuture cf) -> {
            if (cf.isSuccess() ? !outcome.trySuccess(cf.channel()) : !outcome.tryFailure(cf.cause())) {
                cf.channel().close();
            }
        });
        ScheduledFuture<?> timeout = loop.schedule(() -> {
            if (outcome.tryFailure(new ConnectTimeoutException("connection timed out after "
                    + options.connectTimeoutMillis() + " ms: " + target))) {
                f.channel().close();
            }
        }, options.connectTimeoutMillis(), TimeUnit.MILLISECONDS);
        GuestFlows.Flow owned = flow;
        if (owned != null) {
            // The descriptor is the budgeted resource: released when the host channel closes, whatever closed it.
            f.channel().closeFuture().addListener(x -> owned.release());
            owned.onAbort(() -> {
                layer.drop(req);
                outcome.tryFailure(new java.nio.channels.ClosedChannelException());
                f.channel().close();
            });
        }
        outcome.addListener((Future<Channel> cf) -> {
            timeout.cancel(false);
            inFlight--;
            if (owned != null) {
                owned.connected();
            }
            drainWaiting();
            long t = stack.now();
            if (!cf.isSuccess()) {
                connectFailed.inc();
                LOG.log(Level.FINE, () -> "connect " + target + " for " + req.key() + " failed: " + cf.cause());
                if (stack.tcp().pendingSyns().get(req.key()) == req) {
                    layer.reject(req, t);
                }
                return;
            }
            Channel ch = cf.getNow();
            GuestStream guest = new GuestStream(stack, loop);
            TcpConnection c = layer.accept(req, guest, t);
            if (c == null) {
                ch.close(); // the request vanished meanwhile (stack closing, or its guest left)
                return;
            }
            connected.inc();
            connectedByFamily.count(route);
            hostChannels.put(c, ch);
            ch.closeFuture().addListener(x -> hostChannels.remove(c));
            guest.bind(c);
            TcpBridge.attach(stack.counters(), ch).connect(guest);
            if (owned != null) {
                owned.onAbort(() -> {
                    c.abort(stack.now()); // onClosed closes the host channel
                    ch.close();
                });
            }
        });
        return true;
    }

    /**
     * Last in a host channel's pipeline, where the bridge is not yet (or no longer) attached.
     *
     * <p>The race of issue 9 (about 700 "exceptionCaught ... NotYetConnectedException" warnings in 15 s of
     * 16 short-GET loops): epoll reports the host socket readable while its non-blocking connect is still in
     * progress; Netty reads, the kernel answers ENOTCONN, and Netty fires {@code NotYetConnectedException}
     * down a pipeline that had no handler yet, so it reached the tail and was logged as a warning, once per
     * connection. The connect then completes normally: the event is harmless and only counted
     * ({@code tcp.forward.readBeforeConnect}). Any other error before the bridge is attached is counted
     * ({@code tcp.forward.hostErrorUnattached}) and closes the channel, which fails the connect and answers
     * the guest's SYN with a RST.
     */
    @io.netty.channel.ChannelHandler.Sharable
    static final class HostErrors extends io.netty.channel.ChannelInboundHandlerAdapter {
        private final Counters.Counter readBeforeConnect;
        private final Counters.Counter errors;

        HostErrors(Counters.Counter readBeforeConnect, Counters.Counter errors) {
            this.readBeforeConnect = readBeforeConnect;
            this.errors = errors;
        }

        @Override
        public void exceptionCaught(io.netty.channel.ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof java.nio.channels.NotYetConnectedException && !ctx.channel().isActive()) {
                readBeforeConnect.inc();
                return;
            }
            errors.inc();
            LOG.log(Level.FINE, () -> ctx.channel() + ": " + cause);
            ctx.close();
        }
    }
}
