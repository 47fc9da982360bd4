package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The receiving half: reassembly with overlaps and duplicates, DSACK and SACK blocks in our ACKs, the
 * advertised window (never beyond the buffer), delayed ACKs and window updates.
 */
class TcpReceiverTest {
    static final int R1 = REMOTE_SEQ + 1;

    TcpHarness h = new TcpHarness();
    /** The guest's byte stream: byte i of the stream sits at sequence number R1 + i. */
    final byte[] stream = new TcpHarness().bytes(64 * 1024, 7);

    @AfterEach
    void tearDown() {
        h.close();
    }

    /** Sends stream bytes [from, from + len) as one segment. */
    void data(int from, int len) {
        h.send(h.ack(R1 + from, ISS + 1), Arrays.copyOfRange(stream, from, from + len));
    }

    void dataFin(int from, int len) {
        h.send(h.ack(R1 + from, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN), Arrays.copyOfRange(stream, from, from + len));
    }

    byte[] prefix(int n) {
        return Arrays.copyOf(stream, n);
    }

    static int[] sack(Segment s) {
        return s.tcp().sackBlocks();
    }

    @Nested
    class Reassembly {
        @Test
        void overlappingOutOfOrderPiecesAreDeliveredOnceInOrder() {
            h.establish();
            data(1000, 1000);
            data(500, 1000); // overlaps the front of the held piece
            data(1800, 700); // overlaps its back and extends it
            assertEquals(0, h.app.received.size());
            data(0, 600);
            assertArrayEquals(prefix(2500), h.app.received.toByteArray());
            Segment last = h.drain().getLast();
            assertEquals(R1 + 2500, last.ack());
            assertEquals(0, sack(last).length, "no holes left");
            assertEquals(0, h.conn.outOfOrderBytes());
        }

        @Test
        void duplicateOutOfOrderPieceIsHeldOnce() {
            h.establish();
            data(1000, 500);
            data(1000, 500);
            data(1000, 500);
            assertEquals(500, h.conn.outOfOrderBytes());
            data(0, 1000);
            assertArrayEquals(prefix(1500), h.app.received.toByteArray());
        }

        @Test
        void manySmallPiecesInReverseOrder() {
            h.establish();
            for (int i = 19; i >= 1; i--) {
                data(i * 100, 100);
            }
            data(0, 100);
            assertArrayEquals(prefix(2000), h.app.received.toByteArray());
            assertEquals(R1 + 2000, h.drain().getLast().ack());
        }

        @Test
        void segmentCoveringSeveralHolesFillsThemAll() {
            h.establish();
            data(200, 100);
            data(400, 100);
            data(600, 100);
            data(0, 800);
            assertArrayEquals(prefix(800), h.app.received.toByteArray());
        }

        @Test
        void finHeldOutOfOrderClosesOnceTheGapFills() {
            h.establish();
            dataFin(1000, 100);
            assertEquals(TcpState.ESTABLISHED, h.conn.state());
            data(0, 1000);
            assertEquals(TcpState.CLOSE_WAIT, h.conn.state());
            assertArrayEquals(prefix(1100), h.app.received.toByteArray());
            assertEquals(R1 + 1101, h.drain().getLast().ack(), "the FIN counts one");
        }

        @Test
        void eachOutOfOrderSegmentIsAckedAtOnceWithTheSameAck() {
            h.establish();
            data(1000, 100);
            data(2000, 100);
            List<Segment> out = h.drain();
            assertEquals(2, out.size(), "duplicate ACKs tell the sender about the hole (RFC 5681 4.2)");
            out.forEach(s -> assertEquals(R1, s.ack()));
            assertEquals(2, h.counters.get("tcp.in.outOfOrder"));
        }
    }

    @Nested
    class Dsack {
        @Test
        void wholeDuplicateIsReportedAsTheFirstSackBlock() {
            h.establish();
            data(0, 100);
            h.drain();
            data(0, 100);
            Segment a = h.recv();
            assertEquals(R1 + 100, a.ack());
            assertArrayEquals(new int[] {R1, R1 + 100}, sack(a), "RFC 2883: a block below the ACK");
            assertEquals(1, h.counters.get("tcp.out.dsacks"));
            assertEquals(100, h.app.received.size(), "delivered once");
        }

        @Test
        void partialDuplicateReportsOnlyTheDuplicatePart() {
            h.establish();
            data(0, 100);
            data(0, 200);
            Segment a = h.drain().getLast();
            assertEquals(R1 + 200, a.ack());
            assertArrayEquals(new int[] {R1, R1 + 100}, sack(a));
            assertArrayEquals(prefix(200), h.app.received.toByteArray());
        }

