package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * Value form of an ICMPv4 header: type, code and the 32-bit rest of header (identifier and sequence for echo).
 * The data that follows stays in its buffer; {@link #emit} copies it from a borrowed payload.
 */
public record Icmpv4Repr(int type, int code, int restOfHeader) {

    public static Icmpv4Repr echo(int type, int identifier, int sequence) {
        return new Icmpv4Repr(type, 0, (identifier << 16) | (sequence & 0xFFFF));
    }

    /** Reads a message that passed {@link Icmpv4Packet#check}. buf: borrowed. */
    public static Icmpv4Repr parse(ByteBuf buf, int off) {
        return new Icmpv4Repr(Icmpv4Packet.type(buf, off), Icmpv4Packet.code(buf, off),
                Icmpv4Packet.restOfHeader(buf, off));
    }

    public int identifier() {
        return restOfHeader >>> 16;
    }

    public int sequence() {
        return restOfHeader & 0xFFFF;
    }

    /** Header bytes {@link #emit} writes before the payload. */
    public int bufferLen() {
        return Icmpv4Packet.HEADER_LEN;
    }

    /**
     * Appends header and payload with a correct checksum at the writer index.
     *
     * @param out borrowed
     * @param payload borrowed; its readable bytes are copied, its indexes untouched (may be null for none)
     */
    public void emit(ByteBuf out, ByteBuf payload) {
        int start = out.writerIndex();
        int plen = payload == null ? 0 : payload.readableBytes();
        out.ensureWritable(Icmpv4Packet.HEADER_LEN + plen);
        Icmpv4Packet.writeHeader(out, type, code, restOfHeader);
        if (plen > 0) {
            out.writeBytes(payload, payload.readerIndex(), plen);
        }
        Icmpv4Packet.fillChecksum(out, start, Icmpv4Packet.HEADER_LEN + plen);
    }
}
