package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.MS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** Scripted segments in, exact segments out, per RFC 9293 state; an injected clock, no sleeps. */
@org.junit.jupiter.params.ParameterizedClass(name = "{0}")
@org.junit.jupiter.params.provider.EnumSource(TcpHarness.Family.class)
class TcpConnectionTest {
    TcpHarness h;

    /** Runs for both address families: the behaviour may not depend on it. */
    @org.junit.jupiter.params.Parameter
    TcpHarness.Family family;

    @org.junit.jupiter.api.BeforeEach
    void bench() {
        h = new TcpHarness(family);
    }

    @AfterEach
    void tearDown() {
        h.close();
    }

    // =============================================================================================
    @Nested
    class SynReceived {
        @Test
        void synAckCarriesNegotiatedOptions() {
            h.send(TcpHarness.syn());
            Segment s = h.recv();
            assertTrue(s.has(TcpFlags.SYN) && s.has(TcpFlags.ACK));
            assertEquals(ISS, s.seq());
            assertEquals(REMOTE_SEQ + 1, s.ack());
            assertEquals(h.mss(), s.tcp().mss());
            assertEquals(7, s.tcp().windowScale());
            assertTrue(s.tcp().sackPermitted());
            assertTrue(s.tcp().hasTimestamps());
            assertEquals(100, s.tcp().tsEcr(), "echoes the SYN's TSval");
            assertEquals(TcpState.SYN_RECEIVED, h.conn.state());
            h.expectNothing();
        }

