package dev.gvproxy.transport.tap;

import dev.gvproxy.platform.Libc;
import dev.gvproxy.platform.NativeException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A Linux TAP interface ({@code /dev/net/tun}, {@code IFF_TAP | IFF_NO_PI}): whole Ethernet frames in and out,
 * through FFM system calls.
 *
 * <p>The tun fd is opened non-blocking; {@link #read} waits in {@code poll(2)} on the fd and on an eventfd that
 * {@link #close} signals, so closing wakes a blocked reader at once (a plain blocking {@code read(2)} is not woken by
 * {@code close(2)} from another thread). The fd itself is closed only after the last in-flight read/write has
 * returned, so a concurrent close can never make a pump thread touch a recycled fd number.
 *
 * <p>Link configuration (MAC, up) uses {@code ioctl}s on an {@code AF_INET/SOCK_DGRAM} control socket created in
 * the same network namespace as the interface, when the device is opened.
 *
 * <p>Thread-safety: one reader thread and one writer thread may run concurrently; {@link #close} may be called from
 * any thread, any number of times.
 */
public final class TapDevice implements AutoCloseable {
    /** {@code _IOW('T', 202, int)}. */
    static final long TUNSETIFF = 0x400454caL;
    static final long SIOCGIFFLAGS = 0x8913;
    static final long SIOCSIFFLAGS = 0x8914;
    static final long SIOCSIFMTU = 0x8922;
    static final long SIOCSIFHWADDR = 0x8924;
    static final short IFF_TAP = 0x0002;
    static final short IFF_NO_PI = 0x1000;
    static final short IFF_VNET_HDR = 0x4000;
    /** {@code _IOW('T', 208, unsigned int)}: the argument is the flag word itself, not a pointer. */
    static final long TUNSETOFFLOAD = 0x400454d0L;
    /** {@code _IOW('T', 216, int)}. */
    static final long TUNSETVNETHDRSZ = 0x400454d8L;
    public static final int TUN_F_CSUM = 0x01;
    public static final int TUN_F_TSO4 = 0x02;
    public static final int TUN_F_TSO6 = 0x04;
    /** The offloads {@link #open(String, String, boolean)} asks for: checksum, TSO for IPv4 and IPv6. */
    public static final int OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    /** {@code sizeof(struct virtio_net_hdr_v1)}. */
    public static final int VNET_HDR_LEN = 12;
    static final short IFF_UP = 0x1;
    static final short ARPHRD_ETHER = 1;

    /** {@code IFNAMSIZ}: 15 characters + NUL. */
    public static final int IFNAMSIZ = 16;
    /** {@code sizeof(struct ifreq)}: name[16] + a 24-byte union. */
    static final int IFREQ_SIZE = 40;
    /** Offset of the union (flags, hwaddr, mtu) in {@code struct ifreq}. */
    static final int IFREQ_UNION = 16;

    private final String name;
    private final String netns;
    private final boolean vnetHdr;
    private final int offloads;
    private final int fd;
    private final int ctlFd;
    private final int wakeFd;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** 1 for the owner + 1 per in-flight operation; the fds are closed when it reaches 0. */
    private final AtomicInteger users = new AtomicInteger(1);
    private final Arena arena = Arena.ofShared();
    /** pollfd[2] for the reader: {tun fd, POLLIN}, {eventfd, POLLIN}. */
    private final MemorySegment readPoll;
    /** pollfd[2] for the writer: {tun fd, POLLOUT}, {eventfd, POLLIN}. */
    private final MemorySegment writePoll;
    /** Bounce buffers for heap ByteBuffers (one per direction: a reader and a writer may run at once). */
    private MemorySegment readBounce;
    private MemorySegment writeBounce;

    private TapDevice(String name, String netns, int fd, int ctlFd, int wakeFd, boolean vnetHdr, int offloads) {
        this.name = name;
        this.vnetHdr = vnetHdr;
        this.netns = netns;
        this.offloads = offloads;
        this.fd = fd;
        this.ctlFd = ctlFd;
        this.wakeFd = wakeFd;
        this.readPoll = pollSet(fd, Libc.POLLIN);
        this.writePoll = pollSet(fd, Libc.POLLOUT);
    }

    private MemorySegment pollSet(int fd, short events) {
        MemorySegment p = arena.allocate(16, 8);
        p.set(ValueLayout.JAVA_INT, 0, fd);
        p.set(ValueLayout.JAVA_SHORT, 4, events);
        p.set(ValueLayout.JAVA_INT, 8, wakeFd);
        p.set(ValueLayout.JAVA_SHORT, 12, Libc.POLLIN);
        return p;
    }

    /**
     * Creates (or attaches to an existing persistent) TAP interface.
     *
     * @param name  interface name, at most 15 bytes; {@code ""} lets the kernel pick {@code tapN}
     * @param netns a network namespace name ({@code /var/run/netns/NAME}) to create it in, or {@code null} for the
     *              current one
     */
    public static TapDevice open(String name, String netns) throws IOException {
        return open(name, netns, false);
    }

    /**
     * Creates a TAP interface, with {@code vnetHdr} one that reads and writes a 12-byte virtio-net header
     * ({@code IFF_VNET_HDR}, {@code TUNSETVNETHDRSZ} 12) in front of every frame and has checksum and TSO offloads
     * ({@code TUNSETOFFLOAD}): the guest's kernel then hands over TCP segments of up to 64 KiB and takes them back.
     * A kernel that refuses the offloads leaves the header on with fewer (or no) offloads; {@link #offloads()} says
     * which.
     */
    public static TapDevice open(String name, String netns, boolean vnetHdr) throws IOException {
        checkName(name);
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        return Netns.call(netns, () -> {
            int fd = Libc.open("/dev/net/tun", Libc.O_RDWR | Libc.O_CLOEXEC | Libc.O_NONBLOCK);
            int ctl = -1;
            int wake = -1;
            try {
                String actual;
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment ifr = ifreq(a, nameBytes);
                    ifr.set(ValueLayout.JAVA_SHORT, IFREQ_UNION,
                            (short) (IFF_TAP | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0)));
                    Libc.ioctl(fd, TUNSETIFF, ifr, "ioctl(TUNSETIFF) " + name);
                    actual = ifr.getString(0); // the kernel writes back the chosen name
                    if (vnetHdr) {
                        MemorySegment sz = a.allocate(ValueLayout.JAVA_INT);
                        sz.set(ValueLayout.JAVA_INT, 0, VNET_HDR_LEN);
                        Libc.ioctl(fd, TUNSETVNETHDRSZ, sz, "ioctl(TUNSETVNETHDRSZ) " + name);
                    }
                }
                int granted = vnetHdr ? setOffloads(fd, name) : 0;
                ctl = Libc.socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
                wake = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
                return new TapDevice(actual, netns, fd, ctl, wake, vnetHdr, granted);
            } catch (IOException | RuntimeException e) {
                Libc.closeQuietly(wake);
                Libc.closeQuietly(ctl);
                Libc.closeQuietly(fd);
                throw e;
            }
        });
    }

    /**
     * Refuses a name the kernel cannot take: {@link #IFNAMSIZ} bytes or more, or a NUL or {@code /} in it.
     *
     * @throws IllegalArgumentException saying so
     */
    public static void checkName(String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        if (bytes.length >= IFNAMSIZ || name.indexOf('\0') >= 0 || name.contains("/")) {
            throw new IllegalArgumentException("invalid interface name: " + name);
        }
    }

    /** Asks for {@link #OFFLOADS}, then checksum only, then none: what the kernel accepted. */
    private static int setOffloads(int fd, String name) throws IOException {
        for (int want : new int[] {OFFLOADS, TUN_F_CSUM}) {
            try {
                Libc.ioctl(fd, TUNSETOFFLOAD, MemorySegment.ofAddress(want), "ioctl(TUNSETOFFLOAD) " + name);
                return want;
            } catch (NativeException e) {
                // an older or restricted kernel: fewer offloads, the header stays
            }
        }
        Libc.ioctl(fd, TUNSETOFFLOAD, MemorySegment.ofAddress(0), "ioctl(TUNSETOFFLOAD 0) " + name);
        return 0;
    }

    /** @return whether every frame read and written carries a {@link #VNET_HDR_LEN}-byte virtio-net header */
    public boolean hasVnetHeader() {
        return vnetHdr;
    }

    /** @return the {@code TUN_F_*} offloads the kernel granted; 0 without a virtio-net header */
    public int offloads() {
        return offloads;
    }

    private static MemorySegment ifreq(Arena a, byte[] name) {
        MemorySegment ifr = a.allocate(IFREQ_SIZE, 8); // zeroed
        MemorySegment.copy(name, 0, ifr, ValueLayout.JAVA_BYTE, 0, name.length);
        return ifr;
    }

    /** @return the interface name (as the kernel reported it) */
    public String name() {
        return name;
    }

    /** @return the network namespace it was opened in, or {@code null} */
    public String netns() {
        return netns;
    }

    /** Sets the interface's MAC address ({@code SIOCSIFHWADDR}). */
    public void setMac(byte[] mac) throws IOException {
        if (mac.length != 6) {
            throw new IllegalArgumentException("a MAC address has 6 bytes, got " + mac.length);
        }
        acquire();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = ifreq(a, name.getBytes(StandardCharsets.UTF_8));
            ifr.set(ValueLayout.JAVA_SHORT, IFREQ_UNION, ARPHRD_ETHER);
            MemorySegment.copy(mac, 0, ifr, ValueLayout.JAVA_BYTE, IFREQ_UNION + 2, 6);
            Libc.ioctl(ctlFd, SIOCSIFHWADDR, ifr, "ioctl(SIOCSIFHWADDR) " + name);
        } finally {
            release();
        }
    }

    /** Sets the MAC from a textual {@code aa:bb:cc:dd:ee:ff} address. */
    public void setMac(String mac) throws IOException {
        setMac(parseMac(mac));
    }

    /** Sets the interface MTU ({@code SIOCSIFMTU}). */
    public void setMtu(int mtu) throws IOException {
        acquire();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = ifreq(a, name.getBytes(StandardCharsets.UTF_8));
            ifr.set(ValueLayout.JAVA_INT, IFREQ_UNION, mtu);
            Libc.ioctl(ctlFd, SIOCSIFMTU, ifr, "ioctl(SIOCSIFMTU) " + name);
        } finally {
            release();
        }
    }

    /** Brings the link up: {@code SIOCGIFFLAGS}, or in {@code IFF_UP}, {@code SIOCSIFFLAGS}. */
    public void setUp() throws IOException {
        acquire();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = ifreq(a, name.getBytes(StandardCharsets.UTF_8));
            Libc.ioctl(ctlFd, SIOCGIFFLAGS, ifr, "ioctl(SIOCGIFFLAGS) " + name);
            short flags = ifr.get(ValueLayout.JAVA_SHORT, IFREQ_UNION);
            ifr.set(ValueLayout.JAVA_SHORT, IFREQ_UNION, (short) (flags | IFF_UP));
            Libc.ioctl(ctlFd, SIOCSIFFLAGS, ifr, "ioctl(SIOCSIFFLAGS) " + name);
        } finally {
            release();
        }
    }

    /** @return true if the interface has {@code IFF_UP} set */
    public boolean isUp() throws IOException {
        acquire();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = ifreq(a, name.getBytes(StandardCharsets.UTF_8));
            Libc.ioctl(ctlFd, SIOCGIFFLAGS, ifr, "ioctl(SIOCGIFFLAGS) " + name);
            return (ifr.get(ValueLayout.JAVA_SHORT, IFREQ_UNION) & IFF_UP) != 0;
        } finally {
            release();
        }
    }

    /**
     * Blocks until one frame arrives and copies it into {@code dst} (a native segment). A frame longer than
     * {@code dst} is truncated by the kernel.
     *
     * @return the number of bytes stored
     * @throws ClosedChannelException if the device is or gets closed
     */
    public int read(MemorySegment dst) throws IOException {
        return read(dst, false);
    }

    /**
     * {@link #read(MemorySegment)} for a reader that has just seen the queue empty ({@link #readNow} returned 0):
     * with {@code drained} it waits for the device first instead of trying a read the kernel would answer with
     * {@code EAGAIN}, one syscall less per batch for a pump that drains the queue and then blocks.
     */
    public int read(MemorySegment dst, boolean drained) throws IOException {
        acquire();
        try {
            if (drained) {
                awaitReady(readPoll);
            }
            while (true) {
                long n = Libc.read(fd, dst, dst.byteSize());
                if (n > 0) {
                    return (int) n;
                }
                if (n == 0) {
                    throw new IOException("TAP " + name + ": end of file");
                }
                awaitReady(readPoll);
            }
        } finally {
            release();
        }
    }

    /**
     * Reads one frame into {@code dst} (a native segment) if one is queued, without waiting: lets a pump
     * gather the frames already waiting into one write to its peer.
     *
     * @return the number of bytes stored, or 0 when no frame is queued
     * @throws ClosedChannelException if the device is or gets closed
     */
    public int readNow(MemorySegment dst) throws IOException {
        acquire();
        try {
            long n = Libc.read(fd, dst, dst.byteSize());
            if (n == 0) {
                throw new IOException("TAP " + name + ": end of file");
            }
            return n < 0 ? 0 : (int) n;
        } finally {
            release();
        }
    }

    /**
     * Writes one whole frame without waiting: for a writer on an event loop, which drops a frame rather than block.
     *
     * @return false when the device would block ({@code EAGAIN}); the frame was not written
     * @throws ClosedChannelException if the device is or gets closed
     */
    public boolean writeNow(MemorySegment src) throws IOException {
        acquire();
        try {
            return writeOnce(src);
        } finally {
            release();
        }
    }

    /**
     * {@link #writeNow(MemorySegment)} of a frame in pieces, with one {@code writev(2)}: the TAP takes the pieces as
     * one frame, so a frame of a header buffer and views of a payload is written without being copied together.
     *
     * @param iov {@code count} {@code struct iovec}s ({@link Libc#IOVEC_SIZE} bytes each), {@code length} bytes in
     *     all
     * @return false when the device would block ({@code EAGAIN}); the frame was not written
     * @throws ClosedChannelException if the device is or gets closed
     */
    public boolean writeNow(MemorySegment iov, int count, long length) throws IOException {
        acquire();
        try {
            return written(Libc.writev(fd, iov, count), length);
        } finally {
            release();
        }
    }

    /** One {@code write(2)} of the whole frame; false on {@code EAGAIN}. The caller holds a use ({@link #acquire}). */
    private boolean writeOnce(MemorySegment src) throws IOException {
        return written(Libc.write(fd, src, src.byteSize()), src.byteSize());
    }

    /** What a write of one frame of {@code length} bytes that returned {@code n} means: false for EAGAIN. */
    private boolean written(long n, long length) throws IOException {
        if (n < 0) {
            return false;
        }
        if (n != length) {
            throw new IOException("TAP " + name + ": short write " + n + " of " + length);
        }
        return true;
    }

    /**
     * Blocks until a frame is waiting to be read (or the device is closed), without reading it: for a thread that
     * only tells an event loop when to read with {@link #readNow}, where the loop cannot watch the fd itself.
     *
     * @throws ClosedChannelException if the device is or gets closed
     */
    public void awaitReadable() throws IOException {
        acquire();
        try {
            awaitReady(readPoll);
        } finally {
            release();
        }
    }

    /**
     * The device's file descriptor, for an event loop to watch for input
     * ({@code SocketTransport.watchReadable}). It stays the device's: never close it, and stop watching it before
     * {@link #close}.
     */
    public int fd() {
        return fd;
    }

    /**
     * Reads one frame into {@code dst} at its position and advances the position.
     *
     * @return the number of bytes stored
     */
    public int read(ByteBuffer dst) throws IOException {
        int pos = dst.position();
        int room = dst.remaining();
        int n;
        if (dst.isDirect()) {
            n = read(MemorySegment.ofBuffer(dst));
        } else {
            MemorySegment bounce = readBounce(room);
            n = read(bounce.asSlice(0, room));
            MemorySegment.copy(bounce, ValueLayout.JAVA_BYTE, 0, dst.array(), dst.arrayOffset() + pos, n);
        }
        dst.position(pos + n);
        return n;
    }

    /**
     * Writes one whole frame (all of {@code src}).
     *
     * @throws ClosedChannelException if the device is or gets closed
     */
    public void write(MemorySegment src) throws IOException {
        acquire();
        try {
            while (!writeOnce(src)) {
                awaitReady(writePoll);
            }
        } finally {
            release();
        }
    }

    /** Writes the remaining bytes of {@code src} as one frame and advances its position to the limit. */
    public void write(ByteBuffer src) throws IOException {
        int len = src.remaining();
        if (src.isDirect()) {
            write(MemorySegment.ofBuffer(src));
        } else {
            MemorySegment bounce = writeBounce(len);
            MemorySegment.copy(src.array(), src.arrayOffset() + src.position(), bounce, ValueLayout.JAVA_BYTE, 0, len);
            write(bounce.asSlice(0, len));
        }
        src.position(src.limit());
    }

    private MemorySegment readBounce(int size) {
        if (readBounce == null || readBounce.byteSize() < size) {
            readBounce = Arena.ofAuto().allocate(Math.max(size, 2048));
        }
        return readBounce;
    }

    private MemorySegment writeBounce(int size) {
        if (writeBounce == null || writeBounce.byteSize() < size) {
            writeBounce = Arena.ofAuto().allocate(Math.max(size, 2048));
        }
        return writeBounce;
    }

    private void awaitReady(MemorySegment pollSet) throws IOException {
        pollSet.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
        pollSet.set(ValueLayout.JAVA_SHORT, 14, (short) 0);
        Libc.poll(pollSet, 2, -1);
        if (closed.get() || pollSet.get(ValueLayout.JAVA_SHORT, 14) != 0) {
            throw new ClosedChannelException();
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
            Libc.closeQuietly(fd); // a non-persistent TAP interface disappears with its last fd
            Libc.closeQuietly(ctlFd);
            Libc.closeQuietly(wakeFd);
            arena.close();
        }
    }

    /** @return true once {@link #close} was called */
    public boolean isClosed() {
        return closed.get();
    }

    /** Wakes any blocked reader/writer (they throw {@link ClosedChannelException}) and releases the fds. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment one = a.allocate(ValueLayout.JAVA_LONG);
                one.set(ValueLayout.JAVA_LONG, 0, 1L);
                Libc.write(wakeFd, one, 8);
            } catch (IOException e) {
                // cannot happen for an eventfd below its maximum; readers still see `closed` on their next call
            }
            release();
        }
    }

    /** Parses {@code aa:bb:cc:dd:ee:ff} (also {@code -} separated). */
    public static byte[] parseMac(String text) {
        String[] parts = text.split("[:-]");
        if (parts.length != 6) {
            throw new IllegalArgumentException("invalid MAC address: " + text);
        }
        byte[] mac = new byte[6];
        for (int i = 0; i < 6; i++) {
            if (parts[i].length() != 2) {
                throw new IllegalArgumentException("invalid MAC address: " + text);
            }
            try {
                mac[i] = (byte) Integer.parseInt(parts[i], 16);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("invalid MAC address: " + text, e);
            }
        }
        return mac;
    }

    @Override
    public String toString() {
        return "TapDevice[" + name + (netns == null ? "" : " in netns " + netns) + "]";
    }
}
