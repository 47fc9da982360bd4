package dev.gvproxy.forwarder;

import io.netty.channel.unix.FileDescriptor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An unprivileged Linux ICMP "ping" socket ({@code socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)}), through FFM.
 *
 * <p>The kernel only allows these to processes whose group is inside {@code net.ipv4.ping_group_range}
 * (per network namespace); otherwise {@code socket()} fails with {@code EACCES}. The socket is
 * non-blocking and connected to one destination: the kernel fills in the identifier (the socket's
 * "port") and the checksum of what is sent, and delivers only echo replies carrying that identifier.
 * {@link #recv} returns the ICMP message without the IP header.
 *
 * <p>Not thread-safe: after {@link #open} every call is made on the owning event loop.
 */
public final class PingSocket implements AutoCloseable {
    public static final int EPERM = 1;
    public static final int EINTR = 4;
    public static final int EAGAIN = 11;
    public static final int EACCES = 13;

    private static final int AF_INET = 2;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_NONBLOCK = 0x800;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int IPPROTO_ICMP = 1;
    private static final int O_RDONLY = 0;
    private static final int CLONE_NEWNET = 0x40000000;
    private static final int SOCKADDR_IN_LEN = 16;

    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKET;
    private static final MethodHandle CONNECT;
    private static final MethodHandle SEND;
    private static final MethodHandle RECV;
    private static final MethodHandle OPEN;
    private static final MethodHandle CLOSE;
    private static final MethodHandle SETNS;

    static {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        Linker.Option errno = Linker.Option.captureCallState("errno");
        ValueLayout.OfInt i = ValueLayout.JAVA_INT;
        ValueLayout.OfLong l = ValueLayout.JAVA_LONG;
        SOCKET = linker.downcallHandle(libc.findOrThrow("socket"), FunctionDescriptor.of(i, i, i, i), errno);
        CONNECT = linker.downcallHandle(libc.findOrThrow("connect"),
                FunctionDescriptor.of(i, i, ValueLayout.ADDRESS, i), errno);
        SEND = linker.downcallHandle(libc.findOrThrow("send"),
                FunctionDescriptor.of(l, i, ValueLayout.ADDRESS, l, i), errno);
        RECV = linker.downcallHandle(libc.findOrThrow("recv"),
                FunctionDescriptor.of(l, i, ValueLayout.ADDRESS, l, i), errno);
        OPEN = linker.downcallHandle(libc.findOrThrow("open"),
                FunctionDescriptor.of(i, ValueLayout.ADDRESS, i), errno);
        CLOSE = linker.downcallHandle(libc.findOrThrow("close"), FunctionDescriptor.of(i, i));
        SETNS = linker.downcallHandle(libc.findOrThrow("setns"), FunctionDescriptor.of(i, i, i), errno);
    }

    /** Opens ping sockets; the forwarder's seam for tests and for pinging from another network namespace. */
    @FunctionalInterface
    public interface Opener {
        /** Opens a non-blocking ping socket connected to {@code dstIp}; throws {@link PingException} with errno. */
        PingSocket open(int dstIp) throws PingException;
    }

    /** A failed system call; {@link #errno()} tells why (EACCES: forbidden by {@code ping_group_range}). */
    public static final class PingException extends IOException {
        private final int errno;

        public PingException(String call, int errno) {
            super(call + " failed: errno " + errno);
            this.errno = errno;
        }

        public int errno() {
            return errno;
        }
    }

    private final FileDescriptor fd;
    /** errno capture for send/recv; only the owning loop calls them, so one per socket suffices. */
    private final MemorySegment capture;

    private PingSocket(int fd) {
        this.fd = new FileDescriptor(fd);
        this.capture = Arena.ofAuto().allocate(CAPTURE);
    }

    /** Opens a ping socket in this process's (thread's) network namespace, connected to {@code dstIp}. */
    public static PingSocket open(int dstIp) throws PingException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cap = arena.allocate(CAPTURE);
            int fd = (int) SOCKET.invokeExact(cap, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
            if (fd < 0) {
                throw new PingException("socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)", errno(cap));
            }
            MemorySegment sa = arena.allocate(SOCKADDR_IN_LEN);
            sa.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET); // host order
            sa.set(ValueLayout.JAVA_INT.withOrder(ByteOrder.BIG_ENDIAN), 4, dstIp);
            int rc = (int) CONNECT.invokeExact(cap, fd, sa, SOCKADDR_IN_LEN);
            if (rc < 0) {
                int e = errno(cap);
                int ignored = (int) CLOSE.invokeExact(fd);
                throw new PingException("connect", e);
            }
            return new PingSocket(fd);
        } catch (PingException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * An opener that creates sockets inside the network namespace at {@code netnsPath} (e.g.
     * {@code /var/run/netns/NAME}): a short-lived platform thread enters it, creates the socket and exits, so
     * no long-lived thread ever changes namespace. The socket keeps its namespace when used from any thread.
     */
    public static Opener inNamespace(Path netnsPath) {
        return dstIp -> {
            AtomicReference<Object> result = new AtomicReference<>();
            Thread t = Thread.ofPlatform().name("ping-netns").start(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment cap = arena.allocate(CAPTURE);
                    int nsfd = (int) OPEN.invokeExact(cap, arena.allocateFrom(netnsPath.toString()), O_RDONLY);
                    if (nsfd < 0) {
                        result.set(new PingException("open " + netnsPath, errno(cap)));
                        return;
                    }
                    int rc = (int) SETNS.invokeExact(cap, nsfd, CLONE_NEWNET);
                    int e = errno(cap);
                    int ignored = (int) CLOSE.invokeExact(nsfd);
                    if (rc < 0) {
                        result.set(new PingException("setns " + netnsPath, e));
                        return;
                    }
                    result.set(open(dstIp));
                } catch (PingException e) {
                    result.set(e);
                } catch (Throwable e) {
                    result.set(new IllegalStateException(e));
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

    private static int errno(MemorySegment cap) {
        return (int) ERRNO.get(cap, 0L);
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
        try {
            long n = (long) SEND.invokeExact(capture, fd.intValue(), buf, (long) len, 0);
            return n < 0 ? -errno(capture) : (int) n;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Receives one ICMP message (no IP header) into {@code buf}.
     *
     * @return bytes received, or minus errno ({@code -EAGAIN} when nothing is queued)
     */
    public int recv(MemorySegment buf, int cap) {
        try {
            long n = (long) RECV.invokeExact(capture, fd.intValue(), buf, (long) cap, 0);
            return n < 0 ? -errno(capture) : (int) n;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
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
