package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import java.io.ByteArrayOutputStream;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The sending half: window scaling both ways, the peer's window as a hard limit (also when it shrinks),
 * segmentation and PSH, sender SWS avoidance, the persist timer, and the send buffer bound.
 */
class TcpSenderTest {
    static final int MSS = 1448; // 1460 - 12 bytes of timestamps
    static final int R1 = REMOTE_SEQ + 1;

    TcpHarness h = new TcpHarness();

    @AfterEach
    void tearDown() {
        h.close();
    }

    /** Handshake with a peer using window scale {@code peerShift} (-1: none), then its window (raw field). */
    void establish(int peerShift, int rawWindow) {
        var syn = TcpHarness.syn();
        if (peerShift < 0) {
            syn.windowScale(-1);
        } else {
            syn.windowScale(peerShift);
        }
        h.send(syn);
        h.recv();
        h.send(h.ack(R1, ISS + 1).window(rawWindow));
        assertEquals(TcpState.ESTABLISHED, h.conn.state());
        h.drain();
    }

    static int sum(List<Segment> l) {
        return l.stream().mapToInt(Segment::len).sum();
    }

    @Nested
    class WindowScaling {
        @ParameterizedTest(name = "peer shift {0}")
        @ValueSource(ints = {0, 1, 7, 14})
        void peersWindowIsScaledByItsShift(int shift) {
            establish(shift, 3);
            assertEquals(shift, h.conn.sendWindowShift());
            assertEquals(3 << shift, h.conn.sndWnd());
        }

        @Test
        void shiftAbove14IsTreatedAs14() {
            establish(15, 1);
            assertEquals(14, h.conn.sendWindowShift(), "RFC 7323 2.3: values above 14 are used as 14");
            assertEquals(1 << 14, h.conn.sndWnd());
        }

        @Test
        void synWindowIsNeverScaled() {
            h.send(TcpHarness.syn().windowScale(7).window(1000));
            h.recv();
            assertEquals(1000, h.conn.sndWnd(), "RFC 7323 2.2: the window in a SYN is not scaled");
        }

        @ParameterizedTest(name = "our shift {0}: SYN-ACK offers it, later windows use it (raw {1})")
        @CsvSource({"0, 65335", "1, 65485", "7, 8191", "14, 63"})
        void ourShiftIsOfferedAndApplied(int shift, int expectedRaw) {
            h.close();
            h = new TcpHarness(TcpConfig.forMtu(1500).withBuffers(1 << 20, 1 << 20).withOptions(true, true, shift));
            h.send(TcpHarness.syn());
            Segment synAck = h.recv();
            assertEquals(shift, synAck.tcp().windowScale());
            assertEquals(65535, synAck.tcp().window(), "unscaled in the SYN-ACK");
            h.send(h.ack(R1, ISS + 1));
            assertEquals(shift, h.conn.receiveWindowShift());
            h.send(h.ack(R1, ISS + 1), h.bytes(100, 1));
            h.send(h.ack(R1 + 100, ISS + 1), h.bytes(100, 2));
            // With a shift, the first data already opens the window beyond the SYN-ACK's 64 KiB (a window update at
            // the end of its batch); the second segment is then a lone one, acknowledged by the delayed ACK, the
            // one that counts.
            h.advance(h.config.delayedAck());
            Segment ack = h.drain().getLast();
            assertEquals(R1 + 200, ack.ack());
            // The right edge stays where it was offered (receiver SWS avoidance: no tiny openings), so the
            // window is that edge minus the 100 bytes received since, rounded down to the scale unit: 65535 - 200
            // unscaled; (2 * 65535 - 100) >> 1; (1 MiB - 100) >> 7; (1 MiB - 100) >> 14.
            assertEquals(expectedRaw, ack.tcp().window());
            assertTrue(((long) ack.tcp().window() << shift) <= 1 << 20, "never beyond the buffer");
        }

        @Test
        void peerWithoutScalingMeansNeitherSideScales() {
            establish(-1, 5000);
            assertEquals(0, h.conn.sendWindowShift());
            assertEquals(0, h.conn.receiveWindowShift());
            assertEquals(5000, h.conn.sndWnd());
        }
    }

    @Nested
    class PeerWindow {
        @Test
        void sendsExactlyUpToTheRightEdge() {
            establish(0, 3 * MSS);
            h.appSend(h.bytes(10 * MSS, 1));
            List<Segment> out = h.drain();
            assertEquals(3, out.size());
            Segment last = out.get(2);
            assertEquals(ISS + 1 + 3 * MSS, last.seq() + last.len(), "SND.UNA + SND.WND exactly");
            h.send(h.ack(R1, ISS + 1 + MSS).window(3 * MSS));
            out = h.drain();
            assertEquals(1, out.size(), "the window slid by one segment");
            assertEquals(ISS + 1 + 3 * MSS, out.get(0).seq());
            assertEquals(MSS, out.get(0).len());
        }

