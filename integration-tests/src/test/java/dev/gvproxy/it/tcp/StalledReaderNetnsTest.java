package dev.gvproxy.it.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.stack.tcp.TcpConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Backpressure from host to guest: a host server that stops reading must stall the guest's sender through
 * the advertised window, without the stack buffering more than its receive buffer, and the transfer must
 * finish byte-exact once the server reads again.
 */
class StalledReaderNetnsTest extends TcpNetnsBase {
    static final long TOTAL = 64L << 20;
    static final long READ_FIRST = 1L << 20;

    /** One sample of the guest's connection inside the stack. */
    record Sample(int rcvNxt, int rcvWnd, int unconsumed, int outOfOrder, int queued, int connections) {}

    Sample sample() {
        return net.internals().call(() -> {
            List<TcpConnection> all = new ArrayList<>(net.internals().stack().tcp().connections());
            TcpConnection c = all.stream().filter(x -> x.localPort() != 53).findFirst().orElseThrow();
            return new Sample(c.rcvNxt(), c.rcvWnd(), c.unconsumedBytes(), c.outOfOrderBytes(), c.queuedBytes(),
                    all.size());
        });
    }

    @Test
    void stoppedHostReaderStallsTheGuestWithBoundedMemory() throws Exception {
        CountDownLatch resume = new CountDownLatch(1);
        CompletableFuture<Void> paused = new CompletableFuture<>();
        AtomicLong hostRead = new AtomicLong();
        int port = servers.stallingSink(READ_FIRST, resume, paused, hostRead);
        NetnsGuest g = guest();
        int receiveBuffer = net.internals().stack().tcp().config().receiveBuffer();
        Path sent = dir.resolve("sent.sha");
        CompletableFuture<ExecResult> sender = CompletableFuture.supplyAsync(() -> {
            try {
                return sh(g, Duration.ofSeconds(300), "head -c " + TOTAL + " /dev/urandom | tee >(sha256sum | cut -d' ' -f1 > "
                        + sent + ") | socat -t 60 - TCP:192.168.127.254:" + port);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        try {
            paused.get(60, TimeUnit.SECONDS);
            // Let the pipeline fill: host socket buffers, the bridge's unflushed writes, the stack, the guest.
            long t0 = System.nanoTime();
            Sample first = null;
            Sample last = null;
            int maxUnconsumed = 0;
            int maxOoo = 0;
            while (System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(6)) {
                Sample s = sample();
                maxUnconsumed = Math.max(maxUnconsumed, s.unconsumed());
                maxOoo = Math.max(maxOoo, s.outOfOrder());
                if (first == null && System.nanoTime() - t0 > TimeUnit.SECONDS.toNanos(3)) {
                    first = s;
                }
                last = s;
                Thread.sleep(100); // sampling period while the sender is stalled
            }
            System.out.println("stalled: first " + first + ", last " + last + ", max unconsumed " + maxUnconsumed
                    + ", receive buffer " + receiveBuffer + ", host read " + hostRead.get());
            assertEquals(READ_FIRST, hostRead.get(), "the host server stopped reading");
            assertTrue(!sender.isDone(), "the guest sender is stalled, not finished");
            assertEquals(first.rcvNxt(), last.rcvNxt(), "nothing more accepted from the guest while stalled");
            assertEquals(0, last.rcvWnd(), "the advertised window is closed");
            // The window is rounded up to the scale unit, so the edge may exceed the buffer by less than one unit.
            int slack = 1 << net.internals().call(() -> net.internals().stack().tcp().connections().stream()
                    .mapToInt(TcpConnection::receiveWindowShift).max().orElse(0));
            assertTrue(maxUnconsumed <= receiveBuffer + slack, "stack holds at most its receive buffer: "
                    + maxUnconsumed);
            assertTrue(maxOoo == 0, "no out-of-order data was queued: " + maxOoo);
            long accepted = (last.rcvNxt() - first.rcvNxt()) & 0xffffffffL;
            assertEquals(0, accepted);
        } finally {
            resume.countDown();
        }
        ExecResult r = sender.get(300, TimeUnit.SECONDS);
        assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        String[] reply = r.stdout().trim().split(" ");
        NetnsGuest.await(Duration.ofSeconds(10), sent + " written", () -> {
            try {
                return Files.readString(sent).trim().length() == 64;
            } catch (java.io.IOException e) {
                return false;
            }
        }, () -> "");
        assertEquals(Files.readString(sent).trim(), reply[0], "SHA-256 of what the host received after resuming");
        assertEquals(Long.toString(TOTAL), reply[1]);
        System.out.println("resumed and finished: " + TOTAL + " bytes byte-exact");
    }
}
