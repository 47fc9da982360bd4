package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.wire.SeqNum.gt;
import static dev.gvproxy.stack.wire.SeqNum.le;
import static dev.gvproxy.stack.wire.SeqNum.lt;

import dev.gvproxy.stack.wire.TcpOptions;
import dev.gvproxy.stack.wire.TcpSegmentWriter;

/**
 * Opening a {@link TcpConnection}: the passive and active OPEN (RFC 9293 3.10.1, 3.10.7.2), SEGMENT ARRIVES in
 * SYN-SENT (3.10.7.3), the ACK that completes SYN-RECEIVED, and the negotiation of the SYN options (MSS, window
 * scale and timestamps per RFC 7323, SACK-permitted per RFC 2018). Stateless: it sets the connection's state
 * and the initial values of its two halves, as gVisor keeps its handshake apart from the established
 * endpoint.
 */
final class TcpHandshake {
    static final int DEFAULT_PEER_MSS = 536; // RFC 9293 3.7.1

    private TcpHandshake() {}

    static void passiveOpen(TcpConnection c, TcpSegment syn, long now) {
        TcpSender snd = c.snd;
        TcpReceiver rcv = c.rcv;
        c.passiveOpen = true;
        rcv.irs = syn.seq;
        rcv.rcvNxt = rcv.irs + 1;
        negotiate(c, syn);
        if (syn.hasTimestamps && c.tsOk) {
            rcv.tsRecent = syn.tsVal;
        }
        snd.sndWnd = syn.window; // never scaled in a SYN (RFC 7323 2.2)
        snd.maxSndWnd = snd.sndWnd;
        snd.sndWl1 = syn.seq;
        snd.sndWl2 = snd.iss;
        snd.sndUna = snd.iss;
        snd.sndNxt = snd.iss;
        snd.sndMax = snd.iss;
        c.state = TcpState.SYN_RECEIVED;
        snd.sendSyn(true, now);
    }

    static void activeOpen(TcpConnection c, long now) {
        TcpSender snd = c.snd;
        snd.sndUna = snd.iss;
        snd.sndNxt = snd.iss;
        snd.sndMax = snd.iss;
        c.rcv.rcvShift = 0; // our SYN's window is never scaled; the shift applies once the peer agrees
        snd.effMss = Math.min(c.mss, c.defaultPeerMss());
        c.state = TcpState.SYN_SENT;
        snd.sendSyn(false, now);
    }

    private static void negotiate(TcpConnection c, TcpSegment syn) {
        TcpConfig cfg = c.cfg;
        int peerMss = syn.mss > 0 ? syn.mss : c.defaultPeerMss();
        c.wsOk = syn.windowScale >= 0 && cfg.windowScale() >= 0;
        if (c.wsOk) {
            c.snd.sndShift = Math.min(syn.windowScale, TcpOptions.MAX_WINDOW_SCALE);
            c.rcv.rcvShift = cfg.windowScale();
        } else {
            c.snd.sndShift = 0;
            c.rcv.rcvShift = 0;
        }
        c.tsOk = cfg.timestamps() && syn.hasTimestamps;
        c.sackOk = cfg.sack() && syn.sackPermitted;
        int effMss = Math.max(64, Math.min(peerMss, c.mss) - (c.tsOk ? 12 : 0));
        c.snd.effMss = effMss;
        c.snd.cwnd = Math.min(10 * effMss, Math.max(2 * effMss, 14600)); // RFC 6928 initial window
    }

    /**
     * The options of our SYN or SYN-ACK: MSS; timestamps and SACK-permitted when configured and, on a passive
     * open, offered by the peer; window scale when configured and (passive) offered (RFC 7323 1.3).
     */
    static void synOptions(TcpConnection c, TcpSegmentWriter w, long now) {
        TcpConfig cfg = c.cfg;
        w.mss = c.mss;
        w.timestamps = cfg.timestamps() && (!c.passiveOpen || c.tsOk);
        w.sackPermitted = cfg.sack() && (!c.passiveOpen || c.sackOk);
        w.tsVal = c.tsNow(now);
        w.tsEcr = c.passiveOpen ? c.rcv.tsRecent : 0;
        w.windowScale = cfg.windowScale() >= 0 && c.wsOk ? cfg.windowScale() : -1;
    }

    /** SEGMENT ARRIVES in SYN-SENT (RFC 9293 3.10.7.3). */
    static void synSent(TcpConnection c, TcpSegment seg, long now) {
        TcpSender snd = c.snd;
        TcpReceiver rcv = c.rcv;
        boolean ackOk = false;
        if (seg.ackFlag()) {
            if (le(seg.ack, snd.iss) || gt(seg.ack, snd.sndMax)) {
                if (!seg.rst()) {
                    c.sendReset(seg.ack, 0, false, now);
                }
                c.counters.badSynAck.inc();
                return;
            }
            ackOk = true;
        }
        if (seg.rst()) {
            if (ackOk) {
                c.counters.resetsReceived.inc();
                c.reset();
            }
            return;
        }
        if (!seg.syn()) {
            return;
        }
        rcv.irs = seg.seq;
        rcv.rcvNxt = rcv.irs + 1;
        negotiate(c, seg);
        rcv.rcvAdv = rcv.rcvNxt + Math.min(65535, c.cfg.receiveBuffer()); // what our SYN offered, unscaled
        rcv.rcvAdvMax = rcv.rcvAdv;
        if (seg.hasTimestamps && c.tsOk) {
            rcv.tsRecent = seg.tsVal;
        }
        if (ackOk) {
            snd.synAcked(seg.ack, seg.window, seg, now); // a SYN-ACK's window is never scaled
            c.state = TcpState.ESTABLISHED;
            rcv.ackNow = true;
            snd.startKeepalive(now);
            c.handler.onEstablished(c);
        } else {
            // Simultaneous open (RFC 9293 3.5, figure 8).
            c.state = TcpState.SYN_RECEIVED;
            snd.sndNxt = snd.iss;
            snd.sendSyn(true, now);
        }
    }

    /**
     * The ACK field in SYN-RECEIVED (RFC 9293 3.10.7.4, fifth step): an acceptable ACK establishes the
     * connection, any other is answered with a reset. False when segment processing stops here.
     */
    static boolean synReceivedAck(TcpConnection c, TcpSegment seg, long now) {
        TcpSender snd = c.snd;
        if (lt(snd.sndUna, seg.ack) && le(seg.ack, snd.sndMax)) {
            c.state = TcpState.ESTABLISHED;
            snd.rtt.resetBackoff();
            snd.synAcked(snd.iss + 1, seg.window << snd.sndShift, seg, now);
            c.handler.onEstablished(c);
            return c.state != TcpState.CLOSED;
        }
        c.sendReset(seg.ack, 0, false, now);
        return false;
    }
}
