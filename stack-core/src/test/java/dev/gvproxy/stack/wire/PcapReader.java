package dev.gvproxy.stack.wire;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A tiny reader for classic pcap files (not pcapng), for tests: microsecond ({@code 0xa1b2c3d4}) and
 * nanosecond ({@code 0xa1b23c4d}) magic, in either byte order.
 */
public final class PcapReader {
    public static final int MAGIC_USEC = 0xa1b2c3d4;
    public static final int MAGIC_NSEC = 0xa1b23c4d;
    public static final int LINKTYPE_ETHERNET = 1;

    /** One captured packet; {@code data} holds the captured bytes (at most the snap length). */
    public record Record(long timestampNanos, int originalLength, byte[] data) {}

    /** The file header and all records. */
    public record Capture(boolean nanoseconds, ByteOrder order, int snapLen, int linkType, List<Record> records) {}

    private PcapReader() {}

    public static Capture read(byte[] file) {
        if (file.length < 24) {
            throw new IllegalArgumentException("not a pcap file: " + file.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.BIG_ENDIAN);
        int magic = b.getInt(0);
        ByteOrder order = ByteOrder.BIG_ENDIAN;
        if (magic != MAGIC_USEC && magic != MAGIC_NSEC) {
            magic = Integer.reverseBytes(magic);
            order = ByteOrder.LITTLE_ENDIAN;
            if (magic != MAGIC_USEC && magic != MAGIC_NSEC) {
                throw new IllegalArgumentException(String.format("bad pcap magic 0x%08x", b.getInt(0)));
            }
        }
        boolean nanos = magic == MAGIC_NSEC;
        b.order(order);
        int major = b.getShort(4);
        if (major != 2) {
            throw new IllegalArgumentException("unsupported pcap version " + major);
        }
        int snapLen = b.getInt(16);
        int linkType = b.getInt(20) & 0x0FFF_FFFF; // the upper bits may carry FCS information
        List<Record> records = new ArrayList<>();
        int pos = 24;
        while (pos < file.length) {
            if (file.length - pos < 16) {
                throw new IllegalArgumentException("truncated record header at " + pos);
            }
            long sec = b.getInt(pos) & 0xFFFF_FFFFL;
            long frac = b.getInt(pos + 4) & 0xFFFF_FFFFL;
            int incl = b.getInt(pos + 8);
            int orig = b.getInt(pos + 12);
            pos += 16;
            if (incl < 0 || incl > file.length - pos) {
                throw new IllegalArgumentException("truncated record at " + pos + ": " + incl + " bytes");
            }
            byte[] data = new byte[incl];
            System.arraycopy(file, pos, data, 0, incl);
            pos += incl;
            records.add(new Record(sec * 1_000_000_000L + (nanos ? frac : frac * 1000), orig, data));
        }
        return new Capture(nanos, order, snapLen, linkType, List.copyOf(records));
    }

    /** Reads a class-path resource, e.g. {@code /pcap/tcp.pcap}. */
    public static Capture resource(String name) {
        try (InputStream in = PcapReader.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalArgumentException("no such resource: " + name);
            }
            return read(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
