package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * Value form of an ICMPv6 header (RFC 4443): type, code and the 32-bit field after the checksum (identifier and
 * sequence for echo, the MTU for Packet Too Big, the pointer for Parameter Problem, unused otherwise). The data
 * that follows stays in its buffer; {@link #emit} copies it from a borrowed payload. NDP messages have their own
 * value forms ({@link NdpRepr}).
 */
public record Icmpv6Repr(int type, int code, int restOfHeader) {

    public static Icmpv6Repr echoRequest(int identifier, int sequence) {
        return new Icmpv6Repr(Icmpv6Packet.TYPE_ECHO_REQUEST, 0, (identifier << 16) | (sequence & 0xFFFF));
    }

    public static Icmpv6Repr echoReply(int identifier, int sequence) {
        return new Icmpv6Repr(Icmpv6Packet.TYPE_ECHO_REPLY, 0, (identifier << 16) | (sequence & 0xFFFF));
    }

    public static Icmpv6Repr destinationUnreachable(int code) {
        return new Icmpv6Repr(Icmpv6Packet.TYPE_DEST_UNREACHABLE, code, 0);
    }

    public static Icmpv6Repr packetTooBig(int mtu) {
        return new Icmpv6Repr(Icmpv6Packet.TYPE_PACKET_TOO_BIG, 0, mtu);
    }

    public static Icmpv6Repr timeExceeded(int code) {
        return new Icmpv6Repr(Icmpv6Packet.TYPE_TIME_EXCEEDED, code, 0);
    }

    /** @param pointer offset of the erroneous byte in the invoking packet ({@link Ipv6Packet.Chain#problemPointer}) */
    public static Icmpv6Repr parameterProblem(int code, int pointer) {
        return new Icmpv6Repr(Icmpv6Packet.TYPE_PARAMETER_PROBLEM, code, pointer);
    }

    /** Reads a message that passed {@link Icmpv6Packet#check}. buf: borrowed. */
    public static Icmpv6Repr parse(ByteBuf buf, int off) {
        return new Icmpv6Repr(Icmpv6Packet.type(buf, off), Icmpv6Packet.code(buf, off),
                Icmpv6Packet.restOfHeader(buf, off));
    }

    public int identifier() {
        return restOfHeader >>> 16;
    }

    public int sequence() {
        return restOfHeader & 0xFFFF;
    }

    public boolean isError() {
        return Icmpv6Packet.isError(type);
    }

    /**
     * How many bytes of an invoking packet of {@code invokingLen} bytes an error message carries: as much as fits
     * without the error exceeding the minimum IPv6 MTU (RFC 4443 section 2.4 (c)).
     */
    public static int errorDataLength(int invokingLen) {
        return Math.min(invokingLen, Icmpv6Packet.MAX_ERROR_LEN - Icmpv6Packet.HEADER_LEN);
    }

    /** Header bytes {@link #emit} writes before the payload. */
    public int bufferLen() {
        return Icmpv6Packet.HEADER_LEN;
    }

    /**
     * Appends header and payload with a correct checksum (pseudo-header of {@code src} and {@code dst}) at the
     * writer index.
     *
     * @param out borrowed
     * @param payload borrowed; its readable bytes are copied, its indexes untouched (may be null for none)
     */
    public void emit(ByteBuf out, Ipv6Address src, Ipv6Address dst, ByteBuf payload) {
        int start = out.writerIndex();
        int plen = payload == null ? 0 : payload.readableBytes();
        out.ensureWritable(Icmpv6Packet.HEADER_LEN + plen);
        Icmpv6Packet.writeHeader(out, type, code, restOfHeader);
        if (plen > 0) {
            out.writeBytes(payload, payload.readerIndex(), plen);
        }
        Icmpv6Packet.fillChecksum(out, start, Icmpv6Packet.HEADER_LEN + plen, src, dst);
    }
}
