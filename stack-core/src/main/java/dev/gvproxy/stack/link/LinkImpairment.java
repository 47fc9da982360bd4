package dev.gvproxy.stack.link;

import io.netty.buffer.ByteBuf;
import java.util.PriorityQueue;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Applies an {@link Impairment} to the gateway's egress on the network's event loop: drops, duplicates, delays
 * and reorders frames with the model's (netem's) meaning of the numbers, deciding with the model's
 * {@link Impairment.Dice}.
 *
 * <p>Held frames wait in a queue ordered by due time (arrival order among equal times, so without jitter it is
 * a FIFO); a single timer runs for the head of the queue, so a held frame costs a queue slot, not a scheduled
 * task.
 *
 * <p>Not thread-safe: every call, including the scheduler's callbacks, must run on one thread (the
 * network's event loop when installed with {@link VirtualSwitch#setGatewayEgress}). The queue is bounded
 * by {@code maxHeld}: a frame arriving when it is full is dropped and counted as {@link #overflowed()},
 * so a runaway sender cannot grow it without limit.
 */
public final class LinkImpairment implements VirtualSwitch.GatewayEgress {

    /** Runs a task after a delay on the thread that owns this impairment. */
    public interface Scheduler {
        void schedule(Runnable task, long delayNanos);
    }

    private record Held(long due, long order, ByteBuf frame, Consumer<ByteBuf> out) {}

    private final Impairment spec;
    private final Impairment.Dice dice;
    private final LongSupplier clock;
    private final Scheduler scheduler;
    private final Runnable flush;
    private final int maxHeld;
    /** Due time first (compared as a difference: nanoTime values), arrival order among equals. */
    private final PriorityQueue<Held> held = new PriorityQueue<>((a, b) -> a.due() != b.due()
            ? Long.signum(a.due() - b.due()) : Long.compare(a.order(), b.order()));
    private long order;
    private boolean timerArmed;
    private long armedDue;
    private boolean closed;

    private long frames;
    private long dropped;
    private long duplicated;
    private long reordered;
    private long delayed;
    private long overflowed;

    /**
     * @param clock monotonic nanoseconds
     * @param scheduler runs the release timer on this impairment's thread
     * @param flush called after held frames were released from the timer (e.g. {@code VirtualSwitch::flush})
     * @param maxHeld bound of the delay FIFO
     */
    public LinkImpairment(Impairment spec, LongSupplier clock, Scheduler scheduler, Runnable flush, int maxHeld) {
        this.spec = spec;
        this.dice = spec.dice();
        this.clock = clock;
        this.scheduler = scheduler;
        this.flush = flush;
        this.maxHeld = maxHeld;
    }

    public Impairment spec() {
        return spec;
    }

    /**
     * @param frame <b>taken</b>
     * @param out <b>takes</b> each frame passed to it
     */
    @Override
    public void egress(ByteBuf frame, Consumer<ByteBuf> out) {
        if (closed) {
            frame.release();
            return;
        }
        frames++;
        if (dice.lose()) {
            dropped++;
            frame.release();
            return;
        }
        if (dice.duplicate()) {
            duplicated++;
            // A retained duplicate shares the bytes; the switch and transports never modify frames.
            route(frame.retainedDuplicate(), out);
        }
        route(frame, out);
    }

    /** @param frame <b>taken</b> */
    private void route(ByteBuf frame, Consumer<ByteBuf> out) {
        long delay = dice.delayNanos();
        if (delay == 0) {
            if (!held.isEmpty()) {
                reordered++; // it overtakes frames sent before it
            }
            out.accept(frame);
            return;
        }
        if (held.size() >= maxHeld) {
            overflowed++;
            frame.release();
            return;
        }
        delayed++;
        held.add(new Held(clock.getAsLong() + delay, order++, frame, out));
        armTimer();
    }

    private void armTimer() {
        if (held.isEmpty()) {
            return;
        }
        long due = held.peek().due();
        // With jitter a new frame may be due before the armed timer: arm an earlier one too (a late timer that
        // finds nothing due just re-arms), so no frame waits longer than its own delay.
        if (timerArmed && due - armedDue >= 0) {
            return;
        }
        timerArmed = true;
        armedDue = due;
        scheduler.schedule(this::release, Math.max(0, due - clock.getAsLong()));
    }

    /** Sends every held frame that is due; re-arms for the next. */
    private void release() {
        timerArmed = false;
        if (closed) {
            return;
        }
        long now = clock.getAsLong();
        boolean sent = false;
        for (Held h; (h = held.peek()) != null && h.due() - now <= 0; ) {
            held.poll();
            h.out().accept(h.frame());
            sent = true;
        }
        if (sent) {
            flush.run();
        }
        armTimer();
    }

    /** Releases every held frame; later frames are dropped. */
    public void close() {
        closed = true;
        for (Held h; (h = held.poll()) != null; ) {
            h.frame().release();
        }
    }

    /** @return frames offered */
    public long frames() {
        return frames;
    }

    public long dropped() {
        return dropped;
    }

    public long duplicated() {
        return duplicated;
    }

    /** @return frames sent ahead of at least one held frame */
    public long reordered() {
        return reordered;
    }

    public long delayed() {
        return delayed;
    }

    public long overflowed() {
        return overflowed;
    }

    /** @return frames currently held back */
    public int held() {
        return held.size();
    }

    @Override
    public String toString() {
        return spec + ": frames " + frames + ", dropped " + dropped + ", duplicated " + duplicated + ", reordered "
                + reordered + ", delayed " + delayed + ", overflowed " + overflowed + ", held " + held.size();
    }
}
