package dev.gvproxy.stack.tcp;

/**
 * Tunables of the gateway's TCP (all times in nanoseconds). Defaults follow Linux where the RFCs leave
 * room: the virtual link is a memory copy away, so the minimum RTO is Linux's 200 ms rather than RFC
 * 6298's conservative 1 s.
 *
 * @param mss our MSS (MTU - 40)
 * @param receiveBuffer bytes the peer may have in flight towards us: delivered-but-unconsumed plus window
 * @param sendBuffer bytes the application may queue for the peer, acknowledged or not
 * @param windowScale shift we offer (RFC 7323); enough for {@code receiveBuffer}
 * @param timestamps offer RFC 7323 timestamps
 * @param sack offer RFC 2018 SACK
 * @param initialRto RFC 6298 (2.1): 1 s
 * @param minRto lower bound of the RTO: 50 ms. RFC 6298 asks for 1 s and Linux uses 200 ms, floors chosen
 *     for WAN paths; a guest link is a memory copy away (sub-millisecond RTT, a few ms under load), and a
 *     spurious timeout is undone when the peer's DSACK proves it (RFC 2883), so a lower floor recovers tail
 *     losses several times faster at little risk
 * @param maxRto upper bound of the RTO (RFC 6298 (2.5) allows >= 60 s)
 * @param delayedAck RFC 1122 4.2.3.2 / RFC 9293: at most 500 ms; Linux uses 40 ms
 * @param timeWait how long TIME-WAIT lasts (2 MSL); short, since the virtual link cannot hold old segments
 * @param maxRetransmissions retransmissions of one segment before the connection is aborted
 * @param synRetransmissions SYN or SYN-ACK retransmissions before giving up
 * @param keepaliveIdle idle time before keepalive probes start, 0 = keepalive off
 * @param keepaliveInterval time between probes
 * @param keepaliveCount unanswered probes before the connection is aborted
 * @param maxOutOfOrderSegments bound on segments held for reassembly
 */
public record TcpConfig(
        int mss,
        int receiveBuffer,
        int sendBuffer,
        int windowScale,
        boolean timestamps,
        boolean sack,
        long initialRto,
        long minRto,
        long maxRto,
        long delayedAck,
        long timeWait,
        int maxRetransmissions,
        int synRetransmissions,
        long keepaliveIdle,
        long keepaliveInterval,
        int keepaliveCount,
        int maxOutOfOrderSegments) {

    static final long MS = 1_000_000L;
    static final long SECOND = 1_000_000_000L;

    /**
     * Defaults for an MTU. The out-of-order queue can hold a whole receive window of MSS-sized segments (less
     * timestamps): one lost frame in a full window must not make every later segment of that window be dropped
     * and resent (that turned single TAP drops into seconds of go-back-N at MTU 1500).
     */
    public static TcpConfig forMtu(int mtu) {
        int mss = mtu - 40;
        int rcv = Math.max(4 << 20, 64 * mss);
        return new TcpConfig(mss, rcv, rcv, shiftFor(rcv), true, true, SECOND, 50 * MS, 60 * SECOND, 40 * MS,
                2 * SECOND, 15, 6, 0, 75 * SECOND, 9, Math.max(256, rcv / Math.max(1, mss - 12) + 16));
    }

    /** Smallest shift that lets a 16-bit window field describe {@code bytes}. */
    static int shiftFor(int bytes) {
        int shift = 0;
        while (shift < 14 && (65535L << shift) < bytes) {
            shift++;
        }
        return shift;
    }

    public TcpConfig withBuffers(int receive, int send) {
        return new TcpConfig(mss, receive, send, shiftFor(receive), timestamps, sack, initialRto, minRto, maxRto,
                delayedAck, timeWait, maxRetransmissions, synRetransmissions, keepaliveIdle, keepaliveInterval,
                keepaliveCount, maxOutOfOrderSegments);
    }

    public TcpConfig withOptions(boolean timestamps, boolean sack, int windowScale) {
        return new TcpConfig(mss, receiveBuffer, sendBuffer, windowScale, timestamps, sack, initialRto, minRto, maxRto,
                delayedAck, timeWait, maxRetransmissions, synRetransmissions, keepaliveIdle, keepaliveInterval,
                keepaliveCount, maxOutOfOrderSegments);
    }

    public TcpConfig withKeepalive(long idle, long interval, int count) {
        return new TcpConfig(mss, receiveBuffer, sendBuffer, windowScale, timestamps, sack, initialRto, minRto, maxRto,
                delayedAck, timeWait, maxRetransmissions, synRetransmissions, idle, interval, count,
                maxOutOfOrderSegments);
    }
}
