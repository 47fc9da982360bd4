package dev.gvproxy.transport.tap;

import dev.gvproxy.platform.Libc;
import dev.gvproxy.platform.NativeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * Runs code inside a named network namespace ({@code /var/run/netns/NAME}, as made by {@code ip netns add}).
 *
 * <p>{@code setns(2)} switches only the calling thread, and a JVM carrier or pooled thread must never be left in a
 * foreign namespace. So {@link #call} starts a fresh <b>platform</b> thread, keeps an fd to that thread's original
 * namespace ({@code /proc/thread-self/ns/net}), enters the target, runs the task, switches back, and lets the thread
 * end. File descriptors created inside (TAP fds, sockets) stay bound to the namespace they were created in and work
 * from any thread afterwards.
 */
public final class Netns {
    /** Where {@code ip netns} keeps its bind mounts. */
    public static final Path NETNS_DIR = Path.of("/var/run/netns");

    private Netns() {}

    /** A task that may throw an {@link IOException}. */
    @FunctionalInterface
    public interface IoCallable<T> {
        /** Runs inside the namespace. */
        T call() throws IOException;
    }

    /** @return the path of a named namespace; the name must be a plain file name */
    public static Path path(String name) {
        if (name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException("invalid network namespace name: " + name);
        }
        return NETNS_DIR.resolve(name);
    }

    /** @return true if {@code /var/run/netns/NAME} exists */
    public static boolean exists(String name) {
        return Files.exists(path(name));
    }

    /**
     * Runs {@code task} with the calling thread's network namespace switched to {@code name}; {@code null} runs it
     * directly in the current namespace.
     *
     * @throws IOException the task's exception, or a {@link NativeException} from open/setns
     */
    public static <T> T call(String name, IoCallable<T> task) throws IOException {
        if (name == null) {
            return task.call();
        }
        String target = path(name).toString();
        Object[] result = new Object[2];
        Thread t = Thread.ofPlatform().name("netns-" + name).daemon(true).unstarted(() -> {
            try {
                result[0] = runIn(target, name, task);
            } catch (Throwable e) {
                result[1] = e;
            }
        });
        t.start();
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true; // the task is short (open/ioctl); finish it so no fd leaks
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (result[1] instanceof IOException e) {
            throw e;
        }
        if (result[1] instanceof RuntimeException e) {
            throw e;
        }
        if (result[1] instanceof Error e) {
            throw e;
        }
        @SuppressWarnings("unchecked")
        T value = (T) result[0];
        return value;
    }

    /** Adapter for tasks that throw checked exceptions other than IOException. */
    public static <T> T callUnchecked(String name, Callable<T> task) throws IOException {
        return call(name, () -> {
            try {
                return task.call();
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IOException(e);
            }
        });
    }

    private static <T> T runIn(String target, String name, IoCallable<T> task) throws IOException {
        int original = Libc.open("/proc/thread-self/ns/net", Libc.O_RDONLY | Libc.O_CLOEXEC);
        try {
            int nsFd = Libc.open(target, Libc.O_RDONLY | Libc.O_CLOEXEC);
            try {
                Libc.setns(nsFd, Libc.CLONE_NEWNET, "netns " + name);
            } finally {
                Libc.closeQuietly(nsFd);
            }
            try {
                return task.call();
            } finally {
                // Switch back even though the thread is about to end: nothing else may ever run in the wrong netns.
                Libc.setns(original, Libc.CLONE_NEWNET, "back to the original netns");
            }
        } finally {
            Libc.closeQuietly(original);
        }
    }

    /** @return true if an interface of that name exists in the namespace ({@code null} = current namespace) */
    public static boolean interfaceExists(String netns, String ifname) throws IOException {
        return call(netns, () -> Libc.ifNameToIndex(ifname) != 0);
    }
}
