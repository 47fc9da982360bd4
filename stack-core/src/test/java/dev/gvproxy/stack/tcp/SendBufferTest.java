package dev.gvproxy.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link SendBuffer}: a range copied out within and across chunks, discarding acknowledged bytes, ownership. */
class SendBufferTest {
    final SendBuffer buf = new SendBuffer();
    final List<ByteBuf> appended = new ArrayList<>();

    @AfterEach
    void tearDown() {
        buf.release();
        for (ByteBuf b : appended) {
            assertEquals(0, b.refCnt(), "every chunk released once");
        }
    }

    ByteBuf chunk(int from, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (from + i);
        }
        ByteBuf bb = Unpooled.wrappedBuffer(b);
        appended.add(bb);
        return bb;
    }

    static byte[] expected(int from, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (from + i);
        }
        return b;
    }

    static byte[] take(ByteBuf b) {
        byte[] a = new byte[b.readableBytes()];
        b.getBytes(b.readerIndex(), a);
        b.release();
        return a;
    }

    /** What a segment carries: the range copied to the writer index of a buffer with bytes already in it. */
    ByteBuf copied(int off, int len) {
        ByteBuf dst = Unpooled.buffer().writeBytes(new byte[] {-1, -2});
        buf.copyTo(off, len, dst);
        assertEquals(2 + len, dst.writerIndex(), "appended at the writer index");
        assertEquals(-1, dst.getByte(0), "what was there stays");
        assertEquals(-2, dst.getByte(1));
        return dst.skipBytes(2);
    }

    @Test
    void emptyAppendIsReleasedAndNotCounted() {
        ByteBuf empty = Unpooled.buffer(4);
        buf.append(empty);
        assertEquals(0, buf.size());
        assertEquals(0, empty.refCnt());
    }

    @Test
    void sizeCountsAllChunks() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 20));
        assertEquals(30, buf.size());
    }

    @Test
    void copyWithinOneChunk() {
        buf.append(chunk(0, 100));
        assertArrayEquals(expected(10, 20), take(copied(10, 20)));
    }

    @Test
    void copyInASecondChunk() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 10));
        assertArrayEquals(expected(12, 5), take(copied(12, 5)));
    }

    @Test
    void copyStartingExactlyAtAChunkBoundary() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 10));
        assertArrayEquals(expected(10, 10), take(copied(10, 10)));
    }

    @Test
    void copyAcrossChunks() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 10));
        buf.append(chunk(20, 10));
        assertArrayEquals(expected(5, 20), take(copied(5, 20)));
    }

    @Test
    void copyOfEverything() {
        for (int i = 0; i < 5; i++) {
            buf.append(chunk(i * 7, 7));
        }
        assertArrayEquals(expected(0, 35), take(copied(0, 35)));
    }

    @Test
    void aCopyHoldsNoReferenceToTheChunks() {
        ByteBuf a = chunk(0, 10);
        buf.append(a);
        ByteBuf s = copied(0, 10);
        assertEquals(1, a.refCnt(), "a segment in flight is a copy, the send buffer's reference is the only one");
        buf.discard(10);
        assertEquals(0, a.refCnt());
        assertArrayEquals(expected(0, 10), take(s));
    }

    @Test
    void discardWithinAChunkMovesTheOrigin() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 10));
        buf.discard(4);
        assertEquals(16, buf.size());
        assertArrayEquals(expected(4, 8), take(copied(0, 8)));
    }

    @Test
    void discardAcrossChunksReleasesTheWholeOnes() {
        ByteBuf a = chunk(0, 10);
        ByteBuf b = chunk(10, 10);
        buf.append(a);
        buf.append(b);
        buf.append(chunk(20, 10));
        buf.discard(23);
        assertEquals(0, a.refCnt());
        assertEquals(0, b.refCnt());
        assertEquals(7, buf.size());
        assertArrayEquals(expected(23, 7), take(copied(0, 7)));
    }

    @Test
    void discardExactlyAChunk() {
        ByteBuf a = chunk(0, 10);
        buf.append(a);
        buf.append(chunk(10, 10));
        buf.discard(10);
        assertEquals(0, a.refCnt());
        assertArrayEquals(expected(10, 3), take(copied(0, 3)));
    }

    @Test
    void manySmallChunksMakeOneSegment() {
        for (int i = 0; i < 100; i++) {
            buf.append(chunk(i, 1));
        }
        assertArrayEquals(expected(0, 100), take(copied(0, 100)));
        assertArrayEquals(expected(50, 30), take(copied(50, 30)));
    }

    @Test
    void releaseDropsEverything() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 10));
        buf.release();
        assertEquals(0, buf.size());
    }

    @Test
    void manyChunksAcrossTheRingsGrowthAndWrap() {
        // Discards move the ring's head while appends wrap and then grow it: ranges stay in order throughout.
        int next = 0;
        int acked = 0;
        for (int round = 0; round < 40; round++) {
            for (int i = 0; i < 3 + round % 5; i++) {
                buf.append(chunk(next, 7));
                next += 7;
            }
            int mid = buf.size() / 2;
            assertArrayEquals(expected(acked + mid - 5, 10), take(copied(mid - 5, 10)));
            int drop = buf.size() - 20;
            buf.discard(drop);
            acked += drop;
            assertEquals(next - acked, buf.size());
            assertArrayEquals(expected(acked, buf.size()), take(copied(0, buf.size())));
        }
    }

    @Test
    void viewsOfARangeAcrossChunksShareTheirMemory() {
        buf.append(chunk(0, 100));
        buf.append(chunk(100, 50));
        buf.append(chunk(150, 100));
        buf.discard(20); // views start after SND.UNA, as copies do
        io.netty.buffer.CompositeByteBuf v = buf.views(70, 100, io.netty.buffer.UnpooledByteBufAllocator.DEFAULT);
        assertEquals(3, v.numComponents(), "the tail of the first chunk, the second, the head of the third");
        assertEquals(2, appended.get(1).refCnt(), "a view, not a copy: the chunk is retained");
        assertArrayEquals(expected(90, 100), take(v));
        assertEquals(1, appended.get(1).refCnt(), "released with the segment");
    }

    @Test
    void aViewOutlivesTheAcknowledgementOfItsBytes() {
        // A transport may still be writing a segment when the guest's ACK for it arrives.
        buf.append(chunk(0, 100));
        io.netty.buffer.CompositeByteBuf v = buf.views(0, 60, io.netty.buffer.UnpooledByteBufAllocator.DEFAULT);
        buf.discard(100);
        assertEquals(1, appended.get(0).refCnt(), "the view holds the acknowledged chunk");
        assertArrayEquals(expected(0, 60), take(v));
    }
}
