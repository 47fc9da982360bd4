package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.wire.SeqNum.ge;
import static dev.gvproxy.stack.wire.SeqNum.gt;
import static dev.gvproxy.stack.wire.SeqNum.le;
import static dev.gvproxy.stack.wire.SeqNum.lt;

import dev.gvproxy.stack.wire.SeqNum;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpOptions;
import io.netty.buffer.ByteBuf;

/**
 * The receiving half of a {@link TcpConnection}: the receive sequence space (RFC 9293 3.3.1: RCV.NXT, RCV.WND,
 * IRS), segment acceptability (3.10.7.4, first step), the segment text (seventh step) with out-of-order
 * reassembly, the window we advertise (receiver SWS avoidance, RFC 1122 4.2.3.3, and RFC 7323 2.4 for the scaled
 * edge), delayed ACKs (RFC 1122 4.2.3.2) and the SACK and DSACK blocks of our ACKs (RFC 2018, RFC 2883).
 *
 * <p>When to ACK in-order data: a lone segment waits for the delayed-ACK timer; from the second segment not yet
 * acknowledged on, the ACK is owed at the end of the read batch the segment came in (the frames a transport read
 * in one go), so a burst gets one ACK that covers all of it instead of one every second segment (RFC 5681 4.2's
 * SHOULD, which Linux relaxes the same way for a GRO burst). Without a batch (a connection driven directly) the
 * ACK goes out at once. Out-of-order data, a filled hole, a duplicate or a FIN are acknowledged at once.
 *
 * <p>It decides what an ACK says; the connection writes it ({@link TcpConnection#emit}) and reports back with
 * {@link #ackSent}. Payload buffers: borrowed from the segment, in-order data passed to the application as
 * retained slices (taken by {@link TcpConnection.Handler#onData}), out-of-order data kept as retained slices in
 * the {@link Reassembler} until delivered or {@link #release}d.
 */
final class TcpReceiver {
    private final TcpConnection c;
    private final TcpConfig cfg;
    private final TcpCounters counters;
    final Reassembler ooo;

    int irs;
    int rcvNxt;
    /** RCV.NXT + RCV.WND as last advertised: the right edge we must never retract. */
    int rcvAdv;
    /**
     * The furthest right edge ever advertised. Segments up to it stay acceptable even after rounding a held
     * edge down to the scale unit made RCV.NXT + RCV.WND appear to shrink (RFC 7323 2.4), so data the peer
     * already sent into the old window is not rejected.
     */
    int rcvAdvMax;
    int rcvShift;
    /** Bytes delivered to the application that it has not yet {@link TcpConnection#consumed}. */
    int rcvUser;
    boolean finReceived;
    int lastAckSent;
    /** TS.Recent (RFC 7323 4.3): the timestamp to echo, and the PAWS reference. */
    int tsRecent;

    /** An ACK is owed now (out-of-order data, a window update, a challenge, a timer). */
    boolean ackNow;
    /** An ACK is owed at the end of the read batch (two or more in-order segments, or a window update, in it). */
    boolean ackAtBatchEnd;
    /** In-order segments received since our last ACK (every second one is acknowledged at once). */
    private int ackPending;
    long delAckDeadline = TcpConnection.NEVER;

    // A duplicate range to report as the first SACK block of the next ACK (RFC 2883).
    private boolean dsackPending;
    private int dsackLeft;
    private int dsackRight;
    private final int[] sackRest = new int[2 * TcpOptions.MAX_SACK_BLOCKS];

    TcpReceiver(TcpConnection c, TcpConfig cfg, TcpCounters counters) {
        this.c = c;
        this.cfg = cfg;
        this.counters = counters;
        this.ooo = new Reassembler(cfg.maxOutOfOrderSegments());
    }

    /** {@link #check}: the segment goes on to the RST, SYN and ACK steps. */
    static final int ACCEPT = 0;
    /** {@link #check}: the segment is dropped (an ACK may be owed). */
    static final int DROP = 1;
    /** {@link #check}: the data is refused by a zero window, but its ACK field may still count. */
    static final int ACK_FIELD_ONLY = 2;

    /**
     * The first check of SEGMENT ARRIVES in a synchronized state (RFC 9293 3.10.7.4): PAWS (RFC 7323 5.3), the
     * four acceptability cases, and TS.Recent (RFC 7323 4.3) for an accepted segment.
     */
    int check(TcpSegment seg) {
        // PAWS: a timestamp older than TS.Recent marks an old duplicate. A pure ACK at RCV.NXT is exempt
        // (Linux's "disordered ACK"): on a reordering path a delayed ACK carries an older timestamp, it
        // cannot corrupt the byte stream, and dropping it would hide duplicate ACKs and window updates.
        boolean pureAck = seg.payloadLength() == 0 && (seg.flags & (TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST)) == 0;
        if (c.tsOk && seg.hasTimestamps && !seg.rst() && lt(seg.tsVal, tsRecent) && !(pureAck && seg.seq == rcvNxt)) {
            counters.paws.inc();
            ackNow = true;
            return DROP;
        }
        int rcvWnd = acceptWindow();
        if (!acceptable(seg.seq, seg.segmentLength(), rcvWnd)) {
            counters.outOfWindow.inc();
            if (seg.payloadLength() > 0 && le(seg.seq + seg.payloadLength(), rcvNxt)) {
                recordDsack(seg.seq, seg.seq + seg.payloadLength()); // a duplicate: tell the sender (RFC 2883)
            }
            if (!seg.rst()) {
                ackNow = true;
            }
            return rcvWnd == 0 && seg.seq == rcvNxt && seg.ackFlag() && !seg.rst() && !seg.syn()
                    ? ACK_FIELD_ONLY : DROP;
        }
        // Remember the timestamp of the segment at the left edge.
        if (c.tsOk && seg.hasTimestamps && le(seg.seq, lastAckSent) && ge(seg.tsVal, tsRecent)) {
            tsRecent = seg.tsVal;
        }
        return ACCEPT;
    }

