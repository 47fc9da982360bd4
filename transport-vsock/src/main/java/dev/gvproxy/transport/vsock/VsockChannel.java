package dev.gvproxy.transport.vsock;

import io.netty.channel.Channel;
import io.netty.channel.epoll.AbstractEpollStreamChannel;
import io.netty.channel.epoll.EpollChannelConfig;
import java.net.SocketAddress;

/**
 * One accepted AF_VSOCK connection (or, for the unix stand-in, one AF_UNIX connection): Netty's epoll stream
 * channel with its own config and addresses. Reads, gathering writes, half-close and backpressure are
 * {@link AbstractEpollStreamChannel}'s; registered on the parent's child event loop like any accepted channel.
 */
public final class VsockChannel extends AbstractEpollStreamChannel {
    private final boolean vsock;
    private final EpollChannelConfig config = new EpollChannelConfig(this) {};
    private volatile SocketAddress local;
    private volatile SocketAddress remote;

    VsockChannel(Channel parent, int fd, boolean vsock) {
        super(parent, fd);
        this.vsock = vsock;
        if (vsock) {
            // Both are plain getsockname/getpeername; an already closed peer leaves them null.
            try {
                local = socket.localVSockAddress();
                remote = socket.remoteVSockAddress();
            } catch (RuntimeException e) {
                // keep nulls: addresses are only for logs
            }
        } else {
            local = parent.localAddress();
        }
    }

    @Override
    public EpollChannelConfig config() {
        return config;
    }

    @Override
    protected SocketAddress localAddress0() {
        return local;
    }

    @Override
    protected SocketAddress remoteAddress0() {
        return remote;
    }

    /** The peer's {@code VSockAddress} (CID and port), or null for the unix stand-in. */
    @Override
    public SocketAddress remoteAddress() {
        return remote;
    }

    @Override
    public SocketAddress localAddress() {
        return local;
    }

    /** True for AF_VSOCK, false for the unix stand-in. */
    public boolean isVsock() {
        return vsock;
    }
}
