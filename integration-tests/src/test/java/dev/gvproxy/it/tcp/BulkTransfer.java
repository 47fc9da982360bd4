package dev.gvproxy.it.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The bulk TCP transfers between a namespace guest and the {@link TcpServers} on the host, checked with SHA-256
 * on both ends: the one copy for every test that moves bulk data through the gateway (this package's tests via
 * {@code TcpNetnsBase}, and {@code dev.gvproxy.it.stack.TcpForwardingNetnsTest}). Each returns the seconds the
 * transfer took, for the test to print (never to assert).
 */
public final class BulkTransfer {
    private BulkTransfer() {}

    /**
     * {@code bytes} random bytes from the guest to a host sink through the family's host alias, half-closed: the
     * sink's SHA-256 and count must equal the guest's.
     *
     * @param dir a directory the guest can write (the guest's SHA-256 lands there)
     * @param timeout for the whole transfer
     */
    public static double guestToHost(NetnsGuest g, TcpServers servers, GuestFamily family, Path dir, long bytes,
            Duration timeout) throws Exception {
        int port = servers.sink();
        Path sent = dir.resolve("sent.sha");
        long t0 = System.nanoTime();
        ExecResult r = g.exec(timeout, "bash", "-c", guestToHostScript(bytes, sent, family.socatTarget(port)));
        double secs = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        assertHostReceived(r, sent, bytes);
        return secs;
    }

    /**
     * The guest's side of {@link #guestToHost}, for a test that runs it its own way: {@code bytes} random bytes to
     * socat's {@code target}, their SHA-256 written to {@code sent} on the way; socat prints the sink's reply.
     */
    public static String guestToHostScript(long bytes, Path sent, String target) {
        return "head -c " + bytes + " /dev/urandom | tee >(sha256sum | cut -d' ' -f1 > " + sent + ") | socat -t 60 - "
                + target;
    }

    /**
     * Checks the sink's reply ({@code <sha256> <count>}, socat's output {@code r}) against the guest's digest in
     * {@code sent} and the {@code bytes} it sent.
     */
    public static void assertHostReceived(ExecResult r, Path sent, long bytes) throws Exception {
        String[] reply = r.stdout().trim().split(" ");
        // The guest's sha256sum runs in a process substitution bash does not wait for.
        NetnsGuest.await(Duration.ofSeconds(10), sent + " written", () -> {
            try {
                return Files.readString(sent).trim().length() == 64;
            } catch (IOException e) {
                return false;
            }
        }, () -> "");
        assertEquals(Files.readString(sent).trim(), reply[0], "SHA-256 of what the host received");
        assertEquals(Long.toString(bytes), reply[1]);
    }

    /** {@code bytes} seeded bytes from a host source to the guest: the SHA-256 must match. */
    public static double hostToGuest(NetnsGuest g, TcpServers servers, GuestFamily family, long bytes,
            Duration timeout) throws Exception {
        CompletableFuture<String> digest = new CompletableFuture<>();
        int port = servers.source(bytes, digest);
        long t0 = System.nanoTime();
        ExecResult r = g.exec(timeout, "bash", "-c", "socat -u " + family.socatTarget(port) + " - | sha256sum");
        double secs = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        assertEquals(digest.get(10, TimeUnit.SECONDS), r.stdout().trim().split(" ")[0], "SHA-256 the guest received");
        return secs;
    }

    /** {@code <bytes> bytes: <s> s, <rate> Mbit/s}, for the test's output. */
    public static String rate(long bytes, double secs) {
        return String.format("%d bytes: %.1f s, %.1f Mbit/s", bytes, secs, bytes * 8 / secs / 1e6);
    }
}
