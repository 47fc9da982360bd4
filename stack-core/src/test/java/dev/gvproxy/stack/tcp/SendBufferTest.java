package dev.gvproxy.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link SendBuffer}: zero-copy slices within and across chunks, discarding acknowledged bytes, ownership. */
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

    ByteBuf slice(int off, int len) {
        return buf.slice(off, len, ByteBufAllocator.DEFAULT);
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
    void sliceWithinOneChunkIsAPlainSlice() {
        buf.append(chunk(0, 100));
        ByteBuf s = slice(10, 20);
        assertFalse(s instanceof CompositeByteBuf);
        assertArrayEquals(expected(10, 20), take(s));
    }

    @Test
    void sliceInASecondChunk() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 10));
        assertArrayEquals(expected(12, 5), take(slice(12, 5)));
    }

    @Test
    void sliceStartingExactlyAtAChunkBoundary() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 10));
        assertArrayEquals(expected(10, 10), take(slice(10, 10)));
    }

    @Test
    void sliceAcrossChunksIsAComposite() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 10));
        buf.append(chunk(20, 10));
        ByteBuf s = slice(5, 20);
        assertInstanceOf(CompositeByteBuf.class, s);
        assertArrayEquals(expected(5, 20), take(s));
    }

    @Test
    void sliceOfEverything() {
        for (int i = 0; i < 5; i++) {
            buf.append(chunk(i * 7, 7));
        }
        assertArrayEquals(expected(0, 35), take(slice(0, 35)));
    }

    @Test
    void slicesSurviveDiscardOfTheirChunk() {
        buf.append(chunk(0, 10));
        ByteBuf s = slice(0, 10);
        buf.discard(10);
        assertEquals(0, buf.size());
        assertArrayEquals(expected(0, 10), take(s), "a segment in flight holds its own reference");
    }

    @Test
    void discardWithinAChunkMovesTheOrigin() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 10));
        buf.discard(4);
        assertEquals(16, buf.size());
        assertArrayEquals(expected(4, 8), take(slice(0, 8)));
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
        assertArrayEquals(expected(23, 7), take(slice(0, 7)));
    }

    @Test
    void discardExactlyAChunk() {
        ByteBuf a = chunk(0, 10);
        buf.append(a);
        buf.append(chunk(10, 10));
        buf.discard(10);
        assertEquals(0, a.refCnt());
        assertArrayEquals(expected(10, 3), take(slice(0, 3)));
    }

    @Test
    void manySmallChunksMakeOneSegment() {
        for (int i = 0; i < 100; i++) {
            buf.append(chunk(i, 1));
        }
        assertArrayEquals(expected(0, 100), take(slice(0, 100)));
        assertArrayEquals(expected(50, 30), take(slice(50, 30)));
    }

    @Test
    void releaseDropsEverything() {
        buf.append(chunk(0, 10));
        buf.append(chunk(10, 10));
        buf.release();
        assertEquals(0, buf.size());
    }
}
