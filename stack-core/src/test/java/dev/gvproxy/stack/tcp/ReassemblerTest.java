package dev.gvproxy.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * {@link Reassembler} on its own: pieces keyed by sequence number, overlap trimming (first arrival wins),
 * duplicates, the bound, FIN handling, SACK block generation and sequence wrap-around.
 */
class ReassemblerTest {
    static final int BASE = 1000;

    Reassembler r = new Reassembler(16);

    @AfterEach
    void tearDown() {
        r.release();
    }

    /** Stream byte i is (byte) i, so any piece's content is checkable by its sequence number. */
    static byte[] stream(int seq, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (seq + i);
        }
        return b;
    }

    /** Adds [seq, seq+n) with stream content (or a fill byte), as a borrowed buffer released right after. */
    boolean add(int seq, int n, boolean fin) {
        ByteBuf b = Unpooled.wrappedBuffer(stream(seq, n));
        try {
            return r.add(seq, b, fin);
        } finally {
            b.release();
        }
    }

    boolean addFilled(int seq, int n, byte fill) {
        byte[] a = new byte[n];
        Arrays.fill(a, fill);
        ByteBuf b = Unpooled.wrappedBuffer(a);
        try {
            return r.add(seq, b, false);
        } finally {
            b.release();
        }
    }

    /** Pulls everything contiguous from rcvNxt; returns the bytes. */
    byte[] pullAll(int rcvNxt) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (ByteBuf b; (b = r.pull(rcvNxt)) != null; ) {
            int n = b.readableBytes();
            byte[] a = new byte[n];
            b.readBytes(a);
            b.release();
            out.writeBytes(a);
            rcvNxt += n;
        }
        return out.toByteArray();
    }

    int[] sack(int max) {
        int[] out = new int[2 * max];
        int n = r.sackBlocks(out, max);
        return Arrays.copyOf(out, 2 * n);
    }

    @Nested
    class Queueing {
        @Test
        void emptyAtStart() {
            assertTrue(r.isEmpty());
            assertNull(r.pull(BASE));
            assertFalse(r.pulledFin);
            assertEquals(0, sack(4).length);
        }

        @Test
        void singlePieceBeyondAGapIsNotPulled() {
            assertTrue(add(BASE + 100, 50, false));
            assertEquals(50, r.bytes());
            assertEquals(1, r.segments());
            assertNull(r.pull(BASE));
            assertEquals(1, r.segments(), "still held");
        }

        @Test
        void gapFillReleasesAllContiguousPieces() {
            add(BASE + 100, 100, false);
            add(BASE + 200, 100, false);
            add(BASE + 400, 100, false);
            // The caller delivers [BASE, BASE+100) itself, then pulls from BASE+100.
            assertArrayEquals(stream(BASE + 100, 200), pullAll(BASE + 100));
            assertEquals(1, r.segments());
            assertEquals(100, r.bytes());
        }

        @Test
        void piecesArriveInReverseOrder() {
            for (int i = 9; i >= 1; i--) {
                add(BASE + i * 10, 10, false);
            }
            assertEquals(9, r.segments());
            assertArrayEquals(stream(BASE + 10, 90), pullAll(BASE + 10));
            assertTrue(r.isEmpty());
        }

        @Test
        void exactDuplicateIsNotStoredTwice() {
            add(BASE + 100, 100, false);
            add(BASE + 100, 100, false);
            assertEquals(1, r.segments());
            assertEquals(100, r.bytes());
        }

        @Test
        void firstArrivalWinsOnOverlap() {
            addFilled(BASE + 100, 100, (byte) 'a');
            addFilled(BASE + 150, 100, (byte) 'b');
            assertEquals(150, r.bytes(), "only the 50 new bytes of the second piece are kept");
            ByteBuf b1 = r.pull(BASE + 100);
            ByteBuf b2 = r.pull(BASE + 200);
            assertEquals(100, b1.readableBytes());
            assertEquals(50, b2.readableBytes());
            assertEquals('a', b1.getByte(b1.readerIndex() + 99));
            assertEquals('b', b2.getByte(b2.readerIndex()));
            b1.release();
            b2.release();
        }

        @Test
        void pieceCoveringSeveralHeldOnesFillsOnlyTheGaps() {
            add(BASE + 110, 10, false);
            add(BASE + 130, 10, false);
            add(BASE + 150, 10, false);
            add(BASE + 100, 70, false);
            assertEquals(70, r.bytes());
            assertEquals(7, r.segments(), "3 held + 4 gap pieces, no overlap");
            assertArrayEquals(stream(BASE + 100, 70), pullAll(BASE + 100));
        }

        @Test
        void pieceInsideAHeldOneAddsNothing() {
            add(BASE + 100, 100, false);
            assertTrue(add(BASE + 120, 10, false));
            assertEquals(100, r.bytes());
            assertEquals(1, r.segments());
        }

        @Test
        void pieceOverlappingTheFrontOfAHeldOne() {
            add(BASE + 150, 50, false);
            add(BASE + 100, 80, false);
            assertEquals(100, r.bytes());
            assertArrayEquals(stream(BASE + 100, 100), pullAll(BASE + 100));
        }

        @Test
        void pullTrimsDataBeforeRcvNxt() {
            add(BASE + 100, 100, false);
            // The in-order path already delivered up to BASE+150 (an overlapping retransmission).
            assertArrayEquals(stream(BASE + 150, 50), pullAll(BASE + 150));
            assertTrue(r.isEmpty());
        }

        @Test
        void pullDropsPiecesWhollyBeforeRcvNxt() {
            add(BASE + 100, 10, false);
            add(BASE + 110, 10, false);
            add(BASE + 200, 10, false);
            assertNull(r.pull(BASE + 120), "both stale pieces dropped, the next is beyond a gap");
            assertEquals(1, r.segments());
            assertEquals(10, r.bytes());
        }

        @Test
        void theBoundRefusesNewPiecesButKeepsOld() {
            Reassembler small = new Reassembler(2);
            ByteBuf a = Unpooled.wrappedBuffer(stream(0, 10));
            try {
                assertTrue(small.add(BASE + 100, a.duplicate(), false));
                assertTrue(small.add(BASE + 200, a.duplicate(), false));
                assertFalse(small.add(BASE + 300, a.duplicate(), false), "third piece refused");
                assertEquals(2, small.segments());
                assertTrue(small.add(BASE + 100, a.duplicate(), false), "a duplicate needs no new piece");
            } finally {
                small.release();
                a.release();
            }
        }

        @Test
        void partiallyKeptPieceReportsIncomplete() {
            Reassembler small = new Reassembler(2);
            ByteBuf a = Unpooled.wrappedBuffer(stream(0, 100));
            ByteBuf b = Unpooled.wrappedBuffer(stream(0, 10));
            try {
                small.add(BASE + 110, b, false);
                // [100,110) fits as a second piece, [120,200) would be a third.
                assertFalse(small.add(BASE + 100, a, false));
                assertEquals(20, small.bytes());
            } finally {
                small.release();
                a.release();
                b.release();
            }
        }

        @Test
        void heldPiecesAreRetainedSlicesOfTheInput() {
            ByteBuf in = Unpooled.wrappedBuffer(stream(0, 100));
            r.add(BASE + 100, in, false);
            assertEquals(2, in.refCnt(), "one reference held by the queue");
            r.release();
            assertEquals(1, in.refCnt());
            in.release();
        }
    }

    @Nested
    class Fin {
        @Test
        void finAfterQueuedDataIsReportedWithTheLastPiece() {
            add(BASE + 100, 100, true);
            assertFalse(r.isEmpty());
            ByteBuf b = r.pull(BASE + 100);
            assertTrue(r.pulledFin);
            b.release();
            assertTrue(r.isEmpty());
        }

        @Test
        void finIsNotReportedWithAnEarlierPiece() {
            add(BASE + 200, 100, true);
            add(BASE + 100, 50, false);
            ByteBuf b = r.pull(BASE + 100);
            assertFalse(r.pulledFin, "a gap remains before the FIN");
            b.release();
        }

        @Test
        void bareFinOutOfOrderIsReportedWhenRcvNxtReachesIt() {
            add(BASE + 100, 0, true);
            assertFalse(r.isEmpty());
            assertNull(r.pull(BASE + 50));
            assertFalse(r.pulledFin);
            assertNull(r.pull(BASE + 100));
            assertTrue(r.pulledFin);
            assertTrue(r.isEmpty());
        }

        @Test
        void releaseForgetsTheFin() {
            add(BASE + 100, 10, true);
            r.release();
            assertTrue(r.isEmpty());
        }
    }

    @Nested
    class SackBlocks {
        @Test
        void oneBlockPerContiguousRun() {
            add(BASE + 100, 10, false);
            add(BASE + 110, 10, false); // adjacent: merged
            assertArrayEquals(new int[] {BASE + 100, BASE + 120}, sack(4));
        }

        @Test
        void mostRecentBlockFirstThenAscending() {
            add(BASE + 100, 10, false);
            add(BASE + 300, 10, false);
            add(BASE + 500, 10, false);
            add(BASE + 200, 10, false);
            // RFC 2018 4: the first block holds the most recently received segment.
            assertArrayEquals(new int[] {BASE + 200, BASE + 210, BASE + 100, BASE + 110, BASE + 300, BASE + 310,
                    BASE + 500, BASE + 510}, sack(4));
        }

        @Test
        void mostRecentSegmentMergedIntoALargerBlock() {
            add(BASE + 100, 10, false);
            add(BASE + 300, 10, false);
            add(BASE + 110, 10, false);
            assertArrayEquals(new int[] {BASE + 100, BASE + 120, BASE + 300, BASE + 310}, sack(4));
        }

        @Test
        void blockCountIsLimitedByTheCaller() {
            for (int i = 0; i < 6; i++) {
                add(BASE + 100 * (i + 1), 10, false);
            }
            int[] blocks = sack(3);
            assertEquals(6, blocks.length);
            assertEquals(BASE + 600, blocks[0], "the latest first even when others are left out");
            assertEquals(BASE + 100, blocks[2]);
            assertEquals(BASE + 200, blocks[4]);
        }

        @Test
        void latestSegmentStillReportedAfterADuplicateArrives() {
            add(BASE + 100, 10, false);
            add(BASE + 300, 10, false);
            add(BASE + 100, 10, false); // a duplicate is also "the most recent"
            int[] blocks = sack(4);
            assertEquals(BASE + 100, blocks[0]);
        }

        @Test
        void pulledPiecesLeaveTheBlocks() {
            add(BASE + 100, 10, false);
            add(BASE + 300, 10, false);
            pullAll(BASE + 100);
            assertArrayEquals(new int[] {BASE + 300, BASE + 310}, sack(4));
        }
    }

    @Nested
    class WrapAround {
        @Test
        void piecesStraddlingTheSequenceWrap() {
            int near = -50; // 2^32 - 50
            add(near + 20, 60, false); // crosses 0
            add(near + 10, 10, false);
            assertEquals(70, r.bytes());
            assertArrayEquals(stream(near + 10, 70), pullAll(near + 10));
        }

        @Test
        void sackBlocksAcrossTheWrap() {
            int near = -5;
            add(near, 10, false);
            add(near + 20, 10, false);
            assertArrayEquals(new int[] {near + 20, near + 30, near, near + 5 + 5}, sack(4));
        }

        @Test
        void overlapTrimmingAcrossTheWrap() {
            int near = -10;
            add(near, 20, false);
            add(near + 5, 20, false);
            assertEquals(25, r.bytes());
            assertArrayEquals(stream(near, 25), pullAll(near));
        }
    }
}
