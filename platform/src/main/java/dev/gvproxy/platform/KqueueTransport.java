package dev.gvproxy.platform;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelOption;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.SelectStrategyFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.kqueue.KQueue;
import io.netty.channel.kqueue.KQueueDatagramChannel;
import io.netty.channel.kqueue.KQueueDomainDatagramChannel;
import io.netty.channel.kqueue.KQueueDomainSocketChannel;
import io.netty.channel.kqueue.KQueueIoHandler;
import io.netty.channel.kqueue.KQueueServerDomainSocketChannel;
import io.netty.channel.kqueue.KQueueServerSocketChannel;
import io.netty.channel.kqueue.KQueueSocketChannel;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.Socket;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/** macOS (BSD) kqueue; loaded only when chosen. */
final class KqueueTransport extends SocketTransport {
    private static final ByteBuffer EMPTY = ByteBuffer.allocateDirect(0);

    private KqueueTransport() {
    }

    /** The kqueue transport, or (when not {@code required}) null if its native library does not load here. */
    static SocketTransport create(boolean required) {
        if (!KQueue.isAvailable()) {
            if (required) {
                throw new IllegalStateException("-D" + PROPERTY + "=kqueue: kqueue is not available here: "
                        + KQueue.unavailabilityCause());
            }
            return null;
        }
        return new KqueueTransport();
    }

    @Override
    public Kind kind() {
        return Kind.KQUEUE;
    }

    @Override
    IoHandlerFactory ioHandlerFactory(SelectStrategyFactory strategy) {
        return strategy == null ? KQueueIoHandler.newFactory() : KQueueIoHandler.newFactory(0, strategy);
    }

    @Override
    public Class<? extends SocketChannel> socketChannel() {
        return KQueueSocketChannel.class;
    }

    @Override
    public SocketChannel newSocketChannel(SocketProtocolFamily family) {
        return new KQueueSocketChannel(family);
    }

    @Override
    public Class<? extends ServerSocketChannel> serverSocketChannel() {
        return KQueueServerSocketChannel.class;
    }

    @Override
    public ChannelFactory<DatagramChannel> datagramChannel() {
        return KQueueDatagramChannel::new;
    }

    @Override
    public DatagramChannel newDatagramChannel(SocketProtocolFamily family) {
        return new KQueueDatagramChannel(family);
    }

    @Override
    public Class<? extends Channel> domainSocketChannel() {
        return KQueueDomainSocketChannel.class;
    }

    @Override
    public Class<? extends ServerChannel> serverDomainSocketChannel() {
        return KQueueServerDomainSocketChannel.class;
    }

    @Override
    public Class<? extends Channel> domainDatagramChannel() {
        return KQueueDomainDatagramChannel.class;
    }

    @Override
    public SocketAddress domainAddress(Path path) {
        return new DomainSocketAddress(path.toString());
    }

    @Override
    public void sendEmpty(DatagramChannel channel, InetSocketAddress to) throws IOException {
        Socket fd = (Socket) ((KQueueDatagramChannel) channel).fd();
        if (to == null) {
            fd.write(EMPTY, 0, 0);
        } else {
            fd.sendTo(EMPTY, 0, 0, to.getAddress(), to.getPort());
        }
    }

    @Override
    public ChannelOption<Integer> tcpKeepIdle() {
        return null; // kqueue has no per-socket keep-alive timing option: system defaults
    }

    @Override
    public ChannelOption<Integer> tcpKeepInterval() {
        return null;
    }
}
