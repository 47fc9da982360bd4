package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * IPv4 header (RFC 791), a flyweight over {@code (ByteBuf, off)} where {@code off} is the absolute index of the
 * IP header.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |   DSCP    |ECN|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |0|D|M|    Fragment Offset      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options (IHL > 5)          |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * <p>{@link #check} validates version, header length, total length against the bytes available, and the header
 * checksum; after it returns null every accessor is safe for {@code headerLength} bytes of header and
 * {@code totalLength} bytes of packet. The packet is {@code totalLength} bytes even when more bytes follow
 * (QEMU and real NICs pad short frames to 60 bytes): callers use {@link #totalLength}, never the frame length.
 * Options are carried raw; {@link #checkOptions} and {@link #findOption} walk them without throwing.
 * Protocols are an open set (plain ints). Buffers are <b>borrowed</b>.
 */
public final class Ipv4Packet {
    public static final int MIN_HEADER_LEN = 20;
    /**
     * Bytes the gateway's output puts in front of a layer-4 segment: an Ethernet header and an option-less
     * IPv4 header. Segment builders leave this much room before the segment so that the frame is one buffer
     * (see {@code Ipv4Output}).
     */
    public static final int FRAME_HEADROOM = EthernetFrame.HEADER_LEN + MIN_HEADER_LEN;
    public static final int MAX_HEADER_LEN = 60;
    public static final int PROTO_ICMP = IpProtocol.ICMP;
    public static final int PROTO_TCP = IpProtocol.TCP;
    public static final int PROTO_UDP = IpProtocol.UDP;

    /** Option kinds (RFC 791); an open set. */
    public static final int OPT_END = OptionIterator.END;
    public static final int OPT_NOP = OptionIterator.NOP;
    public static final int OPT_RECORD_ROUTE = 7;
    public static final int OPT_ROUTER_ALERT = 148;

    private static final int VER_IHL = 0;
    private static final int TOS = 1;
    private static final int TOTAL_LEN = 2;
    private static final int IDENT = 4;
    private static final int FLAGS_FRAG = 6;
    private static final int TTL = 8;
    private static final int PROTOCOL = 9;
    private static final int CHECKSUM = 10;
    private static final int SRC = 12;
    private static final int DST = 16;

    private static final int FLAG_DF = 0x4000;
    private static final int FLAG_MF = 0x2000;
    private static final int FRAG_MASK = 0x1FFF;

    private Ipv4Packet() {}

    /** Why an IPv4 packet was rejected. */
    public enum Error {
        /** Fewer bytes than the fixed header, the IHL or the total length say. */
        TRUNCATED("ipv4.truncated"),
        BAD_VERSION("ipv4.badVersion"),
        /** IHL below 5 words. */
        BAD_HEADER_LENGTH("ipv4.badHeaderLength"),
        /** Total length smaller than the header length. */
        BAD_TOTAL_LENGTH("ipv4.badTotalLength"),
        BAD_CHECKSUM("ipv4.badChecksum"),
        /** A fragment that would end beyond 65535 bytes (ping of death). */
        BAD_FRAGMENT("ipv4.badFragment"),
        /** Malformed options; only reported by {@link #checkOptions}, not by {@link #check}. */
        BAD_OPTION("ipv4.badOption");

        private final String counter;

        Error(String counter) {
            this.counter = counter;
        }

        /** Counter name, {@code <layer>.<reason>}. */
        public String counter() {
            return counter;
        }
    }

    /**
     * Null when the bytes at {@code off} hold a well-formed IPv4 packet. {@code len} is the number of bytes
     * available (the frame length minus the Ethernet header); it may exceed {@link #totalLength}. Never throws.
     * buf: borrowed.
     */
    public static Error check(ByteBuf buf, int off, int len) {
        if (len < MIN_HEADER_LEN || off < 0 || off > buf.capacity() - len) {
            return Error.TRUNCATED;
        }
        int verIhl = buf.getUnsignedByte(off + VER_IHL);
        if ((verIhl >>> 4) != 4) {
            return Error.BAD_VERSION;
        }
        int headerLen = (verIhl & 0x0F) * 4;
        if (headerLen < MIN_HEADER_LEN) {
            return Error.BAD_HEADER_LENGTH;
        }
        int total = buf.getUnsignedShort(off + TOTAL_LEN);
        if (total < headerLen) {
            return Error.BAD_TOTAL_LENGTH;
        }
        if (total > len) {
            return Error.TRUNCATED;
        }
        if (!Checksums.verifyIpv4Header(buf, off, headerLen)) {
            return Error.BAD_CHECKSUM;
        }
        if (fragmentOffset(buf, off) + (total - headerLen) > 65535) {
            return Error.BAD_FRAGMENT;
        }
        return null;
    }

    public static int version(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + VER_IHL) >>> 4;
    }

    /** Header length in bytes (IHL * 4). */
    public static int headerLength(ByteBuf buf, int off) {
        return (buf.getUnsignedByte(off + VER_IHL) & 0x0F) * 4;
    }

    /** The whole second byte: DSCP (high 6 bits) and ECN (low 2 bits). */
    public static int dscpEcn(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + TOS);
    }

    public static int totalLength(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + TOTAL_LEN);
    }

    /** {@code totalLength - headerLength}. */
    public static int payloadLength(ByteBuf buf, int off) {
        return totalLength(buf, off) - headerLength(buf, off);
    }

    /** Absolute index of the payload: {@code off + headerLength}. */
    public static int payloadOffset(ByteBuf buf, int off) {
        return off + headerLength(buf, off);
    }

    public static int identification(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + IDENT);
    }

    public static boolean dontFragment(ByteBuf buf, int off) {
        return (buf.getUnsignedShort(off + FLAGS_FRAG) & FLAG_DF) != 0;
    }

    public static boolean moreFragments(ByteBuf buf, int off) {
        return (buf.getUnsignedShort(off + FLAGS_FRAG) & FLAG_MF) != 0;
    }

    /** Fragment offset in bytes (the field times 8). */
    public static int fragmentOffset(ByteBuf buf, int off) {
        return (buf.getUnsignedShort(off + FLAGS_FRAG) & FRAG_MASK) * 8;
    }

    /** True for any fragment (MF set or a non-zero offset): such packets need reassembly. */
    public static boolean isFragment(ByteBuf buf, int off) {
        return (buf.getUnsignedShort(off + FLAGS_FRAG) & (FLAG_MF | FRAG_MASK)) != 0;
    }

    public static int ttl(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + TTL);
    }

    public static int protocol(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + PROTOCOL);
    }

    public static int headerChecksum(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + CHECKSUM);
    }

    public static int src(ByteBuf buf, int off) {
        return buf.getInt(off + SRC);
    }

    public static int dst(ByteBuf buf, int off) {
        return buf.getInt(off + DST);
    }

    // ---- setters (in place; call fillChecksum afterwards) -------------------------------------------------------

    public static void setDscpEcn(ByteBuf buf, int off, int dscpEcn) {
        buf.setByte(off + TOS, dscpEcn);
    }

    public static void setTotalLength(ByteBuf buf, int off, int totalLength) {
        buf.setShort(off + TOTAL_LEN, totalLength);
    }

    public static void setIdentification(ByteBuf buf, int off, int identification) {
        buf.setShort(off + IDENT, identification);
    }

    /** Sets DF, MF and the fragment offset (in bytes, a multiple of 8). */
    public static void setFragment(ByteBuf buf, int off, boolean df, boolean mf, int fragmentOffsetBytes) {
        buf.setShort(off + FLAGS_FRAG, flagsAndOffset(df, mf, fragmentOffsetBytes));
    }

    public static void setTtl(ByteBuf buf, int off, int ttl) {
        buf.setByte(off + TTL, ttl);
    }

    public static void setProtocol(ByteBuf buf, int off, int protocol) {
        buf.setByte(off + PROTOCOL, protocol);
    }

    public static void setSrc(ByteBuf buf, int off, int src) {
        buf.setInt(off + SRC, src);
    }

    public static void setDst(ByteBuf buf, int off, int dst) {
        buf.setInt(off + DST, dst);
    }

    public static void setHeaderChecksum(ByteBuf buf, int off, int checksum) {
        buf.setShort(off + CHECKSUM, checksum);
    }

    /** Zeroes the checksum field and stores the checksum of the {@code headerLength} bytes. buf: borrowed. */
    public static void fillChecksum(ByteBuf buf, int off) {
        buf.setShort(off + CHECKSUM, 0);
        buf.setShort(off + CHECKSUM, Checksums.ipv4Header(buf, off, headerLength(buf, off)));
    }

    // ---- writing -------------------------------------------------------------------------------------------------

    /**
     * Appends a 20-byte header (no options, MF clear, offset 0) with a correct checksum at the writer index.
     *
     * @param out borrowed
     * @param dscpEcn the whole second byte (DSCP and ECN), usually 0
     * @param totalLength header plus payload, in bytes
     */
    public static void writeHeader(ByteBuf out, int dscpEcn, int totalLength, int identification, boolean df,
            int ttl, int protocol, int src, int dst) {
        writeHeader(out, dscpEcn, totalLength, identification, df, false, 0, ttl, protocol, src, dst);
    }

    /** Like {@link #writeHeader(ByteBuf, int, int, int, boolean, int, int, int, int)} for a fragment. out: borrowed. */
    public static void writeHeader(ByteBuf out, int dscpEcn, int totalLength, int identification, boolean df,
            boolean mf, int fragmentOffsetBytes, int ttl, int protocol, int src, int dst) {
        int start = out.writerIndex();
        out.ensureWritable(MIN_HEADER_LEN);
        out.writeByte(0x45);
        out.writeByte(dscpEcn);
        out.writeShort(totalLength);
        out.writeShort(identification);
        out.writeShort(flagsAndOffset(df, mf, fragmentOffsetBytes));
        out.writeByte(ttl);
        out.writeByte(protocol);
        out.writeShort(0);
        out.writeInt(src);
        out.writeInt(dst);
        out.setShort(start + CHECKSUM, Checksums.ipv4Header(out, start, MIN_HEADER_LEN));
    }

    static int flagsAndOffset(boolean df, boolean mf, int fragmentOffsetBytes) {
        return (df ? FLAG_DF : 0) | (mf ? FLAG_MF : 0) | ((fragmentOffsetBytes >>> 3) & FRAG_MASK);
    }

    // ---- options -------------------------------------------------------------------------------------------------

    /**
     * Null when the options of a checked header are well formed (every option other than END/NOP has a length
     * byte >= 2 that fits in the header), else {@link Error#BAD_OPTION}. Never throws. buf: borrowed.
     */
    public static Error checkOptions(ByteBuf buf, int off) {
        return OptionIterator.wellFormed(buf, off + MIN_HEADER_LEN, off + headerLength(buf, off))
                ? null : Error.BAD_OPTION;
    }

    /**
     * Absolute index of the first option of {@code kind} in a checked header whose options passed
     * {@link #checkOptions}, or -1. buf: borrowed.
     */
    public static int findOption(ByteBuf buf, int off, int kind) {
        return OptionIterator.find(buf, off + MIN_HEADER_LEN, off + headerLength(buf, off), kind);
    }
}
