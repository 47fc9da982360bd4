package dev.gvproxy.agent;

import java.time.Duration;
import java.util.Objects;

/**
 * Network impairment applied by the agent's pump to one direction, for tests of the stack under loss, duplication,
 * reordering and delay (this machine has no netem). Decisions come from a seeded random generator, so a run is
 * repeatable as far as frame arrival order allows.
 *
 * @param seed         random seed
 * @param loss         probability a frame is dropped
 * @param duplicate    probability a frame is sent twice
 * @param reorder      probability a frame is held back by {@code reorderDelay}, letting later frames overtake it
 * @param reorderDelay how long a reordered frame is held back
 * @param delay        fixed delay added to every frame
 * @param jitter       extra uniformly distributed delay in {@code [0, jitter)} (frames may overtake each other)
 */
public record Impairment(long seed, double loss, double duplicate, double reorder, Duration reorderDelay,
        Duration delay, Duration jitter) {

    public Impairment {
        checkProbability("loss", loss);
        checkProbability("duplicate", duplicate);
        checkProbability("reorder", reorder);
        Objects.requireNonNull(reorderDelay);
        Objects.requireNonNull(delay);
        Objects.requireNonNull(jitter);
        if (reorderDelay.isNegative() || delay.isNegative() || jitter.isNegative()) {
            throw new IllegalArgumentException("delays must not be negative");
        }
    }

    private static void checkProbability(String name, double p) {
        if (!(p >= 0 && p <= 1)) {
            throw new IllegalArgumentException(name + " must be a probability in [0, 1], got " + p);
        }
    }

    /** @return no impairment (seed 1); refine with the {@code with*} methods */
    public static Impairment none() {
        return new Impairment(1, 0, 0, 0, Duration.ofMillis(5), Duration.ZERO, Duration.ZERO);
    }

    public Impairment withSeed(long s) {
        return new Impairment(s, loss, duplicate, reorder, reorderDelay, delay, jitter);
    }

    public Impairment withLoss(double p) {
        return new Impairment(seed, p, duplicate, reorder, reorderDelay, delay, jitter);
    }

    public Impairment withDuplicate(double p) {
        return new Impairment(seed, loss, p, reorder, reorderDelay, delay, jitter);
    }

    public Impairment withReorder(double p, Duration holdBack) {
        return new Impairment(seed, loss, duplicate, p, holdBack, delay, jitter);
    }

    public Impairment withDelay(Duration fixed, Duration extraJitter) {
        return new Impairment(seed, loss, duplicate, reorder, reorderDelay, fixed, extraJitter);
    }

    /** @return true if any frame may be delayed (then a sender thread is needed) */
    boolean delays() {
        return reorder > 0 || !delay.isZero() || !jitter.isZero();
    }
}
