package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;
import java.util.Arrays;

/**
 * Value form of a TCP header with its options. The payload is not part of the value: it stays in its buffer
 * ({@link TcpPacket#payloadOffset}) and is passed, borrowed, to {@link #emit}.
 *
 * <p>{@link #emit} lays the header out with {@link TcpSegmentWriter} (Linux's option order), so segments built
 * by Linux re-emit byte for byte.
 *
 * @param flags the 12 bits of {@link TcpFlags} (reserved bits included, so parse-then-emit is lossless)
 * @param window the raw, unscaled window field
 * @param urgent the urgent pointer
 * @param mss maximum segment size option, -1 when absent
 * @param windowScale window scale shift as sent (not clamped to 14), -1 when absent
 * @param sackPermitted SACK-permitted option present
 * @param sackBlocks SACK blocks as {@code [left0, right0, left1, right1, ...]}, at most 4 pairs; empty when absent
 * @param hasTimestamps timestamps option present; then {@code tsVal}/{@code tsEcr} hold its values
 * @param unknownOptions every option of a kind not listed above, raw (kind, length, data), in arrival order
 *
 */
public record TcpRepr(int srcPort, int dstPort, int seq, int ack, int flags, int window, int urgent, int mss,
        int windowScale, boolean sackPermitted, int[] sackBlocks, boolean hasTimestamps, int tsVal, int tsEcr,
        byte[] unknownOptions) {

    private static final int[] NO_SACK = new int[0];
    private static final byte[] NO_BYTES = new byte[0];
    private static final int MAX_OPTIONS = TcpPacket.MAX_HEADER_LEN - TcpPacket.MIN_HEADER_LEN;

    public TcpRepr {
        if (sackBlocks == null) {
            sackBlocks = NO_SACK;
        }
        if (unknownOptions == null) {
            unknownOptions = NO_BYTES;
        }
        if ((sackBlocks.length & 1) != 0 || sackBlocks.length > 2 * TcpOptions.MAX_SACK_BLOCKS) {
            throw new IllegalArgumentException("sackBlocks must hold 0..4 pairs: " + sackBlocks.length);
        }
    }

    /** A header without options. */
    public static TcpRepr of(int srcPort, int dstPort, int seq, int ack, int flags, int window) {
        return new TcpRepr(srcPort, dstPort, seq, ack, flags, window, 0, -1, -1, false, NO_SACK, false, 0, 0,
                NO_BYTES);
    }

    /**
     * Reads a segment that passed {@link TcpPacket#check} (its options are then known to be well formed).
     * buf: borrowed.
     */
    public static TcpRepr parse(ByteBuf buf, int off) {
        Options o = new Options();
        TcpOptions.decode(buf, off + TcpPacket.MIN_HEADER_LEN, off + TcpPacket.headerLength(buf, off), o);
        byte[] unknown = o.unknownLen == 0 ? NO_BYTES : Arrays.copyOf(o.unknown, o.unknownLen);
        return new TcpRepr(TcpPacket.srcPort(buf, off), TcpPacket.dstPort(buf, off), TcpPacket.seqNumber(buf, off),
                TcpPacket.ackNumber(buf, off), TcpPacket.flags(buf, off), TcpPacket.window(buf, off),
                TcpPacket.urgentPointer(buf, off), o.mss, o.windowScale, o.sackPermitted,
                o.sackCount == 0 ? NO_SACK : Arrays.copyOf(o.sack, 2 * o.sackCount), o.hasTimestamps,
                o.tsVal, o.tsEcr, unknown);
    }

    /** The options of one {@link #parse}, gathered before the record is built; unknown kinds kept raw. */
    private static final class Options extends TcpOptions.Values {
        byte[] unknown;
        int unknownLen;

        @Override
        public void unknown(ByteBuf buf, int at, int length) {
            if (unknown == null) {
                unknown = new byte[MAX_OPTIONS];
            }
            buf.getBytes(at, unknown, unknownLen, length);
            unknownLen += length;
        }
    }

    public boolean syn() {
        return (flags & TcpFlags.SYN) != 0;
    }

    public boolean ackFlag() {
        return (flags & TcpFlags.ACK) != 0;
    }

    public boolean fin() {
        return (flags & TcpFlags.FIN) != 0;
    }

    public boolean rst() {
        return (flags & TcpFlags.RST) != 0;
    }

    public int sackBlockCount() {
        return sackBlocks.length / 2;
    }

    /** Option bytes {@link #emit} writes, padding included (a multiple of 4, at most 40). */
    public int optionsLength() {
        return writer().optionsLength();
    }

    /** Header bytes {@link #emit} writes before the payload. */
    public int headerLength() {
        return TcpPacket.MIN_HEADER_LEN + optionsLength();
    }

    /** Same as {@link #headerLength()}: bytes needed for the header (the payload is the caller's). */
    public int bufferLen() {
        return headerLength();
    }

    /**
     * Appends header and payload at the writer index with a correct checksum.
     *
     * @param out borrowed
     * @param payload borrowed; its readable bytes are copied, its indexes untouched (null for none)
     * @throws IllegalArgumentException when the options do not fit in 40 bytes (only for hand-built values)
     */
    public void emit(ByteBuf out, int srcIp, int dstIp, ByteBuf payload) {
        emitHeader(out, srcIp, dstIp, payload);
        if (payload != null && payload.isReadable()) {
            out.writeBytes(payload, payload.readerIndex(), payload.readableBytes());
        }
    }

    /**
     * {@link #emit(ByteBuf, int, int, ByteBuf)} for either family: addresses IPv4-mapped for IPv4, the checksum
     * under the pseudo-header of their family.
     */
    public void emit(ByteBuf out, Ipv6Address src, Ipv6Address dst, ByteBuf payload) {
        writer().writeHeader(out, src, dst, payload);
        if (payload != null && payload.isReadable()) {
            out.writeBytes(payload, payload.readerIndex(), payload.readableBytes());
        }
    }

    /**
     * Appends only the header at the writer index, with a checksum that already covers {@code payload}, for a
     * frame that carries the payload in another buffer (a composite) without copying it.
     *
     * @param out borrowed
     * @param payload borrowed; only summed (null for none)
     */
    public void emitHeader(ByteBuf out, int srcIp, int dstIp, ByteBuf payload) {
        writer().writeHeader(out, srcIp, dstIp, payload);
    }

    /** This value as the {@link TcpSegmentWriter} template that lays it out. */
    private TcpSegmentWriter writer() {
        TcpSegmentWriter w = new TcpSegmentWriter().header(srcPort, dstPort, seq, ack, flags, window);
        w.urgent = urgent;
        w.mss = mss;
        w.windowScale = windowScale;
        w.sackPermitted = sackPermitted;
        w.timestamps = hasTimestamps;
        w.tsVal = tsVal;
        w.tsEcr = tsEcr;
        System.arraycopy(sackBlocks, 0, w.sack, 0, sackBlocks.length);
        w.sackCount = sackBlocks.length / 2;
        w.extraOptions = unknownOptions.length == 0 ? null : unknownOptions;
        return w;
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    public static Builder builder() {
        return new Builder(of(0, 0, 0, 0, 0, 0));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TcpRepr r && srcPort == r.srcPort && dstPort == r.dstPort && seq == r.seq && ack == r.ack
                && flags == r.flags && window == r.window && urgent == r.urgent && mss == r.mss
                && windowScale == r.windowScale && sackPermitted == r.sackPermitted
                && Arrays.equals(sackBlocks, r.sackBlocks) && hasTimestamps == r.hasTimestamps
                && tsVal == r.tsVal && tsEcr == r.tsEcr && Arrays.equals(unknownOptions, r.unknownOptions);
    }

    @Override
    public int hashCode() {
        return ((srcPort * 31 + dstPort) * 31 + seq) * 31 + ack;
    }

    /** tcpdump-like: {@code 40000 > 80 [S.] seq 1 ack 2 win 64240 <mss 1460,sackOK,TS 1:0,wscale 7>}. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(96);
        sb.append(srcPort).append(" > ").append(dstPort).append(" [").append(TcpFlags.toString(flags))
                .append("] seq ").append(SeqNum.unsigned(seq)).append(" ack ").append(SeqNum.unsigned(ack))
                .append(" win ").append(window);
        if (urgent != 0) {
            sb.append(" urg ").append(urgent);
        }
        StringBuilder o = new StringBuilder();
        if (mss >= 0) {
            o.append(",mss ").append(mss);
        }
        if (sackPermitted) {
            o.append(",sackOK");
        }
        if (hasTimestamps) {
            o.append(",TS ").append(SeqNum.unsigned(tsVal)).append(':').append(SeqNum.unsigned(tsEcr));
        }
        if (windowScale >= 0) {
            o.append(",wscale ").append(windowScale);
        }
        if (sackBlocks.length > 0) {
            o.append(",sack");
            for (int b = 0; b < sackBlocks.length; b += 2) {
                o.append(' ').append(SeqNum.unsigned(sackBlocks[b])).append(':')
                        .append(SeqNum.unsigned(sackBlocks[b + 1]));
            }
        }
        if (unknownOptions.length > 0) {
            o.append(",unknown ").append(unknownOptions.length).append("B");
        }
        if (!o.isEmpty()) {
            sb.append(" <").append(o, 1, o.length()).append('>');
        }
        return sb.toString();
    }

    /** Mutable builder for tests and for the TCP sender's segment templates. */
    public static final class Builder {
        private int srcPort;
        private int dstPort;
        private int seq;
        private int ack;
        private int flags;
        private int window;
        private int urgent;
        private int mss;
        private int windowScale;
        private boolean sackPermitted;
        private int[] sackBlocks;
        private boolean hasTimestamps;
        private int tsVal;
        private int tsEcr;
        private byte[] unknownOptions;

        Builder(TcpRepr r) {
            srcPort = r.srcPort;
            dstPort = r.dstPort;
            seq = r.seq;
            ack = r.ack;
            flags = r.flags;
            window = r.window;
            urgent = r.urgent;
            mss = r.mss;
            windowScale = r.windowScale;
            sackPermitted = r.sackPermitted;
            sackBlocks = r.sackBlocks;
            hasTimestamps = r.hasTimestamps;
            tsVal = r.tsVal;
            tsEcr = r.tsEcr;
            unknownOptions = r.unknownOptions;
        }

        public Builder srcPort(int v) {
            srcPort = v;
            return this;
        }

        public Builder dstPort(int v) {
            dstPort = v;
            return this;
        }

        public Builder seq(int v) {
            seq = v;
            return this;
        }

        public Builder ack(int v) {
            ack = v;
            return this;
        }

        public Builder flags(int v) {
            flags = v;
            return this;
        }

        public Builder window(int v) {
            window = v;
            return this;
        }

        public Builder urgent(int v) {
            urgent = v;
            return this;
        }

        /** -1 for none. */
        public Builder mss(int v) {
            mss = v;
            return this;
        }

        /** -1 for none. */
        public Builder windowScale(int v) {
            windowScale = v;
            return this;
        }

        public Builder sackPermitted(boolean v) {
            sackPermitted = v;
            return this;
        }

        /** Pairs {@code left, right, ...}; none for no SACK option. */
        public Builder sackBlocks(int... v) {
            sackBlocks = v.clone();
            return this;
        }

        public Builder timestamps(int val, int ecr) {
            hasTimestamps = true;
            tsVal = val;
            tsEcr = ecr;
            return this;
        }

        public Builder noTimestamps() {
            hasTimestamps = false;
            tsVal = 0;
            tsEcr = 0;
            return this;
        }

        public Builder unknownOptions(byte[] v) {
            unknownOptions = v.clone();
            return this;
        }

        public TcpRepr build() {
            return new TcpRepr(srcPort, dstPort, seq, ack, flags, window, urgent, mss, windowScale, sackPermitted,
                    sackBlocks, hasTimestamps, tsVal, tsEcr, unknownOptions);
        }
    }
}
