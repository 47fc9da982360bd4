package dev.gvproxy.dhcp;

/** Values of option 53, DHCP message type (RFC 2132 section 9.6). An open set of ints. */
public final class DhcpMessageType {
    public static final int DISCOVER = 1;
    public static final int OFFER = 2;
    public static final int REQUEST = 3;
    public static final int DECLINE = 4;
    public static final int ACK = 5;
    public static final int NAK = 6;
    public static final int RELEASE = 7;
    public static final int INFORM = 8;

    private DhcpMessageType() {}

    /** Upper-case name, or {@code TYPE<n>} for values this server does not know. */
    public static String name(int type) {
        return switch (type) {
            case DISCOVER -> "DISCOVER";
            case OFFER -> "OFFER";
            case REQUEST -> "REQUEST";
            case DECLINE -> "DECLINE";
            case ACK -> "ACK";
            case NAK -> "NAK";
            case RELEASE -> "RELEASE";
            case INFORM -> "INFORM";
            default -> "TYPE" + type;
        };
    }
}
