package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.SocketProtocolFamily;
import java.net.Inet4Address;
import java.net.InetSocketAddress;

/**
 * How the SYN gate reaches a host destination: the seam between {@link TcpForwarder}'s decisions (SYN-ACK
 * only after the connect succeeded, RST on failure, budgets, timeout) and the host's sockets, so those
 * decisions can be tested packet by packet with a scripted connector and an embedded loop.
 */
public interface HostConnector {
    /**
     * Starts a non-blocking connect to {@code target}. The returned future's channel is registered on the
     * network's event loop, with auto-read off and half-closure allowed, and the future completes there:
     * successfully once connected, failed when refused or unreachable. A connector need not time out: the
     * forwarder gives up after its connect timeout and closes the channel.
     */
    ChannelFuture connect(InetSocketAddress target);

    /**
     * The default: a socket of the process's {@link SocketTransport} (epoll, else NIO) on {@code loop}, of the
     * target's address family, with Nagle off and low write-buffer marks; {@code lastHandler} ends every host
     * channel's pipeline (the forwarder's handler for errors before the relay is attached).
     */
    static HostConnector sockets(EventLoop loop, ChannelHandler lastHandler) {
        Bootstrap v4 = bootstrap(loop, SocketProtocolFamily.INET, lastHandler);
        Bootstrap v6 = bootstrap(loop, SocketProtocolFamily.INET6, lastHandler);
        return target -> (target.getAddress() instanceof Inet4Address ? v4 : v6).connect(target);
    }

    private static Bootstrap bootstrap(EventLoop loop, SocketProtocolFamily family, ChannelHandler lastHandler) {
        SocketTransport t = SocketTransport.get();
        // Targets are resolved addresses (HostRoutes): no resolver lookup per connect. Nagle is off without
        // TCP_NODELAY here: every transport's channel config sets it when the channel is made (Netty's default
        // off Android), and a second setsockopt per connect would only repeat it.
        return new Bootstrap().group(loop).channelFactory(() -> t.newSocketChannel(family))
                .disableResolver()
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                // The forwarder times the connect out itself; Netty's own timer (30 s by default) would be a second
                // scheduled task, armed and cancelled, per connect.
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 0)
                // Low marks: bytes the host socket did not take wait here; past the high mark the relay copies
                // them out of the guest's frames instead of pinning whole receive buffers (see TcpBridge.onData).
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(8 * 1024, 16 * 1024))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(TcpForwarder.HOST_ERRORS, lastHandler);
                    }
                });
    }
}
