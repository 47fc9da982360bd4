package dev.gvproxy.forwarder;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.tcp.TcpLayer;
import dev.gvproxy.stack.wire.Ipv4Address;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.EpollSocketChannel;
import java.net.InetSocketAddress;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Outbound TCP: the SYN gate. A guest's SYN for a new 4-tuple is held while a host connection to the
 * (NAT'ed) destination is made on the network's own event loop; only when that connect succeeds does the
 * guest get its SYN-ACK, and a refused, unreachable or timed-out connect answers the SYN with a RST, so
 * the guest sees exactly what a direct connection would have seen (DESIGN.md "How a frame flows", 4).
 *
 * <p>Connects in flight are bounded per network ({@code tcp.forwardMaxInFlightDrop} counts SYNs left
 * unanswered at the bound; the guest retransmits them), each with its own connect timeout, so one slow
 * destination never blocks the others. 169.254.0.0/16 is refused unless enabled (spec 3.3).
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
    private final Bootstrap bootstrap;
    private final java.util.HashMap<Long, java.util.function.Supplier<TcpConnection.Handler>> localServices =
            new java.util.HashMap<>();
    private int inFlight;
    private GuestFlows guests;

    private final Counters.Counter maxInFlightDrop;
    private final Counters.Counter linkLocalRefused;
    private final Counters.Counter connectFailed;
    private final Counters.Counter connected;
    private final Counters.Counter budgetRefused;
    private final Counters.Counter budgetDropped;
    private final HostErrors hostErrors;

    public TcpForwarder(NetworkStack stack, EventLoop loop, Options options) {
        this.stack = stack;
        this.loop = loop;
        this.options = options;
        Counters c = stack.counters();
        this.maxInFlightDrop = c.counter("tcp.forwardMaxInFlightDrop");
        this.linkLocalRefused = c.counter("tcp.forward.linkLocalRefused");
        this.connectFailed = c.counter("tcp.forward.connectFailed");
        this.connected = c.counter("tcp.forward.connected");
        this.budgetRefused = c.counter("tcp.forward.budgetRefused");
        this.budgetDropped = c.counter("tcp.forward.budgetDropped");
        this.hostErrors = new HostErrors(c.counter("tcp.forward.readBeforeConnect"),
                c.counter("tcp.forward.hostErrorUnattached"));
        this.bootstrap = new Bootstrap().group(loop).channel(EpollSocketChannel.class)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, options.connectTimeoutMillis())
                // Low marks: bytes the host socket did not take wait here; past the high mark the bridge copies them
                // out of the guest's frames instead of pinning whole receive buffers (see TcpBridge.onData).
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(32 * 1024, 64 * 1024))
                .handler(new io.netty.channel.ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(HOST_ERRORS, hostErrors);
                    }
                });
    }

    /**
     * Charges every forwarded connection to its guest (host sockets, connects in flight) and lets a guest
     * that leaves take its connections with it. Call before traffic flows.
     */
    public void setGuestFlows(GuestFlows guests) {
        this.guests = guests;
    }

    /** Makes a forwarder the stack's SYN handler. Call on the loop or before traffic flows. */
    public static TcpForwarder install(NetworkStack stack, EventLoop loop, Options options) {
        TcpForwarder f = new TcpForwarder(stack, loop, options);
        stack.tcp().setSynHandler(f);
        return f;
    }

    /**
     * Serves {@code ip:port} inside the stack (DNS over TCP, the in-VM API) instead of forwarding: a SYN
     * for it is accepted at once with a handler from {@code handlers}.
     */
    public void registerLocal(int ip, int port, java.util.function.Supplier<TcpConnection.Handler> handlers) {
        localServices.put(((long) ip << 16) | port, handlers);
    }

    public int inFlight() {
        return inFlight;
    }

    @Override
    public void onSyn(TcpLayer layer, TcpLayer.SynRequest req, long now) {
        int dst = req.dstIp();
        java.util.function.Supplier<TcpConnection.Handler> local = localServices.get(((long) dst << 16) | req.dstPort());
        if (local != null) {
            layer.accept(req, local.get(), now);
            return;
        }
        if (dst == stack.config().gatewayIp() && !stack.config().nat().containsKey(dst)) {
            layer.reject(req, now); // the gateway itself: a port nothing listens on
            return;
        }
        if (Ipv4Address.isLinkLocal(dst) && !options.allowLinkLocal()) {
            linkLocalRefused.inc();
            layer.reject(req, now);
            return;
        }
        if (inFlight >= options.maxInFlight()) {
            maxInFlightDrop.inc();
            layer.drop(req);
            return;
        }
        int hostDst = stack.config().translate(dst);
        GuestFlows.Flow flow = null;
        if (guests != null) {
            flow = guests.openConnect(req.guestMac(), hostDst, req.dstPort(), null);
            if (flow == null) {
                if (guests.socketsExhausted(req.guestMac())) {
                    // Out of host sockets: refuse at once, as a host out of descriptors would (counted by budget.*).
                    budgetRefused.inc();
                    layer.reject(req, now);
                } else {
                    // Too many connects in flight for this guest or destination: the guest retransmits the SYN.
                    budgetDropped.inc();
                    layer.drop(req);
                }
                return;
            }
        }
        inFlight++;
        InetSocketAddress target = new InetSocketAddress(Ipv4Address.toInet(hostDst), req.dstPort());
        ChannelFuture f = bootstrap.connect(target);
        GuestFlows.Flow owned = flow;
        if (owned != null) {
            // The descriptor is the budgeted resource: released when the host channel closes, whatever closed it.
            f.channel().closeFuture().addListener(x -> owned.release());
            owned.onAbort(() -> {
                layer.drop(req);
                f.channel().close();
            });
        }
        f.addListener((ChannelFuture cf) -> {
            inFlight--;
            if (owned != null) {
                owned.connected();
            }
            long t = stack.now();
            if (!cf.isSuccess()) {
                connectFailed.inc();
                LOG.log(Level.FINE, () -> "connect " + target + " for " + req.key() + " failed: " + cf.cause());
                if (stack.tcp().pendingSyns().get(req.key()) == req) {
                    layer.reject(req, t);
                    stack.virtualSwitch().flush();
                }
                return;
            }
            Channel ch = cf.channel();
            TcpBridge bridge = new TcpBridge(stack, ch);
            TcpConnection c = layer.accept(req, bridge, t);
            if (c == null) {
                ch.close(); // the request vanished meanwhile (stack closing, or its guest left)
                return;
            }
            connected.inc();
            bridge.attach(c);
            if (owned != null) {
                owned.onAbort(() -> {
                    c.abort(stack.now()); // onClosed closes the host channel
                    ch.close();
                });
            }
            stack.virtualSwitch().flush();
        });
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
