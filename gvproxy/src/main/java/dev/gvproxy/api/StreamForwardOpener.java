package dev.gvproxy.api;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A {@link PortForwardRegistry.Opener} for stream forwards: {@code tcp} (host TCP listener) and {@code unix} with a
 * {@code tcp://IPv4:port} remote (host unix socket). Each accepted host client gets its own connection into the
 * guest through the {@link Tunneler} and a {@link TunnelRelay} (half-close both ways); a failed dial closes the
 * client, as gvproxy does. Unexpose closes the listener only: established connections run to completion
 * (gvproxy's behaviour, spec 5.6). UDP is not handled here; {@code ssh-tunnel://} remotes go to the SSH opener
 * given at construction.
 */
public final class StreamForwardOpener implements PortForwardRegistry.Opener {
    private static final Logger LOG = Logger.getLogger(StreamForwardOpener.class.getName());

    private final EventLoop loop;
    private final Tunneler tunneler;
    private final PortForwardRegistry.Opener sshTunnels;

    /** @param loop the network's event loop: listeners and their clients live there */
    public StreamForwardOpener(EventLoop loop, Tunneler tunneler) {
        this(loop, tunneler, null);
    }

    /**
     * @param sshTunnels opens {@code unix} forwards with {@code ssh-tunnel://} remotes (the {@code dev.gvproxy.ssh}
     *     package), or null to refuse them
     */
    public StreamForwardOpener(EventLoop loop, Tunneler tunneler, PortForwardRegistry.Opener sshTunnels) {
        this.loop = loop;
        this.tunneler = tunneler;
        this.sshTunnels = sshTunnels;
    }

    @Override
    public CompletionStage<AutoCloseable> open(PortForward f) {
        int[] remote;
        SocketAddress bindAddr;
        Path socketFile = null;
        try {
            switch (f.protocol()) {
                case "tcp" -> {
                    remote = PortForwardRegistry.parseIpv4Remote(f.remote());
                    bindAddr = tcpAddress(f.local());
                }
                case "unix" -> {
                    URI u = URI.create(f.remote());
                    if ("ssh-tunnel".equals(u.getScheme()) && sshTunnels != null) {
                        return sshTunnels.open(f);
                    }
                    if (!"tcp".equals(u.getScheme())) {
                        return CompletableFuture.failedFuture(new UnsupportedOperationException(
                                "unix forwards to " + u.getScheme() + ":// remotes are not available yet"));
                    }
                    remote = PortForwardRegistry.parseIpv4Remote(u.getRawAuthority());
                    socketFile = Path.of(f.local());
                    Files.deleteIfExists(socketFile); // gvproxy replaces an existing file
                    bindAddr = new DomainSocketAddress(socketFile.toString());
                }
                default -> {
                    return CompletableFuture.failedFuture(new UnsupportedOperationException(
                            f.protocol() + " forwards are not available yet"));
                }
            }
        } catch (GoNet.GoError | IOException | IllegalArgumentException e) {
            return CompletableFuture.failedFuture(e);
        }
        int ip = remote[0];
        int port = remote[1];
        String target = f.remote();
        ChannelGroup clients = new DefaultChannelGroup("forward " + f.local(), loop);
        ServerBootstrap b = new ServerBootstrap()
                .group(loop, loop)
                .channel(socketFile == null ? EpollServerSocketChannel.class : EpollServerDomainSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        clients.add(ch);
                        TunnelRelay.attach(ch, "forward " + f.local() + " -> " + target, tunneler.connect(ip, port));
                    }
                });
        if (socketFile == null) {
            b.option(ChannelOption.SO_REUSEADDR, true).childOption(ChannelOption.TCP_NODELAY, true);
        }
        CompletableFuture<AutoCloseable> out = new CompletableFuture<>();
        Path file = socketFile;
        String net = socketFile == null ? "tcp" : "unix";
        ChannelFuture bind = b.bind(bindAddr);
        bind.addListener(fut -> {
            if (!fut.isSuccess()) {
                out.completeExceptionally(new IOException("listen " + net + " " + f.local() + ": bind: "
                        + errnoText(fut.cause()), fut.cause()));
                return;
            }
            Channel server = bind.channel();
            out.complete(() -> {
                server.close();
                if (file != null) {
                    try {
                        Files.deleteIfExists(file);
                    } catch (IOException e) {
                        LOG.log(Level.FINE, "cannot delete " + file, e);
                    }
                }
            });
        });
        return out;
    }

    /** Go's {@code net.Listen("tcp", local)} address: empty host = all addresses; only literals and localhost. */
    static InetSocketAddress tcpAddress(String local) throws GoNet.GoError {
        String[] hp = GoNet.splitHostPort(local);
        int port = (int) GoNet.parseUint(hp[1], 16);
        String host = hp[0];
        if (host.isEmpty()) {
            return new InetSocketAddress(port);
        }
        if (host.equals("localhost")) {
            return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
        }
        Integer v4 = GoNet.parseIpv4(host);
        try {
            if (v4 != null) {
                return new InetSocketAddress(InetAddress.getByAddress(new byte[] {
                        (byte) (v4 >>> 24), (byte) (v4 >>> 16), (byte) (v4 >>> 8), v4.byteValue()}), port);
            }
            if (host.indexOf(':') >= 0) {
                // An IPv6 literal: InetAddress parses literals without any lookup.
                return new InetSocketAddress(InetAddress.getByName(host), port);
            }
        } catch (IOException e) {
            throw new GoNet.GoError("listen tcp " + local + ": " + e.getMessage());
        }
        throw new GoNet.GoError("listen tcp " + local + ": host names other than localhost are not supported");
    }

    /** {@code bind(..) failed: Address already in use} -> {@code address already in use} (Go's errno text). */
    static String errnoText(Throwable t) {
        String m = String.valueOf(t.getMessage());
        int colon = m.lastIndexOf(": ");
        String tail = colon >= 0 ? m.substring(colon + 2) : m;
        return tail.isEmpty() ? m : Character.toLowerCase(tail.charAt(0)) + tail.substring(1).toLowerCase(Locale.ROOT);
    }
}
