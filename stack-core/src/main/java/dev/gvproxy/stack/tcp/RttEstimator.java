package dev.gvproxy.stack.tcp;

/**
 * Round-trip time estimation and retransmission timeout (RFC 6298), in nanoseconds.
 * Karn's algorithm (no samples from retransmitted segments) is the caller's job: with timestamps every
 * ACK gives a valid sample, without them only segments sent once are timed.
 */
public final class RttEstimator {
    private final long minRto;
    private final long maxRto;
    private long srtt = -1;
    private long rttvar;
    private long rto;
    private int backoff;

    public RttEstimator(long initialRto, long minRto, long maxRto) {
        this.minRto = minRto;
        this.maxRto = maxRto;
        this.rto = initialRto;
    }

    /** Adds a measurement (RFC 6298 2.2 and 2.3, alpha 1/8, beta 1/4, K 4, G = 1 ms). */
    public void sample(long rtt) {
        if (rtt < 0) {
            return;
        }
        if (srtt < 0) {
            srtt = rtt;
            rttvar = rtt / 2;
        } else {
            long delta = Math.abs(srtt - rtt);
            rttvar = (3 * rttvar + delta) / 4;
            srtt = (7 * srtt + rtt) / 8;
        }
        rto = clamp(srtt + Math.max(1_000_000L, 4 * rttvar));
        backoff = 0;
    }

    private long clamp(long v) {
        return Math.max(minRto, Math.min(maxRto, v));
    }

    /** The current timeout including exponential backoff (RFC 6298 5.5). */
    public long rto() {
        long v = rto;
        for (int i = 0; i < backoff && v < maxRto; i++) {
            v <<= 1;
        }
        return clamp(v);
    }

    /** Doubles the timeout after an expiry. */
    public void backOff() {
        if (backoff < 30) {
            backoff++;
        }
    }

    public void resetBackoff() {
        backoff = 0;
    }

    public int backoffCount() {
        return backoff;
    }

    /** Smoothed RTT, or -1 before the first sample. */
    public long srtt() {
        return srtt;
    }

    public long rttvar() {
        return rttvar;
    }
}
