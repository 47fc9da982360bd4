package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;

import dev.gvproxy.stack.Counters;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import java.net.SocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A {@code tcp} port forward: a host listener on the network's loop; every accepted client is relayed to
 * the guest's {@code ip:port} through a connection actively opened from the gateway
 * ({@link GuestStream}, relayed by {@link TcpBridge}). Also the base of {@link UnixPortForward}, which only differs in the listener.
 */
class TcpPortForward implements PortForwarder.Active {
    private static final Logger LOG = Logger.getLogger(TcpPortForward.class.getName());

    final PortForwarder owner;
    final PortForwarder.Forward forward;
    final PortForwarder.GuestAddress remote;
    private final Counters.Counter accepted;
    Channel server;

    TcpPortForward(PortForwarder owner, PortForwarder.Forward forward, PortForwarder.GuestAddress remote) {
        this.owner = owner;
        this.forward = forward;
        this.remote = remote;
        this.accepted = owner.stack().counters().counter("tcp.portfwd.accepted");
    }

    /** Binds {@code local} and registers the forward; runs on the loop. */
    static void start(PortForwarder owner, PortForwarder.Forward forward, SocketAddress local,
            PortForwarder.GuestAddress remote, CompletableFuture<PortForwarder.Listener> result) {
        TcpPortForward f = new TcpPortForward(owner, forward, remote);
        f.bind(SocketTransport.get().serverSocketChannel(), local, "tcp", result, true);
    }

    void bind(Class<? extends ServerChannel> type, SocketAddress local, String network, CompletableFuture<PortForwarder.Listener> result,
            boolean tcp) {
        ServerBootstrap b = new ServerBootstrap().group(owner.loop()).channel(type)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 * 1024, 1024 * 1024))
                .childHandler(new Acceptor());
        if (tcp) {
            // gvproxy: Go's default 15 s listener keep-alive is overridden with 1 min on the client socket.
            b.option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.SO_KEEPALIVE, true);
            SocketTransport t = SocketTransport.get();
            if (t.tcpKeepIdle() != null) {
                b.childOption(t.tcpKeepIdle(), 60);
            }
            if (t.tcpKeepInterval() != null) {
                b.childOption(t.tcpKeepInterval(), 60);
            }
        }
        b.bind(local).addListener((ChannelFuture bf) -> {
            if (!bf.isSuccess()) {
                bf.channel().close();
                bindFailed();
                result.completeExceptionally(PortForwarder.listenFailure(network, forward.local(), bf.cause()));
                return;
            }
            try {
                afterBind(bf.channel());
            } catch (java.io.IOException | RuntimeException e) {
                bf.channel().close();
                bindFailed();
                result.completeExceptionally(PortForwarder.listenFailure(network, forward.local(), e));
                return;
            }
            server = bf.channel();
            owner.registered(this, result);
        });
    }

    /** Runs once the listener is bound, before the forward is registered (the unix forward sets its mode). */
    void afterBind(Channel server) throws java.io.IOException {}

    /** Runs when binding (or {@link #afterBind}) failed. */
    void bindFailed() {}

    @Override
    public PortForwarder.Forward forward() {
        return forward;
    }

    @Override
    public PortForwarder.Forward bound() {
        return server == null ? forward : PortForwarder.withBoundPort(forward, server.localAddress());
    }

    @Override
    public void close() {
        if (server != null) {
            server.close();
        }
    }

    /** A host client: start the guest side. */
    void clientAccepted(Channel ch) {
        accepted.inc();
        if (remote.isIpv6()) {
            // A guest IPv6 address: the connection comes from the gateway's IPv6 address, as IPv4 forwards come from
            // the IPv4 gateway by default; an ephemeral port.
            owner.openGuest(ch, remote.address(), remote.port(), owner.ipv6Source(), -1, null)
                    .whenComplete((c, e) -> {
                        if (e != null) {
                            LOG.log(Level.FINE, () -> forward.protocol() + "/" + forward.local() + ": "
                                    + e.getMessage());
                        }
                    });
            return;
        }
        int srcIp = owner.sourceIpFor(ch.remoteAddress());
        int srcPort = owner.sourcePortFor(ch.remoteAddress(), srcIp);
        owner.openGuest(ch, remote.ip(), remote.port(), srcIp, srcPort, null).whenComplete((c, e) -> {
            if (e != null) {
                LOG.log(Level.FINE, () -> forward.protocol() + "/" + forward.local() + ": " + e.getMessage());
            }
        });
    }

    @io.netty.channel.ChannelHandler.Sharable
    private final class Acceptor extends ChannelInboundHandlerAdapter {
        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.pipeline().remove(this);
            clientAccepted(ctx.channel());
            ctx.fireChannelActive();
        }
    }
}
