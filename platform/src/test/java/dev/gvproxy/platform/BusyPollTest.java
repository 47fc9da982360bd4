package dev.gvproxy.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.netty.channel.SelectStrategy;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The busy-poll window, on a manual clock: when the loop polls, spins or blocks. */
class BusyPollTest {
    long now = 1_000_000_000L;
    int ready; // what the next non-blocking poll finds
    int polls;
    final BusyPoll strategy = new BusyPoll(Duration.ofNanos(100_000), () -> now);

    int next(boolean hasTasks) throws Exception {
        return strategy.calculateStrategy(() -> {
            polls++;
            return ready;
        }, hasTasks);
    }

    @Test
    void idleAtStartBlocksWithoutPolling() throws Exception {
        assertEquals(SelectStrategy.SELECT, next(false));
        assertEquals(0, polls);
    }

    @Test
    void aWakeUpOpensTheWindowThenItBlocksWhenItCloses() throws Exception {
        assertEquals(SelectStrategy.SELECT, next(false));
        now += 5_000_000; // asleep 5 ms, then woken: that wake-up was work
        assertEquals(SelectStrategy.CONTINUE, next(false));
        assertEquals(1, polls);
        now += 99_000;
        assertEquals(SelectStrategy.CONTINUE, next(false), "still inside 100 µs");
        now += 1_000;
        assertEquals(SelectStrategy.SELECT, next(false), "100 µs without work: sleep");
        assertEquals(2, polls);
    }

    @Test
    void readySocketsFoundWhileSpinningExtendTheWindow() throws Exception {
        next(false);
        now += 1_000;
        assertEquals(SelectStrategy.CONTINUE, next(false)); // woken: window from now
        now += 90_000;
        ready = 3;
        assertEquals(3, next(false), "the poll's events are handled at once");
        ready = 0;
        now += 90_000;
        assertEquals(SelectStrategy.CONTINUE, next(false), "window restarted by the events 90 µs ago");
        now += 10_000;
        assertEquals(SelectStrategy.SELECT, next(false));
    }

    @Test
    void pendingTasksPollWithoutBlockingAndCountAsWork() throws Exception {
        ready = 2;
        assertEquals(2, next(true));
        ready = 0;
        assertEquals(0, next(true), "tasks never wait for I/O");
        now += 50_000;
        assertEquals(SelectStrategy.CONTINUE, next(false));
    }

    @Test
    void zeroWindowIsNettysDefaultAndNegativeIsRefused() {
        assertNull(BusyPoll.factory(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> new BusyPoll(Duration.ofMillis(-1), () -> now));
    }
}
