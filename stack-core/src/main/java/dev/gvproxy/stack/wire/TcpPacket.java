package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * TCP header (RFC 9293 section 3.1), a flyweight over {@code (ByteBuf, off)} where {@code off} is the absolute
 * index of the TCP header and {@code len} the IPv4 payload length (the segment length).
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Sequence Number                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Acknowledgment Number                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data |     |A|C|E|U|A|P|R|S|F|                               |
 * | Offset| Rsrv|E|W|C|R|C|S|S|Y|I|            Window             |
 * |       |     | |R|E|G|K|H|T|N|N|                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options                    |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * <p>{@link #check} validates the data offset, the checksum (with the IPv4 pseudo-header, or the IPv6 one for
 * {@link #checkIpv6}) and the option lengths ({@link TcpOptions#check}); after it returns null no accessor can
 * throw and {@link TcpRepr#parse} succeeds. Buffers are <b>borrowed</b>.
 */
public final class TcpPacket {
    public static final int MIN_HEADER_LEN = 20;
    public static final int MAX_HEADER_LEN = 60;

    private static final int SRC_PORT = 0;
    private static final int DST_PORT = 2;
    private static final int SEQ = 4;
    private static final int ACK = 8;
    private static final int OFF_FLAGS = 12;
    private static final int WINDOW = 14;
    private static final int CHECKSUM = 16;
    private static final int URGENT = 18;

    private TcpPacket() {}

    /** Why a TCP segment was rejected. */
    public enum Error {
        /** Fewer than 20 bytes. */
        TRUNCATED("tcp.truncated"),
        /** Data offset below 5 words or beyond the segment. */
        BAD_DATA_OFFSET("tcp.badDataOffset"),
        BAD_CHECKSUM("tcp.badChecksum"),
        /** An option with a length of 0 or 1, running past the header, or a known kind with a wrong length. */
        BAD_OPTION("tcp.badOption");

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
     * Null when the {@code len}-byte segment at {@code off}, sent from {@code srcIp} to {@code dstIp}, is well
     * formed and its checksum is right. Never throws. buf: borrowed.
     */
    public static Error check(ByteBuf buf, int off, int len, int srcIp, int dstIp) {
        return check(buf, off, len, srcIp, dstIp, -1L);
    }

    /**
     * {@link #check} for a segment carried by IPv6 ({@code len} bytes after the extension headers), the checksum
     * taken over the IPv6 pseudo-header of the checked IPv6 header at {@code ipOff}. buf: borrowed.
     */
    public static Error checkIpv6(ByteBuf buf, int off, int len, int ipOff) {
        return check(buf, off, len, 0, 0, Checksums.ipv6AddressSum(buf, ipOff));
    }

    /** {@link #checkIpv6} for a payload whose addresses are not in the same buffer (a reassembled one). */
    public static Error checkIpv6(ByteBuf buf, int off, int len, Ipv6Address src, Ipv6Address dst) {
        return check(buf, off, len, 0, 0, Checksums.ipv6AddressSum(src, dst));
    }

    /**
     * {@link #check} for either family, the pseudo-header's addresses given as their unfolded sum
     * ({@code IpHeader.addressSum()}: IPv4's two addresses or IPv6's two), so the receive path needs no address
     * values. buf: borrowed.
     */
    public static Error checkWithAddressSum(ByteBuf buf, int off, int len, long addressSum) {
        return check(buf, off, len, 0, 0, addressSum);
    }

    /** @param v6AddressSum the IPv6 pseudo-header's address sum, or -1 for IPv4 (then the int addresses count) */
    private static Error check(ByteBuf buf, int off, int len, int srcIp, int dstIp, long v6AddressSum) {
        if (len < MIN_HEADER_LEN || off < 0 || off > buf.capacity() - len) {
            return Error.TRUNCATED;
        }
        int hl = headerLength(buf, off);
        if (hl < MIN_HEADER_LEN || hl > len) {
            return Error.BAD_DATA_OFFSET;
        }
        if (v6AddressSum >= 0 ? !Checksums.verify(buf, off, len, v6AddressSum + IpProtocol.TCP + len)
                : !Checksums.verifyWithPseudoHeader(buf, off, len, srcIp, dstIp, IpProtocol.TCP)) {
            return Error.BAD_CHECKSUM;
        }
        if (!TcpOptions.check(buf, off + MIN_HEADER_LEN, off + hl)) {
            return Error.BAD_OPTION;
        }
        return null;
    }

    public static int srcPort(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + SRC_PORT);
    }

    public static int dstPort(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + DST_PORT);
    }

    public static int seqNumber(ByteBuf buf, int off) {
        return buf.getInt(off + SEQ);
    }

    public static int ackNumber(ByteBuf buf, int off) {
        return buf.getInt(off + ACK);
    }

    /** Header length in bytes (data offset times 4). */
    public static int headerLength(ByteBuf buf, int off) {
        return (buf.getUnsignedByte(off + OFF_FLAGS) >>> 4) * 4;
    }

    /** The 12 bits after the data offset: {@link TcpFlags} plus the three reserved bits. */
    public static int flags(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + OFF_FLAGS) & TcpFlags.MASK;
    }

    public static boolean syn(ByteBuf buf, int off) {
        return (flags(buf, off) & TcpFlags.SYN) != 0;
    }

    public static boolean ack(ByteBuf buf, int off) {
        return (flags(buf, off) & TcpFlags.ACK) != 0;
    }

    public static boolean fin(ByteBuf buf, int off) {
        return (flags(buf, off) & TcpFlags.FIN) != 0;
    }

    public static boolean rst(ByteBuf buf, int off) {
        return (flags(buf, off) & TcpFlags.RST) != 0;
    }

    /** The raw (unscaled) window field. */
    public static int window(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + WINDOW);
    }

    public static int checksum(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + CHECKSUM);
    }

    public static int urgentPointer(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + URGENT);
    }

    /** Absolute index of the payload. */
    public static int payloadOffset(ByteBuf buf, int off) {
        return off + headerLength(buf, off);
    }

    /** Payload bytes of a {@code len}-byte segment. */
    public static int payloadLength(ByteBuf buf, int off, int len) {
        return len - headerLength(buf, off);
    }

    /**
     * Sequence space the segment occupies (RFC 9293 SEG.LEN): payload plus one for SYN and one for FIN.
     */
    public static int segmentLength(ByteBuf buf, int off, int len) {
        int f = flags(buf, off);
        return payloadLength(buf, off, len) + ((f & TcpFlags.SYN) != 0 ? 1 : 0) + ((f & TcpFlags.FIN) != 0 ? 1 : 0);
    }

    /** Absolute index of the first option of {@code kind} in a checked segment, or -1. */
    public static int findOption(ByteBuf buf, int off, int kind) {
        return TcpOptions.find(buf, off + MIN_HEADER_LEN, off + headerLength(buf, off), kind);
    }

    // ---- setters -------------------------------------------------------------------------------------------------

    public static void setSrcPort(ByteBuf buf, int off, int port) {
        buf.setShort(off + SRC_PORT, port);
    }

    public static void setDstPort(ByteBuf buf, int off, int port) {
        buf.setShort(off + DST_PORT, port);
    }

    public static void setSeqNumber(ByteBuf buf, int off, int seq) {
        buf.setInt(off + SEQ, seq);
    }

    public static void setAckNumber(ByteBuf buf, int off, int ack) {
        buf.setInt(off + ACK, ack);
    }

    /** Sets the data offset (header length in bytes, a multiple of 4) and the 12 flag bits. */
    public static void setHeaderLengthAndFlags(ByteBuf buf, int off, int headerLen, int flags) {
        buf.setShort(off + OFF_FLAGS, ((headerLen >>> 2) << 12) | (flags & TcpFlags.MASK));
    }

    public static void setWindow(ByteBuf buf, int off, int window) {
        buf.setShort(off + WINDOW, window);
    }

    public static void setChecksum(ByteBuf buf, int off, int checksum) {
        buf.setShort(off + CHECKSUM, checksum);
    }

    public static void setUrgentPointer(ByteBuf buf, int off, int urgent) {
        buf.setShort(off + URGENT, urgent);
    }

    /** Zeroes the checksum field and stores the checksum of the {@code len}-byte segment. buf: borrowed. */
    public static void fillChecksum(ByteBuf buf, int off, int len, int srcIp, int dstIp) {
        buf.setShort(off + CHECKSUM, 0);
        buf.setShort(off + CHECKSUM, Checksums.withPseudoHeader(buf, off, len, srcIp, dstIp, IpProtocol.TCP));
    }
}
