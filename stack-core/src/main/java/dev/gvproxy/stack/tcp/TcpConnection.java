package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.wire.SeqNum.gt;
import static dev.gvproxy.stack.wire.SeqNum.lt;

import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpSegmentWriter;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * One TCP connection between the gateway (which impersonates the guest's destination) and a guest.
 *
 * <p>Heads up: read the package documentation (its RFC list and how the work is cut) before changing this
 * file. This class holds the state and SEGMENT ARRIVES for synchronized states (RFC 9293 3.10.7.4); opening is
 * in {@code TcpHandshake}, the send side in {@code TcpSender}, the receive side in {@code TcpReceiver}.
 *
 * <p>Deterministic: no clock, no threads, no sockets. Every entry point takes {@code now} (monotonic
 * nanoseconds); {@link #nextDeadline()} says when {@link #poll} has work. Segments leave through
 * {@link Output}; the application (the forwarder's bridge to a host socket) sees the peer's data and
 * events through {@link Handler}.
 *
 * <p>Buffers: {@link #onSegment} borrows the segment's payload (in-order data is passed on as a retained
 * slice, out-of-order data kept as retained slices); {@link #send} takes the application's buffer and keeps
 * it until acknowledged; each transmitted segment is a new buffer (header + a copy of its payload range).
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

    /** The layer's read batch, which ACKs in-order data once at its end (see {@code TcpReceiver}). */
    interface AckBatch {
        /**
         * True when a batch is open and {@code c}'s {@link #batchEnd} will run at its end; false when the ACK must
         * go out now.
         */
        boolean defer(TcpConnection c);
    }

    static final long NEVER = Long.MAX_VALUE;
    /** IPv6's fixed header (40) minus IPv4's (20). */
    static final int IPV6_EXTRA_HEADER = 20;
    /** The MSS assumed for a peer that sends none (RFC 9293 3.7.1: 536 over IPv4; RFC 8200 5: 1280 - 60 over IPv6). */
    static final int DEFAULT_PEER_MSS_V6 = 1220;

    int defaultPeerMss() {
        return localIp.isIpv4Mapped() ? TcpHandshake.DEFAULT_PEER_MSS : DEFAULT_PEER_MSS_V6;
    }

    // Identity: "local" is the address the guest connected to (impersonated), "remote" the guest. Addresses of
    // either family, IPv4 ones IPv4-mapped (see FlowKey).
    final Ipv6Address localIp;
    final int localPort;
    final Ipv6Address remoteIp;
    final int remotePort;

    final TcpConfig cfg;
    /**
     * Our MSS on this connection: the configured one (MTU - 40, IPv4's headers) less the 20 bytes IPv6's header
     * adds over IPv4's on an IPv6 connection (RFC 9293 3.7.1: MTU minus the fixed IP and TCP headers).
     */
    final int mss;
    private final ByteBufAllocator alloc;
    private final Output output;
    final TcpCounters counters;
    Handler handler;
    TimerHook timerHook;
    /**
     * The switch port towards the guest, or null when unknown: the sender sends new segments only while it is
     * writable (guest-port backpressure), and the layer resumes it when the port drains.
     */
    SwitchPort link;
    /** Set while the layer holds this connection in its list of senders paused on {@link #link}. */
    boolean waitingForLink;
    /** The layer's list of senders paused on a port (set by the layer). */
    java.util.function.Consumer<TcpConnection> linkWait;
    /** The layer's read batch (set by the layer); null: every ACK goes out at once. */
    AckBatch ackBatch;
    /** Set while the layer holds this connection in its list of ACKs owed at the end of the batch. */
    boolean ackQueued;
    /** The layer's bookkeeping: the deadline currently queued for this connection ({@link ConnectionTimers}). */
    long scheduledDeadline = NEVER;
    /** Where this connection sits in the layer's {@link ConnectionTimers}, -1 when not queued. */
    int timerIndex = -1;
    /** The network's TCP buffer budget (set by the layer); see {@link TcpMemory}. */
    TcpMemory memory;
    /** What this connection is charged in {@link #memory} now. */
    private long charged;

    TcpState state;
    boolean passiveOpen;

    /** The sending half: SND.UNA/SND.NXT, the send buffer, congestion control, loss recovery, RTO, persist. */
    final TcpSender snd;
    /** The receiving half: RCV.NXT, the advertised window, reassembly, delayed ACK, DSACK. */
    final TcpReceiver rcv;

    // Options.
    boolean tsOk;
    boolean sackOk;
    /** Window scaling in use (RFC 7323 1.3: only when both SYNs carry the option); offered in our SYN until known. */
    boolean wsOk = true;
    private final int tsOffset;

    // Connection timers (absolute nanoseconds, NEVER when off); the halves keep their own.
    private long timeWaitDeadline = NEVER;

    private final TcpSegmentWriter writer = new TcpSegmentWriter();

    // Flow statistics for the live flow table (FlowEntry); written on the event loop only.
    long createdAt;
    long lastActive;
    long segmentsFromPeer;
    long bytesFromPeer;
    long segmentsToPeer;
    long bytesToPeer;
    long retransmitted;

    TcpConnection(Ipv6Address localIp, int localPort, Ipv6Address remoteIp, int remotePort, TcpConfig cfg, ByteBufAllocator alloc,
            Output output, TcpCounters counters, Handler handler, int iss) {
        this.localIp = localIp;
        this.localPort = localPort;
        this.remoteIp = remoteIp;
        this.remotePort = remotePort;
        this.cfg = cfg;
        this.mss = localIp.isIpv4Mapped() ? cfg.mss() : cfg.mss() - IPV6_EXTRA_HEADER;
        this.alloc = alloc;
        this.output = output;
        this.counters = counters;
        this.handler = handler;
        this.snd = new TcpSender(this, cfg, counters, iss);
        this.tsOffset = Integer.rotateLeft(iss, 13) ^ 0x5bd1e995;
        this.rcv = new TcpReceiver(this, cfg, counters);
        this.state = TcpState.CLOSED;
    }

    /**
     * Passive open: answers the peer's SYN with a SYN-ACK (RFC 9293 3.10.7.2), entering SYN-RECEIVED.
     * The forwarder calls this only after the host connection succeeded.
     */
    void acceptSyn(TcpSegment syn, long now) {
        createdAt = now;
        lastActive = now;
        segmentsFromPeer = 1; // the SYN, which came before this connection existed
        TcpHandshake.passiveOpen(this, syn, now);
        changed();
    }

    /** Active open: sends a SYN (RFC 9293 3.10.1), entering SYN-SENT. */
    void connect(long now) {
        createdAt = now;
        lastActive = now;
        TcpHandshake.activeOpen(this, now);
        changed();
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
        segmentsFromPeer++;
        bytesFromPeer += seg.payloadLength();
        lastActive = now;
        switch (state) {
            case CLOSED -> { }
            case SYN_SENT -> TcpHandshake.synSent(this, seg, now);
            default -> synchronizedOrSynReceived(seg, now);
        }
        if (state != TcpState.CLOSED) {
            // Anything heard from the peer proves it alive: restart the keepalive idle time.
            snd.keepaliveProbes = 0;
            snd.startKeepalive(now);
            transmitPending(now);
        }
        changed();
    }

    private void synchronizedOrSynReceived(TcpSegment seg, long now) {
        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost, send it again.
        if (state == TcpState.SYN_RECEIVED && seg.syn() && !seg.ackFlag() && seg.seq == rcv.irs) {
            snd.sndNxt = snd.iss;
            snd.sendSyn(true, now);
            return;
        }
        // TIME-WAIT: the peer retransmitting its FIN lost our ACK; acknowledge again and restart the 2 MSL
        // timer (RFC 9293 3.10.7.4, eighth step; the window test alone would only ACK it).
        if (state == TcpState.TIME_WAIT && seg.fin() && !seg.rst() && seg.seq + seg.payloadLength() + 1 == rcv.rcvNxt) {
            rcv.ackNow = true;
            timeWaitDeadline = now + cfg.timeWait();
            return;
        }
        // First: sequence number acceptability, PAWS and TS.Recent (RFC 9293 3.10.7.4, RFC 7323).
        int verdict = rcv.check(seg);
        if (verdict != TcpReceiver.ACCEPT) {
            // RFC 9293 3.10.7.4: with RCV.WND zero "special allowance should be made to accept valid ACKs":
            // the data is refused, but the acknowledgement and window it carries still count.
            if (verdict == TcpReceiver.ACK_FIELD_ONLY && state.synchronizedState() && !gt(seg.ack, snd.sndMax)
                    && !lt(seg.ack, snd.sndUna - Math.max(snd.maxSndWnd, 1))) {
                processAck(seg, now);
            }
            return;
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
        if (state == TcpState.SYN_RECEIVED && !TcpHandshake.synReceivedAck(this, seg, now)) {
            return;
        }
        if (gt(seg.ack, snd.sndMax)) {
            counters.ackUnsent.inc();
            rcv.ackNow = true;
            return;
        }
        if (lt(seg.ack, snd.sndUna - Math.max(snd.maxSndWnd, 1))) {
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

    /** The ACK field (RFC 9293 3.10.7.4, fifth step): the sender's part, then what an acknowledged FIN means. */
    private void processAck(TcpSegment seg, long now) {
        snd.processAck(seg, now);
        if (snd.finAcked) {
            switch (state) {
                case FIN_WAIT_1 -> state = TcpState.FIN_WAIT_2;
                case CLOSING -> enterTimeWait(now);
                case LAST_ACK -> close();
                default -> { }
            }
        }
    }

    /** The sender sent our FIN for the first time. */
    void finSent() {
        if (state == TcpState.ESTABLISHED) {
            state = TcpState.FIN_WAIT_1;
        } else if (state == TcpState.CLOSE_WAIT) {
            state = TcpState.LAST_ACK;
        }
    }

    private void challengeAck() {
        counters.challengeAcks.inc();
        rcv.ackNow = true;
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
                if (snd.finAcked) {
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
        snd.rtxDeadline = NEVER;
        snd.persistDeadline = NEVER;
        snd.keepaliveDeadline = NEVER;
        releaseBuffers();
    }

    // ------------------------------------------------------------------------------------------------
    // Application side

    /** Bytes the application may still queue with {@link #send}. */
    public int sendSpace() {
        if (snd.finQueued || !(state == TcpState.ESTABLISHED || state == TcpState.CLOSE_WAIT
                || state == TcpState.SYN_RECEIVED || state == TcpState.SYN_SENT)) {
            return 0;
        }
        int space = Math.max(0, cfg.sendBuffer() - snd.sndBuf.size());
        return memory == null ? space : memory.cap(space, snd.sndBuf.size());
    }

    /**
     * Queues data for the peer and sends what the windows allow.
     *
     * @param data <b>taken</b>
     */
    public void send(ByteBuf data, long now) {
        if (snd.finQueued || state == TcpState.CLOSED || state == TcpState.TIME_WAIT) {
            counters.dataAfterClose.inc();
            data.release();
            return;
        }
        snd.sndBuf.append(data);
        transmitPending(now);
        changed();
    }

    /** Half-close: a FIN follows the queued data (the host side reached end of file). */
    public void shutdownOutput(long now) {
        if (snd.finQueued || state == TcpState.CLOSED) {
            return;
        }
        snd.finQueued = true;
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
            // A window update (RFC 1122 4.2.3.3: only when it opens by a useful amount); data consumed while a read
            // batch is processed is announced by the ACK at its end.
            if (deferAck()) {
                rcv.ackAtBatchEnd = true;
                return;
            }
            rcv.ackNow = true;
            transmitPending(now);
            changed();
        }
    }

    /** True when an ACK owed now can wait for the end of the layer's read batch (which then sends it). */
    boolean deferAck() {
        return ackBatch != null && ackBatch.defer(this);
    }

    /** The read batch ended: sends the ACK owed at its end, unless a segment since carried it. */
    void batchEnd(long now) {
        if (state == TcpState.CLOSED || !rcv.ackAtBatchEnd) {
            return;
        }
        rcv.ackNow = true;
        transmitPending(now);
        changed();
    }

    /** Aborts: sends RST (RFC 9293 3.10.5 ABORT) and closes without further callbacks but {@code onClosed}. */
    public void abort(long now) {
        if (state == TcpState.CLOSED) {
            return;
        }
        if (state != TcpState.SYN_SENT && state != TcpState.TIME_WAIT) {
            sendReset(snd.sndNxt, rcv.rcvNxt, true, now);
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
        return Math.min(Math.min(Math.min(snd.rtxDeadline, snd.persistDeadline), Math.min(rcv.delAckDeadline, timeWaitDeadline)),
                Math.min(snd.keepaliveDeadline, snd.tlpDeadline));
    }

    /** Runs the timers due at {@code now}. */
    public void poll(long now) {
        if (timeWaitDeadline <= now) {
            timeWaitDeadline = NEVER;
            close();
            changed();
            return;
        }
        if (snd.rtxDeadline <= now) {
            snd.retransmitTimeout(now);
        }
        if (state != TcpState.CLOSED && snd.tlpDeadline <= now) {
            snd.tailLossProbe(now);
        }
        if (state != TcpState.CLOSED && snd.persistDeadline <= now) {
            snd.persistProbe(now);
        }
        if (state != TcpState.CLOSED && snd.keepaliveDeadline <= now) {
            snd.keepaliveProbe(now);
        }
        if (state != TcpState.CLOSED && rcv.delAckDeadline <= now) {
            rcv.ackNow = true;
        }
        if (state != TcpState.CLOSED) {
            transmitPending(now);
        }
        changed();
    }

    void abortByTimeout(long now) {
        sendReset(snd.sndNxt, rcv.rcvNxt, true, now);
        counters.aborted.inc();
        handler.onReset(this);
        close();
    }

    // ------------------------------------------------------------------------------------------------
    // Output

    /** The sender stopped because {@link #link} is full: the layer wakes it when the port drains. */
    void pausedOnLink() {
        if (!waitingForLink && linkWait != null) {
            waitingForLink = true;
            linkWait.accept(this);
        }
    }

    /** The guest's port drained: send what waited for it. */
    void linkWritable(long now) {
        if (state == TcpState.CLOSED) {
            return;
        }
        transmitPending(now);
        changed();
    }

    /** Sends whatever data, FIN and ACK the state, windows and timers call for. */
    private void transmitPending(long now) {
        snd.transmit(now);
        if (rcv.ackNow && state != TcpState.SYN_SENT && state != TcpState.CLOSED) {
            emit(TcpFlags.ACK, snd.acceptableSeq(), now);
        }
    }

    /** A reset not tied to this connection's state (e.g. answering a bad ACK in SYN-RECEIVED). */
    void sendReset(int seq, int ack, boolean withAck, long now) {
        emit(withAck ? TcpFlags.RST | TcpFlags.ACK : TcpFlags.RST, seq, now);
    }

    int tsNow(long now) {
        return (int) (now / 1_000_000L) + tsOffset;
    }

    /**
     * Builds and transmits one segment; every segment but a bare SYN carries our ACK and window. The receiver
     * state an ACK changes (the advertised edge, a pending DSACK, the delayed-ACK bookkeeping) is updated by
     * {@link TcpReceiver#advertiseWindow}, {@link TcpReceiver#fillSackBlocks} and
     * {@link TcpReceiver#ackSent}; {@link TcpSegmentWriter} only writes.
     */
    void emit(int flags, int seq, long now) {
        emit(flags, seq, 0, 0, now);
    }

    /**
     * {@link #emit(int, int, long)} carrying the {@code payloadLength} bytes that start {@code offset} bytes after
     * SND.UNA in the send buffer, copied straight into the segment.
     */
    void emit(int flags, int seq, int offset, int payloadLength, long now) {
        boolean syn = (flags & TcpFlags.SYN) != 0;
        boolean rst = (flags & TcpFlags.RST) != 0;
        boolean ack = (flags & TcpFlags.ACK) != 0;
        TcpSegmentWriter w = writer.header(localPort, remotePort, seq, ack ? rcv.rcvNxt : 0, flags, 0);
        if (syn) {
            TcpHandshake.synOptions(this, w, now);
            w.window = rcv.synWindow();
        } else if (!rst) {
            w.timestamps = tsOk;
            w.tsVal = tsNow(now);
            w.tsEcr = rcv.tsRecent;
            w.sackCount = rcv.fillSackBlocks(w.sack, tsOk ? 3 : 4, ack);
            w.window = rcv.advertiseWindow();
        }
        ByteBuf seg = w.segment(alloc, localIp, remoteIp, payloadLength == 0 ? null : snd.sndBuf, offset,
                payloadLength);
        if (ack && !rst) {
            rcv.ackSent();
        }
        counters.segmentsOut.inc();
        segmentsToPeer++;
        bytesToPeer += payloadLength;
        lastActive = now;
        output.transmit(this, seg, now);
    }

    // ------------------------------------------------------------------------------------------------
    // Closing

    void reset() {
        handler.onReset(this);
        close();
    }

    private void close() {
        if (state == TcpState.CLOSED) {
            return;
        }
        state = TcpState.CLOSED;
        snd.rtxDeadline = NEVER;
        snd.persistDeadline = NEVER;
        rcv.delAckDeadline = NEVER;
        timeWaitDeadline = NEVER;
        snd.tlpDeadline = NEVER;
        snd.keepaliveDeadline = NEVER;
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
            c = (long) rcv.rcvUser + snd.sndBuf.size();
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
        snd.sndBuf.release();
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

    /** The address the guest connected to (IPv4-mapped for IPv4). */
    public Ipv6Address localIp() {
        return localIp;
    }

    public int localPort() {
        return localPort;
    }

    /** The guest's address (IPv4-mapped for IPv4). */
    public Ipv6Address remoteIp() {
        return remoteIp;
    }

    public int remotePort() {
        return remotePort;
    }

    public int iss() {
        return snd.iss;
    }

    public int sndUna() {
        return snd.sndUna;
    }

    public int sndNxt() {
        return snd.sndNxt;
    }

    public int sndWnd() {
        return snd.sndWnd;
    }

    public int rcvNxt() {
        return rcv.rcvNxt;
    }

    public int rcvWnd() {
        return rcv.rcvAdv - rcv.rcvNxt;
    }

    public int cwnd() {
        return snd.cwnd;
    }

    public int ssthresh() {
        return snd.ssthresh;
    }

    public int effectiveMss() {
        return snd.effMss;
    }

    public boolean timestampsEnabled() {
        return tsOk;
    }

    public boolean sackEnabled() {
        return sackOk;
    }

    public int sendWindowShift() {
        return snd.sndShift;
    }

    public int receiveWindowShift() {
        return rcv.rcvShift;
    }

    public long rto() {
        return snd.rtt.rto();
    }

    public int queuedBytes() {
        return snd.sndBuf.size();
    }

    public int outOfOrderBytes() {
        return rcv.ooo.bytes();
    }

    public int unconsumedBytes() {
        return rcv.rcvUser;
    }

 /**
     * This connection as a row of the live flow table (host addresses unset: the forwarder adds them). The guest
     * is the remote end; bytes count payload only. Event loop only.
     */
    public dev.gvproxy.stack.FlowEntry flowEntry() {
        return new dev.gvproxy.stack.FlowEntry("tcp",
                key(), null, null,
                state.toString(), bytesFromPeer, segmentsFromPeer, bytesToPeer, segmentsToPeer, retransmitted,
                createdAt, lastActive);
    }

    /** This connection's key in the layer's table. */
    public dev.gvproxy.stack.ip.FlowKey key() {
        return new dev.gvproxy.stack.ip.FlowKey(remoteIp, remotePort, localIp, localPort);
    }

    /** True when this connection is the one of segments from {@code src:srcPort} to {@code dst:dstPort}. */
    boolean matches(long srcHi, long srcLo, int srcPort, long dstHi, long dstLo, int dstPort) {
        return remotePort == srcPort && localPort == dstPort && remoteIp.lo() == srcLo && localIp.lo() == dstLo
                && remoteIp.hi() == srcHi && localIp.hi() == dstHi;
    }

    /** The switch port towards the guest, or null when unknown. Event loop only. */
    public SwitchPort link() {
        return link;
    }

    @Override
    public String toString() {
        return "tcp " + key() + " " + state;
    }
}