        @Test
        void windowSmallerThanAnMssIsUsedWhenNothingIsInFlight() {
            establish(0, 500);
            h.appSend(h.bytes(2000, 1));
            Segment s = h.recv();
            assertEquals(500, s.len(), "with nothing in flight a partial segment may fill the window");
            h.expectNothing();
        }

        @Test
        void shrinkingWindowStopsNewData() {
            establish(0, 10 * MSS);
            h.appSend(h.bytes(20 * MSS, 1));
            assertEquals(10, h.drain().size());
            // The peer acknowledges one segment but shrinks its window to 2 MSS: the right edge moves left
            // (RFC 9293 3.8.6.2.1 "shrinking the window"); nothing new may go out.
            h.send(h.ack(R1, ISS + 1 + MSS).window(2 * MSS));
            h.expectNothing();
            assertEquals(2 * MSS, h.conn.sndWnd());
            // Once the ACKs catch up with the shrunken edge, sending resumes within it.
            h.send(h.ack(R1, ISS + 1 + 10 * MSS).window(2 * MSS));
            List<Segment> out = h.drain();
            assertEquals(2, out.size());
            assertEquals(ISS + 1 + 12 * MSS, out.get(1).seq() + out.get(1).len());
        }

        @Test
        void windowUpdateFromAnOlderSegmentIsIgnored() {
            establish(0, 4 * MSS);
            h.send(h.ack(R1, ISS + 1), h.bytes(10, 1)); // peer's SND.WL1 moves to R1
            h.send(h.ack(R1 + 10, ISS + 1).window(4 * MSS));
            // A reordered, older segment (lower SEG.SEQ) must not change the window (RFC 9293 SND.WL1 check).
            h.send(h.ack(R1, ISS + 1).window(100));
            assertEquals(4 * MSS, h.conn.sndWnd());
        }

        @Test
        void pureWindowUpdateOpensTheWindow() {
            establish(0, MSS);
            h.appSend(h.bytes(3 * MSS, 1));
            assertEquals(1, h.drain().size());
            h.send(h.ack(R1, ISS + 1).window(3 * MSS));
            assertEquals(2, h.drain().size(), "same ACK, bigger window: the rest goes");
            assertEquals(0, h.counters.get("tcp.in.dupAcks"), "a window update is not a duplicate ACK");
        }
    }

    @Nested
    class Segmentation {
        @Test
        void pshOnlyOnTheSegmentThatEmptiesTheQueue() {
            establish(7, 1000);
            h.appSend(h.bytes(3000, 1));
            List<Segment> out = h.drain();
            assertEquals(List.of(MSS, MSS, 3000 - 2 * MSS), out.stream().map(Segment::len).toList());
            assertFalse(out.get(0).has(TcpFlags.PSH));
            assertFalse(out.get(1).has(TcpFlags.PSH));
            assertTrue(out.get(2).has(TcpFlags.PSH));
        }

        @Test
        void payloadIsTheApplicationsBytesAcrossWrites() {
            establish(7, 1000);
            byte[] a = h.bytes(1000, 1);
            byte[] b = h.bytes(1000, 2);
            h.appSend(a);
            h.appSend(b);
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            h.drain().forEach(s -> got.writeBytes(s.payload()));
            ByteArrayOutputStream want = new ByteArrayOutputStream();
            want.writeBytes(a);
            want.writeBytes(b);
            assertArrayEquals(want.toByteArray(), got.toByteArray());
        }

        @Test
        void smallWritesGoOutAtOnceWithoutNagle() {
            establish(7, 1000);
            h.appSend(h.bytes(10, 1));
            h.appSend(h.bytes(10, 2));
            List<Segment> out = h.drain();
            assertEquals(2, out.size(), "no Nagle: the gateway relays host writes as they come");
            assertEquals(ISS + 11, out.get(1).seq());
        }

        @Test
        void sendersSwsAvoidanceHoldsATinyTailWhileDataIsInFlight() {
            establish(0, 2 * MSS + 100);
            h.appSend(h.bytes(4 * MSS, 1));
            assertEquals(2, h.drain().size(), "100 bytes of window left: less than an MSS, held");
            h.send(h.ack(R1, ISS + 1 + 2 * MSS).window(2 * MSS + 100));
            assertEquals(2, h.drain().size(), "full segments again");
        }

        @Test
        void sequenceNumbersAreContiguous() {
            establish(7, 1000);
            h.appSend(h.bytes(10 * MSS, 1));
            int next = ISS + 1;
            for (Segment s : h.drain()) {
                assertEquals(next, s.seq());
                assertEquals(R1, s.ack());
                next += s.len();
            }
            assertEquals(ISS + 1 + 10 * MSS, next);
        }
    }

