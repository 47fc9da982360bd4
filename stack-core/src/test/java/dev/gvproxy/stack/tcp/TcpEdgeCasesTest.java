package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.MS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** More scripted exchanges: sender limits, RTT/RTO, congestion window, close-state corners, SYN-SENT. */
@org.junit.jupiter.params.ParameterizedClass(name = "{0}")
@org.junit.jupiter.params.provider.EnumSource(TcpHarness.Family.class)
class TcpEdgeCasesTest {
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

    @Nested
    class SenderLimits {
        @Test
        void neverSendsBeyondThePeersWindow() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).window(2000 >> 7)); // 15 << 7 = 1920 bytes
            h.appSend(h.bytes(10_000, 1));
            // One full segment; the 472 bytes left in the window wait (sender SWS avoidance, RFC 1122
            // 4.2.3.4: less than half the largest window the peer offered, while data is in flight).
            assertEquals((h.mss() - 12), h.drain().stream().mapToInt(Segment::len).sum());
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1 + (h.mss() - 12)).window(2000 >> 7));
            List<Segment> next = h.drain();
            int sent = next.stream().mapToInt(Segment::len).sum();
            assertEquals((h.mss() - 12), sent, "the window slid by what was acknowledged");
            assertTrue(next.get(next.size() - 1).seq() + next.get(next.size() - 1).len() <= ISS + 1 + (h.mss() - 12) + 1920,
                    "never beyond SND.UNA + SND.WND");
        }

        @Test
        void initialCongestionWindowIsTenSegmentsAndGrowsInSlowStart() {
            h.establish();
            h.appSend(h.bytes(40 * (h.mss() - 12), 2));
            List<Segment> first = h.drain();
            assertEquals(10, first.size(), "RFC 6928 initial window");
            int cwnd = h.conn.cwnd();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1 + 2 * (h.mss() - 12)));
            assertEquals(cwnd + 2 * (h.mss() - 12), h.conn.cwnd(), "slow start: +2 MSS for an ACK of 2 MSS (RFC 3465 L=2)");
            assertEquals(4, h.drain().size(), "two freed + two from growth");
        }

        @Test
        void peerMssClampsOurSegments() {
            h.send(TcpHarness.syn().mss(500));
            h.recv();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1));
            h.appSend(h.bytes(2000, 3));
            for (Segment s : h.drain()) {
                assertTrue(s.len() <= 488, "500 - 12 bytes of timestamps: " + s.len());
            }
        }

        @Test
        void sendSpaceShrinksAsDataIsQueued() {
            h.establish();
            int before = h.conn.sendSpace();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).window(0));
            h.appSend(h.bytes(1000, 4));
            assertEquals(before - 1000, h.conn.sendSpace());
        }

        @Test
        void delayedAckIsCancelledByOutgoingData() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1), h.bytes(10, 1));
            h.appSend("reply".getBytes());
            Segment data = h.recv();
            assertEquals(REMOTE_SEQ + 11, data.ack(), "the data segment carries the ACK");
            h.advanceMs(45); // past the 40 ms delayed-ACK timer, before the 50 ms minimum RTO
            h.expectNothing();
        }
    }

    @Nested
    class RttAndRto {
        @Test
        void timestampEchoesProduceRttSamples() {
            h.establish();
            h.appSend(h.bytes(100, 1));
            Segment s = h.recv();
            h.advanceMs(100);
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 101).timestamps(300, s.tcp().tsVal()));
            long rto = h.conn.rto();
            // RFC 6298 after a ~0 ms handshake sample and a 100 ms one: SRTT 12.5 ms, RTTVAR 25 ms -> 112.5 ms.
            assertTrue(rto >= 110 * MS && rto <= 115 * MS, "RTO " + rto / MS + " ms");
        }

        @Test
        void withoutTimestampsKarnSkipsRetransmittedSegments() {
            h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ).flags(TcpFlags.SYN).window(65535).mss(1460).noTimestamps());
            h.recv();
            h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ + 1).ack(ISS + 1).flags(TcpFlags.ACK).window(65535)
                    .noTimestamps());
            long afterHandshake = h.conn.rto();
            h.appSend(h.bytes(100, 1));
            h.recv();
            h.advance(h.conn.rto());
            h.recv(); // retransmission
            long backedOff = h.conn.rto();
            h.advanceMs(5);
            h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ + 1).ack(ISS + 101).flags(TcpFlags.ACK).window(65535)
                    .noTimestamps());
            assertTrue(backedOff > afterHandshake);
            assertEquals(afterHandshake, h.conn.rto(), "no sample from the ambiguous ACK; backoff cleared");
        }

        @Test
        void minimumRtoIsHonoured() {
            h.establish();
            for (int i = 0; i < 5; i++) {
                h.appSend(h.bytes(10, i));
                Segment s = h.recv();
                h.send(h.ack(REMOTE_SEQ + 1, s.seq() + 10).timestamps(300 + i, s.tcp().tsVal()));
            }
            assertEquals(h.config.minRto(), h.conn.rto(), "sub-millisecond RTTs clamp to the minimum");
        }
    }

    @Nested
    class TailLossProbe {
        @Test
        void silenceAfterAFlightSendsOneProbeBeforeTheTimeout() {
            h.establish();
            h.appSend(h.bytes(3 * (h.mss() - 12), 1));
            assertEquals(3, h.drain().size());
            h.advanceMs(9);
            h.expectNothing();
            h.advanceMs(1); // PTO = max(2 SRTT, 10 ms)
            Segment probe = h.recv();
            assertEquals(ISS + 1 + 2 * (h.mss() - 12), probe.seq(), "the last segment, since no new data waits");
            assertEquals(1, h.counters.get("tcp.out.tailLossProbes"));
            h.advanceMs(20);
            h.expectNothing(); // one probe per flight
        }

        @Test
        void aSackedProbeWithAHoleBelowStartsRecoveryAtOnce() {
            h.establish();
            int mss = (h.mss() - 12);
            h.appSend(h.bytes(3 * mss, 2));
            h.drain();
            h.advanceMs(10);
            Segment probe = h.recv();
            int s0 = ISS + 1;
            // Everything but the probe was lost: the guest SACKs the probe.
            h.send(h.ack(REMOTE_SEQ + 1, s0).sackBlocks(probe.seq(), probe.seq() + probe.len()));
            Segment rtx = h.recv();
            assertEquals(s0, rtx.seq(), "the hole is retransmitted without waiting for the RTO");
            assertEquals(1, h.counters.get("tcp.fastRetransmit"));
            assertEquals(0, h.counters.get("tcp.retransmitTimeout"));
        }
    }

    @Nested
    class DuplicateAcks {
        @Test
        void acksCarryingDataOrWindowChangesAreNotDuplicates() {
            h.establish();
            h.appSend(h.bytes(4 * (h.mss() - 12), 1));
            h.drain();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1), h.bytes(5, 1));
            h.send(h.ack(REMOTE_SEQ + 6, ISS + 1).window(400));
            h.send(h.ack(REMOTE_SEQ + 6, ISS + 1).window(401));
            h.drain();
            assertEquals(0, h.counters.get("tcp.fastRetransmit"));
        }

        @Test
        void veryOldAckGetsAChallengeAck() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1 - 10_000_000));
            Segment ack = h.recv();
            assertEquals(REMOTE_SEQ + 1, ack.ack());
            assertEquals(1, h.counters.get("tcp.out.challengeAcks"));
        }
    }

    @Nested
    class Receiving {
        @Test
        void dataWhenOurWindowIsZeroIsRefusedWithAnAck() {
            TcpHarness z = new TcpHarness(TcpConfig.forMtu(1500).withBuffers(4096, 4096).withOptions(true, true, 0), family);
            try {
                z.establish();
                z.app.consumeImmediately = false;
                z.send(z.ack(REMOTE_SEQ + 1, ISS + 1), z.bytes(4096, 1));
                z.drain();
                z.send(z.ack(REMOTE_SEQ + 4097, ISS + 1), z.bytes(100, 2));
                Segment ack = z.recv();
                assertEquals(REMOTE_SEQ + 4097, ack.ack());
                assertEquals(0, ack.tcp().window());
                assertEquals(4096, z.app.received.size(), "nothing beyond the window was taken");
            } finally {
                z.close();
            }
        }

        @Test
        void outOfOrderQueueIsBounded() {
            TcpHarness b = new TcpHarness(new TcpConfig(1460, 65536, 65536, 0, true, true, 1_000 * MS, 200 * MS,
                    60_000 * MS, 40 * MS, 2_000 * MS, 15, 6, 0, 0, 0, 4), family);
            try {
                b.establish();
                for (int i = 1; i <= 8; i++) {
                    b.send(b.ack(REMOTE_SEQ + 1 + 20 * i, ISS + 1), b.bytes(10, i)); // every segment leaves a gap
                }
                assertTrue(b.counters.get("tcp.outOfOrderOverflow") >= 4, b.counters.snapshot().toString());
                assertTrue(b.conn.outOfOrderBytes() <= 40);
            } finally {
                b.close();
            }
        }

        @Test
        void sackBlocksListTheMostRecentFirst() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 101, ISS + 1), h.bytes(100, 1));
            h.recv();
            h.send(h.ack(REMOTE_SEQ + 301, ISS + 1), h.bytes(100, 2));
            Segment dup = h.recv();
            int[] blocks = dup.tcp().sackBlocks();
            assertEquals(REMOTE_SEQ + 301, blocks[0], "RFC 2018: the newest block first");
            assertEquals(REMOTE_SEQ + 101, blocks[2]);
        }

        @Test
        void synWithDataIsNotDeliveredBeforeTheHandshake() {
            h.send(TcpHarness.syn(), "early".getBytes());
            Segment synAck = h.recv();
            assertEquals(REMOTE_SEQ + 1, synAck.ack(), "data on the SYN is not acknowledged");
            assertEquals(0, h.app.received.size());
        }

        @Test
        void reorderedPureAckWithAnOlderTimestampIsStillProcessed() {
            h.establish();
            h.appSend(h.bytes(2000, 1));
            h.drain();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).timestamps(900, 0).window(512));
            // An ACK sent earlier (older TSval) arrives late: PAWS must not hide its acknowledgement.
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1001).timestamps(800, 0).window(512));
            assertEquals(ISS + 1001, h.conn.sndUna());
            assertEquals(0, h.counters.get("tcp.pawsRejected"));
        }

        @Test
        void rstIsExemptFromPaws() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).timestamps(500, 0), h.bytes(1, 1));
            h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ + 2).flags(TcpFlags.RST).timestamps(1, 0));
            assertEquals(TcpState.CLOSED, h.conn.state());
        }
    }

    @Nested
    class ClosingCorners {
        @Test
        void dataAfterTheGuestsFinIsIgnored() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
            h.drain();
            h.send(h.ack(REMOTE_SEQ + 2, ISS + 1), h.bytes(5, 1));
            assertEquals(0, h.app.received.size());
            assertEquals(TcpState.CLOSE_WAIT, h.conn.state());
        }

        @Test
        void lastAckRetransmitsItsFin() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
            h.drain();
            h.conn.shutdownOutput(h.now);
            h.recv();
            h.advance(h.conn.rto());
            Segment again = h.recv();
            assertTrue(again.has(TcpFlags.FIN));
            assertEquals(TcpState.LAST_ACK, h.conn.state());
        }

        @Test
        void retransmittedFinInTimeWaitIsAckedAgainAndRestartsTheTimer() {
            h.establish();
            h.conn.shutdownOutput(h.now);
            h.recv();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 2).flags(TcpFlags.ACK | TcpFlags.FIN));
            h.drain();
            h.advance(h.config.timeWait() - 10 * MS);
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 2).flags(TcpFlags.ACK | TcpFlags.FIN));
            Segment ack = h.recv();
            assertEquals(REMOTE_SEQ + 2, ack.ack());
            h.advanceMs(20);
            assertEquals(TcpState.TIME_WAIT, h.conn.state(), "2 MSL restarted");
            h.advance(h.config.timeWait());
            assertEquals(TcpState.CLOSED, h.conn.state());
        }

        @Test
        void finCarryingDataIsDeliveredThenClosed() {
            h.establish();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN | TcpFlags.PSH), h.bytes(7, 1));
            assertEquals(7, h.app.received.size());
            h.advance(h.config.delayedAck());
            assertEquals(REMOTE_SEQ + 9, h.recv().ack());
            assertEquals(List.of("established", "fin"), h.app.events);
        }

        @Test
        void sendAfterShutdownIsRefusedAndCounted() {
            h.establish();
            h.conn.shutdownOutput(h.now);
            h.drain();
            assertEquals(0, h.conn.sendSpace());
            h.appSend(h.bytes(3, 1));
            h.expectNothing();
            assertEquals(1, h.counters.get("tcp.dataAfterClose"));
        }
    }

    @Nested
    class SynSent {
        TcpConnection connect() {
            TcpConnection c = h.stack.tcp().connect(h.dstAddr, TcpHarness.DST_PORT, h.guestAddr,
                    TcpHarness.GUEST_PORT, h.app, h.now);
            h.conn = c;
            h.recv();
            return c;
        }

        @Test
        void synAckWithABadAckIsAnsweredWithRst() {
            TcpConnection c = connect();
            h.send(TcpHarness.syn().seq(5000).ack(ISS + 77).flags(TcpFlags.SYN | TcpFlags.ACK));
            Segment rst = h.recv();
            assertTrue(rst.has(TcpFlags.RST));
            assertEquals(ISS + 77, rst.seq());
            assertEquals(TcpState.SYN_SENT, c.state());
        }

        @Test
        void rstWithoutAnAcceptableAckIsIgnored() {
            TcpConnection c = connect();
            h.send(TcpHarness.fromGuest().seq(0).ack(ISS + 50).flags(TcpFlags.RST | TcpFlags.ACK).noTimestamps());
            assertEquals(TcpState.SYN_SENT, c.state());
        }

        @Test
        void simultaneousOpenGoesThroughSynReceived() {
            TcpConnection c = connect();
            h.send(TcpHarness.syn().seq(5000));
            Segment synAck = h.recv();
            assertTrue(synAck.has(TcpFlags.SYN) && synAck.has(TcpFlags.ACK));
            assertEquals(5001, synAck.ack());
            assertEquals(TcpState.SYN_RECEIVED, c.state());
            h.send(h.ack(5001, ISS + 1));
            assertEquals(TcpState.ESTABLISHED, c.state());
        }

        @Test
        void peerWithoutWindowScalingGetsUnscaledWindows() {
            TcpConnection c = connect();
            h.send(TcpHarness.fromGuest().seq(5000).ack(ISS + 1).flags(TcpFlags.SYN | TcpFlags.ACK).window(30000)
                    .mss(1460).noTimestamps());
            Segment ack = h.recv();
            assertEquals(0, c.receiveWindowShift());
            assertEquals(0, c.sendWindowShift());
            assertTrue(ack.tcp().window() <= 65535);
            assertFalse(ack.tcp().hasTimestamps());
            assertEquals(30000, c.sndWnd());
        }
    }
}