    /** RCV.WND as the acceptability test sees it: up to the furthest edge ever advertised. */
    private int acceptWindow() {
        return Math.max(0, rcvAdvMax - rcvNxt);
    }

    /** RFC 9293 3.10.7.4, the table of the four acceptability cases. */
    private boolean acceptable(int seq, int segLen, int rcvWnd) {
        if (segLen == 0) {
            return rcvWnd == 0 ? seq == rcvNxt : SeqNum.inWindow(seq, rcvNxt, rcvWnd) || seq == rcvNxt;
        }
        if (rcvWnd == 0) {
            return false;
        }
        return SeqNum.inWindow(seq, rcvNxt, rcvWnd) || SeqNum.inWindow(seq + segLen - 1, rcvNxt, rcvWnd);
    }

    /** The peer sent {@code [left, right)} again: report it as a DSACK in the next ACK. */
    void recordDsack(int left, int right) {
        if (c.sackOk) {
            dsackPending = true;
            dsackLeft = left;
            dsackRight = right;
            ackNow = true;
        }
    }

    /**
     * The segment text of an acceptable segment in a state that receives data (RFC 9293 3.10.7.4, seventh
     * and eighth steps): trims what was already received, queues what is out of order, delivers what is in
     * order, and decides between an immediate and a delayed ACK.
     *
     * @param seg its payload is <b>borrowed</b>
     */
    void onText(TcpSegment seg, long now) {
        ByteBuf p = seg.payload;
        int seq = seg.seq;
        int len = seg.payloadLength();
        boolean fin = seg.fin();
        int off = 0;
        if (lt(seq, rcvNxt)) {
            int skip = Math.min(rcvNxt - seq, len);
            if (skip > 0) {
                recordDsack(seq, seq + skip);
            }
            off = skip;
            len -= skip;
            seq = rcvNxt;
        }
        int rightEdge = rcvAdvMax;
        if (gt(seq + len, rightEdge)) {
            len = Math.max(0, rightEdge - seq);
            fin = false; // the FIN lies beyond the window
        }
        if (seq != rcvNxt) {
            counters.outOfOrder.inc();
            ByteBuf part = p.slice(seg.payloadOffset + off, len);
            if (!ooo.add(seq, part, fin)) {
                counters.outOfOrderOverflow.inc();
            }
            ackNow = true; // a duplicate ACK with SACK tells the sender about the hole (RFC 5681 4.2)
            return;
        }
        boolean filledHole = !ooo.isEmpty();
        boolean finAckWaits = false;
        if (len > 0) {
            deliver(p.retainedSlice(seg.payloadOffset + off, len));
        }
        if (fin) {
            finAckWaits = onFin(now);
        } else {
            for (ByteBuf more; (more = ooo.pull(rcvNxt)) != null; ) {
                boolean finAfter = ooo.pulledFin;
                deliver(more);
                if (finAfter) {
                    finAckWaits = onFin(now);
                    break;
                }
            }
            if (ooo.pulledFin && c.state().receivesData()) {
                finAckWaits = onFin(now);
            }
        }
        if (c.state() == TcpState.CLOSED) {
            return;
        }
        ackPending++;
        if (filledHole || finReceived && !finAckWaits) {
            ackNow = true;
        } else if (finAckWaits) {
            if (delAckDeadline == TcpConnection.NEVER) {
                delAckDeadline = now + cfg.delayedAck();
            }
        } else if (ackPending >= 2) {
            if (c.deferAck()) {
                ackAtBatchEnd = true;
            } else {
                ackNow = true;
            }
        } else if (delAckDeadline == TcpConnection.NEVER) {
            delAckDeadline = now + cfg.delayedAck();
        }
    }

    /** @param data <b>taken</b> */
    private void deliver(ByteBuf data) {
        int n = data.readableBytes();
        if (n == 0) {
            data.release();
            return;
        }
        rcvNxt += n;
        rcvUser += n;
        c.handler.onData(c, data);
    }

