package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;
import java.util.Arrays;

/**
 * Value form of an IPv4 header. {@code options} holds the raw option bytes (padding included, a multiple of 4,
 * at most 40; empty for a plain header); {@code payloadLen} is {@code totalLength - headerLength}.
 *
 * <p>Round trip: {@code Ipv4Repr.parse(buf, off).emit(out)} reproduces a checked header byte for byte (the
 * reserved flag bit excepted, which is always emitted as 0).
 */
public record Ipv4Repr(int dscpEcn, int identification, boolean dontFragment, boolean moreFragments,
        int fragmentOffset, int ttl, int protocol, int src, int dst, byte[] options, int payloadLen) {

    private static final byte[] NO_OPTIONS = new byte[0];

    public Ipv4Repr {
        if (options == null) {
            options = NO_OPTIONS;
        }
        if ((options.length & 3) != 0 || options.length > Ipv4Packet.MAX_HEADER_LEN - Ipv4Packet.MIN_HEADER_LEN) {
            throw new IllegalArgumentException("IPv4 options must be a multiple of 4 bytes, at most 40: "
                    + options.length);
        }
    }

    /** A plain header: no options, not a fragment. */
    public static Ipv4Repr of(int protocol, int src, int dst, int ttl, int identification, boolean df,
            int payloadLen) {
        return new Ipv4Repr(0, identification, df, false, 0, ttl, protocol, src, dst, NO_OPTIONS, payloadLen);
    }

    /** Reads a header that passed {@link Ipv4Packet#check}. buf: borrowed. */
    public static Ipv4Repr parse(ByteBuf buf, int off) {
        int hl = Ipv4Packet.headerLength(buf, off);
        byte[] opts = NO_OPTIONS;
        if (hl > Ipv4Packet.MIN_HEADER_LEN) {
            opts = new byte[hl - Ipv4Packet.MIN_HEADER_LEN];
            buf.getBytes(off + Ipv4Packet.MIN_HEADER_LEN, opts);
        }
        return new Ipv4Repr(Ipv4Packet.dscpEcn(buf, off), Ipv4Packet.identification(buf, off),
                Ipv4Packet.dontFragment(buf, off), Ipv4Packet.moreFragments(buf, off),
                Ipv4Packet.fragmentOffset(buf, off), Ipv4Packet.ttl(buf, off), Ipv4Packet.protocol(buf, off),
                Ipv4Packet.src(buf, off), Ipv4Packet.dst(buf, off), opts, Ipv4Packet.totalLength(buf, off) - hl);
    }

    /** Header length in bytes. */
    public int headerLength() {
        return Ipv4Packet.MIN_HEADER_LEN + options.length;
    }

    /** Bytes {@link #emit} appends (the header only; the payload is the caller's). */
    public int bufferLen() {
        return headerLength();
    }

    public int totalLength() {
        return headerLength() + payloadLen;
    }

    /** Appends the header, with its checksum, at the writer index. out: borrowed. */
    public void emit(ByteBuf out) {
        int start = out.writerIndex();
        int hl = headerLength();
        out.ensureWritable(hl);
        out.writeByte(0x40 | (hl >>> 2));
        out.writeByte(dscpEcn);
        out.writeShort(hl + payloadLen);
        out.writeShort(identification);
        out.writeShort(Ipv4Packet.flagsAndOffset(dontFragment, moreFragments, fragmentOffset));
        out.writeByte(ttl);
        out.writeByte(protocol);
        out.writeShort(0);
        out.writeInt(src);
        out.writeInt(dst);
        out.writeBytes(options);
        out.setShort(start + 10, Checksums.ipv4Header(out, start, hl));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Ipv4Repr r && dscpEcn == r.dscpEcn && identification == r.identification
                && dontFragment == r.dontFragment && moreFragments == r.moreFragments
                && fragmentOffset == r.fragmentOffset && ttl == r.ttl && protocol == r.protocol && src == r.src
                && dst == r.dst && payloadLen == r.payloadLen && Arrays.equals(options, r.options);
    }

    @Override
    public int hashCode() {
        return ((src * 31 + dst) * 31 + identification) * 31 + protocol;
    }

    @Override
    public String toString() {
        return "Ipv4Repr[" + Ipv4Address.format(src) + " > " + Ipv4Address.format(dst) + " proto="
                + IpProtocol.name(protocol) + " ttl=" + ttl + " id=" + identification + (dontFragment ? " DF" : "")
                + (moreFragments ? " MF" : "") + (fragmentOffset != 0 ? " off=" + fragmentOffset : "")
                + (dscpEcn != 0 ? " tos=" + dscpEcn : "") + (options.length > 0 ? " opts=" + options.length : "")
                + " len=" + payloadLen + "]";
    }
}
