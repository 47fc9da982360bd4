package dev.gvproxy.platform;

import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelOption;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.SelectStrategyFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.channel.socket.nio.NioChannelOption;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.AttributeKey;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import jdk.net.ExtendedSocketOptions;

/**
 * The JDK's selector: TCP, UDP and unix stream sockets ({@link UnixDomainSocketAddress}, JDK 16+) on every platform;
 * no unix datagram sockets and none of the Linux-only features.
 */
final class NioTransport extends SocketTransport {
    private static final AttributeKey<java.nio.channels.DatagramChannel> JDK_CHANNEL =
            AttributeKey.valueOf(NioTransport.class, "jdkDatagramChannel");
    private static final ChannelOption<Integer> KEEP_IDLE = supported(ExtendedSocketOptions.TCP_KEEPIDLE);
    private static final ChannelOption<Integer> KEEP_INTERVAL = supported(ExtendedSocketOptions.TCP_KEEPINTERVAL);

    @Override
    public Kind kind() {
        return Kind.NIO;
    }

    @Override
    IoHandlerFactory ioHandlerFactory(SelectStrategyFactory strategy) {
        return strategy == null ? NioIoHandler.newFactory()
                : NioIoHandler.newFactory(java.nio.channels.spi.SelectorProvider.provider(), strategy);
    }

    @Override
    public Class<? extends SocketChannel> socketChannel() {
        return NioSocketChannel.class;
    }

    @Override
    public SocketChannel newSocketChannel(SocketProtocolFamily family) {
        return new NioSocketChannel(java.nio.channels.spi.SelectorProvider.provider(), family);
    }

    @Override
    public Class<? extends ServerSocketChannel> serverSocketChannel() {
        return NioServerSocketChannel.class;
    }

    @Override
    public ChannelFactory<DatagramChannel> datagramChannel() {
        return () -> newDatagramChannel(null);
    }

    @Override
    public DatagramChannel newDatagramChannel(SocketProtocolFamily family) {
        // Opened here rather than by Netty so that sendEmpty can reach the JDK channel (NioDatagramChannel is
        // final and keeps it protected).
        java.nio.channels.DatagramChannel jdk;
        try {
            jdk = family == null ? java.nio.channels.DatagramChannel.open()
                    : java.nio.channels.DatagramChannel.open(family.toJdkFamily());
        } catch (IOException e) {
            throw new ChannelException("cannot open a datagram socket", e);
        }
        NioDatagramChannel ch = new NioDatagramChannel(jdk);
        ch.attr(JDK_CHANNEL).set(jdk);
        return ch;
    }

    @Override
    public Class<? extends Channel> domainSocketChannel() {
        return NioDomainSocketChannel.class;
    }

    @Override
    public Class<? extends ServerChannel> serverDomainSocketChannel() {
        return NioServerDomainSocketChannel.class;
    }

    @Override
    public Class<? extends Channel> domainDatagramChannel() {
        throw new UnsupportedOperationException("unix datagram sockets (unixgram://, vfkit) need the epoll or kqueue"
                + " transport; the JDK has none, so -D" + PROPERTY + "=nio cannot serve them");
    }

    @Override
    public SocketAddress domainAddress(Path path) {
        return UnixDomainSocketAddress.of(path);
    }

    @Override
    public void sendEmpty(DatagramChannel channel, InetSocketAddress to) throws IOException {
        java.nio.channels.DatagramChannel ch = channel.attr(JDK_CHANNEL).get();
        if (to == null || ch.isConnected()) {
            // The JDK's connected DatagramChannel returns 0 for an empty buffer without sending anything, and
            // an unconnected send is refused by a connected channel: say so, the caller counts it.
            throw new IOException("the NIO transport cannot send an empty datagram on a connected socket");
        } else {
            ch.send(ByteBuffer.allocate(0), to);
        }
    }

    @Override
    public ChannelOption<Integer> tcpKeepIdle() {
        return KEEP_IDLE;
    }

    @Override
    public ChannelOption<Integer> tcpKeepInterval() {
        return KEEP_INTERVAL;
    }

    /** The option if this platform's TCP sockets have it (Linux and macOS do), else null. */
    private static ChannelOption<Integer> supported(java.net.SocketOption<Integer> option) {
        try (java.nio.channels.SocketChannel s = java.nio.channels.SocketChannel.open()) {
            return s.supportedOptions().contains(option) ? NioChannelOption.of(option) : null;
        } catch (IOException e) {
            return null;
        }
    }
}
