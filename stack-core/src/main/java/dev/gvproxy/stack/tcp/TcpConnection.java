package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.wire.SeqNum.ge;
import static dev.gvproxy.stack.wire.SeqNum.gt;
import static dev.gvproxy.stack.wire.SeqNum.le;
import static dev.gvproxy.stack.wire.SeqNum.lt;

import dev.gvproxy.stack.wire.SeqNum;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpOptions;
import dev.gvproxy.stack.wire.TcpSegmentWriter;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * One TCP connection between the gateway (which impersonates the guest's destination) and a guest.
 *
 * <p>Heads up: read RFC 9293 (the state machine and its "segment arrives" section 3.10.7), RFC 7323
 * (window scale, timestamps, PAWS), RFC 2018 (SACK), RFC 5681 and 6582 (congestion control, NewReno),
 * RFC 6298 (RTO), RFC 5961 (RST/SYN/ACK validation) and RFC 1122 4.2.3 (delayed ACK, SWS) before
 * changing this file. Variables carry the RFC names: SND.UNA is {@code sndUna}, RCV.NXT {@code rcvNxt}.
 *
 * <p>Deterministic: no clock, no threads, no sockets. Every entry point takes {@code now} (monotonic
 * nanoseconds); {@link #nextDeadline()} says when {@link #poll} has work. Segments leave through
 * {@link Output}; the application (the forwarder's bridge to a host socket) sees the peer's data and
 * events through {@link Handler}.
 *
 * <p>Buffers: {@link #onSegment} borrows the segment's payload (in-order data is passed on as a retained
 * slice, out-of-order data kept as retained slices); {@link #send} takes the application's buffer and keeps
 * it until acknowledged; each transmitted segment is a new buffer (header + retained payload slices).
 */
public final class TcpConnection {

    /** Events for the application side. All run on the network's event loop. */
    public interface Handler {
        /** The three-way handshake completed. */
        default void onEstablished(TcpConnection c) {}

        /** In-order data from the peer. @param data <b>taken</b>; call {@link #consumed} when written out. */
        void onData(TcpConnection c, ByteBuf data);

        /** The peer sent FIN: no more data will come (half-close). */
        default void onFin(TcpConnection c) {}

        /** The peer reset the connection, or it was aborted (timeouts). {@link #onClosed} follows. */
        default void onReset(TcpConnection c) {}

        /** Acknowledgements freed send-buffer space: {@link #sendSpace()} grew. */
        default void onSendSpace(TcpConnection c) {}

        /** The connection reached CLOSED; called exactly once. */
        default void onClosed(TcpConnection c) {}
    }

    /** Where segments go (the layer turns them into IPv4 datagrams). */
    public interface Output {
        /** @param segment <b>taken</b>: TCP header and payload with a correct checksum */
        void transmit(TcpConnection c, ByteBuf segment, long now);
    }

    /** Tells the owner that {@link #nextDeadline()} may have changed. */
    public interface TimerHook {
        void deadlineChanged(TcpConnection c);
    }

    static final long NEVER = Long.MAX_VALUE;
    static final int DEFAULT_PEER_MSS = 536; // RFC 9293 3.7.1
    static final int DUP_ACK_THRESHOLD = 3; // RFC 5681 3.2
    /** Upper bound of the adaptive duplicate threshold (Linux caps its reordering metric at 300). */
    static final int MAX_DUP_THRESHOLD = 300;

    // Identity: "local" is the address the guest connected to (impersonated), "remote" the guest.
    final int localIp;
    final int localPort;
    final int remoteIp;
    final int remotePort;

    private final TcpConfig cfg;
    private final ByteBufAllocator alloc;
    private final Output output;
    private final TcpCounters counters;
    Handler handler;
    TimerHook timerHook;
    /** The layer's bookkeeping: the deadline currently queued for this connection. */
    long scheduledDeadline = NEVER;
    /** The network's TCP buffer budget (set by the layer); see {@link TcpMemory}. */
    TcpMemory memory;
    /** What this connection is charged in {@link #memory} now. */
    private long charged;

    private TcpState state;
    private boolean passiveOpen;

    // Send sequence space (RFC 9293 3.3.1).
    private int iss;
    private int sndUna;
    private int sndNxt;
    /** Highest sequence number sent + 1 (SND.NXT can move back on a retransmission timeout). */
    private int sndMax;
    private int sndWnd;
    private int sndWl1;
    private int sndWl2;
    private int maxSndWnd;
    /** Peer's window scale shift, applied to SEG.WND of non-SYN segments. */
    private int sndShift;
    /** Payload bytes per segment towards the peer (peer's MSS, our MTU, minus option bytes). */
    private int effMss;
    private final SendBuffer sndBuf = new SendBuffer();
    private boolean finQueued;
    private boolean finSent;
    private int finSeq;
    private boolean finAcked;

    /** The receiving half: RCV.NXT, the advertised window, reassembly, delayed ACK, DSACK. */
    final TcpReceiver rcv;

    // Options.
    private boolean tsOk;
    boolean sackOk;
    /** Window scaling in use (RFC 7323 1.3: only when both SYNs carry the option); offered in our SYN until known. */
    private boolean wsOk = true;
    private int tsRecent;
    private final int tsOffset;

    // Timers (absolute nanoseconds, NEVER when off).
    private long rtxDeadline = NEVER;
    private long persistDeadline = NEVER;
    private long timeWaitDeadline = NEVER;
    private long keepaliveDeadline = NEVER;
    private int rtxCount;
    private int persistBackoff;
    private int keepaliveProbes;
    private final RttEstimator rtt;
    private boolean rttTiming;
    private int rttSeq;
    private long rttTime;

    // Congestion control: NewReno (RFC 5681, RFC 6582) with a SACK scoreboard to pick retransmissions.
    private int cwnd;
    private int ssthresh = Integer.MAX_VALUE;
    private int dupAcks;
    /**
     * Duplicate ACKs (or SACKed segments above SND.UNA) that mean loss: 3 (RFC 5681), raised whenever a
     * DSACK proves a retransmission spurious, i.e. the path reorders (RFC 4653 spirit, Linux's reordering).
     */
    private int dupThreshold = DUP_ACK_THRESHOLD;
    // Undo of a congestion response found spurious by DSACK (RFC 2883 section 5, Linux "undo"):
    private boolean undoPossible;
    /** The current loss episode began with fast retransmit (not a timeout): its DSACKs measure reordering. */
    private boolean fastEpisode;
    /** After a timeout, SND.MAX at that time: until it is acknowledged the window is being resent (Linux "Loss"). */
    private boolean inLoss;
    private int lossRecover;
    /**
     * Lost-retransmission detection (Linux's pre-RACK {@code tcp_mark_lost_retrans}): the hole last
     * retransmitted in recovery and SND.MAX at that moment. When SACKs cover data sent after it while the hole
     * is still unacknowledged, the retransmission was lost too: resend it now instead of waiting for the RTO.
     */
    // Tail loss probe (RFC 8985 section 7): one probe per flight after about two RTTs of silence, so a lost
    // tail is found by SACK feedback instead of a retransmission timeout.
    private long tlpDeadline = NEVER;
    private boolean tlpOutstanding;
    private int tlpSeq;
    private boolean rtxTracked;
    private int rtxTrackedSeq;
    private int rtxTrackedMark;
    private int undoRetransmissions;
    private int priorCwnd;
    private int priorSsthresh;
    private boolean inRecovery;
    private int recover;
    private int bytesAckedCa;
    private int rtxNext;
    private final int[] sacked = new int[2 * 8];
    private int sackedCount;

    private final TcpSegmentWriter writer = new TcpSegmentWriter();

    TcpConnection(int localIp, int localPort, int remoteIp, int remotePort, TcpConfig cfg, ByteBufAllocator alloc,
            Output output, TcpCounters counters, Handler handler, int iss) {
        this.localIp = localIp;
        this.localPort = localPort;
        this.remoteIp = remoteIp;
        this.remotePort = remotePort;
        this.cfg = cfg;
        this.alloc = alloc;
        this.output = output;
        this.counters = counters;
        this.handler = handler;
        this.iss = iss;
        this.tsOffset = Integer.rotateLeft(iss, 13) ^ 0x5bd1e995;
        this.rcv = new TcpReceiver(this, cfg, counters);
        this.rtt = new RttEstimator(cfg.initialRto(), cfg.minRto(), cfg.maxRto());
        this.state = TcpState.CLOSED;
    }

    /**
     * Passive open: answers the peer's SYN with a SYN-ACK (RFC 9293 3.10.7.2), entering SYN-RECEIVED.
     * The forwarder calls this only after the host connection succeeded.
     */
    void acceptSyn(TcpSegment syn, long now) {
        passiveOpen = true;
        rcv.irs = syn.seq;
        rcv.rcvNxt = rcv.irs + 1;
        negotiate(syn);
        if (syn.hasTimestamps && tsOk) {
            tsRecent = syn.tsVal;
        }
        sndWnd = syn.window; // never scaled in a SYN (RFC 7323 2.2)
        maxSndWnd = sndWnd;
        sndWl1 = syn.seq;
        sndWl2 = iss;
        sndUna = iss;
        sndNxt = iss;
        sndMax = iss;
        state = TcpState.SYN_RECEIVED;
        sendSyn(true, now);
        changed();
    }

    /** Active open: sends a SYN (RFC 9293 3.10.1), entering SYN-SENT. */
    void connect(long now) {
        sndUna = iss;
        sndNxt = iss;
        sndMax = iss;
        rcv.rcvShift = 0; // our SYN's window is never scaled; the shift applies once the peer agrees
        effMss = Math.min(cfg.mss(), DEFAULT_PEER_MSS);
        state = TcpState.SYN_SENT;
        sendSyn(false, now);
        changed();
    }

    private void negotiate(TcpSegment syn) {
        int peerMss = syn.mss > 0 ? syn.mss : DEFAULT_PEER_MSS;
        wsOk = syn.windowScale >= 0 && cfg.windowScale() >= 0;
        if (wsOk) {
            sndShift = Math.min(syn.windowScale, TcpOptions.MAX_WINDOW_SCALE);
            rcv.rcvShift = cfg.windowScale();
        } else {
            sndShift = 0;
            rcv.rcvShift = 0;
        }
        tsOk = cfg.timestamps() && syn.hasTimestamps;
        sackOk = cfg.sack() && syn.sackPermitted;
        effMss = Math.max(64, Math.min(peerMss, cfg.mss()) - (tsOk ? 12 : 0));
        cwnd = Math.min(10 * effMss, Math.max(2 * effMss, 14600)); // RFC 6928 initial window
    }

    // ------------------------------------------------------------------------------------------------
    // Segment arrives (RFC 9293 3.10.7)

    /**
     * Processes one segment from the peer.
     *
     * @param seg its payload is <b>borrowed</b>
     */
    public void onSegment(TcpSegment seg, long now) {
        counters.segmentsIn.inc();
        switch (state) {
            case CLOSED -> { }
            case SYN_SENT -> synSent(seg, now);
            default -> synchronizedOrSynReceived(seg, now);
        }
        if (state != TcpState.CLOSED) {
            // Anything heard from the peer proves it alive: restart the keepalive idle time.
            keepaliveProbes = 0;
            startKeepalive(now);
            transmitPending(now);
        }
        changed();
    }

    private void synSent(TcpSegment seg, long now) {
        boolean ackOk = false;
        if (seg.ackFlag()) {
            if (le(seg.ack, iss) || gt(seg.ack, sndMax)) {
                if (!seg.rst()) {
                    sendReset(seg.ack, 0, false, now);
                }
                counters.badSynAck.inc();
                return;
            }
            ackOk = true;
        }
        if (seg.rst()) {
            if (ackOk) {
                counters.resetsReceived.inc();
                reset();
            }
            return;
        }
        if (!seg.syn()) {
            return;
        }
        rcv.irs = seg.seq;
        rcv.rcvNxt = rcv.irs + 1;
        negotiate(seg);
        rcv.rcvAdv = rcv.rcvNxt + Math.min(65535, cfg.receiveBuffer()); // what our SYN offered, unscaled
        rcv.rcvAdvMax = rcv.rcvAdv;
        if (seg.hasTimestamps && tsOk) {
            tsRecent = seg.tsVal;
        }
        if (ackOk) {
            sndUna = seg.ack;
            sndWnd = seg.window;
            maxSndWnd = sndWnd;
            sndWl1 = seg.seq;
            sndWl2 = seg.ack;
            rtxDeadline = NEVER;
            rtxCount = 0;
            if (rttTiming) {
                rtt.sample(now - rttTime);
                rttTiming = false;
            }
            state = TcpState.ESTABLISHED;
            rcv.ackNow = true;
            startKeepalive(now);
            handler.onEstablished(this);
        } else {
            // Simultaneous open (RFC 9293 3.5, figure 8).
            state = TcpState.SYN_RECEIVED;
            sndNxt = iss;
            sendSyn(true, now);
        }
    }

    private void synchronizedOrSynReceived(TcpSegment seg, long now) {
        int segLen = seg.segmentLength();
        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost, send it again.
        if (state == TcpState.SYN_RECEIVED && seg.syn() && !seg.ackFlag() && seg.seq == rcv.irs) {
            sndNxt = iss;
            sendSyn(true, now);
            return;
        }
        // TIME-WAIT: the peer retransmitting its FIN lost our ACK; acknowledge again and restart the 2 MSL
        // timer (RFC 9293 3.10.7.4, eighth step; the window test alone would only ACK it).
        if (state == TcpState.TIME_WAIT && seg.fin() && !seg.rst() && seg.seq + seg.payloadLength() + 1 == rcv.rcvNxt) {
            rcv.ackNow = true;
            timeWaitDeadline = now + cfg.timeWait();
            return;
        }
        // PAWS (RFC 7323 5.3): a timestamp older than TS.Recent marks an old duplicate. A pure ACK at RCV.NXT
        // is exempt (Linux's "disordered ACK"): on a reordering path a delayed ACK carries an older timestamp,
        // it cannot corrupt the byte stream, and dropping it would hide duplicate ACKs and window updates.
        boolean pureAck = seg.payloadLength() == 0 && (seg.flags & (TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST)) == 0;
        if (tsOk && seg.hasTimestamps && !seg.rst() && lt(seg.tsVal, tsRecent) && !(pureAck && seg.seq == rcv.rcvNxt)) {
            counters.paws.inc();
            rcv.ackNow = true;
            return;
        }
        // First: sequence number acceptability (RFC 9293 3.10.7.4).
        int rcvWnd = rcv.acceptWindow();
        if (!rcv.acceptable(seg.seq, segLen, rcvWnd)) {
            counters.outOfWindow.inc();
            if (seg.payloadLength() > 0 && le(seg.seq + seg.payloadLength(), rcv.rcvNxt)) {
                rcv.recordDsack(seg.seq, seg.seq + seg.payloadLength()); // a duplicate: tell the sender (RFC 2883)
            }
            if (!seg.rst()) {
                rcv.ackNow = true;
            }
            // RFC 9293 3.10.7.4: with RCV.WND zero "special allowance should be made to accept valid ACKs":
            // the data is refused, but the acknowledgement and window it carries still count.
            if (rcvWnd == 0 && seg.seq == rcv.rcvNxt && seg.ackFlag() && !seg.rst() && !seg.syn()
                    && state.synchronizedState() && !gt(seg.ack, sndMax)
                    && !lt(seg.ack, sndUna - Math.max(maxSndWnd, 1))) {
                processAck(seg, now);
            }
            return;
        }
        // RFC 7323 4.3: remember the timestamp of the segment at the left edge.
        if (tsOk && seg.hasTimestamps && le(seg.seq, rcv.lastAckSent) && ge(seg.tsVal, tsRecent)) {
            tsRecent = seg.tsVal;
        }
        // Second: RST, validated as RFC 5961 section 3 requires.
        if (seg.rst()) {
            if (seg.seq == rcv.rcvNxt) {
                counters.resetsReceived.inc();
                reset();
            } else {
                challengeAck();
            }
            return;
        }
        // Fourth: a SYN in a synchronized state is answered with a challenge ACK (RFC 5961 4.2).
        if (seg.syn()) {
            challengeAck();
            return;
        }
        // Fifth: the ACK field.
        if (!seg.ackFlag()) {
            counters.noAck.inc();
            return;
        }
        if (state == TcpState.SYN_RECEIVED) {
            if (lt(sndUna, seg.ack) && le(seg.ack, sndMax)) {
                state = TcpState.ESTABLISHED;
                sndUna = iss + 1;
                rtxDeadline = NEVER;
                rtxCount = 0;
                rtt.resetBackoff();
                if (rttTiming) {
                    rtt.sample(now - rttTime);
                    rttTiming = false;
                }
                sndWnd = seg.window << sndShift;
                maxSndWnd = Math.max(maxSndWnd, sndWnd);
                sndWl1 = seg.seq;
                sndWl2 = seg.ack;
                handler.onEstablished(this);
                if (state == TcpState.CLOSED) {
                    return;
                }
            } else {
                sendReset(seg.ack, 0, false, now);
                return;
            }
        }
        if (gt(seg.ack, sndMax)) {
            counters.ackUnsent.inc();
            rcv.ackNow = true;
            return;
        }
        if (lt(seg.ack, sndUna - Math.max(maxSndWnd, 1))) {
            // RFC 5961 5.2: far too old an ACK; answer with our ACK and drop.
            challengeAck();
            return;
        }
        processAck(seg, now);
        if (state == TcpState.CLOSED) {
            return;
        }
        // Seventh: segment text.
        if (seg.payloadLength() > 0 || seg.fin()) {
            processData(seg, now);
        }
    }

    private void challengeAck() {
        counters.challengeAcks.inc();
        rcv.ackNow = true;
    }

    private void processAck(TcpSegment seg, long now) {
        int ack = seg.ack;
        int acked = ack - sndUna;
        int newWnd = seg.window << sndShift;
        boolean windowUpdate = lt(sndWl1, seg.seq) || (sndWl1 == seg.seq && le(sndWl2, ack));
        if (sackOk && seg.sackCount > 0) {
            recordSack(seg);
        }
        if (acked > 0) {
            int dataAcked = acked;
            if (finSent && !finAcked && ge(ack, finSeq + 1)) {
                finAcked = true;
                dataAcked--;
            }
            dataAcked = Math.min(dataAcked, sndBuf.size());
            if (dataAcked > 0) {
                sndBuf.discard(dataAcked);
            }
            sndUna = ack;
            if (lt(sndNxt, sndUna)) {
                sndNxt = sndUna;
            }
            pruneSack();
            if (inLoss && ge(sndUna, lossRecover)) {
                inLoss = false;
            }
            rttSample(seg, now);
            rtxCount = 0;
            rtt.resetBackoff();
            congestionOnAck(dataAcked, now);
            if (!inRecovery && sackOk && sackedCount > 0 && (lossDetected() || probeRevealsLoss())) {
                enterRecovery(now); // the cumulative ACK moved, but SACKs show the next hole is lost
            }
            rtxDeadline = sndUna == sndMax ? NEVER : now + rtt.rto();
            tlpOutstanding = false;
            armTailLossProbe(now);
            if (dataAcked > 0 && !finQueued) {
                handler.onSendSpace(this);
            }
        } else if (acked == 0 && seg.payloadLength() == 0 && !seg.fin() && newWnd == sndWnd && sndMax != sndUna) {
            counters.dupAcks.inc();
            onDuplicateAck(now);
        }
        if (windowUpdate) {
            boolean opened = sndWnd == 0 && newWnd > 0;
            sndWnd = newWnd;
            sndWl1 = seg.seq;
            sndWl2 = ack;
            maxSndWnd = Math.max(maxSndWnd, sndWnd);
            if (opened) {
                persistDeadline = NEVER;
                persistBackoff = 0;
            }
        }
        if (sndWnd == 0 && acked >= 0) {
            // RFC 1122 4.2.2.17: a peer that keeps its window closed (here shrunk over data in flight) but
            // answers our retransmissions is alive; those timeouts must not count towards the abort.
            rtxCount = 0;
        }
        if (finAcked) {
            switch (state) {
                case FIN_WAIT_1 -> state = TcpState.FIN_WAIT_2;
                case CLOSING -> enterTimeWait(now);
                case LAST_ACK -> close();
                default -> { }
            }
        }
    }

    private void rttSample(TcpSegment seg, long now) {
        if (tsOk && seg.hasTimestamps && seg.tsEcr != 0) {
            long ms = (tsNow(now) - seg.tsEcr) & 0xFFFF_FFFFL;
            if (ms < 600_000) {
                rtt.sample(ms * 1_000_000L + (now % 1_000_000L));
                rttTiming = false;
                return;
            }
        }
        if (rttTiming && gt(seg.ack, rttSeq)) {
            rtt.sample(now - rttTime);
            rttTiming = false;
        }
    }

    private void congestionOnAck(int dataAcked, long now) {
        if (inRecovery) {
            if (ge(sndUna, recover)) {
                // Full acknowledgement (RFC 6582 3.2 step 3): deflate the window.
                cwnd = Math.max(Math.min(ssthresh, flightSize() + effMss), 2 * effMss);
                inRecovery = false;
                dupAcks = 0;
            } else {
                // Partial acknowledgement: the next hole was lost too; retransmit it at once.
                if (rtxTracked && gt(sndUna, rtxTrackedSeq)) {
                    rtxTracked = false; // that retransmission arrived
                }
                checkLostRetransmission();
                rtxNext = SeqNum.max(rtxNext, sndUna);
                retransmitHole(now);
                cwnd = Math.max(effMss, cwnd - dataAcked + effMss);
            }
            return;
        }
        dupAcks = 0;
        if (cwnd < ssthresh) {
            cwnd += Math.min(dataAcked, 2 * effMss); // slow start, RFC 3465 L=2
        } else {
            bytesAckedCa += dataAcked;
            if (bytesAckedCa >= cwnd) {
                bytesAckedCa -= cwnd;
                cwnd += effMss;
            }
        }
        cwnd = Math.min(cwnd, 1 << 30);
    }

    private void onDuplicateAck(long now) {
        dupAcks++;
        if (!inRecovery && (lossDetected() || probeRevealsLoss())) {
            enterRecovery(now);
        } else if (inRecovery) {
            checkLostRetransmission();
            cwnd += effMss;
            if (sackedCount > 0) {
                retransmitHole(now); // SACK tells us more holes exist; fill one per ACK
            }
        }
    }

    /** Arms the probe timeout: PTO = 2 SRTT (at least 10 ms), only in the open state and before the RTO. */
    private void armTailLossProbe(long now) {
        long srtt = rtt.srtt();
        if (tlpOutstanding || inRecovery || inLoss || srtt < 0 || !sackOk || sndMax == sndUna
                || !(state == TcpState.ESTABLISHED || state == TcpState.CLOSE_WAIT)) {
            tlpDeadline = NEVER;
            return;
        }
        long pto = Math.max(2 * srtt, 10_000_000L);
        tlpDeadline = now + pto < rtxDeadline ? now + pto : NEVER;
    }

    /** Sends one probe: a new segment when the peer's window allows, else the last segment again. */
    private void tailLossProbe(long now) {
        tlpDeadline = NEVER;
        if (sndMax == sndUna || inRecovery || inLoss) {
            return;
        }
        tlpOutstanding = true;
        counters.tailLossProbes.inc();
        int dataEnd = sndUna + sndBuf.size();
        if (sndNxt == sndMax && lt(sndNxt, dataEnd) && gt(sndUna + sndWnd, sndNxt)) {
            int len = Math.min(Math.min(effMss, dataEnd - sndNxt), sndUna + sndWnd - sndNxt);
            tlpSeq = sndNxt;
            sendData(sndNxt, len, now);
            sndNxt += len;
            sndMax = sndNxt;
            return;
        }
        int last = SeqNum.max(sndUna, (finSent && !finAcked ? finSeq : dataEnd) - effMss);
        tlpSeq = last;
        retransmitAt(last, effMss, now);
    }

    /** After a probe: its SACK with a hole below SND.UNA's side means the tail before it was lost. */
    private boolean probeRevealsLoss() {
        if (!tlpOutstanding || sackedCount == 0 || !lt(sndUna, tlpSeq)) {
            return false;
        }
        for (int b = 0; b < sackedCount; b++) {
            if (le(sacked[2 * b], tlpSeq) && lt(tlpSeq, sacked[2 * b + 1])) {
                return true;
            }
        }
        return false;
    }

    private void checkLostRetransmission() {
        if (!rtxTracked || sackedCount == 0) {
            return;
        }
        if (!lt(sndUna, rtxTrackedSeq + 1)) {
            rtxTracked = false;
            return;
        }
        int highestSacked = sacked[2 * (sackedCount - 1) + 1];
        if (gt(highestSacked, rtxTrackedMark)) {
            counters.lostRetransmits.inc();
            rtxTracked = false;
            rtxNext = SeqNum.min(rtxNext, rtxTrackedSeq); // resend from the lost retransmission onwards
        }
    }

    /** RFC 5681 duplicate-ACK count, or RFC 6675 IsLost(SND.UNA): enough SACKed data beyond the hole. */
    private boolean lossDetected() {
        if (inLoss) {
            return false; // the timeout's go-back-N resend is under way
        }
        return dupAcks >= dupThreshold || (sackOk && sackedBytes() >= dupThreshold * effMss);
    }

    /** Fast retransmit and fast recovery (RFC 5681 3.2, RFC 6582). */
    private void enterRecovery(long now) {
        counters.fastRetransmits.inc();
        beginLossEpisode();
        fastEpisode = true;
        ssthresh = Math.max(flightSize() / 2, 2 * effMss);
        recover = sndMax;
        inRecovery = true;
        rtxTracked = false;
        cwnd = ssthresh + DUP_ACK_THRESHOLD * effMss;
        rtxNext = sndUna;
        retransmitHole(now);
        rtxDeadline = now + rtt.rto();
    }

    private int flightSize() {
        return sndMax - sndUna;
    }

    /** Retransmits the first un-SACKed segment at or after {@code rtxNext}, below the highest SACKed byte. */
    private void retransmitHole(long now) {
        int seq = SeqNum.max(rtxNext, sndUna);
        // Skip SACKed ranges.
        for (int b = 0; b < sackedCount; b++) {
            if (le(sacked[2 * b], seq) && lt(seq, sacked[2 * b + 1])) {
                seq = sacked[2 * b + 1];
            }
        }
        if (!lt(seq, sndMax)) {
            return;
        }
        if (seq != sndUna && sackedCount > 0 && !lt(seq, sacked[2 * (sackedCount - 1) + 1])) {
            return; // beyond the highest SACKed byte nothing is known lost
        }
        int end = sndMax;
        for (int b = 0; b < sackedCount; b++) {
            if (gt(sacked[2 * b], seq)) {
                end = SeqNum.min(end, sacked[2 * b]);
                break;
            }
        }
        int sent = retransmitAt(seq, end - seq, now);
        rtxNext = seq + Math.max(sent, 1);
        if (sent > 0 && !rtxTracked) {
            rtxTracked = true;
            rtxTrackedSeq = seq;
            rtxTrackedMark = sndMax;
        }
    }

    /** Retransmits from {@code seq}: up to one MSS of data below {@code limit}, or the FIN. Returns the span. */
    private int retransmitAt(int seq, int limit, long now) {
        int dataEnd = sndUna + sndBuf.size();
        if (lt(seq, dataEnd)) {
            int len = Math.min(Math.min(effMss, dataEnd - seq), Math.max(limit, 1));
            counters.retransmits.inc();
            undoRetransmissions++;
            sendData(seq, len, now);
            return len;
        }
        if (finSent && seq == finSeq) {
            counters.retransmits.inc();
            emit(TcpFlags.FIN | TcpFlags.ACK, finSeq, null, now);
            return 1;
        }
        return 0;
    }

    private void recordSack(TcpSegment seg) {
        int first = 0;
        int l0 = seg.sack[0];
        int r0 = seg.sack[1];
        if (le(r0, seg.ack) || (seg.sackCount > 1 && le(seg.sack[2], l0) && le(r0, seg.sack[3]))) {
            first = 1; // RFC 2883: the first block reports a duplicate, not new data
            onDsack();
        }
        for (int b = first; b < seg.sackCount; b++) {
            int l = seg.sack[2 * b];
            int r = seg.sack[2 * b + 1];
            if (!lt(l, r) || !gt(r, sndUna) || gt(r, sndMax)) {
                continue; // RFC 2018: ignore blocks that are inverted, old or beyond what we sent
            }
            l = SeqNum.max(l, sndUna);
            insertSacked(l, r);
        }
    }

    /**
     * The peer received something twice: one of our retransmissions was unnecessary, so the path reorders.
     * Raise the duplicate threshold, and when every retransmission of the last recovery episode proved
     * spurious, undo its congestion response.
     */
    private void onDsack() {
        counters.spuriousRetransmits.inc();
        if (fastEpisode) {
            // Only a spurious fast retransmit measures reordering; after a timeout the resent window
            // duplicates data whose SACKs did not fit in the option, which says nothing about the path.
            dupThreshold = Math.min(MAX_DUP_THRESHOLD, dupThreshold + Math.max(1, dupThreshold / 2));
        }
        if (undoPossible && --undoRetransmissions <= 0) {
            undoPossible = false;
            counters.congestionUndos.inc();
            cwnd = Math.max(cwnd, priorCwnd);
            ssthresh = Math.max(ssthresh, priorSsthresh);
            inRecovery = false;
            dupAcks = 0;
        }
    }

    /** Starts a loss episode: remembers the congestion state so a spurious one can be undone. */
    private void beginLossEpisode() {
        priorCwnd = cwnd;
        priorSsthresh = ssthresh;
        undoRetransmissions = 0;
        undoPossible = true;
    }

    /** Bytes SACKed above SND.UNA: RFC 6675's measure of how far delivery has run past the first hole. */
    private int sackedBytes() {
        int n = 0;
        for (int b = 0; b < sackedCount; b++) {
            n += sacked[2 * b + 1] - sacked[2 * b];
        }
        return n;
    }

    private void insertSacked(int l, int r) {
        // Merge [l, r) into the sorted, disjoint scoreboard.
        int[] tmp = new int[2 * (sackedCount + 1)];
        int n = 0;
        boolean placed = false;
        for (int b = 0; b < sackedCount; b++) {
            int bl = sacked[2 * b];
            int br = sacked[2 * b + 1];
            if (lt(br, l)) {
                tmp[2 * n] = bl;
                tmp[2 * n + 1] = br;
                n++;
            } else if (lt(r, bl)) {
                if (!placed) {
                    tmp[2 * n] = l;
                    tmp[2 * n + 1] = r;
                    n++;
                    placed = true;
                }
                tmp[2 * n] = bl;
                tmp[2 * n + 1] = br;
                n++;
            } else {
                l = SeqNum.min(l, bl);
                r = SeqNum.max(r, br);
            }
        }
        if (!placed) {
            tmp[2 * n] = l;
            tmp[2 * n + 1] = r;
            n++;
        }
        int keep = Math.min(n, sacked.length / 2);
        int from = n - keep; // keep the highest blocks when the scoreboard overflows
        System.arraycopy(tmp, 2 * from, sacked, 0, 2 * keep);
        sackedCount = keep;
    }

    private void pruneSack() {
        int n = 0;
        for (int b = 0; b < sackedCount; b++) {
            int l = sacked[2 * b];
            int r = sacked[2 * b + 1];
            if (gt(r, sndUna)) {
                sacked[2 * n] = SeqNum.max(l, sndUna);
                sacked[2 * n + 1] = r;
                n++;
            }
        }
        sackedCount = n;
    }

    private void processData(TcpSegment seg, long now) {
        if (!state.receivesData()) {
            if (seg.payloadLength() > 0) {
                counters.dataAfterClose.inc();
            }
            if (state == TcpState.TIME_WAIT && seg.fin()) {
                rcv.ackNow = true; // the peer did not get our ACK of its FIN: send it again, restart 2MSL
                timeWaitDeadline = now + cfg.timeWait();
            }
            return;
        }
        rcv.onText(seg, now);
    }

    /** The receiver took the peer's FIN (RFC 9293 3.10.7.4, eighth step). */
    void peerFin(long now) {
        switch (state) {
            case ESTABLISHED, SYN_RECEIVED -> state = TcpState.CLOSE_WAIT;
            case FIN_WAIT_1 -> {
                if (finAcked) {
                    enterTimeWait(now);
                } else {
                    state = TcpState.CLOSING;
                }
            }
            case FIN_WAIT_2 -> enterTimeWait(now);
            default -> { }
        }
        handler.onFin(this);
    }

    private void enterTimeWait(long now) {
        state = TcpState.TIME_WAIT;
        timeWaitDeadline = now + cfg.timeWait();
        rtxDeadline = NEVER;
        persistDeadline = NEVER;
        keepaliveDeadline = NEVER;
        releaseBuffers();
    }

    // ------------------------------------------------------------------------------------------------
    // Application side

    /** Bytes the application may still queue with {@link #send}. */
    public int sendSpace() {
        if (finQueued || !(state == TcpState.ESTABLISHED || state == TcpState.CLOSE_WAIT
                || state == TcpState.SYN_RECEIVED || state == TcpState.SYN_SENT)) {
            return 0;
        }
        int space = Math.max(0, cfg.sendBuffer() - sndBuf.size());
        return memory == null ? space : memory.cap(space, sndBuf.size());
    }

    /**
     * Queues data for the peer and sends what the windows allow.
     *
     * @param data <b>taken</b>
     */
    public void send(ByteBuf data, long now) {
        if (finQueued || state == TcpState.CLOSED || state == TcpState.TIME_WAIT) {
            counters.dataAfterClose.inc();
            data.release();
            return;
        }
        sndBuf.append(data);
        transmitPending(now);
        changed();
    }

    /** Half-close: a FIN follows the queued data (the host side reached end of file). */
    public void shutdownOutput(long now) {
        if (finQueued || state == TcpState.CLOSED) {
            return;
        }
        finQueued = true;
        transmitPending(now);
        changed();
    }

    /** The application wrote {@code n} delivered bytes out: the receive window may reopen. */
    public void consumed(int n, long now) {
        rcv.rcvUser = Math.max(0, rcv.rcvUser - n);
        recharge();
        if (!state.receivesData()) {
            return;
        }
        if (rcv.windowUpdateDue()) {
            rcv.ackNow = true; // window update (RFC 1122 4.2.3.3: only when it opens by a useful amount)
            transmitPending(now);
            changed();
        }
    }

    /** Aborts: sends RST (RFC 9293 3.10.5 ABORT) and closes without further callbacks but {@code onClosed}. */
    public void abort(long now) {
        if (state == TcpState.CLOSED) {
            return;
        }
        if (state != TcpState.SYN_SENT && state != TcpState.TIME_WAIT) {
            sendReset(sndNxt, rcv.rcvNxt, true, now);
        }
        counters.aborted.inc();
        close();
        changed();
    }

    public void setHandler(Handler handler) {
        this.handler = handler;
    }

    // ------------------------------------------------------------------------------------------------
    // Timers

    /** The earliest time {@link #poll} has work, or {@code Long.MAX_VALUE}. */
    public long nextDeadline() {
        return Math.min(Math.min(Math.min(rtxDeadline, persistDeadline), Math.min(rcv.delAckDeadline, timeWaitDeadline)),
                Math.min(keepaliveDeadline, tlpDeadline));
    }

    /** Runs the timers due at {@code now}. */
    public void poll(long now) {
        if (timeWaitDeadline <= now) {
            timeWaitDeadline = NEVER;
            close();
            changed();
            return;
        }
        if (rtxDeadline <= now) {
            retransmitTimeout(now);
        }
        if (state != TcpState.CLOSED && tlpDeadline <= now) {
            tailLossProbe(now);
        }
        if (state != TcpState.CLOSED && persistDeadline <= now) {
            persistProbe(now);
        }
        if (state != TcpState.CLOSED && keepaliveDeadline <= now) {
            keepaliveProbe(now);
        }
        if (state != TcpState.CLOSED && rcv.delAckDeadline <= now) {
            rcv.ackNow = true;
        }
        if (state != TcpState.CLOSED) {
            transmitPending(now);
        }
        changed();
    }

    private void retransmitTimeout(long now) {
        counters.timeouts.inc();
        rtxCount++;
        rtt.backOff();
        rttTiming = false; // Karn: no sample from a retransmitted segment
        if (state == TcpState.SYN_SENT || state == TcpState.SYN_RECEIVED) {
            if (rtxCount > cfg.synRetransmissions()) {
                abortByTimeout(now);
                return;
            }
            sndNxt = iss;
            sendSyn(state == TcpState.SYN_RECEIVED, now);
            return;
        }
        if (rtxCount > cfg.maxRetransmissions()) {
            abortByTimeout(now);
            return;
        }
        // RFC 5681 3.1 (4): loss window of one segment, go back to SND.UNA. The SACK scoreboard is kept
        // (as Linux does): data the peer SACKed is skipped when the window is resent.
        if (!inRecovery || !undoPossible) {
            beginLossEpisode();
        }
        fastEpisode = false;
        tlpDeadline = NEVER;
        tlpOutstanding = false;
        inLoss = true;
        lossRecover = sndMax;
        dupThreshold = DUP_ACK_THRESHOLD; // a timeout says losses went undetected: trust duplicate ACKs again
        ssthresh = Math.max(flightSize() / 2, 2 * effMss);
        cwnd = effMss;
        inRecovery = false;
        dupAcks = 0;
        sndNxt = sndUna;
        rtxDeadline = NEVER;
        int span = retransmitAt(sndUna, effMss, now);
        sndNxt = sndUna + span;
        rtxDeadline = now + rtt.rto();
    }

    private void abortByTimeout(long now) {
        sendReset(sndNxt, rcv.rcvNxt, true, now);
        counters.aborted.inc();
        handler.onReset(this);
        close();
    }

    private void persistProbe(long now) {
        // Zero-window probe as Linux sends it: an old sequence number that makes the peer answer with its
        // current window, without putting data beyond the window.
        counters.persistProbes.inc();
        emit(TcpFlags.ACK, sndUna - 1, null, now);
        persistBackoff = Math.min(persistBackoff + 1, 10);
        persistDeadline = now + Math.min(cfg.maxRto(), rtt.rto() << persistBackoff);
    }

    private void keepaliveProbe(long now) {
        if (keepaliveProbes >= cfg.keepaliveCount()) {
            abortByTimeout(now);
            return;
        }
        keepaliveProbes++;
        counters.keepaliveProbes.inc();
        emit(TcpFlags.ACK, sndUna - 1, null, now);
        keepaliveDeadline = now + cfg.keepaliveInterval();
    }

    private void startKeepalive(long now) {
        if (cfg.keepaliveIdle() > 0 && state.synchronizedState() && state != TcpState.TIME_WAIT) {
            // keepaliveProbes > 0 means probing is under way: the next probe follows at the interval.
            keepaliveDeadline = now + (keepaliveProbes == 0 ? cfg.keepaliveIdle() : cfg.keepaliveInterval());
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Output

    /** Sends whatever data, FIN and ACK the state, windows and timers call for. */
    private void transmitPending(long now) {
        boolean canSendData = state == TcpState.ESTABLISHED || state == TcpState.CLOSE_WAIT
                || state == TcpState.FIN_WAIT_1 || state == TcpState.CLOSING || state == TcpState.LAST_ACK;
        if (canSendData) {
            int dataEnd = sndUna + sndBuf.size();
            while (lt(sndNxt, dataEnd)) {
                int sackLimit = skipSacked();
                int wnd = Math.min(sndWnd, cwnd);
                int usable = sndUna + wnd - sndNxt;
                int len = Math.min(Math.min(Math.min(effMss, dataEnd - sndNxt), usable), sackLimit);
                if (len <= 0) {
                    break;
                }
                // Silly window syndrome avoidance, sender side (RFC 1122 4.2.3.4): no small segment while
                // more data waits, unless nothing is in flight.
                if (len < effMss && len < dataEnd - sndNxt && sndNxt != sndUna) {
                    break;
                }
                sendData(sndNxt, len, now);
                if (tlpDeadline == NEVER) {
                    armTailLossProbe(now);
                }
                if (!rttTiming && sndNxt == sndMax) {
                    rttTiming = true;
                    rttSeq = sndNxt;
                    rttTime = now;
                }
                sndNxt += len;
                if (gt(sndNxt, sndMax)) {
                    sndMax = sndNxt;
                }
                if (rtxDeadline == NEVER) {
                    rtxDeadline = now + rtt.rto();
                }
            }
            if (finQueued && sndNxt == dataEnd && (!finSent || (sndNxt == finSeq && !finAcked))) {
                if (!finSent) {
                    finSent = true;
                    finSeq = dataEnd;
                    if (state == TcpState.ESTABLISHED) {
                        state = TcpState.FIN_WAIT_1;
                    } else if (state == TcpState.CLOSE_WAIT) {
                        state = TcpState.LAST_ACK;
                    }
                }
                emit(TcpFlags.FIN | TcpFlags.ACK, finSeq, null, now);
                sndNxt = finSeq + 1;
                if (gt(sndNxt, sndMax)) {
                    sndMax = sndNxt;
                }
                if (rtxDeadline == NEVER) {
                    rtxDeadline = now + rtt.rto();
                }
            }
            // Zero window with data waiting and nothing in flight: probe until it opens (RFC 9293 3.8.6.1).
            if (sndWnd == 0 && lt(sndNxt, dataEnd) && sndNxt == sndUna && rtxDeadline == NEVER) {
                if (persistDeadline == NEVER) {
                    persistDeadline = now + rtt.rto();
                }
            } else if (sndWnd > 0) {
                persistDeadline = NEVER;
            }
        }
        if (rcv.ackNow && state != TcpState.SYN_SENT && state != TcpState.CLOSED) {
            emit(TcpFlags.ACK, acceptableSeq(), null, now);
        }
    }

    /**
     * When resending below SND.MAX after a timeout, moves SND.NXT past data the peer already SACKed and
     * returns how many bytes may go before the next SACKed range (MAX_VALUE when none applies).
     */
    private int skipSacked() {
        if (sackedCount == 0 || !lt(sndNxt, sndMax)) {
            return Integer.MAX_VALUE;
        }
        for (int b = 0; b < sackedCount; b++) {
            int l = sacked[2 * b];
            int r = sacked[2 * b + 1];
            if (le(l, sndNxt) && lt(sndNxt, r)) {
                sndNxt = r;
            } else if (gt(l, sndNxt)) {
                return l - sndNxt;
            }
        }
        return Integer.MAX_VALUE;
    }

    /**
     * The sequence number of a pure ACK: SND.NXT, unless data already sent lies beyond the peer's current
     * window (it shrank or closed); then SND.UNA + SND.WND, which the peer accepts. Otherwise a window
     * update from a peer whose own window is zero would be dropped as out of window, and two stalled ends
     * could wait on each other forever (Linux's tcp_acceptable_seq).
     */
    private int acceptableSeq() {
        int edge = sndUna + sndWnd;
        return lt(edge, sndNxt) ? edge : sndNxt;
    }

    private void sendData(int seq, int len, long now) {
        ByteBuf payload = sndBuf.slice(seq - sndUna, len, alloc);
        int flags = TcpFlags.ACK;
        if (seq + len == sndUna + sndBuf.size()) {
            flags |= TcpFlags.PSH;
        }
        emit(flags, seq, payload, now);
    }

    private void sendSyn(boolean withAck, long now) {
        emit(withAck ? TcpFlags.SYN | TcpFlags.ACK : TcpFlags.SYN, iss, null, now);
        sndNxt = iss + 1;
        if (gt(sndNxt, sndMax)) {
            sndMax = sndNxt;
        }
        if (rtxCount == 0 && !rttTiming) {
            rttTiming = true;
            rttSeq = iss;
            rttTime = now;
        }
        rtxDeadline = now + rtt.rto();
    }

    /** A reset not tied to this connection's state (e.g. answering a bad ACK in SYN-RECEIVED). */
    private void sendReset(int seq, int ack, boolean withAck, long now) {
        emit(withAck ? TcpFlags.RST | TcpFlags.ACK : TcpFlags.RST, seq, null, now);
    }

    private int tsNow(long now) {
        return (int) (now / 1_000_000L) + tsOffset;
    }

    /**
     * Builds and transmits one segment; every segment but a bare SYN carries our ACK and window. The receiver
     * state an ACK changes (the advertised edge, a pending DSACK, the delayed-ACK bookkeeping) is updated by
     * {@link #advertiseWindow}, {@link #fillSackBlocks} and {@link #ackSent}; {@link TcpSegmentWriter} only writes.
     *
     * @param payload <b>taken</b> (may be null)
     */
    private void emit(int flags, int seq, ByteBuf payload, long now) {
        boolean syn = (flags & TcpFlags.SYN) != 0;
        boolean rst = (flags & TcpFlags.RST) != 0;
        boolean ack = (flags & TcpFlags.ACK) != 0;
        TcpSegmentWriter w = writer.header(localPort, remotePort, seq, ack ? rcv.rcvNxt : 0, flags, 0);
        if (syn) {
            w.mss = cfg.mss();
            w.timestamps = cfg.timestamps() && (!passiveOpen || tsOk);
            w.sackPermitted = cfg.sack() && (!passiveOpen || sackOk);
            w.tsVal = tsNow(now);
            w.tsEcr = passiveOpen ? tsRecent : 0;
            w.windowScale = rcvShiftOffered() ? cfg.windowScale() : -1;
            w.window = rcv.synWindow();
        } else if (!rst) {
            w.timestamps = tsOk;
            w.tsVal = tsNow(now);
            w.tsEcr = tsRecent;
            w.sackCount = rcv.fillSackBlocks(w.sack, tsOk ? 3 : 4, ack);
            w.window = rcv.advertiseWindow();
        }
        ByteBuf seg = w.segment(alloc, localIp, remoteIp, payload);
        if (ack && !rst) {
            rcv.ackSent();
        }
        counters.segmentsOut.inc();
        output.transmit(this, seg, now);
    }

    private boolean rcvShiftOffered() {
        // Active open: offered in the SYN. Passive: only when the peer offered (RFC 7323 1.3).
        return cfg.windowScale() >= 0 && wsOk;
    }

    // ------------------------------------------------------------------------------------------------
    // Closing

    private void reset() {
        handler.onReset(this);
        close();
    }

    private void close() {
        if (state == TcpState.CLOSED) {
            return;
        }
        state = TcpState.CLOSED;
        rtxDeadline = NEVER;
        persistDeadline = NEVER;
        rcv.delAckDeadline = NEVER;
        timeWaitDeadline = NEVER;
        tlpDeadline = NEVER;
        keepaliveDeadline = NEVER;
        releaseBuffers();
        recharge();
        handler.onClosed(this);
    }

    /**
     * Brings this connection's share of the network's TCP memory up to date (see {@link TcpMemory}): bytes
     * delivered but not consumed, the receive window promised, and the send buffer.
     */
    private void recharge() {
        if (memory == null) {
            return;
        }
        long c = 0;
        if (state != TcpState.CLOSED) {
            c = (long) rcv.rcvUser + sndBuf.size();
            if (state.receivesData() || state == TcpState.SYN_RECEIVED) {
                c += Math.max(0, rcv.rcvAdvMax - rcv.rcvNxt);
            }
        }
        if (c != charged) {
            memory.add(c - charged);
            charged = c;
        }
    }

    /** Bytes this connection is charged in the network's TCP memory budget. */
    public long chargedBytes() {
        return charged;
    }

    private void releaseBuffers() {
        sndBuf.release();
        rcv.release();
    }

    private void changed() {
        recharge();
        if (timerHook != null) {
            timerHook.deadlineChanged(this);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Introspection (tests, /stats, debugging)

    public TcpState state() {
        return state;
    }

    public int localIp() {
        return localIp;
    }

    public int localPort() {
        return localPort;
    }

    public int remoteIp() {
        return remoteIp;
    }

    public int remotePort() {
        return remotePort;
    }

    public int iss() {
        return iss;
    }

    public int sndUna() {
        return sndUna;
    }

    public int sndNxt() {
        return sndNxt;
    }

    public int sndWnd() {
        return sndWnd;
    }

    public int rcvNxt() {
        return rcv.rcvNxt;
    }

    public int rcvWnd() {
        return rcv.rcvAdv - rcv.rcvNxt;
    }

    public int cwnd() {
        return cwnd;
    }

    public int ssthresh() {
        return ssthresh;
    }

    public int effectiveMss() {
        return effMss;
    }

    public boolean timestampsEnabled() {
        return tsOk;
    }

    public boolean sackEnabled() {
        return sackOk;
    }

    public int sendWindowShift() {
        return sndShift;
    }

    public int receiveWindowShift() {
        return rcv.rcvShift;
    }

    public long rto() {
        return rtt.rto();
    }

    public int queuedBytes() {
        return sndBuf.size();
    }

    public int outOfOrderBytes() {
        return rcv.ooo.bytes();
    }

    public int unconsumedBytes() {
        return rcv.rcvUser;
    }

    @Override
    public String toString() {
        return "tcp " + dev.gvproxy.stack.wire.Ipv4Address.format(remoteIp) + ":" + remotePort + " -> "
                + dev.gvproxy.stack.wire.Ipv4Address.format(localIp) + ":" + localPort + " " + state;
    }
}
