package dev.gvproxy.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.DeadlineSource;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.concurrent.MockTicker;
import io.netty.util.concurrent.Ticker;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The one flush and deadline driver, on an embedded event loop with a mock clock: output is flushed once at the
 * end of the task that wrote it, and one timer serves every deadline source. No sleeps.
 */
class NetworkDriverTest {
    private final MockTicker ticker = Ticker.newMockTicker();
    private final EmbeddedChannel loopOwner = EmbeddedChannel.builder().ticker(ticker).build();
    private final Counters counters = new Counters();
    private final VirtualSwitch sw = new VirtualSwitch(Frames.GW_MAC, counters, ticker::nanoTime);
    private final NetworkStack stack = new NetworkStack(StackConfig.defaults(), sw, counters,
            UnpooledByteBufAllocator.DEFAULT, ticker::nanoTime);
    private final NetworkDriver driver = new NetworkDriver(loopOwner.eventLoop(), sw, stack, ticker::nanoTime, null);
    private final Guest guest = new Guest();
    private final SwitchPort port = sw.attach("guest", guest);

    static final class Guest implements LinkEndpoint {
        final List<ByteBuf> frames = new ArrayList<>();
        int flushes;

        @Override
        public void transmit(ByteBuf frame) {
            frames.add(frame);
        }

        @Override
        public void flush() {
            flushes++;
        }
    }

    /** A source with a settable deadline that counts its polls. */
    static final class Source implements DeadlineSource {
        long deadline = Long.MAX_VALUE;
        final List<Long> polls = new ArrayList<>();

        @Override
        public long nextDeadline() {
            return deadline;
        }

        @Override
        public void poll(long now) {
            polls.add(now);
            deadline = Long.MAX_VALUE;
        }
    }

    @AfterEach
    void tearDown() {
        driver.close();
        guest.frames.forEach(ByteBuf::release);
        loopOwner.finishAndReleaseAll();
    }

    @Test
    void everythingOneTaskWroteLeavesInOneFlushAtItsEnd() {
        int[] duringTask = new int[2];
        loopOwner.eventLoop().execute(() -> {
            for (int seq = 1; seq <= 3; seq++) {
                sw.deliver(port, Frames.ping(Frames.GW_IP, 7, seq, 8)); // each answered by the gateway at once
            }
            duringTask[0] = guest.frames.size();
            duringTask[1] = guest.flushes;
        });
        loopOwner.runPendingTasks();
        assertEquals(3, duringTask[0], "written during the task");
        assertEquals(0, duringTask[1], "nothing flushed during the task");
        assertEquals(3, guest.frames.size());
        assertEquals(1, guest.flushes, "one flush for the whole task");
    }

    @Test
    void oneTimerServesEveryDeadlineSource() {
        Source a = new Source();
        Source b = new Source();
        long t0 = ticker.nanoTime();
        a.deadline = t0 + TimeUnit.SECONDS.toNanos(5);
        b.deadline = t0 + TimeUnit.SECONDS.toNanos(2);
        stack.addDeadlineSource(a);
        stack.addDeadlineSource(b);
        ticker.advance(1, TimeUnit.SECONDS);
        loopOwner.runScheduledPendingTasks();
        assertTrue(a.polls.isEmpty() && b.polls.isEmpty(), "nothing due after 1 s");
        ticker.advance(1, TimeUnit.SECONDS);
        loopOwner.runScheduledPendingTasks();
        assertEquals(List.of(t0 + TimeUnit.SECONDS.toNanos(2)), b.polls, "b at its deadline");
        assertTrue(a.polls.isEmpty());
        ticker.advance(3, TimeUnit.SECONDS);
        loopOwner.runScheduledPendingTasks();
        assertEquals(List.of(t0 + TimeUnit.SECONDS.toNanos(5)), a.polls, "then a, re-armed by the same timer");
        assertEquals(1, b.polls.size());
    }

    @Test
    void anEarlierDeadlineToldThroughWakeupReArmsTheTimer() {
        Source a = new Source();
        long t0 = ticker.nanoTime();
        a.deadline = t0 + TimeUnit.SECONDS.toNanos(60);
        stack.addDeadlineSource(a);
        a.deadline = t0 + TimeUnit.SECONDS.toNanos(1); // e.g. a guest left: its grace period ends sooner
        stack.wakeup(a.deadline);
        ticker.advance(1, TimeUnit.SECONDS);
        loopOwner.runScheduledPendingTasks();
        assertEquals(List.of(t0 + TimeUnit.SECONDS.toNanos(1)), a.polls);
    }

    @Test
    void aRemovedSourceIsNeverPolled() {
        Source a = new Source();
        a.deadline = ticker.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        stack.addDeadlineSource(a);
        stack.removeDeadlineSource(a);
        ticker.advance(2, TimeUnit.SECONDS);
        loopOwner.runScheduledPendingTasks();
        assertTrue(a.polls.isEmpty());
    }
}