    /**
     * The peer's FIN, in order: RCV.NXT covers it and the connection moves on (RFC 9293 3.10.7.4, eighth step).
     *
     * <p>Whether its ACK waits: as Linux does ({@code tcp_fin} enters "pingpong" mode in ESTABLISHED), a FIN
     * that finds our side still open is acknowledged by the delayed-ACK timer, not at once, because the
     * application usually closes in reply within moments and our FIN then carries the ACK: a close of three
     * segments instead of four, one frame less per connection through the agent and the guest's kernel. The
     * timer (40 ms) bounds the wait when the application keeps its side open, far below the peer's
     * retransmission timeout (200 ms at least). With our FIN already sent, the peer waits for this ACK to
     * finish its close, so it goes at once.
     *
     * @return true if the ACK waits for our FIN or the delayed-ACK timer
     */
    private boolean onFin(long now) {
        if (finReceived) {
            return false;
        }
        finReceived = true;
        rcvNxt += 1;
        boolean waits = c.state() == TcpState.ESTABLISHED; // the caller owes the ACK at once otherwise
        c.peerFin(now);
        return waits && c.state() == TcpState.CLOSE_WAIT; // still open after the handler heard of the FIN
    }

    /**
     * True when the window the application freed opens by a useful amount and is worth an update now
     * (RFC 1122 4.2.3.3: no tiny openings).
     */
    boolean windowUpdateDue() {
        int advertised = rcvAdv - rcvNxt;
        int possible = receiveSpace();
        int effMss = c.effectiveMss();
        return possible - advertised >= Math.min(cfg.receiveBuffer() / 2, 2 * cfg.mss())
                || (advertised < effMss && possible >= Math.min(cfg.receiveBuffer() / 2, effMss));
    }

    /** Free receive space we can offer now (RFC 9293 RCV.WND before scaling). */
    private int receiveSpace() {
        int max = 65535 << rcvShift;
        int space = Math.max(0, Math.min(max, cfg.receiveBuffer() - rcvUser));
        int promised = Math.max(0, rcvAdvMax - rcvNxt);
        TcpMemory memory = c.memory;
        if (memory != null && space > promised) {
            // Only growth beyond what is already promised is new memory; the budget decides how much.
            space = promised + memory.cap(space - promised, (long) rcvUser + promised);
        }
        return space;
    }

    /** The window of our SYN (never scaled, RFC 7323 2.2); it becomes the advertised edge. */
    int synWindow() {
        int w = Math.min(65535, Math.min(cfg.receiveBuffer(), 65535 << cfg.windowScale()));
        if (c.memory != null) {
            w = c.memory.cap(w, rcvUser); // a SYN's window is a promise like any other
        }
        rcvAdv = rcvNxt + w;
        rcvAdvMax = rcvAdv;
        return w;
    }

    /** The raw window field of an ACK; moves the advertised edge (RCV.NXT + RCV.WND) accordingly. */
    int advertiseWindow() {
        int space = receiveSpace();
        int edge = Math.max(0, rcvAdv - rcvNxt);
        int raw;
        if (space - edge < Math.min(cfg.receiveBuffer() / 2, c.effectiveMss()) && edge > 0) {
            // Keep the right edge (RFC 9293 3.8.6.2.2; receiver SWS avoidance: no tiny openings). Round
            // it down: rounding a held edge up would move it by up to a scale unit on every ACK, letting
            // a peer that fills the window push the stack past its receive buffer. Truncating by less than
            // one unit is the apparent shrink RFC 7323 2.4 tolerates (Linux does the same).
            raw = edge >>> rcvShift;
        } else {
            // Fresh space rounds down too: the window never offers more than the buffer holds, so the
            // furthest edge ever advertised (which stays acceptable) is within the buffer.
            raw = space >>> rcvShift;
        }
        raw = Math.min(65535, raw);
        rcvAdv = rcvNxt + (raw << rcvShift);
        if (gt(rcvAdv, rcvAdvMax)) {
            rcvAdvMax = rcvAdv;
        }
        return raw;
    }

    /**
     * Fills {@code out} with the SACK blocks of an outgoing segment: a pending DSACK first (only on an ACK; it
     * is then reported), then the out-of-order ranges (RFC 2018, RFC 2883). Returns the number of blocks.
     */
    int fillSackBlocks(int[] out, int maxBlocks, boolean ack) {
        if (!c.sackOk) {
            return 0;
        }
        int n = 0;
        if (dsackPending && ack) {
            out[0] = dsackLeft;
            out[1] = dsackRight;
            n = 1;
            dsackPending = false;
            counters.dsacksSent.inc();
        }
        if (!ooo.isEmpty()) {
            if (n == 0) {
                n = ooo.sackBlocks(out, maxBlocks);
            } else {
                int m = ooo.sackBlocks(sackRest, maxBlocks - n);
                System.arraycopy(sackRest, 0, out, 2 * n, 2 * m);
                n += m;
            }
        }
        return n;
    }

    /** An ACK for everything up to RCV.NXT left: nothing is owed to the peer any more. */
    void ackSent() {
        ackPending = 0;
        ackNow = false;
        ackAtBatchEnd = false;
        delAckDeadline = TcpConnection.NEVER;
        lastAckSent = rcvNxt;
    }

    void release() {
        ooo.release();
    }
}
