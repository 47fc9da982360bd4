package dev.gvproxy.platform;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.IoRegistration;
import io.netty.channel.SelectStrategyFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollDomainDatagramChannel;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.epoll.EpollMode;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.epoll.SegmentedDatagramPacket;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.FileDescriptor;
import io.netty.channel.unix.Socket;
import io.netty.util.concurrent.Future;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/** Linux epoll; loaded only when chosen. */
final class EpollTransport extends SocketTransport {
    private static final ByteBuffer EMPTY = ByteBuffer.allocateDirect(0);

    private EpollTransport() {
    }

    /** The epoll transport, or (when not {@code required}) null if its native library does not load here. */
    static SocketTransport create(boolean required) {
        if (!Epoll.isAvailable()) {
            if (required) {
                throw new IllegalStateException("-D" + PROPERTY + "=epoll: epoll is not available here: "
                        + Epoll.unavailabilityCause());
            }
            return null;
        }
        return new EpollTransport();
    }

    @Override
    public Kind kind() {
        return Kind.EPOLL;
    }

    @Override
    IoHandlerFactory ioHandlerFactory(SelectStrategyFactory strategy) {
        return strategy == null ? EpollIoHandler.newFactory() : EpollIoHandler.newFactory(0, strategy);
    }

    @Override
    public AutoCloseable watchReadable(EventLoop loop, int fd, Runnable onReadable) throws IOException {
        if (!(loop instanceof IoEventLoop io) || !loop.inEventLoop()) {
            throw new IllegalStateException("watchReadable must be called on an epoll event loop");
        }
        FileDescriptor descriptor = new FileDescriptor(fd); // a view of the caller's fd; never closed here
        EpollIoHandle handle = new EpollIoHandle() {
            @Override
            public FileDescriptor fd() {
                return descriptor;
            }

            @Override
            public void handle(IoRegistration registration, IoEvent event) {
                onReadable.run();
            }

            @Override
            public void close() {
                // the loop is shutting down: the fd is the caller's to close
            }
        };
        // On the loop the registration is done when register returns; the future is already complete.
        Future<IoRegistration> f = io.register(handle);
        if (!f.isSuccess()) {
            throw new IOException("epoll registration of fd " + fd + " failed", f.cause());
        }
        IoRegistration registration = f.getNow();
        try {
            registration.submit(EpollIoOps.EPOLLIN); // no EPOLLET: level triggered
        } catch (Exception e) {
            registration.cancel();
            throw e instanceof IOException io2 ? io2 : new IOException(e);
        }
        return registration::cancel;
    }

    @Override
    public Class<? extends SocketChannel> socketChannel() {
        return EpollSocketChannel.class;
    }

    @Override
    public SocketChannel newSocketChannel(SocketProtocolFamily family) {
        return new EpollSocketChannel(family);
    }

    @Override
    public Class<? extends ServerSocketChannel> serverSocketChannel() {
        return EpollServerSocketChannel.class;
    }

    @Override
    public ChannelFactory<DatagramChannel> datagramChannel() {
        return EpollDatagramChannel::new;
    }

    @Override
    public DatagramChannel newDatagramChannel(SocketProtocolFamily family) {
        return new EpollDatagramChannel(family);
    }

    @Override
    public Class<? extends Channel> domainSocketChannel() {
        return EpollDomainSocketChannel.class;
    }

    @Override
    public Class<? extends ServerChannel> serverDomainSocketChannel() {
        return EpollServerDomainSocketChannel.class;
    }

    @Override
    public Class<? extends Channel> domainDatagramChannel() {
        return EpollDomainDatagramChannel.class;
    }

    @Override
    public SocketAddress domainAddress(Path path) {
        return new DomainSocketAddress(path.toString());
    }

    @Override
    public void sendEmpty(DatagramChannel channel, InetSocketAddress to) throws IOException {
        Socket fd = (Socket) ((EpollDatagramChannel) channel).fd();
        if (to == null) {
            fd.write(EMPTY, 0, 0);
        } else {
            fd.sendTo(EMPTY, 0, 0, to.getAddress(), to.getPort());
        }
    }

    @Override
    public void shutdownOutput(io.netty.channel.socket.DuplexChannel channel) {
        io.netty.channel.ChannelOutboundBuffer queued = channel.unsafe().outboundBuffer();
        if (channel instanceof EpollSocketChannel epoll && epoll.isActive() && queued != null && queued.isEmpty()) {
            try {
                // Netty's Socket records the shutdown, so isOutputShutdown() and later reads see it; with nothing
                // queued there is no write for Netty's path to fail.
                ((Socket) epoll.fd()).shutdown(false, true);
                return;
            } catch (IOException e) {
                // fall through: Netty's path reports the error
            }
        }
        channel.shutdownOutput();
    }

    @Override
    public void levelTriggered(Channel channel) {
        channel.config().setOption(EpollChannelOption.EPOLL_MODE, EpollMode.LEVEL_TRIGGERED);
    }

    @Override
    public boolean batchesDatagramReads() {
        return true;
    }

    @Override
    public void batchedDatagramReads(DatagramChannel channel, int maxDatagram) {
        channel.config().setOption(EpollChannelOption.MAX_DATAGRAM_PAYLOAD_SIZE, maxDatagram);
    }

    @Override
    public boolean segmentsDatagrams() {
        return SegmentedDatagramPacket.isSupported();
    }

    @Override
    public DatagramPacket segmentedDatagram(ByteBuf content, int segmentSize, InetSocketAddress recipient) {
        return new SegmentedDatagramPacket(content, segmentSize, recipient);
    }

    @Override
    public ChannelOption<Integer> tcpKeepIdle() {
        return EpollChannelOption.TCP_KEEPIDLE;
    }

    @Override
    public ChannelOption<Integer> tcpKeepInterval() {
        return EpollChannelOption.TCP_KEEPINTVL;
    }
}
