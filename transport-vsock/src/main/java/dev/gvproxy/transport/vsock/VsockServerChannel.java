package dev.gvproxy.transport.vsock;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.AbstractEpollServerChannel;
import io.netty.channel.epoll.EpollChannelConfig;
import io.netty.channel.epoll.LinuxSocket;
import io.netty.channel.epoll.VSockAddress;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.NetUtil;
import java.net.SocketAddress;
import java.util.Map;

/**
 * A listening AF_VSOCK stream socket on Netty's epoll transport (Netty 4.2.18 has {@link VSockAddress} and the
 * {@link LinuxSocket} vsock calls, but no channel that accepts a {@code VSockAddress}).
 *
 * <p>Everything but socket creation, bind and the child's type is Netty's {@link AbstractEpollServerChannel}: the
 * accept loop, registration on the epoll loop, close. Accepted connections are {@link VsockChannel}s, plain epoll
 * stream channels, so the same pipelines as for unix and tcp connections run on them.
 *
 * <p>{@link #unixStandIn()} makes the same class over an AF_UNIX stream socket: tests exercise the accept and read
 * path through this code on machines where nothing can connect over vsock (no loopback transport).
 */
public final class VsockServerChannel extends AbstractEpollServerChannel {
    private final boolean vsock;
    private final Config config = new Config(this);
    private volatile SocketAddress local;

    /**
     * An AF_VSOCK stream socket (not yet bound).
     *
     * @throws io.netty.channel.ChannelException when the kernel has no AF_VSOCK ({@code Address family not
     *     supported by protocol})
     */
    public VsockServerChannel() {
        this(LinuxSocket.newVSockStream(), true);
    }

    private VsockServerChannel(LinuxSocket socket, boolean vsock) {
        super(socket, false);
        this.vsock = vsock;
    }

    /** The same channel over an AF_UNIX stream socket, bound with a {@link DomainSocketAddress} (tests). */
    public static VsockServerChannel unixStandIn() {
        return new VsockServerChannel(LinuxSocket.newSocketDomain(), false);
    }

    /** True for AF_VSOCK, false for the unix stand-in. */
    public boolean isVsock() {
        return vsock;
    }

    @Override
    protected void doBind(SocketAddress address) throws Exception {
        if (vsock && address instanceof VSockAddress va) {
            socket.bindVSock(va);
        } else if (!vsock && address instanceof DomainSocketAddress) {
            socket.bind(address);
        } else {
            throw new IllegalArgumentException("cannot bind " + (vsock ? "AF_VSOCK" : "AF_UNIX") + " to " + address);
        }
        socket.listen(config.backlog);
        // The kernel picks the port for VMADDR_PORT_ANY; report what it chose.
        local = vsock ? socket.localVSockAddress() : address;
        active = true;
    }

    @Override
    protected Channel newChildChannel(int fd, byte[] address, int offset, int len) {
        // The accept(2) address bytes are Netty's inet encoding; the child asks its socket instead.
        return new VsockChannel(this, fd, vsock);
    }

    @Override
    protected SocketAddress localAddress0() {
        return local;
    }

    @Override
    public SocketAddress localAddress() {
        return local;
    }

    @Override
    public EpollChannelConfig config() {
        return config;
    }

    /** Epoll channel options plus {@code SO_BACKLOG}. */
    static final class Config extends EpollChannelConfig {
        volatile int backlog = NetUtil.SOMAXCONN;

        Config(Channel channel) {
            super(channel);
        }

        @Override
        public Map<ChannelOption<?>, Object> getOptions() {
            return getOptions(super.getOptions(), ChannelOption.SO_BACKLOG);
        }

        @Override
        @SuppressWarnings("unchecked")
        public <T> T getOption(ChannelOption<T> option) {
            if (option == ChannelOption.SO_BACKLOG) {
                return (T) Integer.valueOf(backlog);
            }
            return super.getOption(option);
        }

        @Override
        public <T> boolean setOption(ChannelOption<T> option, T value) {
            validate(option, value);
            if (option == ChannelOption.SO_BACKLOG) {
                backlog = (Integer) value;
                return true;
            }
            return super.setOption(option, value);
        }
    }
}
