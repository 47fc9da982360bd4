package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.wire.SeqNum.ge;
import static dev.gvproxy.stack.wire.SeqNum.gt;
import static dev.gvproxy.stack.wire.SeqNum.le;
import static dev.gvproxy.stack.wire.SeqNum.lt;

import dev.gvproxy.stack.wire.SeqNum;
import dev.gvproxy.stack.wire.TcpFlags;

/**
 * The sending half of a {@link TcpConnection}: the send sequence space (RFC 9293 3.3.1: SND.UNA, SND.NXT,
 * SND.WND, SND.WL1/2, ISS), the send buffer, the ACK field of incoming segments (3.10.7.4, fifth step), NewReno
 * congestion control (RFC 5681, RFC 6582) with a {@link SackScoreboard} choosing retransmissions (RFC 6675),
 * DSACK-driven undo and reordering (RFC 2883), lost-retransmission detection, the tail loss probe (RFC 8985
 * section 7), the retransmission timer (RFC 6298, via {@link RttEstimator}) and zero-window probes (RFC 9293
 * 3.8.6.1).
 *
 * <p>Segments leave through {@link TcpConnection#emit}, which adds our ACK and window. The application's data
 * is <b>taken</b> into the {@link SendBuffer} and kept until acknowledged; each transmission copies its range
 * out of it into the segment's own buffer, or for a large segment holds views of it
 * ({@link dev.gvproxy.stack.wire.TcpSegmentWriter#VIEWS_FROM}).
 */
final class TcpSender {
    static final int DUP_ACK_THRESHOLD = 3; // RFC 5681 3.2
    /** Upper bound of the adaptive duplicate threshold (Linux caps its reordering metric at 300). */
    static final int MAX_DUP_THRESHOLD = 300;
    private static final long NEVER = TcpConnection.NEVER;

    private final TcpConnection c;
    private final TcpConfig cfg;
    private final TcpCounters counters;

    // Send sequence space (RFC 9293 3.3.1).
    final int iss;
    int sndUna;
    int sndNxt;
    /** Highest sequence number sent + 1 (SND.NXT can move back on a retransmission timeout). */
    int sndMax;
    int sndWnd;
    int sndWl1;
    int sndWl2;
    int maxSndWnd;
    /** Peer's window scale shift, applied to SEG.WND of non-SYN segments. */
    int sndShift;
    /**
     * Largest payload of one segment to an offload port: the IPv4 total length (and the IPv6 payload length)
     * field holds 65535, less the largest IP and TCP headers.
     */
    static final int GSO_MAX_PAYLOAD = 65535 - 60 - 60;
    /** Payload bytes per segment towards the peer (peer's MSS, our MTU, minus option bytes). */
    int effMss;
    final SendBuffer sndBuf = new SendBuffer();
    boolean finQueued;
    boolean finSent;
    int finSeq;
    boolean finAcked;

    // Timers (absolute nanoseconds, NEVER when off).
    long rtxDeadline = NEVER;
    long persistDeadline = NEVER;
    int rtxCount;
    int persistBackoff;
    long keepaliveDeadline = NEVER;
    int keepaliveProbes;
    final RttEstimator rtt;
    boolean rttTiming;
    int rttSeq;
    long rttTime;

    // Congestion control: NewReno (RFC 5681, RFC 6582) with a SACK scoreboard to pick retransmissions.
    int cwnd;
    int ssthresh = Integer.MAX_VALUE;
    int dupAcks;
    /**
     * Duplicate ACKs (or SACKed segments above SND.UNA) that mean loss: 3 (RFC 5681), raised whenever a
     * DSACK proves a retransmission spurious, i.e. the path reorders (RFC 4653 spirit, Linux's reordering).
     */
    int dupThreshold = DUP_ACK_THRESHOLD;
    // Undo of a congestion response found spurious by DSACK (RFC 2883 section 5, Linux "undo"):
    boolean undoPossible;
    /** The current loss episode began with fast retransmit (not a timeout): its DSACKs measure reordering. */
    boolean fastEpisode;
    /** After a timeout, SND.MAX at that time: until it is acknowledged the window is being resent (Linux "Loss"). */
    boolean inLoss;
    int lossRecover;
    // Tail loss probe (RFC 8985 section 7): one probe per flight after about two RTTs of silence, so a lost
    // tail is found by SACK feedback instead of a retransmission timeout.
    long tlpDeadline = NEVER;
    boolean tlpOutstanding;
    int tlpSeq;
    /**
     * Lost-retransmission detection (Linux's pre-RACK {@code tcp_mark_lost_retrans}): the hole last
     * retransmitted in recovery and SND.MAX at that moment. When SACKs cover data sent after it while the hole
     * is still unacknowledged, the retransmission was lost too: resend it now instead of waiting for the RTO.
     */
    boolean rtxTracked;
    int rtxTrackedSeq;
    int rtxTrackedMark;
    int undoRetransmissions;
    int priorCwnd;
    int priorSsthresh;
    boolean inRecovery;
    int recover;
    int bytesAckedCa;
    int rtxNext;
    final SackScoreboard sb = new SackScoreboard();

