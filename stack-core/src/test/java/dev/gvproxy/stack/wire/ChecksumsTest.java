package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class ChecksumsTest {

    /** RFC 1071 by the book: big-endian 16-bit words, one byte at a time. */
    static int reference(byte[] b, int off, int len, long initial) {
        long sum = initial;
        for (int i = 0; i < len; i++) {
            int v = b[off + i] & 0xFF;
            sum += (i & 1) == 0 ? v << 8 : v;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        return (int) sum;
    }

    /** Ways of holding the same bytes; each returns a buffer whose index 0 is byte 0 of the array. */
    static List<Function<byte[], ByteBuf>> kinds() {
        List<Function<byte[], ByteBuf>> k = new ArrayList<>();
        k.add(Unpooled::wrappedBuffer);
        k.add(b -> Unpooled.directBuffer(b.length).writeBytes(b));
        k.add(b -> PooledByteBufAllocator.DEFAULT.directBuffer(b.length).writeBytes(b));
        k.add(b -> PooledByteBufAllocator.DEFAULT.heapBuffer(b.length).writeBytes(b));
        k.add(b -> Unpooled.wrappedBuffer(b).asReadOnly());
        // An array offset that is not zero.
        k.add(b -> {
            byte[] big = new byte[b.length + 3];
            System.arraycopy(b, 0, big, 3, b.length);
            return Unpooled.wrappedBuffer(big, 3, b.length).slice();
        });
        // Composite of odd-sized heap and direct pieces.
        k.add(b -> {
            CompositeByteBuf c = Unpooled.compositeBuffer(64);
            int i = 0;
            int piece = 1;
            while (i < b.length) {
                int n = Math.min(piece, b.length - i);
                ByteBuf part = (piece & 1) == 0 ? Unpooled.directBuffer(n) : Unpooled.buffer(n);
                part.writeBytes(b, i, n);
                c.addComponent(true, part);
                i += n;
                piece = piece * 3 % 17 + 1;
            }
            return c;
        });
        return k;
    }

    @Test
    void matchesReferenceOnRandomInputs() {
        Random rnd = new Random(42);
        List<Function<byte[], ByteBuf>> kinds = kinds();
        for (int iter = 0; iter < 530; iter++) {
            int size = iter < 100 ? iter : rnd.nextInt(iter < 500 ? 200 : 70000);
            byte[] data = new byte[size];
            rnd.nextBytes(data);
            if (iter % 7 == 0) {
                java.util.Arrays.fill(data, (byte) 0xFF); // worst case for carries
            }
            int off = size == 0 ? 0 : rnd.nextInt(Math.min(size, 9) + 1);
            int len = size - off == 0 ? 0 : rnd.nextInt(size - off + 1);
            int initial = rnd.nextBoolean() ? 0 : rnd.nextInt() & 0x7FFF_FFFF;
            int want = reference(data, off, len, initial & 0xFFFF_FFFFL);
            for (Function<byte[], ByteBuf> kind : kinds) {
                ByteBuf buf = kind.apply(data);
                try {
                    assertEquals(want, Checksums.partial(buf, off, len, initial),
                            () -> buf.getClass().getSimpleName() + " off=" + off + " len=" + len);
                } finally {
                    buf.release();
                }
            }
            assertEquals(want, Checksums.partial(data, off, len, initial));
        }
    }

    /**
     * The native-address path (taken for Netty buffers with a memory address, i.e. Netty on Unsafe as the daemon
     * runs; the unit tests run Netty without it) over native memory of our own, at every alignment.
     */
    @Test
    void addressPathMatchesReference() {
        Random rnd = new Random(7);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment mem = arena.allocate(70_016, 16);
            for (int iter = 0; iter < 300; iter++) {
                int size = iter < 100 ? iter : rnd.nextInt(iter < 280 ? 200 : 70_000);
                byte[] data = new byte[size];
                rnd.nextBytes(data);
                if (iter % 7 == 0) {
                    java.util.Arrays.fill(data, (byte) 0xFF);
                }
                int align = rnd.nextInt(16);
                java.lang.foreign.MemorySegment.copy(data, 0, mem, java.lang.foreign.ValueLayout.JAVA_BYTE, align,
                        size);
                int want = reference(data, 0, size, 0);
                assertEquals(want, Checksums.fold(Checksums.sumAddress(mem.address() + align, size)),
                        "size=" + size + " align=" + align);
            }
        }
    }

    @Test
    void rfc1071Example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        ByteBuf b = Unpooled.wrappedBuffer(new byte[] {0x00, 0x01, (byte) 0xf2, 0x03, (byte) 0xf4, (byte) 0xf5,
                (byte) 0xf6, (byte) 0xf7});
        assertEquals(0xddf2, Checksums.partial(b, 0, 8, 0));
        assertEquals(0x220d, Checksums.finish(Checksums.partial(b, 0, 8, 0)));
        b.release();
    }

    @Test
    void foldAndFinish() {
        assertEquals(0, Checksums.fold(0));
        assertEquals(0xFFFF, Checksums.fold(0xFFFF));
        assertEquals(1, Checksums.fold(0x10000));
        assertEquals(0xFFFF, Checksums.fold(0xFFFF_FFFFL));
        assertEquals(0xFFFF, Checksums.fold(-1L));
        assertEquals(0, Checksums.finish(0xFFFF));
        assertEquals(0xFFFF, Checksums.finish(0));
        assertEquals(0x1234, Checksums.swap(0x3412));
    }

    @Test
    void addCombinesOddPositionedRanges() {
        Random rnd = new Random(7);
        byte[] data = new byte[101];
        rnd.nextBytes(data);
        ByteBuf b = Unpooled.wrappedBuffer(data);
        int whole = Checksums.partial(b, 0, 101, 0);
        long s = Checksums.add(0, Checksums.partial(b, 0, 33, 0), false);
        s = Checksums.add(s, Checksums.partial(b, 33, 68, 0), true);
        assertEquals(whole, Checksums.fold(s));
        b.release();
    }

    @Test
    void ipv4HeaderChecksumOfAKnownHeader() {
        // A header from Wikipedia's IPv4 checksum example: checksum 0xb861.
        byte[] h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, (byte) 0xc0,
                (byte) 0xa8, 0x00, 0x01, (byte) 0xc0, (byte) 0xa8, 0x00, (byte) 0xc7};
        ByteBuf b = Unpooled.wrappedBuffer(h);
        assertEquals(0xb861, Checksums.ipv4Header(b, 0, 20));
        assertFalse(Checksums.verifyIpv4Header(b, 0, 20));
        b.setShort(10, 0xb861);
        assertTrue(Checksums.verifyIpv4Header(b, 0, 20));
        b.release();
    }

    @Test
    void outOfRangeIsAProgrammingError() {
        ByteBuf b = Unpooled.buffer(10);
        assertThrows(IndexOutOfBoundsException.class, () -> Checksums.partial(b, 5, 6, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> Checksums.partial(b, -1, 2, 0));
        b.release();
    }
}
