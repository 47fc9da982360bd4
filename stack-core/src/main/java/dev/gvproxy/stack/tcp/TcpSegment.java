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
public final class TcpSegment extends TcpOptions.Values {
    public int srcPort;
    public int dstPort;
    public int seq;
    public int ack;
    public int flags;
    /** Raw window field; the connection applies the peer's scale. */
    public int window;
    /**
     * Borrowed: the buffer that holds the payload, which is {@link #payloadLength()} bytes at absolute index
     * {@link #payloadOffset} (not a slice: the receive path makes no view object per segment; whoever keeps
     * data takes a retained slice of that range). Null when there is none; valid only while the segment is
     * processed.
     */
    public ByteBuf payload;
    /** Absolute index of the payload's first byte in {@link #payload}. */
    public int payloadOffset;
    private int payloadLen;

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
        return payload == null ? 0 : payloadLen;
    }

    /** SEG.LEN as RFC 9293 counts it: payload plus one for SYN and for FIN. */
    public int segmentLength() {
        return payloadLength() + (syn() ? 1 : 0) + (fin() ? 1 : 0);
    }

    /**
     * Fills this holder from a segment that passed {@link TcpPacket#check}.
     *
     * @param buf <b>borrowed</b>; {@link #payload} refers to it
     */
    public TcpSegment parse(ByteBuf buf, int off, int len) {
        srcPort = TcpPacket.srcPort(buf, off);
        dstPort = TcpPacket.dstPort(buf, off);
        seq = TcpPacket.seqNumber(buf, off);
        ack = TcpPacket.ackNumber(buf, off);
        flags = TcpPacket.flags(buf, off);
        window = TcpPacket.window(buf, off);
        clearOptions();
        int hl = TcpPacket.headerLength(buf, off);
        TcpOptions.decode(buf, off + TcpPacket.MIN_HEADER_LEN, off + hl, this);
        payload = buf;
        payloadOffset = off + hl;
        payloadLen = len - hl;
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
