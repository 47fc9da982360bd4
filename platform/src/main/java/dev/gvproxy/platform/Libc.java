package dev.gvproxy.platform;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.util.Optional;

/**
 * The project's one binding of the C library: the few system calls nothing in the JDK or Netty wraps (TAP
 * devices, network namespaces, AF_VSOCK, AF_UNIX seqpacket for BESS, ICMP ping sockets, the descriptor limit),
 * as FFM downcalls.
 *
 * <p><b>errno.</b> Captured one way for every call: {@link Linker.Option#captureCallState} into a per-thread
 * buffer, so no call allocates. Two shapes of wrapper: the hot-path ones ({@link #send}, {@link #recv},
 * {@link #accept4}) return the result or <em>minus errno</em>, so {@code EAGAIN} costs no exception; the others
 * throw {@link NativeException} (errno and strerror) when the call returns -1, and retry {@code EINTR} where
 * that is safe.
 *
 * <p><b>Linking is lazy.</b> Each downcall handle sits in a holder class of its own, created on first use: linking
 * a downcall spins classes and costs milliseconds, and a process that never opens a TAP device or pings
 * pays for none of it. A symbol the platform's libc lacks (macOS has no {@code setns} or {@code eventfd}) throws
 * {@link UnsupportedOperationException} when called, never at class load.
 */
@SuppressWarnings("restricted") // FFM downcalls are the point of this class; run with --enable-native-access
public final class Libc {
    public static final int O_RDONLY = 0;
    public static final int O_RDWR = 2;
    public static final int O_NONBLOCK = 0x800;
    public static final int O_CLOEXEC = 0x80000;

    public static final int AF_UNIX = 1;
    public static final int AF_INET = 2;
    public static final int AF_INET6 = 10;
    public static final int AF_VSOCK = 40;
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_SEQPACKET = 5;
    public static final int SOCK_NONBLOCK = 0x800;
    public static final int SOCK_CLOEXEC = 0x80000;
    public static final int IPPROTO_ICMP = 1;
    public static final int IPPROTO_ICMPV6 = 58;
    public static final int SHUT_RDWR = 2;
    public static final int MSG_TRUNC = 0x20;
    public static final int MSG_DONTWAIT = 0x40;
    public static final int MSG_NOSIGNAL = 0x4000;

    public static final int CLONE_NEWNET = 0x40000000;

    public static final int EFD_NONBLOCK = 0x800;
    public static final int EFD_CLOEXEC = 0x80000;

    public static final short POLLIN = 0x1;
    public static final short POLLOUT = 0x4;

    public static final int EPERM = 1;
    public static final int EINTR = 4;
    public static final int EAGAIN = 11;
    public static final int EACCES = 13;
    public static final int ENODEV = 19;
    public static final int EMSGSIZE = 90;
    public static final int ENOBUFS = 105;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    /** One capture buffer per thread, freed with the thread (automatic arena). */
    private static final ThreadLocal<MemorySegment> STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

    // One holder class per call: created, and its downcall linked, on first use.
    private static final class Open {
        static final MethodHandle H = capturing("open",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    }

