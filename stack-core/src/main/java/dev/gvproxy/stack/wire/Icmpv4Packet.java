package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * ICMPv4 message (RFC 792), a flyweight over {@code (ByteBuf, off)} where {@code off} is the absolute index of
 * the ICMP header and {@code len} the IPv4 payload length.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  rest of header: Identifier | Sequence (echo), unused | MTU  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  data ...  (echo payload, or the offending IP header + 8 bytes)
 * </pre>
 *
 * <p>The checksum covers the whole message (no pseudo-header). Types and codes are an open set (plain ints).
 * Buffers are <b>borrowed</b>.
 */
public final class Icmpv4Packet {
    public static final int HEADER_LEN = 8;

    public static final int TYPE_ECHO_REPLY = 0;
    public static final int TYPE_DEST_UNREACHABLE = 3;
    public static final int TYPE_ECHO_REQUEST = 8;
    public static final int TYPE_TIME_EXCEEDED = 11;
    public static final int TYPE_PARAMETER_PROBLEM = 12;

    /** Destination-unreachable codes (an open set). */
    public static final int CODE_NET_UNREACHABLE = 0;
    public static final int CODE_HOST_UNREACHABLE = 1;
    public static final int CODE_PROTOCOL_UNREACHABLE = 2;
    public static final int CODE_PORT_UNREACHABLE = 3;
    public static final int CODE_FRAGMENTATION_NEEDED = 4;
    /** Communication administratively prohibited (RFC 1812 5.2.7.1): a filter refused the datagram. */
    public static final int CODE_ADMIN_PROHIBITED = 13;

    private static final int TYPE = 0;
    private static final int CODE = 1;
    private static final int CHECKSUM = 2;
    private static final int REST = 4;

    private Icmpv4Packet() {}

    /** Why an ICMP message was rejected. */
    public enum Error {
        TRUNCATED("icmp.truncated"),
        BAD_CHECKSUM("icmp.badChecksum");

        private final String counter;

        Error(String counter) {
            this.counter = counter;
        }

        /** Counter name, {@code <layer>.<reason>}. */
        public String counter() {
            return counter;
        }
    }

    /** Null when {@code len} bytes at {@code off} hold an ICMP message with a correct checksum. buf: borrowed. */
    public static Error check(ByteBuf buf, int off, int len) {
        if (len < HEADER_LEN || off < 0 || off > buf.capacity() - len) {
            return Error.TRUNCATED;
        }
        if (!Checksums.verify(buf, off, len, 0)) {
            return Error.BAD_CHECKSUM;
        }
        return null;
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

    /** Echo identifier (bytes 4-5). */
    public static int identifier(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + REST);
    }

    /** Echo sequence number (bytes 6-7). */
    public static int sequence(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + REST + 2);
    }

    /** Bytes 4-7 as one int (identifier/sequence, pointer, gateway, next-hop MTU, ...). */
    public static int restOfHeader(ByteBuf buf, int off) {
        return buf.getInt(off + REST);
    }

    /** Next-hop MTU of a fragmentation-needed message (RFC 1191; bytes 6-7). */
    public static int nextHopMtu(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + REST + 2);
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
        out.writeByte(type);
        out.writeByte(code);
        out.writeShort(0);
        out.writeInt(restOfHeader);
    }

    /** Appends an echo request/reply header (zero checksum). out: borrowed. */
    public static void writeEchoHeader(ByteBuf out, int type, int identifier, int sequence) {
        writeHeader(out, type, 0, (identifier << 16) | (sequence & 0xFFFF));
    }

    /** Zeroes the checksum field and stores the checksum of the {@code len}-byte message at {@code off}. */
    public static void fillChecksum(ByteBuf buf, int off, int len) {
        buf.setShort(off + CHECKSUM, 0);
        buf.setShort(off + CHECKSUM, Checksums.finish(Checksums.partial(buf, off, len, 0)));
    }
}
