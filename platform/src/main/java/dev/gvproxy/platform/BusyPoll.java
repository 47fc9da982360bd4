package dev.gvproxy.platform;

import io.netty.channel.SelectStrategy;
import io.netty.channel.SelectStrategyFactory;
import io.netty.util.IntSupplier;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Bounded busy-polling for an event loop: for {@code window} after it last had work, the loop polls its sockets
 * without blocking instead of going to sleep in {@code epoll_wait} (or {@code kevent}, {@code select}).
 *
 * <p>Why: a guest's connect, request or FIN crosses the agent and the stack several times, and each crossing
 * that finds the stack's thread asleep pays a wake-up: an inter-processor interrupt, and in a VM an exit on the
 * waker's and the sleeper's vCPU; then the scheduler switch. On the 2-vCPU VM of benchmarks/README.md that is most
 * of the stack's CPU per connection. A thread that keeps polling for a moment after its last work is still
 * running when the answer comes, so nothing has to wake it. The price is CPU: up to {@code window} of spinning
 * after every burst of work, none while the network is idle (after the window the loop blocks as usual). This is
 * what Netty's {@code BUSY_WAIT} does without the bound, and what Linux's {@code net.core.busy_poll} does in the
 * kernel; off by default, like both.
 *
 * <p>Runs on the loop's thread only (Netty calls the strategy from its event loop), so its state needs no
 * synchronization. Time is injected for tests.
 */
public final class BusyPoll implements SelectStrategy {
    /** The longest window accepted: longer spins cost a core for what a sleep would cost little. */
    public static final Duration MAX_WINDOW = Duration.ofMillis(10);

    private final long windowNanos;
    private final LongSupplier clock;
    private long lastWork;
    /** The previous call chose to block: this call follows a wake-up (I/O, a task or a timer), which is work. */
    private boolean blocked;

    /**
     * @param window how long to keep polling after the last work; positive
     * @param clock monotonic nanoseconds
     */
    BusyPoll(Duration window, LongSupplier clock) {
        if (window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("busy-poll window must be positive: " + window);
        }
        this.windowNanos = window.toNanos();
        this.clock = clock;
        this.lastWork = clock.getAsLong() - windowNanos; // idle at start: block until the first work
    }

    /**
     * Checks a window: zero (off) up to {@link #MAX_WINDOW}.
     *
     * @return {@code window}
     * @throws IllegalArgumentException otherwise
     */
    public static Duration checkWindow(Duration window) {
        if (window.isNegative() || window.compareTo(MAX_WINDOW) > 0) {
            throw new IllegalArgumentException("busy-poll window must be between 0 and " + MAX_WINDOW.toMillis() + "ms: " + window);
        }
        return window;
    }

    /** Strategies for an I/O handler factory: one per event loop; null (Netty's default) for a zero window. */
    static SelectStrategyFactory factory(Duration window) {
        return checkWindow(window).isZero() ? null : () -> new BusyPoll(window, System::nanoTime);
    }

    @Override
    public int calculateStrategy(IntSupplier pollNow, boolean hasTasks) throws Exception {
        long now = clock.getAsLong();
        if (hasTasks || blocked) {
            lastWork = now;
            blocked = false;
            if (hasTasks) {
                return pollNow.get(); // as Netty's default: tasks wait for no I/O
            }
        }
        if (now - lastWork < windowNanos) {
            int ready = pollNow.get();
            if (ready > 0) {
                lastWork = now;
                return ready;
            }
            Thread.onSpinWait();
            return SelectStrategy.CONTINUE; // the loop runs due tasks and timers, then asks again
        }
        blocked = true;
        return SelectStrategy.SELECT;
    }
}
