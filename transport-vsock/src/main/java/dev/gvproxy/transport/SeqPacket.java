package dev.gvproxy.transport;

import dev.gvproxy.platform.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * {@code AF_UNIX}/{@code SOCK_SEQPACKET} sockets for BESS (Netty's epoll transport has no seqpacket channel), on
 * the project's libc binding ({@link Libc}). Hot-path calls ({@link #recv}, {@link #send}, {@link #accept})
 * return the result or minus errno instead of throwing, so {@code EAGAIN} costs nothing.
 */
final class SeqPacket {
    static final int EINTR = Libc.EINTR;
    static final int EAGAIN = Libc.EAGAIN;
    static final int EMSGSIZE = Libc.EMSGSIZE;
    static final int ENOBUFS = Libc.ENOBUFS;
    /** {@code sizeof(struct sockaddr_un)}: a short family and 108 path bytes. */
    static final int SOCKADDR_UN_LEN = 110;

    private SeqPacket() {}

    static String strerror(int errno) {
        return Libc.strerror(errno);
    }

    private static MemorySegment sockaddr(Arena arena, String path) throws IOException {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        if (p.length >= SOCKADDR_UN_LEN - 2) {
            throw new IOException("unix socket path too long (" + p.length + " bytes, max 107): " + path);
        }
        MemorySegment sa = arena.allocate(SOCKADDR_UN_LEN);
        sa.set(ValueLayout.JAVA_SHORT, 0, (short) Libc.AF_UNIX);
        MemorySegment.copy(p, 0, sa, ValueLayout.JAVA_BYTE, 2, p.length);
        return sa;
    }

    /** A new non-blocking seqpacket socket. */
    static int socket() throws IOException {
        return Libc.socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
    }

    /** {@code bind} to {@code path} and {@code listen}. */
    static void bindListen(int fd, String path, int backlog) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Libc.bind(fd, sockaddr(arena, path), path);
            Libc.listen(fd, backlog, path);
        }
    }

    /** {@code connect} (tests; a non-blocking unix connect completes or fails at once). */
    static void connect(int fd, String path) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Libc.connect(fd, sockaddr(arena, path), path);
        }
    }

    /** @return a new non-blocking connected fd, or minus errno ({@code -EAGAIN}: none pending) */
    static int accept(int fd) {
        return Libc.accept4(fd, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
    }

    /** Sends one message. @return bytes sent, or minus errno */
    static long send(int fd, MemorySegment buf, long len) {
        return Libc.send(fd, buf, len, Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
    }

    /**
     * Receives one message into {@code buf} ({@code MSG_TRUNC}: the result is the message's real length even when
     * it did not fit). @return the message length (0 = peer closed), or minus errno
     */
    static long recv(int fd, MemorySegment buf, long cap) {
        return Libc.recv(fd, buf, cap, Libc.MSG_DONTWAIT | Libc.MSG_TRUNC);
    }
}