    @Nested
    class Persist {
        @Test
        void probesBackOffExponentially() {
            establish(7, 0);
            h.appSend(h.bytes(1000, 1));
            h.expectNothing();
            long rto = h.conn.rto();
            long gap = rto;
            for (int i = 0; i < 5; i++) {
                h.advance(gap - 1);
                h.expectNothing();
                h.advance(1);
                Segment probe = h.recv();
                assertEquals(ISS, probe.seq(), "Linux-style probe: SND.UNA - 1, no data");
                assertEquals(0, probe.len());
                assertEquals(TcpFlags.ACK, probe.tcp().flags());
                h.send(h.ack(R1, ISS + 1).window(0)); // still closed
                h.expectNothing();
                gap *= 2;
            }
            assertEquals(5, h.counters.get("tcp.out.persistProbes"));
        }

        @Test
        void persistStopsWhenTheWindowOpens() {
            establish(7, 0);
            h.appSend(h.bytes(1000, 1));
            h.advance(h.conn.rto());
            h.recv();
            h.send(h.ack(R1, ISS + 1).window(100));
            Segment d = h.recv();
            assertEquals(1000, d.len());
            h.send(h.ack(R1, ISS + 1001).window(100));
            h.advanceMs(120_000);
            h.expectNothing();
            assertEquals(1, h.counters.get("tcp.out.persistProbes"));
        }

        @Test
        void persistDoesNotAbortTheConnection() {
            establish(7, 0);
            h.appSend(h.bytes(10, 1));
            for (int i = 0; i < 40; i++) {
                h.advanceMs(60_000);
            }
            assertEquals(TcpState.ESTABLISHED, h.conn.state(), "a peer that answers probes is alive");
            assertTrue(h.counters.get("tcp.out.persistProbes") >= 30);
            h.drain().forEach(s -> assertEquals(0, s.len()));
        }

        @Test
        void windowShrunkToZeroUnderDataInFlightKeepsTheConnectionWhileProbesAreAnswered() {
            establish(0, 10 * MSS);
            h.appSend(h.bytes(10 * MSS, 1));
            h.drain();
            // The peer takes one segment and closes its window over the rest (a shrinking receiver).
            h.send(h.ack(R1, ISS + 1 + MSS).window(0));
            for (int i = 0; i < 40 && h.conn.state() == TcpState.ESTABLISHED; i++) {
                h.advanceMs(60_000);
                if (!h.drain().isEmpty()) {
                    h.send(h.ack(R1, ISS + 1 + MSS).window(0)); // every retransmission/probe is answered
                }
            }
            // RFC 1122 4.2.2.17: as long as the receiver keeps acknowledging probes, the connection stays.
            assertEquals(TcpState.ESTABLISHED, h.conn.state());
        }

        @Test
        void windowShrunkToZeroAndThenSilenceStillAborts() {
            establish(0, 10 * MSS);
            h.appSend(h.bytes(10 * MSS, 1));
            h.drain();
            h.send(h.ack(R1, ISS + 1 + MSS).window(0));
            for (int i = 0; i < 40 && h.conn.state() == TcpState.ESTABLISHED; i++) {
                h.advanceMs(60_000);
            }
            assertEquals(TcpState.CLOSED, h.conn.state(), "a dead peer is detected even with a closed window");
            assertTrue(h.app.events.contains("reset"));
        }

        @Test
        void probeIntervalIsCappedAtTheMaximumRto() {
            establish(7, 0);
            h.appSend(h.bytes(10, 1));
            for (int i = 0; i < 30; i++) {
                h.advanceMs(60_000);
            }
            h.drain();
            long before = h.counters.get("tcp.out.persistProbes");
            h.advance(h.config.maxRto());
            assertEquals(before + 1, h.counters.get("tcp.out.persistProbes"));
        }
    }

    @Nested
    class SendBufferBound {
        @Test
        void sendSpaceFallsToZeroAndRecoversOnAck() {
            h.close();
            h = new TcpHarness(TcpConfig.forMtu(1500).withBuffers(65536, 8192).withOptions(true, true, 7));
            establish(7, 1000);
            assertEquals(8192, h.conn.sendSpace());
            h.appSend(h.bytes(8192, 1));
            assertEquals(0, h.conn.sendSpace());
            assertEquals(8192, h.conn.queuedBytes());
            List<Segment> out = h.drain();
            h.app.events.clear();
            h.send(h.ack(R1, out.get(0).seq() + out.get(0).len()));
            assertEquals(MSS, h.conn.sendSpace());
            assertEquals(List.of("sendSpace"), h.app.events, "the application is told it may write again");
        }

        @Test
        void noSendSpaceOnceShutDown() {
            establish(7, 1000);
            h.conn.shutdownOutput(h.now);
            assertEquals(0, h.conn.sendSpace());
        }

        @Test
        void ackOfTheFinAloneDoesNotSignalSendSpace() {
            establish(7, 1000);
            h.conn.shutdownOutput(h.now);
            h.drain();
            h.app.events.clear();
            h.send(h.ack(R1, ISS + 2));
            assertFalse(h.app.events.contains("sendSpace"));
        }
    }
}
