package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/** Value form of a UDP header (ports only: length and checksum follow from the payload and addresses). */
public record UdpRepr(int srcPort, int dstPort) {

    /** Reads a datagram that passed {@link UdpPacket#check}. buf: borrowed. */
    public static UdpRepr parse(ByteBuf buf, int off) {
        return new UdpRepr(UdpPacket.srcPort(buf, off), UdpPacket.dstPort(buf, off));
    }

    public int bufferLen() {
        return UdpPacket.HEADER_LEN;
    }

    /**
     * Appends header and payload with a correct checksum at the writer index.
     *
     * @param out borrowed
     * @param payload borrowed; its readable bytes are copied, its indexes untouched (may be null for none)
     */
    public void emit(ByteBuf out, int srcIp, int dstIp, ByteBuf payload) {
        int start = out.writerIndex();
        int plen = payload == null ? 0 : payload.readableBytes();
        out.ensureWritable(UdpPacket.HEADER_LEN + plen);
        UdpPacket.writeHeader(out, srcPort, dstPort, plen);
        if (plen > 0) {
            out.writeBytes(payload, payload.readerIndex(), plen);
        }
        UdpPacket.fillChecksum(out, start, UdpPacket.HEADER_LEN + plen, srcIp, dstIp);
    }

    /** {@link #emit} for a datagram carried by IPv6 (checksum over the IPv6 pseudo-header). out, payload: borrowed. */
    public void emitIpv6(ByteBuf out, Ipv6Address src, Ipv6Address dst, ByteBuf payload) {
        int start = out.writerIndex();
        int plen = payload == null ? 0 : payload.readableBytes();
        out.ensureWritable(UdpPacket.HEADER_LEN + plen);
        UdpPacket.writeHeader(out, srcPort, dstPort, plen);
        if (plen > 0) {
            out.writeBytes(payload, payload.readerIndex(), plen);
        }
        UdpPacket.fillChecksumIpv6(out, start, UdpPacket.HEADER_LEN + plen, src, dst);
    }
}
