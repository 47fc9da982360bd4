package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * ICMPv6 message (RFC 4443), a flyweight over {@code (ByteBuf, off)} where {@code off} is the absolute index of
 * the ICMPv6 header and {@code len} the upper-layer length (what follows the extension headers).
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Identifier | Sequence (echo), MTU (too big), Pointer (param.), unused, or NDP fields
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  data ...  (echo payload, as much of the invoking packet as fits in 1280 bytes, or NDP fields and options)
 * </pre>
 *
 * <p>Unlike ICMPv4 the checksum covers the IPv6 pseudo-header (RFC 4443 section 2.3), so {@link #check} takes the
 * index of the IPv6 header the message came in. Types below 128 are errors, the rest informational (section
 * 2.1); types 133-137 are NDP ({@link NdpPacket}). Types and codes are an open set. Buffers are <b>borrowed</b>.
 */
public final class Icmpv6Packet {
    /** Type, code, checksum and the 32-bit field every message has. */
    public static final int HEADER_LEN = 8;
    /** An ICMPv6 error must not make a packet exceed the minimum MTU (RFC 4443 section 2.4 (c)). */
    public static final int MAX_ERROR_LEN = Ipv6Packet.MIN_MTU - Ipv6Packet.HEADER_LEN;

    public static final int TYPE_DEST_UNREACHABLE = 1;
    public static final int TYPE_PACKET_TOO_BIG = 2;
    public static final int TYPE_TIME_EXCEEDED = 3;
    public static final int TYPE_PARAMETER_PROBLEM = 4;
    public static final int TYPE_ECHO_REQUEST = 128;
    public static final int TYPE_ECHO_REPLY = 129;
    public static final int TYPE_ROUTER_SOLICITATION = 133;
    public static final int TYPE_ROUTER_ADVERTISEMENT = 134;
    public static final int TYPE_NEIGHBOR_SOLICITATION = 135;
    public static final int TYPE_NEIGHBOR_ADVERTISEMENT = 136;
    public static final int TYPE_REDIRECT = 137;

    /** Destination-unreachable codes (RFC 4443 section 3.1). */
    public static final int CODE_NO_ROUTE = 0;
    public static final int CODE_ADMIN_PROHIBITED = 1;
    public static final int CODE_BEYOND_SCOPE = 2;
    public static final int CODE_ADDRESS_UNREACHABLE = 3;
    public static final int CODE_PORT_UNREACHABLE = 4;
    public static final int CODE_SOURCE_POLICY_FAILED = 5;
    public static final int CODE_REJECT_ROUTE = 6;

    /** Time-exceeded codes (section 3.3). */
    public static final int CODE_HOP_LIMIT_EXCEEDED = 0;
    public static final int CODE_REASSEMBLY_TIME_EXCEEDED = 1;

    private static final int TYPE = 0;
    private static final int CODE = 1;
    private static final int CHECKSUM = 2;
    private static final int REST = 4;

    private Icmpv6Packet() {}

    /** Why an ICMPv6 message was rejected. */
    public enum Error {
        TRUNCATED("icmpv6.truncated"),
        BAD_CHECKSUM("icmpv6.badChecksum");

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
     * Null when {@code len} bytes at {@code off} hold an ICMPv6 message whose checksum is right under the
     * pseudo-header of the checked IPv6 header at {@code ipOff}. Never throws. buf: borrowed.
     */
    public static Error check(ByteBuf buf, int off, int len, int ipOff) {
        if (len < HEADER_LEN || off < 0 || off > buf.capacity() - len) {
            return Error.TRUNCATED;
        }
        return check(buf, off, len, Checksums.ipv6AddressSum(buf, ipOff));
    }

    /**
     * {@link #check} for a message whose addresses are not in the same buffer (a reassembled payload).
     * buf: borrowed.
     */
    public static Error check(ByteBuf buf, int off, int len, Ipv6Address src, Ipv6Address dst) {
        if (len < HEADER_LEN || off < 0 || off > buf.capacity() - len) {
            return Error.TRUNCATED;
        }
        return check(buf, off, len, Checksums.ipv6AddressSum(src, dst));
    }

    private static Error check(ByteBuf buf, int off, int len, long addressSum) {
        return Checksums.verify(buf, off, len, addressSum + IpProtocol.ICMPV6 + len) ? null : Error.BAD_CHECKSUM;
    }

    /** True for error messages (types 0-127), which must never be answered with an error (section 2.4 (e)). */
    public static boolean isError(int type) {
        return type < 128;
    }

    public static int type(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + TYPE);
    }

    public static int code(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + CODE);
    }

    public static int checksum(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + CHECKSUM);
    }

    /** Bytes 4-7 as one int. */
    public static int restOfHeader(ByteBuf buf, int off) {
        return buf.getInt(off + REST);
    }

    /** Echo identifier (bytes 4-5). */
    public static int identifier(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + REST);
    }

    /** Echo sequence number (bytes 6-7). */
    public static int sequence(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + REST + 2);
    }

    /** MTU of a Packet Too Big message (bytes 4-7, unsigned). */
    public static long mtu(ByteBuf buf, int off) {
        return buf.getUnsignedInt(off + REST);
    }

    /** Pointer of a Parameter Problem message (bytes 4-7, unsigned). */
    public static long pointer(ByteBuf buf, int off) {
        return buf.getUnsignedInt(off + REST);
    }

    public static void setType(ByteBuf buf, int off, int type) {
        buf.setByte(off + TYPE, type);
    }

    public static void setCode(ByteBuf buf, int off, int code) {
        buf.setByte(off + CODE, code);
    }

    public static void setChecksum(ByteBuf buf, int off, int checksum) {
        buf.setShort(off + CHECKSUM, checksum);
    }

    /** Appends an 8-byte header with a zero checksum; fill it with {@link #fillChecksum}. out: borrowed. */
    public static void writeHeader(ByteBuf out, int type, int code, int restOfHeader) {
        out.ensureWritable(HEADER_LEN);
        out.writeByte(type);
        out.writeByte(code);
        out.writeShort(0);
        out.writeInt(restOfHeader);
    }

    /**
     * Zeroes the checksum field and stores the checksum of the {@code len}-byte message at {@code off} under the
     * pseudo-header of {@code src} and {@code dst}. buf: borrowed.
     */
    public static void fillChecksum(ByteBuf buf, int off, int len, Ipv6Address src, Ipv6Address dst) {
        buf.setShort(off + CHECKSUM, 0);
        buf.setShort(off + CHECKSUM, Checksums.withIpv6PseudoHeader(buf, off, len, src, dst, IpProtocol.ICMPV6));
    }

    /** A readable name of a type: {@code echo request}, {@code neighbor solicitation}, ... or {@code type N}. */
    public static String typeName(int type) {
        return switch (type) {
            case TYPE_DEST_UNREACHABLE -> "destination unreachable";
            case TYPE_PACKET_TOO_BIG -> "packet too big";
            case TYPE_TIME_EXCEEDED -> "time exceeded";
            case TYPE_PARAMETER_PROBLEM -> "parameter problem";
            case TYPE_ECHO_REQUEST -> "echo request";
            case TYPE_ECHO_REPLY -> "echo reply";
            case 130 -> "multicast listener query"; // MLD (RFC 2710, RFC 9777): the stack only names them
            case 131 -> "multicast listener report";
            case 132 -> "multicast listener done";
            case 143 -> "multicast listener report v2";
            case TYPE_ROUTER_SOLICITATION -> "router solicitation";
            case TYPE_ROUTER_ADVERTISEMENT -> "router advertisement";
            case TYPE_NEIGHBOR_SOLICITATION -> "neighbor solicitation";
            case TYPE_NEIGHBOR_ADVERTISEMENT -> "neighbor advertisement";
            case TYPE_REDIRECT -> "redirect";
            default -> "type " + (type & 0xFF);
        };
    }
}
