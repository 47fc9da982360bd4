package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * Congestion control as scripted exchanges: slow start and congestion avoidance (RFC 5681, RFC 3465),
 * NewReno partial ACKs (RFC 6582), SACK loss detection (RFC 6675), DSACK-driven undo and duplicate
 * threshold (RFC 2883, RFC 4015 in spirit), RTO response and backoff, lost retransmissions.
 */
class TcpCongestionTest {
    static final int MSS = 1448;
    static final int R1 = REMOTE_SEQ + 1;

    TcpHarness h = new TcpHarness();

    @AfterEach
    void tearDown() {
        h.close();
    }

    /** Start of our k-th full segment (0-based). */
    static int s(int k) {
        return ISS + 1 + k * MSS;
    }

    void establish(boolean sack) {
        h.send(TcpHarness.syn().sackPermitted(sack));
        h.recv();
        h.send(h.ack(R1, ISS + 1));
        h.drain();
    }

    /** Queues {@code segments} full segments and returns what went out at once. */
    List<Segment> load(int segments) {
        h.appSend(h.bytes(segments * MSS, 3));
        return h.drain();
    }

    void ack(int ack, int... sack) {
        h.send(h.ack(R1, ack).sackBlocks(sack));
    }

    @Nested
    class SlowStartAndAvoidance {
        @Test
        void slowStartGrowsByTheBytesAckedUpToTwoMss() {
            establish(true);
            load(40);
            int cwnd = h.conn.cwnd();
            assertEquals(10 * MSS, cwnd, "RFC 6928 initial window");
            ack(s(1));
            assertEquals(cwnd + MSS, h.conn.cwnd());
            ack(s(4));
            assertEquals(cwnd + 3 * MSS, h.conn.cwnd(), "RFC 3465: an ACK of 3 MSS grows by L = 2 MSS");
        }

        @Test
        void congestionAvoidanceAddsOneMssPerWindow() {
            establish(true);
            load(60);
            h.advance(h.conn.rto()); // timeout: ssthresh = flight / 2, cwnd = 1 MSS
            assertEquals(5 * MSS, h.conn.ssthresh());
            assertEquals(MSS, h.conn.cwnd());
            int k = 1;
            while (h.conn.cwnd() < h.conn.ssthresh()) {
                ack(s(k++));
            }
            int cwnd = h.conn.cwnd();
            assertEquals(5 * MSS, cwnd, "slow start stops at ssthresh");
            for (int i = 0; i < 4; i++) {
                ack(s(k++));
                assertEquals(cwnd, h.conn.cwnd(), "less than a window acked: no growth yet");
            }
            ack(s(k++));
            assertEquals(cwnd + MSS, h.conn.cwnd(), "RFC 5681 3.1: one MSS per window of data acked");
        }

        @Test
        void timeoutSendsOneSegmentAndBacksOff() {
            establish(true);
            load(10);
            long rto = h.conn.rto();
            h.advance(rto);
            List<Segment> out = h.drain();
            assertEquals(1, out.size(), "loss window of one segment");
            assertEquals(s(0), out.get(0).seq());
            assertEquals(2 * rto, h.conn.rto());
            ack(s(1));
            assertEquals(rto, h.conn.rto(), "new data acknowledged: backoff cleared (RFC 6298 5.7 spirit)");
            assertEquals(2, h.drain().size(), "cwnd 2 MSS: go-back-N continues two at a time");
        }

        @Test
        void idleConnectionHasNoRetransmissionTimer() {
            establish(true);
            load(2);
            ack(s(2));
            assertEquals(Long.MAX_VALUE, h.conn.nextDeadline());
        }
    }

    @Nested
    class NewReno {
        @Test
        void threeDuplicatesThenPartialAckRetransmitsTheNextHole() {
            establish(false);
            load(10);
            for (int i = 0; i < 2; i++) {
                ack(s(0));
                h.expectNothing();
            }
            ack(s(0));
            Segment fr = h.recv();
            assertEquals(s(0), fr.seq(), "fast retransmit after the third duplicate");
            assertEquals(1, h.counters.get("tcp.fastRetransmit"));
            assertEquals(5 * MSS, h.conn.ssthresh(), "half the flight");
            assertEquals(8 * MSS, h.conn.cwnd(), "ssthresh + 3 MSS");
            // Partial ACK: the first three arrived, the fourth segment was lost too (RFC 6582 3.2 step 5).
            ack(s(3));
            Segment next = h.recv();
            assertEquals(s(3), next.seq());
            assertEquals(MSS, next.len());
            assertEquals(8 * MSS - 3 * MSS + MSS, h.conn.cwnd(), "deflate by the amount acked, add one MSS");
            // Full ACK: leave recovery with cwnd = min(ssthresh, flight + MSS), at least 2 MSS.
            ack(s(10));
            assertEquals(2 * MSS, h.conn.cwnd());
            assertEquals(1, h.counters.get("tcp.fastRetransmit"), "one recovery episode");
        }

