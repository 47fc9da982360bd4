package dev.gvproxy.transport.tap;

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
import java.lang.invoke.VarHandle;

/**
 * The handful of Linux system calls the TAP, network-namespace and AF_VSOCK code needs, as FFM downcalls.
 *
 * <p>Every wrapper returns the raw result and throws {@link NativeException} (errno + strerror) when the call
 * returns -1; {@code EINTR} is retried. errno is captured with {@link Linker.Option#captureCallState}, into a
 * per-thread buffer so the hot {@code read}/{@code write} path allocates nothing.
 *
 * <p>Public because the guest agent ({@code dev.gvproxy.agent}) uses the same downcalls for AF_VSOCK; it is not a
 * general-purpose libc binding.
 */
@SuppressWarnings("restricted") // FFM downcalls are the point of this class; run with --enable-native-access
public final class Libc {
    public static final int O_RDONLY = 0;
    public static final int O_RDWR = 2;
    public static final int O_NONBLOCK = 0x800;
    public static final int O_CLOEXEC = 0x80000;

    public static final int AF_INET = 2;
    public static final int AF_VSOCK = 40;
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_CLOEXEC = 0x80000;
    public static final int SHUT_RDWR = 2;

    public static final int CLONE_NEWNET = 0x40000000;

    public static final int EFD_NONBLOCK = 0x800;
    public static final int EFD_CLOEXEC = 0x80000;

    public static final short POLLIN = 0x1;
    public static final short POLLOUT = 0x4;

    public static final int EINTR = 4;
    public static final int EAGAIN = 11;
    public static final int ENODEV = 19;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    /** One capture buffer per thread, freed with the thread (automatic arena). */
    private static final ThreadLocal<MemorySegment> STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

    private static final MethodHandle OPEN = capturing("open",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = capturing("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = capturing("read",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = capturing("write",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle IOCTL = capturing("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle SOCKET = capturing("socket",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CONNECT = capturing("connect",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SHUTDOWN = capturing("shutdown",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SETNS = capturing("setns",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle EVENTFD = capturing("eventfd",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle POLL = capturing("poll",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle IF_NAMETOINDEX = capturing("if_nametoindex",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(find("strerror"),
            FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private Libc() {}

    private static MemorySegment find(String name) {
        return LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc symbol not found: " + name));
    }

    private static MethodHandle capturing(String name, FunctionDescriptor fd, Linker.Option... extra) {
        Linker.Option[] opts = new Linker.Option[extra.length + 1];
        opts[0] = CAPTURE_ERRNO;
        System.arraycopy(extra, 0, opts, 1, extra.length);
        java.util.Optional<MemorySegment> symbol = LIBC.find(name);
        if (symbol.isEmpty()) {
            // Not Linux (macOS has no setns or eventfd): fail when the feature is used, never at class load.
            java.lang.invoke.MethodType type = fd.toMethodType().insertParameterTypes(0, MemorySegment.class);
            MethodHandle thrower = java.lang.invoke.MethodHandles.insertArguments(
                    java.lang.invoke.MethodHandles.throwException(type.returnType(), UnsupportedOperationException.class),
                    0, new UnsupportedOperationException("libc has no " + name + "(): TAP devices, network namespaces"
                            + " and AF_VSOCK need Linux"));
            return java.lang.invoke.MethodHandles.dropArguments(thrower, 0, type.parameterList());
        }
        return LINKER.downcallHandle(symbol.get(), fd, opts);
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    /** @return the C library's message for an errno (never null) */
    public static String strerror(int errno) {
        try {
            MemorySegment p = (MemorySegment) STRERROR.invokeExact(errno);
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

    /** {@code open(path, flags)}. */
    public static int open(String path, int flags) throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocateFrom(path);
            MemorySegment st = STATE.get();
            while (true) {
                int r = (int) OPEN.invokeExact(st, p, flags, 0);
                if (r >= 0) {
                    return r;
                }
                int e = errno(st);
                if (e != EINTR) {
                    throw new NativeException("open " + path, e);
                }
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code close(fd)}; errors other than EINTR are reported (EINTR is not retried: the fd is gone). */
    public static void close(int fd) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            int r = (int) CLOSE.invokeExact(st, fd);
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

    /**
     * {@code read(fd, buf, len)}, retrying EINTR.
     *
     * @return bytes read (0 = end of file), or -1 for EAGAIN on a non-blocking fd
     */
    public static long read(int fd, MemorySegment buf, long len) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            while (true) {
                long r = (long) READ.invokeExact(st, fd, buf, len);
                if (r >= 0) {
                    return r;
                }
                int e = errno(st);
                if (e == EAGAIN) {
                    return -1;
                }
                if (e != EINTR) {
                    throw new NativeException("read fd " + fd, e);
                }
            }
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
            while (true) {
                long r = (long) WRITE.invokeExact(st, fd, buf, len);
                if (r >= 0) {
                    return r;
                }
                int e = errno(st);
                if (e == EAGAIN) {
                    return -1;
                }
                if (e != EINTR) {
                    throw new NativeException("write fd " + fd, e);
                }
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code ioctl(fd, request, arg)} with a pointer argument. */
    public static int ioctl(int fd, long request, MemorySegment arg, String what) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            while (true) {
                int r = (int) IOCTL.invokeExact(st, fd, request, arg);
                if (r >= 0) {
                    return r;
                }
                int e = errno(st);
                if (e != EINTR) {
                    throw new NativeException(what, e);
                }
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code socket(domain, type, protocol)}. */
    public static int socket(int domain, int type, int protocol) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            int r = (int) SOCKET.invokeExact(st, domain, type, protocol);
            if (r < 0) {
                throw new NativeException("socket(" + domain + ", " + type + ")", errno(st));
            }
            return r;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code connect(fd, addr, len)}; blocking. */
    public static void connect(int fd, MemorySegment addr, String what) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            int r = (int) CONNECT.invokeExact(st, fd, addr, (int) addr.byteSize());
            if (r < 0) {
                throw new NativeException("connect " + what, errno(st));
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code shutdown(fd, how)}; errors ignored (used to wake blocked readers before close). */
    public static void shutdownQuietly(int fd, int how) {
        try {
            int ignored = (int) SHUTDOWN.invokeExact(STATE.get(), fd, how);
        } catch (Throwable t) {
            // best effort
        }
    }

    /** {@code setns(fd, nstype)} for the calling thread. */
    public static void setns(int fd, int nstype, String what) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            int r = (int) SETNS.invokeExact(st, fd, nstype);
            if (r < 0) {
                throw new NativeException("setns " + what, errno(st));
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code eventfd(initval, flags)}. */
    public static int eventfd(int initval, int flags) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            int r = (int) EVENTFD.invokeExact(st, initval, flags);
            if (r < 0) {
                throw new NativeException("eventfd", errno(st));
            }
            return r;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code poll(fds, nfds, timeoutMs)}, retrying EINTR; returns the number of ready entries. */
    public static int poll(MemorySegment fds, int nfds, int timeoutMs) throws NativeException {
        try {
            MemorySegment st = STATE.get();
            while (true) {
                int r = (int) POLL.invokeExact(st, fds, (long) nfds, timeoutMs);
                if (r >= 0) {
                    return r;
                }
                int e = errno(st);
                if (e != EINTR) {
                    throw new NativeException("poll", e);
                }
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return the interface index in the calling thread's network namespace, or 0 if there is no such interface */
    public static int ifNameToIndex(String name) {
        try (Arena a = Arena.ofConfined()) {
            return (int) IF_NAMETOINDEX.invokeExact(STATE.get(), a.allocateFrom(name));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
