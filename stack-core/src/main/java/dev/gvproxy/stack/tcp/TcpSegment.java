package dev.gvproxy.stack.tcp;

import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpOptions;
import dev.gvproxy.stack.wire.TcpPacket;
import io.netty.buffer.ByteBuf;

/**
 * One received segment, parsed for the state machine. Mutable and reused (one per stack) so the receive
 * path allocates nothing; {@link dev.gvproxy.stack.wire.TcpRepr} is the value form for tests and tools.
 * RFC 9293 names: SEG.SEQ, SEG.ACK, SEG.WND (raw, unscaled), SEG.LEN (payload, without SYN/FIN).
 */
public final class TcpSegment {
    public int srcPort;
    public int dstPort;
    public int seq;
    public int ack;
    public int flags;
    /** Raw window field; the connection applies the peer's scale. */
    public int window;
    public int mss = -1;
    public int windowScale = -1;
    public boolean sackPermitted;
    public boolean hasTimestamps;
    public int tsVal;
    public int tsEcr;
    public int sackCount;
    public final int[] sack = new int[2 * TcpOptions.MAX_SACK_BLOCKS];
    /** Borrowed payload (may be empty), valid only while the segment is processed. */
    public ByteBuf payload;
    /** Fills the option fields above; one instance per holder, so parsing allocates nothing. */
    private final TcpOptions.Sink options = new TcpOptions.Sink() {
        @Override
        public void mss(int v) {
            mss = v;
        }

        @Override
        public void windowScale(int shift) {
            windowScale = shift;
        }

        @Override
        public void sackPermitted() {
            sackPermitted = true;
        }

        @Override
        public void timestamps(int val, int ecr) {
            hasTimestamps = true;
            tsVal = val;
            tsEcr = ecr;
        }

        @Override
        public void sack(ByteBuf buf, int at, int blocks) {
            int n = Math.min(blocks, TcpOptions.MAX_SACK_BLOCKS);
            for (int b = 0; b < 2 * n; b++) {
                sack[b] = buf.getInt(at + 2 + 4 * b);
            }
            sackCount = n;
        }

        @Override
        public void unknown(ByteBuf buf, int at, int length) {
            // kinds the state machine does not use are ignored (RFC 9293 3.1: unknown options are skipped)
        }
    };

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

    public int payloadLength() {
        return payload == null ? 0 : payload.readableBytes();
    }

    /** SEG.LEN as RFC 9293 counts it: payload plus one for SYN and for FIN. */
    public int segmentLength() {
        return payloadLength() + (syn() ? 1 : 0) + (fin() ? 1 : 0);
    }

    /**
     * Fills this holder from a segment that passed {@link TcpPacket#check}.
     *
     * @param buf <b>borrowed</b>; {@link #payload} becomes a slice of it
     */
    public TcpSegment parse(ByteBuf buf, int off, int len) {
        srcPort = TcpPacket.srcPort(buf, off);
        dstPort = TcpPacket.dstPort(buf, off);
        seq = TcpPacket.seqNumber(buf, off);
        ack = TcpPacket.ackNumber(buf, off);
        flags = TcpPacket.flags(buf, off);
        window = TcpPacket.window(buf, off);
        mss = -1;
        windowScale = -1;
        sackPermitted = false;
        hasTimestamps = false;
        sackCount = 0;
        int hl = TcpPacket.headerLength(buf, off);
        TcpOptions.decode(buf, off + TcpPacket.MIN_HEADER_LEN, off + hl, options);
        payload = buf.slice(off + hl, len - hl);
        return this;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        sb.append(srcPort).append('>').append(dstPort).append(' ').append(TcpFlags.toString(flags))
                .append(" seq=").append(Integer.toUnsignedString(seq));
        if (ackFlag()) {
            sb.append(" ack=").append(Integer.toUnsignedString(ack));
        }
        sb.append(" win=").append(window).append(" len=").append(payloadLength());
        if (mss >= 0) {
            sb.append(" mss=").append(mss);
        }
        if (windowScale >= 0) {
            sb.append(" ws=").append(windowScale);
        }
        if (sackPermitted) {
            sb.append(" sackOK");
        }
        if (hasTimestamps) {
            sb.append(" ts=").append(Integer.toUnsignedString(tsVal)).append('/').append(Integer.toUnsignedString(tsEcr));
        }
        for (int b = 0; b < sackCount; b++) {
            sb.append(" sack=").append(Integer.toUnsignedString(sack[2 * b])).append('-')
                    .append(Integer.toUnsignedString(sack[2 * b + 1]));
        }
        return sb.toString();
    }
}