        @Test
        void duplicatesDuringRecoveryInflateTheWindowAndReleaseNewData() {
            establish(false);
            load(20);
            for (int i = 0; i < 3; i++) {
                ack(s(0));
            }
            h.drain();
            int cwnd = h.conn.cwnd();
            for (int i = 0; i < 3; i++) {
                ack(s(0));
            }
            assertEquals(cwnd + 3 * MSS, h.conn.cwnd());
            List<Segment> out = h.drain();
            assertEquals(1, out.size(), "flight 10 MSS, cwnd 11 MSS: one new segment");
            assertEquals(s(10), out.get(0).seq());
        }

        @Test
        void twoDuplicatesAloneDoNothing() {
            establish(false);
            load(10);
            ack(s(0));
            ack(s(0));
            h.expectNothing();
            assertEquals(2, h.counters.get("tcp.in.dupAcks"));
            assertEquals(10 * MSS, h.conn.cwnd());
        }
    }

    @Nested
    class SackRecovery {
        @Test
        void threeSackedSegmentsMarkTheFirstLostOnTheFirstDuplicate() {
            establish(true);
            load(10);
            ack(s(0), s(1), s(4));
            Segment fr = h.recv();
            assertEquals(s(0), fr.seq(), "RFC 6675 IsLost: 3 MSS SACKed above the hole");
            assertEquals(1, h.counters.get("tcp.fastRetransmit"));
        }

        @Test
        void lessThanThreeSackedSegmentsWait() {
            establish(true);
            load(10);
            ack(s(0), s(1), s(3));
            h.expectNothing();
            assertEquals(0, h.counters.get("tcp.fastRetransmit"));
        }

        @Test
        void retransmissionsSkipSackedData() {
            establish(true);
            load(10);
            ack(s(0), s(1), s(2), s(3), s(6));
            assertEquals(s(0), h.recv().seq());
            ack(s(1), s(3), s(6));
            Segment second = h.recv();
            assertEquals(s(2), second.seq(), "the hole between the SACK blocks");
            assertEquals(MSS, second.len());
        }

        @Test
        void sackBlocksBeyondSndMaxAreIgnored() {
            establish(true);
            load(10);
            ack(s(0), s(20), s(30));
            h.expectNothing();
            assertEquals(0, h.counters.get("tcp.fastRetransmit"), "RFC 2018: blocks for unsent data are bogus");
        }

        @Test
        void lostRetransmissionIsDetectedAndResent() {
            establish(true);
            load(20);
            ack(s(0), s(1), s(4)); // recovery: s(0) resent, cwnd = 5 + 3 MSS
            assertEquals(s(0), h.recv().seq());
            for (int k = 5; k <= 7; k++) {
                ack(s(0), s(1), s(k)); // each duplicate inflates cwnd by one MSS
            }
            List<Segment> fresh = h.drain();
            assertEquals(List.of(s(10)), fresh.stream().map(Segment::seq).toList(), "one new segment");
            // The peer SACKs that new segment while SND.UNA stays put: sent after our retransmission, it
            // arrived, so the retransmission of s(0) was lost too.
            ack(s(0), s(1), s(8), s(10), s(11));
            assertEquals(1, h.counters.get("tcp.lostRetransmits"));
            assertTrue(h.drain().stream().anyMatch(x -> x.seq() == s(0)), "s(0) is sent a third time");
        }
    }

    @Nested
    class DsackUndo {
        @Test
        void spuriousFastRetransmitIsUndoneAndTheThresholdRises() {
            establish(true);
            load(10);
            ack(s(0), s(1), s(4));
            h.recv();
            assertTrue(h.conn.cwnd() < 10 * MSS);
            // Everything arrived after all; the peer reports our retransmission as a duplicate.
            ack(s(10), s(0), s(1));
            assertEquals(1, h.counters.get("tcp.in.dsacks"));
            assertEquals(1, h.counters.get("tcp.congestionUndo"));
            assertTrue(h.conn.cwnd() >= 10 * MSS, "cwnd restored: " + h.conn.cwnd());
            assertEquals(Integer.MAX_VALUE, h.conn.ssthresh(), "ssthresh restored");
            // The duplicate threshold went from 3 to 4: three duplicates no longer trigger a retransmit.
            load(10);
            for (int i = 0; i < 3; i++) {
                ack(s(10));
            }
            h.expectNothing();
            ack(s(10));
            assertEquals(s(10), h.recv().seq(), "the fourth duplicate does");
        }

        @Test
        void dsackInsideAnotherBlockIsRecognised() {
            establish(true);
            load(10);
            ack(s(0), s(1), s(4));
            h.recv();
            // RFC 2883 case: the first block lies within the second (a duplicate above SND.UNA).
            ack(s(0), s(2), s(3), s(1), s(5));
            assertEquals(1, h.counters.get("tcp.in.dsacks"));
        }

        @Test
        void dsackWithoutARetransmissionDoesNotUndo() {
            establish(true);
            load(10);
            ack(s(10), s(0), s(1)); // the network duplicated a segment; we never retransmitted
            assertEquals(1, h.counters.get("tcp.in.dsacks"));
            assertEquals(0, h.counters.get("tcp.congestionUndo"));
        }
    }
}
