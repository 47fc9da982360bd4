package dev.gvproxy.stack.link;

import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * A seeded netem stand-in for tests (the kernels these tests run on have no {@code sch_netem}): drops,
 * duplicates, delays and reorders frames, with netem's meaning of the numbers.
 *
 * <p>Per frame, in this order: lost with probability {@code loss}; duplicated with probability
 * {@code duplicate} (the copy takes the same path as an independent frame); then sent at once with
 * probability {@code reorder} (it overtakes the frames still held back: that is netem's reordering, which
 * therefore needs a delay), otherwise held for {@code delayNanos} in a FIFO. A single timer runs for the
 * head of the FIFO, so a held frame costs a queue slot, not a scheduled task.
 *
 * <p>Not thread-safe: every call, including the scheduler's callbacks, must run on one thread (the
 * network's event loop when installed with {@link VirtualSwitch#setGatewayEgress}). The FIFO is bounded
 * by {@code maxHeld}: a frame arriving when it is full is dropped and counted as {@link #overflowed()},
 * so a runaway sender cannot grow it without limit.
 */
public final class LinkImpairment implements VirtualSwitch.GatewayEgress {

    /** Runs a task after a delay on the thread that owns this impairment. */
    public interface Scheduler {
        void schedule(Runnable task, long delayNanos);
    }

    /** What to do to frames; probabilities in [0, 1]. */
    public record Spec(double loss, double reorder, double duplicate, long delayNanos, long seed) {
        public Spec {
            check(loss, "loss");
            check(reorder, "reorder");
            check(duplicate, "duplicate");
            if (delayNanos < 0) {
                throw new IllegalArgumentException("delay must be >= 0");
            }
        }

        private static void check(double p, String what) {
            if (!(p >= 0 && p <= 1)) {
                throw new IllegalArgumentException(what + " must be a probability, got " + p);
            }
        }

        /** No impairment at all. */
        public static Spec none() {
            return new Spec(0, 0, 0, 0, 1);
        }

        @Override
        public String toString() {
            return String.format("loss %.1f%% reorder %.1f%% duplicate %.1f%% delay %.1f ms seed %d", loss * 100,
                    reorder * 100, duplicate * 100, delayNanos / 1e6, seed);
        }
    }

    private record Held(long due, ByteBuf frame, Consumer<ByteBuf> out) {}

    private final Spec spec;
    private final SplittableRandom random;
    private final LongSupplier clock;
    private final Scheduler scheduler;
    private final Runnable flush;
    private final int maxHeld;
    private final ArrayDeque<Held> held = new ArrayDeque<>();
    private boolean timerArmed;
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
    public LinkImpairment(Spec spec, LongSupplier clock, Scheduler scheduler, Runnable flush, int maxHeld) {
        this.spec = spec;
        this.random = new SplittableRandom(spec.seed());
        this.clock = clock;
        this.scheduler = scheduler;
        this.flush = flush;
        this.maxHeld = maxHeld;
    }

    public Spec spec() {
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
        if (spec.loss() > 0 && random.nextDouble() < spec.loss()) {
            dropped++;
            frame.release();
            return;
        }
        if (spec.duplicate() > 0 && random.nextDouble() < spec.duplicate()) {
            duplicated++;
            // A retained duplicate shares the bytes; the switch and transports never modify frames.
            route(frame.retainedDuplicate(), out);
        }
        route(frame, out);
    }

    /** @param frame <b>taken</b> */
    private void route(ByteBuf frame, Consumer<ByteBuf> out) {
        if (spec.delayNanos() == 0 || (spec.reorder() > 0 && random.nextDouble() < spec.reorder())) {
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
        held.addLast(new Held(clock.getAsLong() + spec.delayNanos(), frame, out));
        armTimer();
    }

    private void armTimer() {
        if (timerArmed || held.isEmpty()) {
            return;
        }
        timerArmed = true;
        long delay = Math.max(0, held.peekFirst().due() - clock.getAsLong());
        scheduler.schedule(this::release, delay);
    }

    /** Sends every held frame that is due; re-arms for the next. */
    private void release() {
        timerArmed = false;
        if (closed) {
            return;
        }
        long now = clock.getAsLong();
        boolean sent = false;
        for (Held h; (h = held.peekFirst()) != null && h.due() - now <= 0; ) {
            held.pollFirst();
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
        for (Held h; (h = held.pollFirst()) != null; ) {
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
