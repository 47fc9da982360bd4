package dev.gvproxy.stack.tcp;

/** The connection states of RFC 9293 section 3.3.2 (LISTEN is the forwarder's SYN gate, not a state here). */
public enum TcpState {
    CLOSED("CLOSED"),
    SYN_SENT("SYN-SENT"),
    SYN_RECEIVED("SYN-RECEIVED"),
    ESTABLISHED("ESTABLISHED"),
    FIN_WAIT_1("FIN-WAIT-1"),
    FIN_WAIT_2("FIN-WAIT-2"),
    CLOSE_WAIT("CLOSE-WAIT"),
    CLOSING("CLOSING"),
    LAST_ACK("LAST-ACK"),
    TIME_WAIT("TIME-WAIT");

    private final String rfcName;

    TcpState(String rfcName) {
        this.rfcName = rfcName;
    }

    /** True once the three-way handshake completed (RFC 9293 "synchronized states"). */
    public boolean synchronizedState() {
        return ordinal() >= ESTABLISHED.ordinal();
    }

    /** States in which data from the peer is still accepted. */
    public boolean receivesData() {
        return this == ESTABLISHED || this == FIN_WAIT_1 || this == FIN_WAIT_2;
    }

    @Override
    public String toString() {
        return rfcName;
    }
}