    private static final class Close {
        static final MethodHandle H = capturing("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    private static final class Read {
        static final MethodHandle H = capturing("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    private static final class Write {
        static final MethodHandle H = capturing("write",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    private static final class Writev {
        static final MethodHandle H = capturing("writev",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    }

    private static final class Ioctl {
        static final MethodHandle H = capturing("ioctl",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2));
    }

    private static final class Socket {
        static final MethodHandle H = capturing("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    }

    private static final class Connect {
        static final MethodHandle H = capturing("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    }

    private static final class Bind {
        static final MethodHandle H = capturing("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    }

    private static final class Listen {
        static final MethodHandle H = capturing("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    }

    private static final class Accept4 {
        static final MethodHandle H = capturing("accept4",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    }

    private static final class Send {
        static final MethodHandle H = capturing("send",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }

    private static final class Recv {
        static final MethodHandle H = capturing("recv",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }

    private static final class Shutdown {
        static final MethodHandle H = capturing("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    }

    private static final class Setns {
        static final MethodHandle H = capturing("setns", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    }

    private static final class Eventfd {
        static final MethodHandle H = capturing("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    }

    private static final class Poll {
        static final MethodHandle H = capturing("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }

    private static final class IfNameToIndex {
        static final MethodHandle H = capturing("if_nametoindex", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    private static final class Getrlimit {
        static final MethodHandle H = capturing("getrlimit", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    }

    private static final class Strerror {
        static final MethodHandle H = LINKER.downcallHandle(LIBC.find("strerror").orElseThrow(),
                FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    private Libc() {}

    private static MethodHandle capturing(String name, FunctionDescriptor fd, Linker.Option... extra) {
        Linker.Option[] opts = new Linker.Option[extra.length + 1];
        opts[0] = CAPTURE_ERRNO;
        System.arraycopy(extra, 0, opts, 1, extra.length);
        Optional<MemorySegment> symbol = LIBC.find(name);
        if (symbol.isEmpty()) {
            MethodType type = fd.toMethodType().insertParameterTypes(0, MemorySegment.class);
            MethodHandle thrower = MethodHandles.insertArguments(
                    MethodHandles.throwException(type.returnType(), UnsupportedOperationException.class),
                    0, new UnsupportedOperationException("libc has no " + name + "(): TAP devices, network namespaces,"
                            + " AF_VSOCK and ping sockets need Linux"));
            return MethodHandles.dropArguments(thrower, 0, type.parameterList());
        }
        return LINKER.downcallHandle(symbol.get(), fd, opts);
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    /** @return the C library's message for an errno (never null) */
    public static String strerror(int errno) {
        try {
            MemorySegment p = (MemorySegment) Strerror.H.invokeExact(errno);
            if (p.equals(MemorySegment.NULL)) {
                return "errno " + errno;
            }
            return p.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }

    /** One downcall on the calling thread's errno capture buffer. */
    @FunctionalInterface
    private interface Call {
        long invoke(MemorySegment state) throws Throwable;
    }

    /**
     * The cold-path wrapper shape: runs {@code call} until it returns {@code >= 0} (retrying EINTR if asked), and
     * throws {@link NativeException} with {@code what} and errno otherwise. The hot-path calls (read, write, send,
     * recv, accept4) stay written out: they return EAGAIN as a value, not an exception.
     */
    private static long checked(String what, boolean retryEintr, Call call) throws NativeException {
        MemorySegment st = STATE.get();
        while (true) {
            long r;
            try {
                r = call.invoke(st);
            } catch (Throwable t) {
                throw rethrow(t);
            }
            if (r >= 0) {
                return r;
            }
            int e = errno(st);
            if (!retryEintr || e != EINTR) {
                throw new NativeException(what, e);
            }
        }
    }

    /** {@code open(path, flags)}, retrying EINTR. */
    public static int open(String path, int flags) throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocateFrom(path);
            return (int) checked("open " + path, true, st -> (int) Open.H.invokeExact(st, p, flags, 0));
        }
    }

    /** {@code close(fd)}; errors other than EINTR are reported (EINTR is not retried: the fd is gone). */
    public static void close(int fd) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            int r = (int) Close.H.invokeExact(st, fd);
            if (r < 0 && errno(st) != EINTR) {
                throw new NativeException("close fd " + fd, errno(st));
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Closes without reporting errors (cleanup paths). */
    public static void closeQuietly(int fd) {
        if (fd >= 0) {
            try {
                close(fd);
            } catch (NativeException ignored) {
                // cleanup: nothing useful to do
            }
        }
    }

    /** {@link #ioResult}'s answer for EINTR: make the call again. */
    private static final long RETRY = -2;

    /**
     * What a {@code read}, {@code write} or {@code writev} that returned {@code r} means: {@code r}, -1 for EAGAIN,
     * {@link #RETRY} for EINTR; any other error is thrown.
     */
    private static long ioResult(long r, MemorySegment st, String call, int fd) throws NativeException {
        if (r >= 0) {
            return r;
        }
        int e = errno(st);
        if (e == EAGAIN) {
            return -1;
        }
        if (e == EINTR) {
            return RETRY;
        }
        throw new NativeException(call + " fd " + fd, e);
    }

    /**
     * {@code read(fd, buf, len)}, retrying EINTR.
     *
     * @return bytes read (0 = end of file), or -1 for EAGAIN on a non-blocking fd
     */
    public static long read(int fd, MemorySegment buf, long len) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            long r;
            do {
                r = ioResult((long) Read.H.invokeExact(st, fd, buf, len), st, "read", fd);
            } while (r == RETRY);
            return r;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Bytes of one {@code struct iovec} ({@code void *iov_base; size_t iov_len}) on a 64-bit platform. */
    public static final int IOVEC_SIZE = 16;

    /**
     * {@code writev(fd, iov, iovcnt)}, retrying EINTR: {@code iov} holds {@code iovcnt} {@code struct iovec}s
     * ({@link #IOVEC_SIZE} bytes each).
     *
     * @return bytes written, or -1 for EAGAIN on a non-blocking fd
     */
    public static long writev(int fd, MemorySegment iov, int iovcnt) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            long r;
            do {
                r = ioResult((long) Writev.H.invokeExact(st, fd, iov, iovcnt), st, "writev", fd);
            } while (r == RETRY);
            return r;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code write(fd, buf, len)}, retrying EINTR.
     *
     * @return bytes written, or -1 for EAGAIN on a non-blocking fd
     */
    public static long write(int fd, MemorySegment buf, long len) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            long r;
            do {
                r = ioResult((long) Write.H.invokeExact(st, fd, buf, len), st, "write", fd);
            } while (r == RETRY);
            return r;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code ioctl(fd, request, arg)} with a pointer argument, retrying EINTR. */
    public static int ioctl(int fd, long request, MemorySegment arg, String what) throws NativeException {
        return (int) checked(what, true, st -> (int) Ioctl.H.invokeExact(st, fd, request, arg));
    }

    /** {@code socket(domain, type, protocol)}. */
    public static int socket(int domain, int type, int protocol) throws NativeException {
        return (int) checked("socket(" + domain + ", " + type + ", " + protocol + ")", false,
                st -> (int) Socket.H.invokeExact(st, domain, type, protocol));
    }

    /** {@code connect(fd, addr, addr.byteSize())}; blocking or, on a non-blocking fd, immediate (unix, ICMP). */
    public static void connect(int fd, MemorySegment addr, String what) throws NativeException {
        checked("connect " + what, false, st -> (int) Connect.H.invokeExact(st, fd, addr, (int) addr.byteSize()));
    }

    /** {@code bind(fd, addr, addr.byteSize())}. */
    public static void bind(int fd, MemorySegment addr, String what) throws NativeException {
        checked("bind " + what, false, st -> (int) Bind.H.invokeExact(st, fd, addr, (int) addr.byteSize()));
    }

    /** {@code listen(fd, backlog)}. */
    public static void listen(int fd, int backlog, String what) throws NativeException {
        checked("listen " + what, false, st -> (int) Listen.H.invokeExact(st, fd, backlog));
    }

    /** {@code accept4(fd, NULL, NULL, flags)}. @return the new descriptor, or minus errno */
    public static int accept4(int fd, int flags) {
        try {
            MemorySegment st = STATE.get();
            int c = (int) Accept4.H.invokeExact(st, fd, MemorySegment.NULL, MemorySegment.NULL, flags);
            return c < 0 ? -errno(st) : c;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code send(fd, buf, len, flags)}. @return bytes sent, or minus errno */
    public static long send(int fd, MemorySegment buf, long len, int flags) {
        try {
            MemorySegment st = STATE.get();
            long n = (long) Send.H.invokeExact(st, fd, buf, len, flags);
            return n < 0 ? -errno(st) : n;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code recv(fd, buf, len, flags)}. @return bytes received (0 = peer closed), or minus errno */
    public static long recv(int fd, MemorySegment buf, long len, int flags) {
        try {
            MemorySegment st = STATE.get();
            long n = (long) Recv.H.invokeExact(st, fd, buf, len, flags);
            return n < 0 ? -errno(st) : n;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code shutdown(fd, how)}; errors ignored (used to wake blocked readers before close). */
    public static void shutdownQuietly(int fd, int how) {
        try {
            int ignored = (int) Shutdown.H.invokeExact(STATE.get(), fd, how);
        } catch (Throwable t) {
            // best effort
        }
    }

    /** {@code setns(fd, nstype)} for the calling thread. */
    public static void setns(int fd, int nstype, String what) throws NativeException {
        checked("setns " + what, false, st -> (int) Setns.H.invokeExact(st, fd, nstype));
    }

    /** {@code eventfd(initval, flags)}. */
    public static int eventfd(int initval, int flags) throws NativeException {
        return (int) checked("eventfd", false, st -> (int) Eventfd.H.invokeExact(st, initval, flags));
    }

    /** {@code poll(fds, nfds, timeoutMs)}, retrying EINTR; returns the number of ready entries. */
    public static int poll(MemorySegment fds, int nfds, int timeoutMs) throws NativeException {
        return (int) checked("poll", true, st -> (int) Poll.H.invokeExact(st, fds, (long) nfds, timeoutMs));
    }

    /** @return the interface index in the calling thread's network namespace, or 0 if there is no such interface */
    public static int ifNameToIndex(String name) {
        try (Arena a = Arena.ofConfined()) {
            return (int) IfNameToIndex.H.invokeExact(STATE.get(), a.allocateFrom(name));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code getrlimit(resource)}'s soft value ({@code rlim_cur}; RLIM_INFINITY reads as a negative number on
     * Linux, as {@code Long.MAX_VALUE} on macOS).
     */
    public static long getrlimitSoft(int resource) throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment rlimit = a.allocate(16, 8); // struct rlimit { rlim_t rlim_cur, rlim_max; }
            checked("getrlimit(" + resource + ")", false, st -> (int) Getrlimit.H.invokeExact(st, resource, rlimit));
            return rlimit.get(JAVA_LONG, 0);
        }
    }
}
