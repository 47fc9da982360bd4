package dev.gvproxy.dhcp;

/**
 * DHCP option codes (RFC 2132 and successors). An open set: codes are plain {@code int}s, and these
 * constants only give names; unknown options in a request are skipped, never an error.
 */
public final class DhcpOption {
    public static final int PAD = 0;
    public static final int SUBNET_MASK = 1;
    public static final int ROUTER = 3;
    public static final int DNS_SERVERS = 6;
    public static final int HOST_NAME = 12;
    public static final int DOMAIN_NAME = 15;
    public static final int INTERFACE_MTU = 26;
    public static final int BROADCAST_ADDRESS = 28;
    public static final int REQUESTED_IP = 50;
    public static final int LEASE_TIME = 51;
    /** Option overload: 1 = options continue in {@code file}, 2 = in {@code sname}, 3 = both. */
    public static final int OVERLOAD = 52;
    public static final int MESSAGE_TYPE = 53;
    public static final int SERVER_ID = 54;
    public static final int PARAMETER_REQUEST_LIST = 55;
    public static final int MESSAGE = 56;
    public static final int MAX_MESSAGE_SIZE = 57;
    /** T1. */
    public static final int RENEWAL_TIME = 58;
    /** T2. */
    public static final int REBINDING_TIME = 59;
    public static final int CLIENT_ID = 61;
    /** Relay agent information (RFC 3046), echoed back. */
    public static final int RELAY_AGENT_INFO = 82;
    /** Domain search list (RFC 3397). */
    public static final int DOMAIN_SEARCH = 119;
    public static final int END = 255;

    private DhcpOption() {}
}