        @Test
        void dsackComesBeforeTheSackBlocks() {
            h.establish();
            data(0, 100);
            data(300, 100);
            h.drain();
            data(0, 100);
            Segment a = h.recv();
            assertArrayEquals(new int[] {R1, R1 + 100, R1 + 300, R1 + 400}, sack(a),
                    "RFC 2883 4: the D-SACK block first, then the SACK blocks");
        }

        @Test
        void dsackIsSentOnlyOnce() {
            h.establish();
            data(0, 100);
            h.drain();
            data(0, 100);
            h.recv();
            h.appSend("x".getBytes());
            Segment d = h.recv();
            assertEquals(0, sack(d).length, "the next segment carries no stale D-SACK");
        }

        @Test
        void noDsackWithoutSackPermitted() {
            h.send(TcpHarness.syn().sackPermitted(false));
            h.recv();
            h.send(h.ack(R1, ISS + 1));
            data(0, 100);
            h.drain();
            data(0, 100);
            Segment a = h.recv();
            assertEquals(0, sack(a).length);
            assertEquals(0, h.counters.get("tcp.out.dsacks"));
        }
    }

    @Nested
    class SackBlocks {
        @Test
        void latestBlockFirstThenTheOthersAscending() {
            h.establish();
            data(1000, 100);
            data(3000, 100);
            data(2000, 100);
            Segment a = h.drain().getLast();
            assertArrayEquals(new int[] {R1 + 2000, R1 + 2100, R1 + 1000, R1 + 1100, R1 + 3000, R1 + 3100}, sack(a));
        }

        @Test
        void atMostThreeBlocksWithTimestamps() {
            h.establish();
            for (int i = 1; i <= 5; i++) {
                data(i * 1000, 100);
            }
            Segment a = h.drain().getLast();
            assertEquals(6, sack(a).length, "40 bytes of options: timestamps leave room for 3 blocks");
            assertEquals(R1 + 5000, sack(a)[0]);
        }

        @Test
        void fourBlocksWithoutTimestamps() {
            h.send(TcpHarness.syn().noTimestamps());
            h.recv();
            h.send(h.ack(R1, ISS + 1).noTimestamps());
            for (int i = 1; i <= 5; i++) {
                h.send(h.ack(R1 + i * 1000, ISS + 1).noTimestamps(), Arrays.copyOfRange(stream, i * 1000, i * 1000 + 100));
            }
            Segment a = h.drain().getLast();
            assertEquals(8, sack(a).length);
        }

        @Test
        void blocksShrinkAsHolesFill() {
            h.establish();
            data(100, 100);
            data(300, 100);
            data(0, 100);
            Segment a = h.drain().getLast();
            assertEquals(R1 + 200, a.ack());
            assertArrayEquals(new int[] {R1 + 300, R1 + 400}, sack(a));
        }
    }

    @Nested
    class Window {
        @Test
        void advertisedEdgeNeverPassesTheBuffer() {
            h.establish();
            h.app.consumeImmediately = false;
            int shift = h.conn.receiveWindowShift();
            int off = 0;
            for (int i = 0; i < 60; i++) {
                int len = 1000 + (i * 337) % 448;
                if (off + len > stream.length) {
                    break;
                }
                data(off, len);
                for (Segment s : h.drain()) {
                    long edge = (long) (s.ack() - R1) + ((long) s.tcp().window() << shift);
                    assertTrue(edge <= 65536, "right edge " + edge + " beyond the 64 KiB buffer");
                }
                off = h.conn.rcvNxt() - R1;
            }
            assertTrue(off <= 65536);
            assertEquals(off, h.app.unconsumed);
        }

        @Test
        void windowClosesToZeroThenReopensOnConsume() {
            h.establish();
            h.app.consumeImmediately = false;
            int off = 0;
            while (off + 1448 <= 65536) {
                data(off, 1448);
                off += 1448;
            }
            data(off, 65536 - off);
            Segment full = h.drain().getLast();
            // The SYN-ACK offered 65535 (unscaled) and later windows keep that right edge: the last byte of
            // the 64 KiB buffer is never offered, and the byte beyond the edge is trimmed.
            assertEquals(R1 + 65535, full.ack());
            assertEquals(0, full.tcp().window());
            h.conn.consumed(h.app.unconsumed, h.now);
            Segment update = h.recv();
            assertEquals(R1 + 65535, update.ack());
            assertEquals(65536 >> 7, update.tcp().window(), "the whole buffer again");
        }

