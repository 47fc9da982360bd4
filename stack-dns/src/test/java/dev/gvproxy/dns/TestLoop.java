package dev.gvproxy.dns;

import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A stand-in for the network's event loop: tasks handed over (by dnsjava's I/O thread) are queued and run
 * on the test thread by {@link #runUntil}, so the code under test sees one thread, as on a real loop.
 */
final class TestLoop implements Executor {
    private final LinkedBlockingQueue<Runnable> tasks = new LinkedBlockingQueue<>();

    @Override
    public void execute(Runnable task) {
        tasks.add(task);
    }

    /** Runs queued tasks until {@code done} holds; fails after {@code max}. */
    void runUntil(BooleanSupplier done, Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        while (!done.getAsBoolean()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("condition not met within " + max);
            }
            Runnable r;
            try {
                r = tasks.poll(left, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
            if (r != null) {
                r.run();
            }
        }
    }

    /** Runs whatever is queued now. */
    void drain() {
        for (Runnable r; (r = tasks.poll()) != null; ) {
            r.run();
        }
    }
}
