package dev.gvproxy.platform;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SelectStrategyFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The one place that chooses Netty's channel classes for every host socket the project opens: epoll on Linux,
 * kqueue on macOS, NIO elsewhere or when asked for with {@code -Dgvproxy.transport=nio}. Everything that makes an
 * event loop, a socket or a unix socket address goes through {@link #get()}, so one network never mixes
 * transports (a channel only registers on a loop of its own kind).
 *
 * <p>Each implementation is a separate class loaded only when chosen: nothing in this class refers to an epoll
 * or kqueue class, so choosing NIO (or running on macOS) never loads a native library it cannot use.
 */
public abstract class SocketTransport {
    /** The system property that forces a transport: {@code epoll}, {@code kqueue} or {@code nio}. */
    public static final String PROPERTY = "gvproxy.transport";

    private static final Logger LOG = Logger.getLogger(SocketTransport.class.getName());

    /** The three kinds; {@link #NIO} is pure JDK and works everywhere. */
    public enum Kind { EPOLL, KQUEUE, NIO }

    private static final class Holder {
        static final SocketTransport CHOSEN = choose(System.getProperty(PROPERTY), System.getProperty("os.name", ""));
    }

    SocketTransport() {
    }

    /** The process's transport, chosen once from {@value #PROPERTY} or the best available. */
    public static SocketTransport get() {
        return Holder.CHOSEN;
    }

    /**
     * Chooses a transport: {@code requested} ({@code epoll|kqueue|nio}, case-insensitive) if given, otherwise the
     * native one for {@code osName} when its library loads, otherwise NIO.
     *
     * @throws IllegalStateException when {@code requested} is unknown or cannot load here (a forced native
     *     transport that is unavailable is an error, not a silent fallback)
     */
    static SocketTransport choose(String requested, String osName) {
        SocketTransport t;
        if (requested != null && !requested.isBlank()) {
            t = switch (requested.trim().toLowerCase(Locale.ROOT)) {
                case "epoll" -> EpollTransport.create(true);
                case "kqueue" -> KqueueTransport.create(true);
                case "nio" -> new NioTransport();
                default -> throw new IllegalStateException("-D" + PROPERTY + "=" + requested
                        + ": unknown transport (use epoll, kqueue or nio)");
            };
        } else {
            String os = osName.toLowerCase(Locale.ROOT);
            t = null;
            if (os.startsWith("linux")) {
                t = EpollTransport.create(false);
            } else if (os.startsWith("mac") || os.contains("bsd")) {
                t = KqueueTransport.create(false);
            }
            if (t == null) {
                t = new NioTransport();
            }
        }
        LOG.log(Level.FINE, "socket transport: {0}{1}", new Object[] {t.kind(), requested == null ? "" : " (-D" + PROPERTY + "=" + requested + ")"});
        return t;
    }

    /** Which transport this is. */
    public abstract Kind kind();

    /** True for the epoll transport, the only one that runs the Linux-only features (vsock, BESS, ping sockets). */
    public final boolean isEpoll() {
        return kind() == Kind.EPOLL;
    }

    /** The I/O handler every event loop of this transport runs; {@code strategy} null for Netty's default. */
    abstract IoHandlerFactory ioHandlerFactory(SelectStrategyFactory strategy);

    /** A new event loop group of {@code threads} loops of this transport. */
    public final EventLoopGroup newEventLoopGroup(int threads) {
        return newEventLoopGroup(threads, Duration.ZERO);
    }

    /**
     * A new event loop group of {@code threads} loops of this transport, each polling without sleeping for
     * {@code busyPoll} after its last work ({@link BusyPoll}; zero: never, the default).
     */
    public final EventLoopGroup newEventLoopGroup(int threads, Duration busyPoll) {
        return new MultiThreadIoEventLoopGroup(threads, ioHandlerFactory(BusyPoll.factory(busyPoll)));
    }

    /** TCP client sockets. */
    public abstract Class<? extends SocketChannel> socketChannel();

    /**
     * An unregistered TCP client socket of {@code family}: an IPv4 destination gets an AF_INET socket rather than
     * the dual-stack AF_INET6 one {@link #socketChannel()} makes (one {@code setsockopt} less per connect, and
     * no IPv4-mapped addresses).
     */
    public abstract SocketChannel newSocketChannel(SocketProtocolFamily family);

    /** TCP listening sockets. */
    public abstract Class<? extends ServerSocketChannel> serverSocketChannel();

    /** UDP sockets, for {@code Bootstrap.channelFactory}. */
    public abstract ChannelFactory<DatagramChannel> datagramChannel();

    /** An unregistered UDP socket of {@code family} (for callers that register it themselves). */
    public abstract DatagramChannel newDatagramChannel(SocketProtocolFamily family);

    /** Unix stream client sockets; connect them to {@link #domainAddress}. */
    public abstract Class<? extends Channel> domainSocketChannel();

    /** Unix stream listening sockets; bind them to {@link #domainAddress}. */
    public abstract Class<? extends ServerChannel> serverDomainSocketChannel();

    /**
     * Unix datagram sockets (vfkit, QEMU {@code -netdev dgram}); their packets carry Netty's
     * {@code DomainDatagramPacket}.
     *
     * @throws UnsupportedOperationException under NIO, which has no unix datagram channel
     */
    public abstract Class<? extends Channel> domainDatagramChannel();

    /** The address that binds or connects this transport's unix sockets to {@code path}. */
    public abstract SocketAddress domainAddress(Path path);

    /** The path of a unix socket address of this transport (or of the other kind), null if not a unix address. */
    public static Path domainPath(SocketAddress address) {
        if (address instanceof java.net.UnixDomainSocketAddress u) {
            return u.getPath();
        }
        if (address instanceof io.netty.channel.unix.DomainSocketAddress d) {
            return Path.of(d.path());
        }
        return null;
    }

    /**
     * Sends an empty datagram on {@code channel} (one of {@link #datagramChannel()}), to {@code to} or, when null, to
     * the peer it is connected to. Netty's datagram channels silently drop empty buffers, but an empty UDP
     * datagram is a valid packet a guest may send.
     *
     * @throws IOException if the socket refuses, or (NIO) the channel is connected: the JDK sends nothing then
     */
    public abstract void sendEmpty(DatagramChannel channel, InetSocketAddress to) throws IOException;

    /**
     * Half-closes a stream channel's output (a FIN to its peer) once everything written to it was flushed. The
     * default is {@link io.netty.channel.socket.DuplexChannel#shutdownOutput()}, which builds an exception with a
     * stack trace every time (it fails writes queued behind the shutdown, even when there are none); epoll shuts
     * an emptied socket down directly. On the channel's event loop.
     */
    public void shutdownOutput(io.netty.channel.socket.DuplexChannel channel) {
        channel.shutdownOutput();
    }

    /**
     * Level-triggered readiness for a datagram channel where the transport has the choice (epoll): Netty ends a
     * read batch at an empty datagram, and with edge triggering the datagrams queued behind it would wait for the
     * next arrival. NIO's selector is level-triggered already; kqueue reads until the socket is drained.
     */
    public void levelTriggered(Channel channel) {
    }

    /**
     * Whether {@link #batchedDatagramReads} works here: a datagram channel then takes several datagrams per system
     * call into one read buffer and hands them all to the pipeline before it allocates the next read buffer (epoll).
     * Elsewhere each read takes one datagram into a buffer of its own (NIO collects a whole batch of reads before
     * the pipeline sees the first).
     */
    public boolean batchesDatagramReads() {
        return false;
    }

    /**
     * Lets a datagram channel take several datagrams per system call where {@link #batchesDatagramReads} (epoll:
     * {@code recvmmsg}, each datagram in its own {@code maxDatagram}-byte slot of the read buffer, so the read
     * buffer should be a multiple of it); elsewhere nothing changes.
     *
     * @param maxDatagram the largest datagram the socket can receive (a larger one would be cut to it)
     */
    public void batchedDatagramReads(DatagramChannel channel, int maxDatagram) {
    }

    /**
     * Whether {@link #segmentedDatagram} works here: Linux UDP GSO ({@code UDP_SEGMENT}, kernel 4.18 and later)
     * through epoll. Elsewhere every datagram is its own write.
     */
    public boolean segmentsDatagrams() {
        return false;
    }

    /**
     * One write that the kernel cuts into datagrams of {@code segmentSize} bytes (the last may be shorter): UDP
     * GSO, one pass through the socket, IP and device layers for the whole run instead of one per datagram. The
     * route's MTU must carry a whole segment (the kernel refuses the write, it never fragments one), so callers
     * use it where that is known, loopback for one. For a connected channel {@code recipient} is its peer.
     *
     * @param content <b>taken</b>: the datagrams back to back, at most 64 of them and 65,507 bytes
     * @throws UnsupportedOperationException unless {@link #segmentsDatagrams()}
     */
    public DatagramPacket segmentedDatagram(ByteBuf content, int segmentSize, InetSocketAddress recipient) {
        content.release();
        throw new UnsupportedOperationException("UDP segmentation offload needs the epoll transport");
    }

    /**
     * Runs {@code onReadable} on {@code loop} whenever the file descriptor {@code fd} (not a socket Netty made: a TAP
     * device, say) has input, from the loop's own {@code epoll_wait}: no thread of its own, no hand-over. Level
     * triggered, so a callback that leaves input unread (a per-wake budget) is called again in the next loop
     * iteration. Must be called on {@code loop}. Only epoll can watch a foreign descriptor; elsewhere this returns
     * null and the caller waits for input its own way.
     *
     * @param fd stays the caller's: never closed here; close the returned watch before closing it (an epoll entry
     *           left behind would be matched to whatever reuses the number)
     * @return the watch, whose {@code close()} stops it (idempotent, on the loop), or null where unsupported
     */
    public AutoCloseable watchReadable(EventLoop loop, int fd, Runnable onReadable) throws IOException {
        return null;
    }

    /**
     * TCP keep-alive idle time and probe interval (seconds) as channel options of this transport, or null where
     * the transport has none (the socket then keeps the system's defaults).
     */
    public abstract ChannelOption<Integer> tcpKeepIdle();

    /** See {@link #tcpKeepIdle()}. */
    public abstract ChannelOption<Integer> tcpKeepInterval();

    /**
     * Refuses a feature only the epoll transport has, with a message saying why and what to do.
     *
     * @param feature what was asked for, e.g. "AF_VSOCK listen"
     * @throws UnsupportedOperationException unless this is epoll
     */
    public final void requireEpoll(String feature) {
        if (!isEpoll()) {
            throw new UnsupportedOperationException(feature + " needs Linux and the epoll transport (the "
                    + kind().name().toLowerCase(Locale.ROOT) + " transport is in use"
                    + (kind() == Kind.NIO ? "; do not set -D" + PROPERTY + "=nio" : "") + ")");
        }
    }

    @Override
    public String toString() {
        return kind().name().toLowerCase(Locale.ROOT);
    }
}
