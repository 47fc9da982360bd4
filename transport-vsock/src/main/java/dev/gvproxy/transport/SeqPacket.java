package dev.gvproxy.transport;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

/**
 * {@code AF_UNIX}/{@code SOCK_SEQPACKET} system calls through FFM (Netty's epoll transport has no seqpacket
 * channel). Hot-path calls ({@link #recv}, {@link #send}, {@link #accept}) return the result or minus errno instead
 * of throwing, so {@code EAGAIN} costs nothing; errno is captured into a per-thread buffer.
 */
final class SeqPacket {
    static final int AF_UNIX = 1;
    static final int SOCK_SEQPACKET = 5;
    static final int SOCK_NONBLOCK = 0x800;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int MSG_DONTWAIT = 0x40;
    static final int MSG_TRUNC = 0x20;
    static final int MSG_NOSIGNAL = 0x4000;
    static final int EINTR = 4;
    static final int EAGAIN = 11;
    static final int EMSGSIZE = 90;
    static final int ENOBUFS = 105;
    /** {@code sizeof(struct sockaddr_un)}: a short family and 108 path bytes. */
    static final int SOCKADDR_UN_LEN = 110;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> STATE = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));
    private static final MethodHandle SOCKET;
    private static final MethodHandle BIND;
    private static final MethodHandle LISTEN;
    private static final MethodHandle CONNECT;
    private static final MethodHandle ACCEPT4;
    private static final MethodHandle SEND;
    private static final MethodHandle RECV;
    private static final MethodHandle STRERROR;

    static {
        var libc = LINKER.defaultLookup();
        Linker.Option errno = Linker.Option.captureCallState("errno");
        ValueLayout.OfInt i = ValueLayout.JAVA_INT;
        ValueLayout.OfLong l = ValueLayout.JAVA_LONG;
        ValueLayout a = ValueLayout.ADDRESS;
        SOCKET = LINKER.downcallHandle(libc.findOrThrow("socket"), FunctionDescriptor.of(i, i, i, i), errno);
        BIND = LINKER.downcallHandle(libc.findOrThrow("bind"), FunctionDescriptor.of(i, i, a, i), errno);
        LISTEN = LINKER.downcallHandle(libc.findOrThrow("listen"), FunctionDescriptor.of(i, i, i), errno);
        CONNECT = LINKER.downcallHandle(libc.findOrThrow("connect"), FunctionDescriptor.of(i, i, a, i), errno);
        ACCEPT4 = LINKER.downcallHandle(libc.findOrThrow("accept4"), FunctionDescriptor.of(i, i, a, a, i), errno);
        SEND = LINKER.downcallHandle(libc.findOrThrow("send"), FunctionDescriptor.of(l, i, a, l, i), errno);
        RECV = LINKER.downcallHandle(libc.findOrThrow("recv"), FunctionDescriptor.of(l, i, a, l, i), errno);
        STRERROR = LINKER.downcallHandle(libc.findOrThrow("strerror"), FunctionDescriptor.of(a, i));
    }

    private SeqPacket() {}

    static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.reinterpret(256).getString(0, StandardCharsets.UTF_8);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    private static IOException error(String call, int errno) {
        return new IOException(call + ": " + strerror(errno) + " (errno " + errno + ")");
    }

    private static MemorySegment sockaddr(Arena arena, String path) throws IOException {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        if (p.length >= SOCKADDR_UN_LEN - 2) {
            throw new IOException("unix socket path too long (" + p.length + " bytes, max 107): " + path);
        }
        MemorySegment sa = arena.allocate(SOCKADDR_UN_LEN);
        sa.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(p, 0, sa, ValueLayout.JAVA_BYTE, 2, p.length);
        return sa;
    }

    /** A new non-blocking seqpacket socket. */
    static int socket() throws IOException {
        try {
            MemorySegment st = STATE.get();
            int fd = (int) SOCKET.invokeExact(st, AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw error("socket(AF_UNIX, SOCK_SEQPACKET)", errno(st));
            }
            return fd;
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** {@code bind} to {@code path} and {@code listen}. */
    static void bindListen(int fd, String path, int backlog) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = STATE.get();
            MemorySegment sa = sockaddr(arena, path);
            if ((int) BIND.invokeExact(st, fd, sa, SOCKADDR_UN_LEN) < 0) {
                throw error("bind " + path, errno(st));
            }
            if ((int) LISTEN.invokeExact(st, fd, backlog) < 0) {
                throw error("listen " + path, errno(st));
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** {@code connect} (tests; a non-blocking unix connect completes or fails at once). */
    static void connect(int fd, String path) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = STATE.get();
            if ((int) CONNECT.invokeExact(st, fd, sockaddr(arena, path), SOCKADDR_UN_LEN) < 0) {
                throw error("connect " + path, errno(st));
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** @return a new non-blocking connected fd, or minus errno ({@code -EAGAIN}: none pending) */
    static int accept(int fd) {
        try {
            MemorySegment st = STATE.get();
            int c = (int) ACCEPT4.invokeExact(st, fd, MemorySegment.NULL, MemorySegment.NULL,
                    SOCK_NONBLOCK | SOCK_CLOEXEC);
            return c < 0 ? -errno(st) : c;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Sends one message. @return bytes sent, or minus errno */
    static long send(int fd, MemorySegment buf, long len) {
        try {
            MemorySegment st = STATE.get();
            long n = (long) SEND.invokeExact(st, fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
            return n < 0 ? -errno(st) : n;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Receives one message into {@code buf} ({@code MSG_TRUNC}: the result is the message's real length even when
     * it did not fit). @return the message length (0 = peer closed), or minus errno
     */
    static long recv(int fd, MemorySegment buf, long cap) {
        try {
            MemorySegment st = STATE.get();
            long n = (long) RECV.invokeExact(st, fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC);
            return n < 0 ? -errno(st) : n;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
