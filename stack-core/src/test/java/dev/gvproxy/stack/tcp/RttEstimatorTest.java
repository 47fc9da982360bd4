package dev.gvproxy.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** RFC 6298 arithmetic of {@link RttEstimator}: first sample, smoothing, the G floor, clamping and backoff. */
class RttEstimatorTest {
    static final long MS = 1_000_000L;
    static final long S = 1_000 * MS;

    RttEstimator est = new RttEstimator(S, 50 * MS, 60 * S);

    @Nested
    class BeforeAnySample {
        @Test
        void initialRtoIsTheConfiguredOne() {
            assertEquals(S, est.rto(), "RFC 6298 (2.1): 1 s before any measurement");
            assertEquals(-1, est.srtt());
            assertEquals(0, est.backoffCount());
        }

        @Test
        void initialRtoBacksOffByDoubling() {
            est.backOff();
            assertEquals(2 * S, est.rto());
            est.backOff();
            assertEquals(4 * S, est.rto());
            assertEquals(2, est.backoffCount());
        }

        @Test
        void negativeSamplesAreIgnored() {
            est.sample(-5);
            assertEquals(-1, est.srtt());
            assertEquals(S, est.rto());
        }
    }

    @Nested
    class Samples {
        @Test
        void firstSampleSetsSrttAndHalfOfItAsVariance() {
            est.sample(100 * MS);
            // RFC 6298 (2.2): SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4 RTTVAR) = 100 + 200 ms.
            assertEquals(100 * MS, est.srtt());
            assertEquals(50 * MS, est.rttvar());
            assertEquals(300 * MS, est.rto());
        }

        @Test
        void laterSamplesAreSmoothedWithAlphaAndBeta() {
            est.sample(100 * MS);
            est.sample(200 * MS);
            // RFC 6298 (2.3): RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5.
            assertEquals(62_500_000L, est.rttvar());
            assertEquals(112_500_000L, est.srtt());
            assertEquals(112_500_000L + 4 * 62_500_000L, est.rto());
        }

        @Test
        void varianceIsComputedWithTheOldSrtt() {
            est.sample(100 * MS);
            est.sample(20 * MS);
            // delta uses SRTT before the update: |100 - 20| = 80; RTTVAR = (3 * 50 + 80) / 4 = 57.5.
            assertEquals(57_500_000L, est.rttvar());
            assertEquals(90 * MS, est.srtt());
        }

        @Test
        void steadySamplesConvergeAndVarianceDecays() {
            for (int i = 0; i < 200; i++) {
                est.sample(80 * MS);
            }
            assertEquals(80 * MS, est.srtt());
            assertEquals(0, est.rttvar() / MS, "variance decays towards 0");
            assertEquals(80 * MS + 1 * MS, est.rto(), "SRTT + G (1 ms) once 4 RTTVAR is below G");
        }

        @Test
        void rtoIsClampedToTheMinimum() {
            est.sample(100_000); // 100 us: a virtual link
            assertEquals(50 * MS, est.rto());
        }

        @Test
        void rtoIsClampedToTheMaximum() {
            est.sample(100 * S);
            assertEquals(60 * S, est.rto(), "RFC 6298 (2.5): an upper bound of at least 60 s");
        }

        @Test
        void zeroSampleIsValid() {
            est.sample(0);
            assertEquals(0, est.srtt());
            assertEquals(50 * MS, est.rto());
        }
    }

    @Nested
    class Backoff {
        @Test
        void eachExpiryDoublesTheTimeout() {
            est.sample(100 * MS);
            long base = est.rto();
            for (int i = 1; i <= 5; i++) {
                est.backOff();
                assertEquals(base << i, est.rto(), "RFC 6298 (5.5) after " + i + " expiries");
            }
        }

        @Test
        void backoffIsCappedAtTheMaximum() {
            est.sample(100 * MS);
            for (int i = 0; i < 100; i++) {
                est.backOff();
            }
            assertEquals(60 * S, est.rto());
            assertEquals(30, est.backoffCount(), "the count itself is bounded (no overflow of the shift)");
        }

        @Test
        void aNewSampleClearsTheBackoff() {
            est.sample(100 * MS);
            est.backOff();
            est.backOff();
            est.sample(100 * MS);
            assertEquals(0, est.backoffCount());
            assertEquals(100 * MS + 4 * 37_500_000L, est.rto());
        }

        @Test
        void resetBackoffRestoresTheUnbackedTimeout() {
            est.sample(100 * MS);
            est.backOff();
            assertEquals(600 * MS, est.rto());
            est.resetBackoff();
            assertEquals(300 * MS, est.rto());
        }

        @Test
        void backedOffMinimumStillDoubles() {
            est.sample(100_000);
            est.backOff();
            // RFC 6298 (5.5) doubles the RTO as clamped (50 ms), not the raw 1.1 ms estimate.
            assertEquals(100 * MS, est.rto());
        }
    }
}
