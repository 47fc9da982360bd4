package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * Value form of the fixed IPv6 header (RFC 8200 section 3). Extension headers are not part of it:
 * {@code nextHeader} is the fixed header's field and {@code payloadLen} counts everything after the 40 bytes,
 * extension headers included (walk them with {@link Ipv6Packet#walk}).
 *
 * <p>Round trip: {@code Ipv6Repr.parse(buf, off).emit(out)} reproduces a checked fixed header byte for byte.
 */
public record Ipv6Repr(int trafficClass, int flowLabel, int nextHeader, int hopLimit, Ipv6Address src,
        Ipv6Address dst, int payloadLen) {

    public Ipv6Repr {
        if (src == null || dst == null) {
            throw new IllegalArgumentException("IPv6 addresses must not be null");
        }
        if ((trafficClass & ~0xFF) != 0 || (flowLabel & ~0xF_FFFF) != 0 || (nextHeader & ~0xFF) != 0
                || (hopLimit & ~0xFF) != 0 || (payloadLen & ~0xFFFF) != 0) {
            throw new IllegalArgumentException("IPv6 header field out of range: tc=" + trafficClass + " flow="
                    + flowLabel + " nh=" + nextHeader + " hlim=" + hopLimit + " len=" + payloadLen);
        }
    }

    /** A plain header: traffic class and flow label 0. */
    public static Ipv6Repr of(int nextHeader, Ipv6Address src, Ipv6Address dst, int hopLimit, int payloadLen) {
        return new Ipv6Repr(0, 0, nextHeader, hopLimit, src, dst, payloadLen);
    }

    /** Reads a header that passed {@link Ipv6Packet#check}. buf: borrowed. */
    public static Ipv6Repr parse(ByteBuf buf, int off) {
        return new Ipv6Repr(Ipv6Packet.trafficClass(buf, off), Ipv6Packet.flowLabel(buf, off),
                Ipv6Packet.nextHeader(buf, off), Ipv6Packet.hopLimit(buf, off), Ipv6Packet.src(buf, off),
                Ipv6Packet.dst(buf, off), Ipv6Packet.payloadLength(buf, off));
    }

    /** Bytes {@link #emit} appends (the fixed header only; the payload is the caller's). */
    public int bufferLen() {
        return Ipv6Packet.HEADER_LEN;
    }

    public int totalLength() {
        return Ipv6Packet.HEADER_LEN + payloadLen;
    }

    /** Appends the header at the writer index. out: borrowed. */
    public void emit(ByteBuf out) {
        Ipv6Packet.writeHeader(out, trafficClass, flowLabel, payloadLen, nextHeader, hopLimit, src, dst);
    }

    @Override
    public String toString() {
        return "Ipv6Repr[" + src + " > " + dst + " nh=" + IpProtocol.name(nextHeader) + " hlim=" + hopLimit
                + (trafficClass != 0 ? " tc=" + trafficClass : "") + (flowLabel != 0 ? " flow=" + flowLabel : "")
                + " len=" + payloadLen + "]";
    }
}