        @Test
        void noOptionsOfferedMeansNoneUsed() {
            h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ).flags(TcpFlags.SYN).window(8192).noTimestamps());
            Segment s = h.recv();
            assertEquals(h.mss(), s.tcp().mss());
            assertEquals(-1, s.tcp().windowScale(), "RFC 7323: no WS in the SYN-ACK unless the SYN had it");
            assertFalse(s.tcp().sackPermitted());
            assertFalse(s.tcp().hasTimestamps());
            h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ + 1).ack(ISS + 1).flags(TcpFlags.ACK).window(8192)
                    .noTimestamps());
            assertEquals(TcpState.ESTABLISHED, h.conn.state());
            assertEquals(8192, h.conn.sndWnd(), "unscaled");
            assertEquals(536, Math.min(536, h.conn.effectiveMss()));
        }

        @Test
        void retransmittedSynGetsTheSynAckAgain() {
            h.send(TcpHarness.syn());
            h.recv();
            h.send(TcpHarness.syn());
            Segment again = h.recv();
            assertTrue(again.has(TcpFlags.SYN));
            assertEquals(ISS, again.seq());
        }

        @Test
        void synAckIsRetransmittedWithBackoffThenAbandoned() {
            h.send(TcpHarness.syn());
            h.recv();
            h.advanceMs(999);
            h.expectNothing();
            h.advanceMs(1);
            assertEquals(ISS, h.recv().seq(), "first retransmission after the 1 s initial RTO");
            h.advanceMs(1999);
            h.expectNothing();
            h.advanceMs(1);
            assertTrue(h.recv().has(TcpFlags.SYN), "second after 2 s (backoff)");
            for (int i = 0; i < 10 && h.conn.state() != TcpState.CLOSED; i++) {
                h.advanceMs(60_000);
            }
            assertEquals(TcpState.CLOSED, h.conn.state());
            assertTrue(h.app.events.contains("reset"));
            assertEquals(0, h.stack.tcp().connectionCount(), "removed from the table");
        }

        @Test
        void badAckInSynReceivedIsAnsweredWithReset() {
            h.send(TcpHarness.syn());
            h.recv();
            h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ + 1).ack(ISS + 99).flags(TcpFlags.ACK).timestamps(101, 0));
            Segment rst = h.recv();
            assertTrue(rst.has(TcpFlags.RST));
            assertEquals(ISS + 99, rst.seq());
            assertEquals(TcpState.SYN_RECEIVED, h.conn.state());
        }

        @Test
        void pendingSynIsNotDuplicatedAndRejectGivesRstAck() {
            h.autoAccept = false;
            h.send(TcpHarness.syn());
            h.send(TcpHarness.syn());
            h.expectNothing();
            assertEquals(1, h.counters.get("tcp.synWhileConnecting"));
            h.stack.tcp().reject(h.lastSyn, h.now);
            Segment rst = h.recv();
            assertTrue(rst.has(TcpFlags.RST) && rst.has(TcpFlags.ACK));
            assertEquals(0, rst.seq());
            assertEquals(REMOTE_SEQ + 1, rst.ack());
        }
    }

    // =============================================================================================
    @Nested
    class Established {
        @Test
        void inOrderDataIsDeliveredAndAckedDelayed() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1), "hello".getBytes());
            assertArrayEquals("hello".getBytes(), h.app.received.toByteArray());
            h.expectNothing();
            h.advanceMs(39);
            h.expectNothing();
            h.advanceMs(1);
            Segment ack = h.recv();
            assertEquals(REMOTE_SEQ + 6, ack.ack(), "delayed ACK after 40 ms");
            assertEquals(0, ack.len());
        }

        @Test
        void everySecondSegmentIsAckedAtOnce() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1), h.bytes(1000, 1));
            h.send(h.ack(REMOTE_SEQ + 1001, ISS + 1), h.bytes(1000, 2));
            Segment ack = h.recv();
            assertEquals(REMOTE_SEQ + 2001, ack.ack());
        }

        @Test
        void outOfOrderSegmentTriggersDupAckWithSackAndHoleFillAcksAll() {
            h.establish();
            byte[] a = h.bytes(100, 1);
            byte[] b = h.bytes(100, 2);
            h.send(h.ack(REMOTE_SEQ + 101, ISS + 1), b);
            Segment dup = h.recv();
            assertEquals(REMOTE_SEQ + 1, dup.ack());
            assertArrayEquals(new int[] {REMOTE_SEQ + 101, REMOTE_SEQ + 201}, dup.tcp().sackBlocks());
            assertEquals(0, h.app.received.size());
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1), a);
            Segment ack = h.recv();
            assertEquals(REMOTE_SEQ + 201, ack.ack(), "immediate ACK when a hole is filled");
            assertEquals(0, ack.tcp().sackBlocks().length);
            byte[] all = h.app.received.toByteArray();
            assertEquals(200, all.length);
            assertEquals(a[0], all[0]);
            assertEquals(b[0], all[100]);
        }

        @Test
        void overlappingRetransmissionIsTrimmed() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1), h.bytes(100, 1));
            h.send(h.ack(REMOTE_SEQ + 51, ISS + 1), h.bytes(100, 51 * 31 + 1)); // overlaps 50 bytes
            assertEquals(150, h.app.received.size());
        }

        @Test
        void oldDuplicateIsAckedAndDropped() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1), h.bytes(10, 1));
            h.advanceMs(40);
            h.recv();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1), h.bytes(10, 1));
            Segment ack = h.recv();
            assertEquals(REMOTE_SEQ + 11, ack.ack());
            assertEquals(10, h.app.received.size());
        }

        @Test
        void segmentBeyondTheWindowIsRejectedWithAnAck() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1 + 10_000_000, ISS + 1), h.bytes(10, 1));
            Segment ack = h.recv();
            assertEquals(REMOTE_SEQ + 1, ack.ack());
            assertEquals(1, h.counters.get("tcp.outOfWindow"));
            assertEquals(0, h.app.received.size());
        }

        @Test
        void dataOutIsSegmentedByMssAndReleasedOnAck() {
            h.establish();
            h.appSend(h.bytes(3000, 7));
            List<Segment> segs = h.drain();
            assertEquals(3, segs.size());
            int mss = h.conn.effectiveMss();
            assertEquals((h.mss() - 12), mss, "1460 - 12 bytes of timestamps");
            assertEquals(ISS + 1, segs.get(0).seq());
            assertEquals(mss, segs.get(0).len());
            assertEquals(ISS + 1 + 2 * mss, segs.get(2).seq());
            assertEquals(3000 - 2 * mss, segs.get(2).len());
            assertTrue(segs.get(2).has(TcpFlags.PSH));
            assertEquals(3000, h.conn.queuedBytes());
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 3001));
            assertEquals(0, h.conn.queuedBytes());
            assertTrue(h.app.events.contains("sendSpace"));
        }

        @Test
        void peerWindowScaleIsApplied() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).window(100));
            assertEquals(100 << 7, h.conn.sndWnd());
        }

        @Test
        void ourWindowIsScaledAndShrinksWhileTheAppDoesNotConsume() {
            h.establish();
            h.app.consumeImmediately = false;
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1), h.bytes(1448, 1));
            h.send(h.ack(REMOTE_SEQ + 1449, ISS + 1), h.bytes(1448, 2));
            Segment ack = h.recv();
            int window = ack.tcp().window() << 7;
            assertTrue(window <= 65536, "advertised " + window);
            // The right edge never retracts even though the buffer filled.
            assertTrue(REMOTE_SEQ + 2897 + window >= REMOTE_SEQ + 1 + 65535 - 128, "edge kept: " + window);
        }

        @Test
        void windowUpdateIsSentWhenTheAppCatchesUp() {
            TcpHarness small = new TcpHarness(TcpConfig.forMtu(1500).withBuffers(8192, 8192).withOptions(true, true, 0), family);
            try {
                small.establish();
                small.app.consumeImmediately = false;
                for (int i = 0; i < 4; i++) {
                    small.send(small.ack(REMOTE_SEQ + 1 + 2048 * i, ISS + 1), small.bytes(2048, i));
                }
                List<Segment> acks = small.drain();
                Segment last = acks.get(acks.size() - 1);
                assertEquals(REMOTE_SEQ + 8193, last.ack());
                assertEquals(0, last.tcp().window(), "the receive buffer is full");
                small.conn.consumed(8192, small.now);
                small.sw.flush();
                Segment update = small.recv();
                assertEquals(8192, update.tcp().window(), "window update once the app consumed");
            } finally {
                small.close();
            }
        }

        @Test
        void synInEstablishedGetsAChallengeAck() {
            h.establish();
            h.send(TcpHarness.syn().seq(REMOTE_SEQ + 500));
            Segment ack = h.recv();
            assertTrue(ack.has(TcpFlags.ACK) && !ack.has(TcpFlags.RST));
            assertEquals(REMOTE_SEQ + 1, ack.ack());
            assertEquals(TcpState.ESTABLISHED, h.conn.state());
        }

        @Test
        void ackForUnsentDataIsAnsweredAndIgnored() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 5000));
            assertEquals(ISS + 1, h.recv().seq());
            assertEquals(1, h.counters.get("tcp.ackOfUnsentData"));
        }

        @Test
        void pawsDropsSegmentsWithOldTimestamps() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).timestamps(500, 0), h.bytes(10, 1));
            h.send(h.ack(REMOTE_SEQ + 11, ISS + 1).timestamps(400, 0), h.bytes(10, 2));
            assertEquals(10, h.app.received.size());
            assertEquals(1, h.counters.get("tcp.pawsRejected"));
        }
    }

    // =============================================================================================
    @Nested
    class Resets {
        @Test
        void exactRstClosesAndReports() {
            h.establish();
            h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ + 1).flags(TcpFlags.RST).noTimestamps());
            assertEquals(TcpState.CLOSED, h.conn.state());
            assertEquals(List.of("established", "reset", "closed"), h.app.events);
            h.expectNothing();
        }

        @Test
        void inWindowButInexactRstGetsAChallengeAck() {
            h.establish();
            h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ + 100).flags(TcpFlags.RST).noTimestamps());
            Segment ack = h.recv();
            assertEquals(REMOTE_SEQ + 1, ack.ack());
            assertEquals(TcpState.ESTABLISHED, h.conn.state());
        }

        @Test
        void outOfWindowRstIsIgnoredSilently() {
            h.establish();
            h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ - 100_000).flags(TcpFlags.RST).noTimestamps());
            h.expectNothing();
            assertEquals(TcpState.ESTABLISHED, h.conn.state());
        }

        @Test
        void segmentForNoConnectionGetsRst() {
            h.send(h.ack(5, 777), h.bytes(3, 1));
            Segment rst = h.recv();
            assertTrue(rst.has(TcpFlags.RST));
            assertFalse(rst.has(TcpFlags.ACK));
            assertEquals(777, rst.seq());
        }

        @Test
        void rstForNoConnectionIsNeverAnswered() {
            h.send(TcpHarness.fromGuest().seq(5).flags(TcpFlags.RST).noTimestamps());
            h.expectNothing();
        }

        @Test
        void abortSendsRst() {
            h.establish();
            h.conn.abort(h.now);
            Segment rst = h.recv();
            assertTrue(rst.has(TcpFlags.RST));
            assertEquals(ISS + 1, rst.seq());
            assertEquals(0, h.stack.tcp().connectionCount());
        }
    }

    // =============================================================================================
    @Nested
    class Retransmission {
        @Test
        void timeoutRetransmitsWithExponentialBackoff() {
            h.establish();
            h.appSend(h.bytes(100, 1));
            Segment first = h.recv();
            long rto = h.conn.rto();
            h.advance(rto - 1);
            h.expectNothing();
            h.advance(1);
            Segment again = h.recv();
            assertEquals(first.seq(), again.seq());
            assertEquals(100, again.len());
            assertEquals(h.conn.effectiveMss(), h.conn.cwnd(), "loss window of one segment");
            h.advance(2 * rto - 1);
            h.expectNothing();
            h.advance(1);
            assertEquals(first.seq(), h.recv().seq(), "backed off to twice the RTO");
        }

        @Test
        void abortAfterTooManyRetransmissions() {
            h.establish();
            h.appSend(h.bytes(100, 1));
            for (int i = 0; i < 40 && h.conn.state() != TcpState.CLOSED; i++) {
                h.advanceMs(60_000);
            }
            assertEquals(TcpState.CLOSED, h.conn.state());
            assertTrue(h.app.events.contains("reset"));
            List<Segment> all = h.drain();
            assertTrue(all.get(all.size() - 1).has(TcpFlags.RST), "a RST tells the peer");
        }

        @Test
        void threeDuplicateAcksTriggerFastRetransmit() {
            h.establish();
            h.appSend(h.bytes(5 * (h.mss() - 12), 3));
            List<Segment> segs = h.drain();
            assertEquals(5, segs.size());
            for (int i = 0; i < 2; i++) {
                h.send(h.ack(REMOTE_SEQ + 1, ISS + 1));
                h.expectNothing();
            }
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1));
            Segment rtx = h.recv();
            assertEquals(ISS + 1, rtx.seq(), "fast retransmit of the first segment");
            assertEquals((h.mss() - 12), rtx.len());
            assertEquals(1, h.counters.get("tcp.fastRetransmit"));
            // A partial ACK (NewReno) retransmits the next hole at once.
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1 + (h.mss() - 12)));
            Segment next = h.recv();
            assertEquals(ISS + 1 + (h.mss() - 12), next.seq());
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1 + 5 * (h.mss() - 12)));
            assertEquals(0, h.conn.queuedBytes());
        }

        @Test
        void sackBlocksSteerRetransmissionsToTheHoles() {
            h.establish();
            int mss = (h.mss() - 12);
            h.appSend(h.bytes(6 * mss, 4));
            h.drain();
            // The guest got segments 0, 2, 4 and 5; 1 and 3 were lost.
            int s0 = ISS + 1;
            h.send(h.ack(REMOTE_SEQ + 1, s0 + mss).sackBlocks(s0 + 2 * mss, s0 + 3 * mss));
            h.expectNothing(); // one SACKed segment beyond the hole is not yet loss
            h.send(h.ack(REMOTE_SEQ + 1, s0 + mss).sackBlocks(s0 + 4 * mss, s0 + 6 * mss, s0 + 2 * mss, s0 + 3 * mss));
            // Three segments SACKed above SND.UNA: RFC 6675 IsLost(SND.UNA) holds after one duplicate ACK.
            List<Segment> rtx = h.drain();
            h.send(h.ack(REMOTE_SEQ + 1, s0 + mss).sackBlocks(s0 + 4 * mss, s0 + 6 * mss, s0 + 2 * mss, s0 + 3 * mss));
            rtx.addAll(h.drain());
            List<Integer> holes = rtx.stream().map(s -> (s.seq() - s0) / mss).toList();
            assertEquals(List.of(1, 3), holes, "exactly the holes, SACKed data is never resent");
            assertEquals(1, h.counters.get("tcp.fastRetransmit"));
        }
    }

    // =============================================================================================
    @Nested
    class ZeroWindow {
        @Test
        void persistProbesUntilTheWindowOpens() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).window(0));
            h.appSend(h.bytes(500, 5));
            h.expectNothing();
            long rto = h.conn.rto();
            h.advance(rto);
            Segment probe = h.recv();
            assertEquals(ISS, probe.seq(), "probe with an old sequence number");
            assertEquals(0, probe.len());
            h.advance(2 * rto);
            h.recv();
            assertEquals(2, h.counters.get("tcp.out.persistProbes"));
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).window(1000));
            Segment data = h.recv();
            assertEquals(ISS + 1, data.seq());
            assertEquals(500, data.len());
        }
    }

    // =============================================================================================
    @Nested
    class Closing {
        @Test
        void guestHalfCloseThenAppCloses() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
            h.advance(h.config.delayedAck()); // the ACK waits for a FIN of ours; the app keeps its side open
            Segment ack = h.recv();
            assertEquals(REMOTE_SEQ + 2, ack.ack());
            assertEquals(TcpState.CLOSE_WAIT, h.conn.state());
            assertTrue(h.app.events.contains("fin"));
            // The host side still sends after the guest's FIN (half-close).
            h.appSend("late".getBytes());
            assertEquals(4, h.recv().len());
            h.conn.shutdownOutput(h.now);
            Segment fin = h.recv();
            assertTrue(fin.has(TcpFlags.FIN));
            assertEquals(ISS + 5, fin.seq());
            assertEquals(TcpState.LAST_ACK, h.conn.state());
            h.send(h.ack(REMOTE_SEQ + 2, ISS + 6));
            assertEquals(TcpState.CLOSED, h.conn.state());
            assertEquals(0, h.stack.tcp().connectionCount());
        }

        @Test
        void appClosesFirstThroughTimeWait() {
            h.establish();
            h.conn.shutdownOutput(h.now);
            Segment fin = h.recv();
            assertTrue(fin.has(TcpFlags.FIN));
            assertEquals(TcpState.FIN_WAIT_1, h.conn.state());
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 2));
            assertEquals(TcpState.FIN_WAIT_2, h.conn.state());
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 2), "more".getBytes());
            assertEquals(4, h.app.received.size(), "data still flows towards the app in FIN-WAIT-2");
            h.send(h.ack(REMOTE_SEQ + 5, ISS + 2).flags(TcpFlags.ACK | TcpFlags.FIN));
            assertEquals(TcpState.TIME_WAIT, h.conn.state());
            assertEquals(REMOTE_SEQ + 6, h.drain().getLast().ack());
            h.advance(h.config.timeWait() - 1);
            assertEquals(TcpState.TIME_WAIT, h.conn.state());
            h.advance(1);
            assertEquals(TcpState.CLOSED, h.conn.state());
        }

        @Test
        void simultaneousCloseGoesThroughClosing() {
            h.establish();
            h.conn.shutdownOutput(h.now);
            h.recv();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
            assertEquals(TcpState.CLOSING, h.conn.state());
            h.recv();
            h.send(h.ack(REMOTE_SEQ + 2, ISS + 2));
            assertEquals(TcpState.TIME_WAIT, h.conn.state());
        }

        @Test
        void lostFinIsRetransmitted() {
            h.establish();
            h.conn.shutdownOutput(h.now);
            h.recv();
            h.advance(h.conn.rto());
            Segment again = h.recv();
            assertTrue(again.has(TcpFlags.FIN));
            assertEquals(ISS + 1, again.seq());
        }

        @Test
        void outOfOrderFinWaitsForTheData() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 11, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN), h.bytes(5, 2));
            assertEquals(TcpState.ESTABLISHED, h.conn.state());
            h.drain();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1), h.bytes(10, 1));
            assertEquals(TcpState.CLOSE_WAIT, h.conn.state());
            assertEquals(15, h.app.received.size());
            assertEquals(REMOTE_SEQ + 17, h.drain().getLast().ack());
        }

        @Test
        void newSynReusesATimeWaitTuple() {
            h.establish();
            h.conn.shutdownOutput(h.now);
            h.recv();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 2).flags(TcpFlags.ACK | TcpFlags.FIN));
            assertEquals(TcpState.TIME_WAIT, h.conn.state());
            h.drain();
            h.send(TcpHarness.syn().seq(REMOTE_SEQ + 100_000));
            Segment synAck = h.recv();
            assertTrue(synAck.has(TcpFlags.SYN));
            assertEquals(REMOTE_SEQ + 100_001, synAck.ack());
        }
    }

    // =============================================================================================
    @Nested
    class ActiveOpen {
        @Test
        void connectHandshakeAndData() {
            TcpConnection c = h.stack.tcp().connect(h.dstAddr, TcpHarness.DST_PORT, h.guestAddr,
                    TcpHarness.GUEST_PORT, h.app, h.now);
            h.conn = c;
            Segment syn = h.recv();
            assertTrue(syn.has(TcpFlags.SYN) && !syn.has(TcpFlags.ACK));
            assertEquals(ISS, syn.seq());
            assertEquals(h.mss(), syn.tcp().mss());
            assertTrue(syn.tcp().windowScale() >= 0);
            assertTrue(syn.tcp().sackPermitted());
            assertTrue(syn.tcp().hasTimestamps());
            assertEquals(TcpState.SYN_SENT, c.state());
            h.send(TcpHarness.syn().seq(5000).ack(ISS + 1).flags(TcpFlags.SYN | TcpFlags.ACK)
                    .timestamps(77, syn.tcp().tsVal()));
            Segment ack = h.recv();
            assertEquals(5001, ack.ack());
            assertEquals(TcpState.ESTABLISHED, c.state());
            assertEquals(List.of("established"), h.app.events);
            h.appSend("ping".getBytes());
            assertEquals(4, h.recv().len());
        }

        @Test
        void refusedConnectIsReported() {
            TcpConnection c = h.stack.tcp().connect(h.dstAddr, TcpHarness.DST_PORT, h.guestAddr,
                    TcpHarness.GUEST_PORT, h.app, h.now);
            h.recv();
            h.send(TcpHarness.fromGuest().seq(0).ack(ISS + 1).flags(TcpFlags.RST | TcpFlags.ACK).noTimestamps());
            assertEquals(TcpState.CLOSED, c.state());
            assertEquals(List.of("reset", "closed"), h.app.events);
        }

        @Test
        void synIsRetransmittedUntilAnswered() {
            h.stack.tcp().connect(h.dstAddr, TcpHarness.DST_PORT, h.guestAddr,
                    TcpHarness.GUEST_PORT, h.app, h.now);
            h.recv();
            h.advanceMs(1000);
            Segment again = h.recv();
            assertTrue(again.has(TcpFlags.SYN));
            assertNull(h.out.peek());
        }
    }

    // =============================================================================================
    @Nested
    class Keepalive {
        @Test
        void probesAndAbortsAfterTheCount() {
            TcpHarness k = new TcpHarness(TcpConfig.forMtu(1500).withBuffers(65536, 65536)
                    .withKeepalive(10_000 * MS, 1_000 * MS, 3), family);
            try {
                k.establish();
                k.advanceMs(10_000);
                Segment probe = k.recv();
                assertEquals(ISS, probe.seq());
                k.send(k.ack(REMOTE_SEQ + 1, ISS + 1)); // answered: idle timer restarts
                k.advanceMs(9_999);
                k.expectNothing();
                for (int i = 0; i < 4; i++) {
                    k.advanceMs(10_000);
                }
                assertEquals(TcpState.CLOSED, k.conn.state());
                assertEquals(1, k.counters.get("tcp.aborted"));
            } finally {
                k.close();
            }
        }
    }
}
