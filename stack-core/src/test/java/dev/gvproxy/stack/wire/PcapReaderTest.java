package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class PcapReaderTest {

    static byte[] file(int magic, ByteOrder order, long sec, long frac, byte[]... packets) {
        int size = 24;
        for (byte[] p : packets) {
            size += 16 + p.length;
        }
        ByteBuffer b = ByteBuffer.allocate(size).order(order);
        b.putInt(magic).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0).putInt(65535).putInt(1);
        for (byte[] p : packets) {
            b.putInt((int) sec).putInt((int) frac).putInt(p.length).putInt(p.length + 10).put(p);
        }
        return b.array();
    }

    @Test
    void readsNanosecondBigEndian() {
        var c = PcapReader.read(file(PcapReader.MAGIC_NSEC, ByteOrder.BIG_ENDIAN, 3, 999_999_999L,
                new byte[] {1, 2, 3}, new byte[0]));
        assertTrue(c.nanoseconds());
        assertEquals(ByteOrder.BIG_ENDIAN, c.order());
        assertEquals(PcapReader.LINKTYPE_ETHERNET, c.linkType());
        assertEquals(65535, c.snapLen());
        assertEquals(2, c.records().size());
        assertEquals(3_999_999_999L, c.records().get(0).timestampNanos());
        assertArrayEquals(new byte[] {1, 2, 3}, c.records().get(0).data());
        assertEquals(13, c.records().get(0).originalLength());
        assertEquals(0, c.records().get(1).data().length);
    }

    @Test
    void readsMicrosecondLittleEndian() {
        var c = PcapReader.read(file(PcapReader.MAGIC_USEC, ByteOrder.LITTLE_ENDIAN, 5, 250_000, new byte[] {9}));
        assertFalse(c.nanoseconds());
        assertEquals(ByteOrder.LITTLE_ENDIAN, c.order());
        assertEquals(5_250_000_000L, c.records().get(0).timestampNanos());
    }

    @Test
    void rejectsGarbage() {
        assertThrows(IllegalArgumentException.class, () -> PcapReader.read(new byte[10]));
        assertThrows(IllegalArgumentException.class, () -> PcapReader.read(new byte[24]));
        byte[] f = file(PcapReader.MAGIC_NSEC, ByteOrder.BIG_ENDIAN, 0, 0, new byte[] {1, 2, 3});
        assertThrows(IllegalArgumentException.class,
                () -> PcapReader.read(java.util.Arrays.copyOf(f, f.length - 1)));
    }

    @Test
    void readsTheKernelCaptures() {
        var c = PcapReader.resource("/pcap/icmp.pcap");
        assertEquals(PcapReader.LINKTYPE_ETHERNET, c.linkType());
        assertFalse(c.records().isEmpty());
    }
}
