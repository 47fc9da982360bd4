package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * Ethernet II frame header, a flyweight over {@code (ByteBuf, off)}.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   destination MAC (6 bytes)                   |
 * +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 * |                     source MAC (6 bytes)                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           EtherType           |  payload ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * <p>No FCS: frames arrive and leave without it. {@code off} is an absolute index; buffers are <b>borrowed</b>.
 * Accessors assume {@link #check} passed (or the caller knows {@code len >= HEADER_LEN}).
 */
public final class EthernetFrame {
    public static final int HEADER_LEN = 14;
    /** Minimum frame length on the wire without FCS; shorter frames from real NICs/QEMU are padded to it. */
    public static final int MIN_FRAME_LEN = 60;

    private static final int DST = 0;
    private static final int SRC = 6;
    private static final int ETHERTYPE = 12;

    private EthernetFrame() {}

    /** Why a frame was rejected. */
    public enum Error {
        TRUNCATED("eth.truncated");

        private final String counter;

        Error(String counter) {
            this.counter = counter;
        }

        /** Counter name, {@code <layer>.<reason>}. */
        public String counter() {
            return counter;
        }
    }

    /** Null when {@code len} bytes at {@code off} hold an Ethernet header; never throws. buf: borrowed. */
    public static Error check(ByteBuf buf, int off, int len) {
        if (len < HEADER_LEN || off < 0 || off > buf.capacity() - len) {
            return Error.TRUNCATED;
        }
        return null;
    }

    public static long dst(ByteBuf buf, int off) {
        return MacAddress.get(buf, off + DST);
    }

    public static long src(ByteBuf buf, int off) {
        return MacAddress.get(buf, off + SRC);
    }

    public static int etherType(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + ETHERTYPE);
    }

    public static void setDst(ByteBuf buf, int off, long mac) {
        MacAddress.set(buf, off + DST, mac);
    }

    public static void setSrc(ByteBuf buf, int off, long mac) {
        MacAddress.set(buf, off + SRC, mac);
    }

    public static void setEtherType(ByteBuf buf, int off, int etherType) {
        buf.setShort(off + ETHERTYPE, etherType);
    }

    /** Appends a 14-byte header at the writer index. out: borrowed. */
    public static void writeHeader(ByteBuf out, long dst, long src, int etherType) {
        MacAddress.write(out, dst);
        MacAddress.write(out, src);
        out.writeShort(etherType);
    }
}
