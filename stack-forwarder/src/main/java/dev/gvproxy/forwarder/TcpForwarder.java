package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;

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
        public static final Options DEFAULTS = new Options(30_000, 128, false);
    }

    private final NetworkStack stack;
    private final EventLoop loop;
    private final Options options;
    private final Bootstrap bootstrap;
    private final java.util.HashMap<Long, java.util.function.Supplier<TcpConnection.Handler>> localServices =
            new java.util.HashMap<>();
    private int inFlight;

    private final Counters.Counter maxInFlightDrop;
    private final Counters.Counter linkLocalRefused;
    private final Counters.Counter connectFailed;
    private final Counters.Counter connected;

    public TcpForwarder(NetworkStack stack, EventLoop loop, Options options) {
        this.stack = stack;
        this.loop = loop;
        this.options = options;
        Counters c = stack.counters();
        this.maxInFlightDrop = c.counter("tcp.forwardMaxInFlightDrop");
        this.linkLocalRefused = c.counter("tcp.forward.linkLocalRefused");
        this.connectFailed = c.counter("tcp.forward.connectFailed");
        this.connected = c.counter("tcp.forward.connected");
        this.bootstrap = new Bootstrap().group(loop).channel(SocketTransport.get().socketChannel())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, options.connectTimeoutMillis())
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 * 1024, 1024 * 1024))
                .handler(new io.netty.channel.ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) { }
                });
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
        inFlight++;
        InetSocketAddress target = new InetSocketAddress(Ipv4Address.toInet(hostDst), req.dstPort());
        ChannelFuture f = bootstrap.connect(target);
        f.addListener((ChannelFuture cf) -> {
            inFlight--;
            long t = stack.now();
            if (!cf.isSuccess()) {
                connectFailed.inc();
                LOG.log(Level.FINE, () -> "connect " + target + " for " + req.key() + " failed: " + cf.cause());
                layer.reject(req, t);
                stack.virtualSwitch().flush();
                return;
            }
            Channel ch = cf.channel();
            TcpBridge bridge = new TcpBridge(stack, ch);
            TcpConnection c = layer.accept(req, bridge, t);
            if (c == null) {
                ch.close(); // the request vanished meanwhile (stack closing)
                return;
            }
            connected.inc();
            bridge.attach(c);
            stack.virtualSwitch().flush();
        });
    }
}