        @Test
        void ackOnDataRefusedByAZeroWindowIsStillProcessed() {
            h.establish();
            h.app.consumeImmediately = false;
            int off = 0;
            while (true) {
                data(off, 1448);
                int now = h.conn.rcvNxt() - R1;
                if (now == off) {
                    break; // the window is closed: nothing more accepted
                }
                off = now;
            }
            h.appSend(h.bytes(1000, 1));
            h.drain();
            h.send(h.ack(R1 + off, ISS + 1001), h.bytes(100, 2));
            assertEquals(R1 + off, h.conn.rcvNxt(), "the data is refused");
            assertEquals(ISS + 1001, h.conn.sndUna(), "but its ACK is taken");
        }

        @Test
        void smallConsumeSendsNoWindowUpdate() {
            h.establish();
            h.app.consumeImmediately = false;
            data(0, 1448);
            data(1448, 1448);
            h.drain();
            h.conn.consumed(100, h.now);
            h.expectNothing(); // RFC 1122 4.2.3.3: not worth an update
            h.conn.consumed(2796, h.now);
            Segment u = h.recv();
            assertTrue((u.tcp().window() << 7) >= 65536 - 128, "window reopened: " + u);
        }

        @Test
        void windowFieldIsScaledDown() {
            Segment synAck = h.establish();
            assertEquals(7, synAck.tcp().windowScale());
            data(0, 10);
            data(10, 10);
            Segment a = h.drain().getLast();
            assertTrue(a.tcp().window() <= 65536 >> 7, "raw field in 128-byte units: " + a.tcp().window());
        }
    }

    @Nested
    class DelayedAck {
        @Test
        void singleSegmentIsAckedExactlyAfterTheDelay() {
            h.establish();
            data(0, 10);
            h.advance(h.config.delayedAck() - 1);
            h.expectNothing();
            h.advance(1);
            Segment a = h.recv();
            assertEquals(R1 + 10, a.ack());
            h.advanceMs(1000);
            h.expectNothing();
        }

        @Test
        void everySecondFullSegmentIsAckedAtOnceTheThirdWaits() {
            h.establish();
            data(0, 1448);
            h.expectNothing();
            data(1448, 1448);
            assertEquals(R1 + 2896, h.recv().ack());
            data(2896, 1448);
            h.expectNothing();
            h.advance(h.config.delayedAck());
            assertEquals(R1 + 3 * 1448, h.recv().ack());
        }

        @Test
        void delayIsNotRestartedByTheSecondTimer() {
            h.establish();
            data(0, 10);
            h.advanceMs(20);
            data(10, 10); // second segment: ACK now
            h.recv();
            data(20, 10);
            h.advance(h.config.delayedAck() - 1);
            h.expectNothing();
            h.advance(1);
            assertEquals(R1 + 30, h.recv().ack());
        }

        /** Linux's "pingpong" after a FIN: the ACK waits for our own FIN, which then carries it. */
        @Test
        void finAckRidesOnOurFin() {
            h.establish();
            data(0, 10);
            h.send(h.ack(R1 + 10, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
            h.expectNothing();
            h.advance(h.config.delayedAck() / 2);
            h.conn.shutdownOutput(h.now);
            Segment fin = h.recv();
            assertTrue(fin.has(TcpFlags.FIN));
            assertEquals(R1 + 11, fin.ack(), "our FIN acknowledges the data and the FIN");
            h.advance(h.config.delayedAck());
            h.expectNothing();
        }

        /** ...and the delayed-ACK timer bounds the wait when our side stays open (a half-close). */
        @Test
        void finAckWaitsForTheTimerWhileWeStayOpen() {
            h.establish();
            data(0, 10);
            h.send(h.ack(R1 + 10, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
            h.expectNothing();
            h.advance(h.config.delayedAck());
            assertEquals(R1 + 11, h.recv().ack());
            h.expectNothing();
            h.send(h.ack(R1 + 10, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
            assertEquals(R1 + 11, h.recv().ack(), "a retransmitted FIN is acknowledged at once");
        }

        /** With our FIN out, the peer's FIN completes its close only once acknowledged: at once. */
        @Test
        void finAfterOursIsAckedAtOnce() {
            h.establish();
            h.conn.shutdownOutput(h.now);
            assertTrue(h.recv().has(TcpFlags.FIN));
            h.send(h.ack(R1, ISS + 2).flags(TcpFlags.ACK | TcpFlags.FIN));
            assertEquals(R1 + 1, h.recv().ack());
            assertEquals(TcpState.TIME_WAIT, h.conn.state());
        }

        @Test
        void outOfOrderFillIsAckedAtOnce() {
            h.establish();
            data(100, 100);
            h.drain();
            data(0, 100);
            assertEquals(R1 + 200, h.recv().ack(), "RFC 5681 4.2: a segment that fills a hole is acked at once");
        }
    }
}
