package dev.gvproxy.agent;

import dev.gvproxy.platform.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An AF_VSOCK stream socket through FFM (the JDK has no vsock support): {@code socket(AF_VSOCK, SOCK_STREAM)} +
 * {@code connect} with a {@code struct sockaddr_vm}, then blocking {@code read}/{@code write}.
 *
 * <p>{@link #close} first {@code shutdown}s the socket, which wakes a thread blocked in {@code read(2)}; the fd is
 * closed only after the last in-flight call returned, so a recycled fd number is never touched.
 */
final class VsockStream implements ByteStream {
    /** {@code sizeof(struct sockaddr_vm)}. */
    static final int SOCKADDR_VM_SIZE = 16;

    private final int fd;
    private final String description;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicInteger users = new AtomicInteger(1);
    private MemorySegment readBounce = MemorySegment.NULL;
    private MemorySegment writeBounce = MemorySegment.NULL;

    private VsockStream(int fd, String description) {
        this.fd = fd;
        this.description = description;
    }

    /**
     * Encodes {@code struct sockaddr_vm { sa_family_t svm_family; unsigned short svm_reserved1; unsigned int
     * svm_port; unsigned int svm_cid; unsigned char svm_flags; unsigned char svm_zero[3]; }} in host (little-endian
     * on x86-64 and aarch64) byte order: the kernel reads port and CID as native integers, not network order.
     */
    static byte[] sockaddrVm(long cid, long port) {
        if (cid < 0 || cid > 0xffff_ffffL || port < 0 || port > 0xffff_ffffL) {
            throw new IllegalArgumentException("vsock CID and port are 32-bit unsigned: " + cid + ":" + port);
        }
        ByteBuffer b = ByteBuffer.allocate(SOCKADDR_VM_SIZE).order(ByteOrder.nativeOrder());
        b.putShort((short) Libc.AF_VSOCK).putShort((short) 0).putInt((int) port).putInt((int) cid);
        return b.array(); // svm_flags and svm_zero stay 0
    }

    /** Connects to {@code cid:port}. Never called by tests on this machine (a vsock connect leaves the host). */
    static VsockStream connect(long cid, long port) throws IOException {
        byte[] addr = sockaddrVm(cid, port);
        int fd = Libc.socket(Libc.AF_VSOCK, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = a.allocate(SOCKADDR_VM_SIZE, 4);
            MemorySegment.copy(addr, 0, sa, ValueLayout.JAVA_BYTE, 0, addr.length);
            Libc.connect(fd, sa, "vsock " + cid + ":" + port);
        } catch (IOException | RuntimeException e) {
            Libc.closeQuietly(fd);
            throw e;
        }
        return new VsockStream(fd, "vsock://" + cid + ":" + port);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        acquire();
        try {
            int want = dst.remaining();
            long n;
            if (dst.isDirect()) {
                n = Libc.read(fd, MemorySegment.ofBuffer(dst), want);
                if (n > 0) {
                    dst.position(dst.position() + (int) n);
                }
            } else {
                if (readBounce.byteSize() < want) {
                    readBounce = Arena.ofAuto().allocate(Math.max(want, 4096));
                }
                n = Libc.read(fd, readBounce, want);
                if (n > 0) {
                    MemorySegment.copy(readBounce, ValueLayout.JAVA_BYTE, 0, dst.array(),
                            dst.arrayOffset() + dst.position(), (int) n);
                    dst.position(dst.position() + (int) n);
                }
            }
            if (closed.get()) {
                throw new ClosedChannelException();
            }
            return n == 0 ? -1 : (int) n;
        } finally {
            release();
        }
    }

    @Override
    public void writeFully(ByteBuffer src) throws IOException {
        acquire();
        try {
            while (src.hasRemaining()) {
                int len = src.remaining();
                MemorySegment seg;
                if (src.isDirect()) {
                    seg = MemorySegment.ofBuffer(src);
                } else {
                    if (writeBounce.byteSize() < len) {
                        writeBounce = Arena.ofAuto().allocate(Math.max(len, 4096));
                    }
                    MemorySegment.copy(src.array(), src.arrayOffset() + src.position(), writeBounce,
                            ValueLayout.JAVA_BYTE, 0, len);
                    seg = writeBounce;
                }
                long n = Libc.write(fd, seg, len);
                if (n < 0) {
                    throw new IOException("vsock write would block on a blocking socket");
                }
                src.position(src.position() + (int) n);
            }
        } finally {
            release();
        }
    }

    private void acquire() throws ClosedChannelException {
        while (true) {
            int u = users.get();
            if (u <= 0 || closed.get()) {
                throw new ClosedChannelException();
            }
            if (users.compareAndSet(u, u + 1)) {
                return;
            }
        }
    }

    private void release() {
        if (users.decrementAndGet() == 0) {
            Libc.closeQuietly(fd);
        }
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            Libc.shutdownQuietly(fd, Libc.SHUT_RDWR);
            release();
        }
    }
}
