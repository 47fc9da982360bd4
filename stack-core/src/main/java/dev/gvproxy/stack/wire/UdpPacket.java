package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * UDP header (RFC 768), a flyweight over {@code (ByteBuf, off)} where {@code off} is the absolute index of the
 * UDP header and {@code len} the IPv4 payload length.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |            Length             |           Checksum            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * <p>The datagram is {@link #length} bytes (header included), which may be less than the IP payload; the
 * checksum (over the pseudo-header, header and data) is optional over IPv4, where 0 means none was computed, and
 * mandatory over IPv6 ({@link #checkIpv6}, RFC 8200 section 8.1); a computed 0 is sent as 0xFFFF. Buffers are
 * <b>borrowed</b>.
 */
public final class UdpPacket {
    public static final int HEADER_LEN = 8;

    private static final int SRC_PORT = 0;
    private static final int DST_PORT = 2;
    private static final int LENGTH = 4;
    private static final int CHECKSUM = 6;

    private UdpPacket() {}

    /** Why a UDP datagram was rejected. */
    public enum Error {
        TRUNCATED("udp.truncated"),
        /** Length field below 8 or above the bytes the IP packet carries. */
        BAD_LENGTH("udp.badLength"),
        BAD_CHECKSUM("udp.badChecksum");

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
     * Null when {@code len} bytes at {@code off} (the IP payload) hold a well-formed datagram whose checksum,
     * if any, is right. Never throws. buf: borrowed.
     */
    public static Error check(ByteBuf buf, int off, int len, int srcIp, int dstIp) {
        return check(buf, off, len, srcIp, dstIp, -1L);
    }

    /**
     * {@link #check} for a datagram carried by IPv6 ({@code len} bytes after the extension headers), the
     * checksum taken over the IPv6 pseudo-header of the checked IPv6 header at {@code ipOff}. Over IPv6 the
     * checksum is mandatory (RFC 8200 section 8.1): a zero checksum is {@link Error#BAD_CHECKSUM}.
     * buf: borrowed.
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
     * ({@code IpHeader.addressSum()}); over IPv6 ({@code ipv6}) a zero checksum is refused, over IPv4 it means
     * none. buf: borrowed.
     */
    public static Error checkWithAddressSum(ByteBuf buf, int off, int len, long addressSum, boolean ipv6) {
        if (ipv6 || len < HEADER_LEN || off < 0 || off > buf.capacity() - len
                || buf.getUnsignedShort(off + CHECKSUM) != 0) {
            return check(buf, off, len, 0, 0, addressSum);
        }
        int length = buf.getUnsignedShort(off + LENGTH);
        return length < HEADER_LEN || length > len ? Error.BAD_LENGTH : null;
    }

    /** @param v6AddressSum the IPv6 pseudo-header's address sum, or -1 for IPv4 (then the int addresses count) */
    private static Error check(ByteBuf buf, int off, int len, int srcIp, int dstIp, long v6AddressSum) {
        if (len < HEADER_LEN || off < 0 || off > buf.capacity() - len) {
            return Error.TRUNCATED;
        }
        int length = buf.getUnsignedShort(off + LENGTH);
        if (length < HEADER_LEN || length > len) {
            return Error.BAD_LENGTH;
        }
        if (v6AddressSum >= 0) {
            return buf.getUnsignedShort(off + CHECKSUM) != 0
                    && Checksums.verify(buf, off, length, v6AddressSum + IpProtocol.UDP + length)
                    ? null : Error.BAD_CHECKSUM;
        }
        if (buf.getUnsignedShort(off + CHECKSUM) != 0
                && !Checksums.verifyWithPseudoHeader(buf, off, length, srcIp, dstIp, IpProtocol.UDP)) {
            return Error.BAD_CHECKSUM;
        }
        return null;
    }

    public static int srcPort(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + SRC_PORT);
    }

    public static int dstPort(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + DST_PORT);
    }

    /** Header plus data, in bytes. */
    public static int length(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + LENGTH);
    }

    public static int checksum(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + CHECKSUM);
    }

    /** Absolute index of the data. */
    public static int payloadOffset(int off) {
        return off + HEADER_LEN;
    }

    /** {@code length - 8}. */
    public static int payloadLength(ByteBuf buf, int off) {
        return length(buf, off) - HEADER_LEN;
    }

    public static void setSrcPort(ByteBuf buf, int off, int port) {
        buf.setShort(off + SRC_PORT, port);
    }

    public static void setDstPort(ByteBuf buf, int off, int port) {
        buf.setShort(off + DST_PORT, port);
    }

    public static void setLength(ByteBuf buf, int off, int length) {
        buf.setShort(off + LENGTH, length);
    }

    public static void setChecksum(ByteBuf buf, int off, int checksum) {
        buf.setShort(off + CHECKSUM, checksum);
    }

    /** Appends an 8-byte header with length {@code 8 + payloadLen} and checksum 0. out: borrowed. */
    public static void writeHeader(ByteBuf out, int srcPort, int dstPort, int payloadLen) {
        out.writeShort(srcPort);
        out.writeShort(dstPort);
        out.writeShort(HEADER_LEN + payloadLen);
        out.writeShort(0);
    }

    /**
     * Computes and stores the checksum of the {@code len}-byte datagram (header + data, already written) at
     * {@code off}. A computed 0 is stored as 0xFFFF. buf: borrowed.
     */
    public static void fillChecksum(ByteBuf buf, int off, int len, int srcIp, int dstIp) {
        buf.setShort(off + CHECKSUM, 0);
        int ck = Checksums.withPseudoHeader(buf, off, len, srcIp, dstIp, IpProtocol.UDP);
        buf.setShort(off + CHECKSUM, ck == 0 ? 0xFFFF : ck);
    }

    /** {@link #fillChecksum} under the IPv6 pseudo-header (a computed 0 sent as 0xFFFF). buf: borrowed. */
    public static void fillChecksumIpv6(ByteBuf buf, int off, int len, Ipv6Address src, Ipv6Address dst) {
        buf.setShort(off + CHECKSUM, 0);
        int ck = Checksums.withIpv6PseudoHeader(buf, off, len, src, dst, IpProtocol.UDP);
        buf.setShort(off + CHECKSUM, ck == 0 ? 0xFFFF : ck);
    }
}