    TcpSender(TcpConnection c, TcpConfig cfg, TcpCounters counters, int iss) {
        this.c = c;
        this.cfg = cfg;
        this.counters = counters;
        this.iss = iss;
        this.rtt = new RttEstimator(cfg.initialRto(), cfg.minRto(), cfg.maxRto());
    }

    /**
     * Our SYN is acknowledged: SND.UNA moves past it, the handshake gives the first RTT sample (RFC 6298 2.2)
     * and {@code wnd} is the peer's first window.
     */
    void synAcked(int una, int wnd, TcpSegment seg, long now) {
        sndUna = una;
        rtxDeadline = NEVER;
        rtxCount = 0;
        if (rttTiming) {
            rtt.sample(now - rttTime);
            rttTiming = false;
        }
        sndWnd = wnd;
        maxSndWnd = Math.max(maxSndWnd, wnd);
        sndWl1 = seg.seq;
        sndWl2 = seg.ack;
    }

    void processAck(TcpSegment seg, long now) {
        int ack = seg.ack;
        int acked = ack - sndUna;
        int newWnd = seg.window << sndShift;
        boolean windowUpdate = lt(sndWl1, seg.seq) || (sndWl1 == seg.seq && le(sndWl2, ack));
        if (c.sackOk && seg.sackCount > 0) {
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
            sb.prune(sndUna);
            if (inLoss && ge(sndUna, lossRecover)) {
                inLoss = false;
            }
            rttSample(seg, now);
            rtxCount = 0;
            rtt.resetBackoff();
            congestionOnAck(dataAcked, now);
            if (!inRecovery && c.sackOk && !sb.isEmpty() && (lossDetected() || probeRevealsLoss())) {
                enterRecovery(now); // the cumulative ACK moved, but SACKs show the next hole is lost
            }
            rtxDeadline = sndUna == sndMax ? NEVER : now + rtt.rto();
            tlpOutstanding = false;
            armTailLossProbe(now);
            if (dataAcked > 0 && !finQueued) {
                c.handler.onSendSpace(c);
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
    }

    private void rttSample(TcpSegment seg, long now) {
        if (c.tsOk && seg.hasTimestamps && seg.tsEcr != 0) {
            long ms = (c.tsNow(now) - seg.tsEcr) & 0xFFFF_FFFFL;
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
            if (!sb.isEmpty()) {
                retransmitHole(now); // SACK tells us more holes exist; fill one per ACK
            }
        }
    }

    /** Arms the probe timeout: PTO = 2 SRTT (at least 10 ms), only in the open state and before the RTO. */
    private void armTailLossProbe(long now) {
        long srtt = rtt.srtt();
        if (tlpOutstanding || inRecovery || inLoss || srtt < 0 || !c.sackOk || sndMax == sndUna
                || !(c.state() == TcpState.ESTABLISHED || c.state() == TcpState.CLOSE_WAIT)) {
            tlpDeadline = NEVER;
            return;
        }
        long pto = Math.max(2 * srtt, 10_000_000L);
        tlpDeadline = now + pto < rtxDeadline ? now + pto : NEVER;
    }

    /** Sends one probe: a new segment when the peer's window allows, else the last segment again. */
    void tailLossProbe(long now) {
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
        if (!tlpOutstanding || sb.isEmpty() || !lt(sndUna, tlpSeq)) {
            return false;
        }
        return sb.covers(tlpSeq);
    }

    private void checkLostRetransmission() {
        if (!rtxTracked || sb.isEmpty()) {
            return;
        }
        if (!lt(sndUna, rtxTrackedSeq + 1)) {
            rtxTracked = false;
            return;
        }
        int highestSacked = sb.highest();
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
        return dupAcks >= dupThreshold || (c.sackOk && sb.bytes() >= dupThreshold * effMss);
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
        seq = sb.skip(seq);
        if (!lt(seq, sndMax)) {
            return;
        }
        if (seq != sndUna && !sb.isEmpty() && !lt(seq, sb.highest())) {
            return; // beyond the highest SACKed byte nothing is known lost
        }
        int end = SeqNum.min(sndMax, sb.nextAbove(seq, sndMax));
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
            c.retransmitted++;
            undoRetransmissions++;
            sendData(seq, len, now);
            return len;
        }
        if (finSent && seq == finSeq) {
            counters.retransmits.inc();
            c.retransmitted++;
            c.emit(TcpFlags.FIN | TcpFlags.ACK, finSeq, now);
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
            sb.insert(l, r);
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

    void retransmitTimeout(long now) {
        counters.timeouts.inc();
        rtxCount++;
        rtt.backOff();
        rttTiming = false; // Karn: no sample from a retransmitted segment
        if (c.state() == TcpState.SYN_SENT || c.state() == TcpState.SYN_RECEIVED) {
            if (rtxCount > cfg.synRetransmissions()) {
                c.abortByTimeout(now);
                return;
            }
            sndNxt = iss;
            sendSyn(c.state() == TcpState.SYN_RECEIVED, now);
            return;
        }
        if (rtxCount > cfg.maxRetransmissions()) {
            c.abortByTimeout(now);
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

    void persistProbe(long now) {
        // Zero-window probe as Linux sends it: an old sequence number that makes the peer answer with its
        // current window, without putting data beyond the window.
        counters.persistProbes.inc();
        c.emit(TcpFlags.ACK, sndUna - 1, now);
        persistBackoff = Math.min(persistBackoff + 1, 10);
        persistDeadline = now + Math.min(cfg.maxRto(), rtt.rto() << persistBackoff);
    }

    /** RFC 9293 3.8.4 (RFC 1122 4.2.3.6): a probe at SND.UNA - 1 after the idle time; abort after enough. */
    void keepaliveProbe(long now) {
        if (keepaliveProbes >= cfg.keepaliveCount()) {
            c.abortByTimeout(now);
            return;
        }
        keepaliveProbes++;
        counters.keepaliveProbes.inc();
        c.emit(TcpFlags.ACK, sndUna - 1, now);
        keepaliveDeadline = now + cfg.keepaliveInterval();
    }

    void startKeepalive(long now) {
        if (cfg.keepaliveIdle() > 0 && c.state().synchronizedState() && c.state() != TcpState.TIME_WAIT) {
            // keepaliveProbes > 0 means probing is under way: the next probe follows at the interval.
            keepaliveDeadline = now + (keepaliveProbes == 0 ? cfg.keepaliveIdle() : cfg.keepaliveInterval());
        }
    }

    /** Sends whatever data and FIN the state and the windows allow; arms the RTO, TLP and persist timers. */
    void transmit(long now) {
        boolean canSendData = c.state() == TcpState.ESTABLISHED || c.state() == TcpState.CLOSE_WAIT
                || c.state() == TcpState.FIN_WAIT_1 || c.state() == TcpState.CLOSING || c.state() == TcpState.LAST_ACK;
        if (canSendData) {
            int dataEnd = sndUna + sndBuf.size();
            while (lt(sndNxt, dataEnd)) {
                if (c.link != null && !c.link.isWritable()) {
                    // Guest-port backpressure: the port's queue is full, a segment now would be dropped there and
                    // cost an RTO. Wait until the transport says it drained (the layer resumes this sender).
                    c.pausedOnLink();
                    break;
                }
                int sackLimit = skipSacked();
                int wnd = Math.min(sndWnd, cwnd);
                int usable = sndUna + wnd - sndNxt;
                int len = Math.min(Math.min(Math.min(segmentBytes(), dataEnd - sndNxt), usable), sackLimit);
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
                    c.finSent();
                }
                c.emit(TcpFlags.FIN | TcpFlags.ACK, finSeq, now);
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
    }

    /**
     * Payload of one new data segment: the MSS, or for a guest on a port with offloads as many whole MSS as fit
     * in one IP datagram (about 64 KiB), which the guest's kernel takes whole (GSO). Retransmissions stay MSS-sized.
     */
    private int segmentBytes() {
        return c.link != null && c.link.offloads() ? Math.max(effMss, GSO_MAX_PAYLOAD / effMss * effMss) : effMss;
    }

    /**
     * When resending below SND.MAX after a timeout, moves SND.NXT past data the peer already SACKed and
     * returns how many bytes may go before the next SACKed range (MAX_VALUE when none applies).
     */
    private int skipSacked() {
        if (sb.isEmpty() || !lt(sndNxt, sndMax)) {
            return Integer.MAX_VALUE;
        }
        sndNxt = sb.skip(sndNxt);
        int l = sb.nextAbove(sndNxt, sndNxt);
        return l == sndNxt ? Integer.MAX_VALUE : l - sndNxt;
    }

    /**
     * The sequence number of a pure ACK: SND.NXT, unless data already sent lies beyond the peer's current
     * window (it shrank or closed); then SND.UNA + SND.WND, which the peer accepts. Otherwise a window
     * update from a peer whose own window is zero would be dropped as out of window, and two stalled ends
     * could wait on each other forever (Linux's tcp_acceptable_seq).
     */
    int acceptableSeq() {
        int edge = sndUna + sndWnd;
        return lt(edge, sndNxt) ? edge : sndNxt;
    }

    private void sendData(int seq, int len, long now) {
        int flags = TcpFlags.ACK;
        if (seq + len == sndUna + sndBuf.size()) {
            flags |= TcpFlags.PSH;
        }
        c.emit(flags, seq, seq - sndUna, len, now);
    }

    void sendSyn(boolean withAck, long now) {
        c.emit(withAck ? TcpFlags.SYN | TcpFlags.ACK : TcpFlags.SYN, iss, now);
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
}
