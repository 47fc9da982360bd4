package dev.gvproxy.forwarder;

import dev.gvproxy.platform.Libc;
import dev.gvproxy.platform.NativeException;
import io.netty.channel.unix.FileDescriptor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An unprivileged Linux ICMP "ping" socket ({@code socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)}, or over IPv6
 * {@code socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)}), through the project's libc binding ({@link Libc}).
 *
 * <p>The kernel only allows these to processes whose group is inside {@code net.ipv4.ping_group_range}
 * (per network namespace); otherwise {@code socket()} fails with {@code EACCES}. The socket is
 * non-blocking and connected to one destination: the kernel fills in the identifier (the socket's
 * "port") and the checksum of what is sent (over IPv6 with the pseudo-header), and delivers only echo replies
 * carrying that identifier. {@link #recv} returns the ICMP(v6) message without the IP header. IPv6 ping sockets
 * obey the same {@code net.ipv4.ping_group_range}.
 *
 * <p>Not thread-safe: after {@link #open} every call is made on the owning event loop.
 */
public final class PingSocket implements AutoCloseable {
    public static final int EPERM = Libc.EPERM;
    public static final int EINTR = Libc.EINTR;
    public static final int EAGAIN = Libc.EAGAIN;
    public static final int EACCES = Libc.EACCES;

    private static final int SOCKADDR_IN_LEN = 16;
    private static final int SOCKADDR_IN6_LEN = 28;

    /** Opens ping sockets; the forwarder's seam for tests and for pinging from another network namespace. */
    @FunctionalInterface
    public interface Opener {
        /**
         * Opens a non-blocking ping socket of {@code dst}'s family connected to it; throws {@link PingException}
         * with errno.
         */
        PingSocket open(InetAddress dst) throws PingException;
    }

    /** A failed system call; {@link #errno()} tells why (EACCES: forbidden by {@code ping_group_range}). */
    public static final class PingException extends IOException {
        private final int errno;

        public PingException(String call, int errno) {
            super(call + " failed: errno " + errno);
            this.errno = errno;
        }

        PingException(NativeException e) {
            super(e.getMessage(), e);
            this.errno = e.errno();
        }

        public int errno() {
            return errno;
        }
    }

    private final FileDescriptor fd;
    private final boolean ipv6;

    private PingSocket(int fd, boolean ipv6) {
        this.fd = new FileDescriptor(fd);
        this.ipv6 = ipv6;
    }

    /** True for an ICMPv6 socket: it sends and receives ICMPv6 echo (types 128 and 129). */
    public boolean isIpv6() {
        return ipv6;
    }

    /**
     * Opens a ping socket in this process's (thread's) network namespace, connected to {@code dst}: an ICMP one for
     * an IPv4 address, an ICMPv6 one for an IPv6 address.
     */
    public static PingSocket open(InetAddress dst) throws PingException {
        boolean v6 = dst instanceof Inet6Address;
        int fd;
        try {
            fd = Libc.socket(v6 ? Libc.AF_INET6 : Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC,
                    v6 ? Libc.IPPROTO_ICMPV6 : Libc.IPPROTO_ICMP);
        } catch (NativeException e) {
            throw new PingException(e);
        }
        try (Arena arena = Arena.ofConfined()) {
            byte[] addr = dst.getAddress();
            MemorySegment sa = arena.allocate(v6 ? SOCKADDR_IN6_LEN : SOCKADDR_IN_LEN); // zeroed: port, flow, scope 0
            sa.set(ValueLayout.JAVA_SHORT, 0, (short) (v6 ? Libc.AF_INET6 : Libc.AF_INET)); // host order
            MemorySegment.copy(addr, 0, sa, ValueLayout.JAVA_BYTE, v6 ? 8 : 4, addr.length); // sin6_addr / sin_addr
            Libc.connect(fd, sa, "ping socket");
            return new PingSocket(fd, v6);
        } catch (NativeException e) {
            Libc.closeQuietly(fd);
            throw new PingException(e);
        }
    }

    /**
     * An opener that creates sockets inside the network namespace at {@code netnsPath} (e.g.
     * {@code /var/run/netns/NAME}): a short-lived platform thread enters it, creates the socket and exits, so
     * no long-lived thread ever changes namespace. The socket keeps its namespace when used from any thread.
     */
    public static Opener inNamespace(Path netnsPath) {
        return dst -> {
            AtomicReference<Object> result = new AtomicReference<>();
            Thread t = Thread.ofPlatform().name("ping-netns").start(() -> {
                try {
                    int nsfd = Libc.open(netnsPath.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
                    try {
                        Libc.setns(nsfd, Libc.CLONE_NEWNET, netnsPath.toString());
                    } finally {
                        Libc.closeQuietly(nsfd);
                    }
                    result.set(open(dst));
                } catch (NativeException e) {
                    result.set(new PingException(e));
                } catch (PingException e) {
                    result.set(e);
                } catch (RuntimeException e) {
                    result.set(e);
                }
            });
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PingException("interrupted", EINTR);
            }
            Object r = result.get();
            if (r instanceof PingSocket s) {
                return s;
            }
            if (r instanceof PingException e) {
                throw e;
            }
            throw (RuntimeException) r;
        };
    }

    /** The descriptor, for registration with the epoll loop. */
    public FileDescriptor fd() {
        return fd;
    }

    /**
     * Sends one ICMP message (echo request: the kernel sets identifier and checksum).
     *
     * @return bytes sent, or minus errno
     */
    public int send(MemorySegment buf, int len) {
        return (int) Libc.send(fd.intValue(), buf, len, 0);
    }

    /**
     * Receives one ICMP message (no IP header) into {@code buf}.
     *
     * @return bytes received, or minus errno ({@code -EAGAIN} when nothing is queued)
     */
    public int recv(MemorySegment buf, int cap) {
        return (int) Libc.recv(fd.intValue(), buf, cap, 0);
    }

    public boolean isOpen() {
        return fd.isOpen();
    }

    @Override
    public void close() {
        try {
            fd.close();
        } catch (IOException ignored) {
            // Closing a socket we own cannot usefully fail; the descriptor is gone either way.
        }
    }
}
