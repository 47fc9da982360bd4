package dev.gvproxy.stack.link;

import java.time.Duration;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * The one impairment model for tests of the stack over a bad link (the kernels here have no {@code sch_netem}):
 * what to do to frames, with netem's meaning of the numbers. Two appliers use it: {@link LinkImpairment} on the
 * network's event loop (the gateway's egress) and the guest agent's pump (frames to and from the guest's TAP).
 * Both draw their decisions from a {@link Dice}, so one spec means the same thing in both places.
 *
 * <p>Per frame, in this order:
 * <ul>
 * <li><b>loss</b>: the frame is dropped with this probability;</li>
 * <li><b>duplicate</b>: with this probability a second copy is sent; the copy takes the same path as an
 * independent frame (its own delay and reorder decision);</li>
 * <li><b>delay</b>: every frame is held back this long, plus</li>
 * <li><b>jitter</b>: a uniformly distributed extra delay in {@code [0, jitter)} (so frames may overtake each
 * other);</li>
 * <li><b>reorder</b>: with this probability a frame skips the delay and is sent at once, overtaking the frames
 * still held back. As in netem, reordering therefore needs a delay: without one nothing is held to overtake.</li>
 * </ul>
 *
 * @param seed      seed of the decisions, so a run is repeatable as far as frame arrival order allows
 * @param loss      probability a frame is dropped
 * @param duplicate probability a frame is sent twice
 * @param reorder   probability a frame is sent at once instead of after {@code delay}
 * @param delay     how long every other frame is held back
 * @param jitter    extra uniformly distributed delay in {@code [0, jitter)}
 */
public record Impairment(long seed, double loss, double duplicate, double reorder, Duration delay,
        Duration jitter) {

    public Impairment {
        check(loss, "loss");
        check(duplicate, "duplicate");
        check(reorder, "reorder");
        Objects.requireNonNull(delay, "delay");
        Objects.requireNonNull(jitter, "jitter");
        if (delay.isNegative() || jitter.isNegative()) {
            throw new IllegalArgumentException("delays must not be negative");
        }
    }

    private static void check(double p, String what) {
        if (!(p >= 0 && p <= 1)) {
            throw new IllegalArgumentException(what + " must be a probability in [0, 1], got " + p);
        }
    }

    /** @return no impairment (seed 1); refine with the {@code with*} methods */
    public static Impairment none() {
        return new Impairment(1, 0, 0, 0, Duration.ZERO, Duration.ZERO);
    }

    public Impairment withSeed(long s) {
        return new Impairment(s, loss, duplicate, reorder, delay, jitter);
    }

    public Impairment withLoss(double p) {
        return new Impairment(seed, p, duplicate, reorder, delay, jitter);
    }

    public Impairment withDuplicate(double p) {
        return new Impairment(seed, loss, p, reorder, delay, jitter);
    }

    /** @param p probability a frame skips the {@link #delay} (meaningful only with a delay) */
    public Impairment withReorder(double p) {
        return new Impairment(seed, loss, duplicate, p, delay, jitter);
    }

    public Impairment withDelay(Duration fixed) {
        return withDelay(fixed, Duration.ZERO);
    }

    public Impairment withDelay(Duration fixed, Duration extraJitter) {
        return new Impairment(seed, loss, duplicate, reorder, fixed, extraJitter);
    }

    /** @return true if some frames may be held back (then the applier needs a timer) */
    public boolean delays() {
        return delay.isPositive() || jitter.isPositive();
    }

    /** @return a fresh, seeded decision sequence for one direction of one link */
    public Dice dice() {
        return new Dice(this);
    }

    @Override
    public String toString() {
        return String.format("loss %.1f%% duplicate %.1f%% reorder %.1f%% delay %.1f ms jitter %.1f ms seed %d",
                loss * 100, duplicate * 100, reorder * 100, delay.toNanos() / 1e6, jitter.toNanos() / 1e6, seed);
    }

    /**
     * The per-frame decisions of one {@link Impairment}, drawn from one seeded generator. Not thread-safe: one
     * applier asks in frame order, {@link #lose()} then {@link #duplicate()} then {@link #delayNanos()} per copy
     * (the copy first). A probability of zero draws nothing, so adding a zero knob does not change a seeded run.
     */
    public static final class Dice {
        private final Impairment spec;
        private final SplittableRandom random;
        private final long delayNanos;
        private final long jitterNanos;

        private Dice(Impairment spec) {
            this.spec = spec;
            this.random = new SplittableRandom(spec.seed());
            this.delayNanos = spec.delay().toNanos();
            this.jitterNanos = spec.jitter().toNanos();
        }

        /** @return true if the frame is to be dropped */
        public boolean lose() {
            return spec.loss() > 0 && random.nextDouble() < spec.loss();
        }

        /** @return true if the frame is to be sent twice */
        public boolean duplicate() {
            return spec.duplicate() > 0 && random.nextDouble() < spec.duplicate();
        }

        /** @return how long to hold one copy of a frame back; 0 to send it at once */
        public long delayNanos() {
            if (delayNanos == 0 && jitterNanos == 0) {
                return 0;
            }
            if (spec.reorder() > 0 && random.nextDouble() < spec.reorder()) {
                return 0;
            }
            return jitterNanos == 0 ? delayNanos : delayNanos + (long) (random.nextDouble() * jitterNanos);
        }
    }
}
