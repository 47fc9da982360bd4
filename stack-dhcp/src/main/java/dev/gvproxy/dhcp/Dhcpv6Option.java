package dev.gvproxy.dhcp;

/**
 * DHCPv6 message types, option codes, status codes and DUID types (RFC 8415 sections 7, 11, 21; RFC 3646 for
 * options 23 and 24) that the server reads or writes.
 */
public final class Dhcpv6Option {
    private Dhcpv6Option() {}

    // Message types (RFC 8415 section 7.3).
    public static final int SOLICIT = 1;
    public static final int ADVERTISE = 2;
    public static final int REQUEST = 3;
    public static final int CONFIRM = 4;
    public static final int RENEW = 5;
    public static final int REBIND = 6;
    public static final int REPLY = 7;
    public static final int RELEASE = 8;
    public static final int DECLINE = 9;
    public static final int RECONFIGURE = 10;
    public static final int INFORMATION_REQUEST = 11;
    public static final int RELAY_FORW = 12;
    public static final int RELAY_REPL = 13;

    // Option codes.
    public static final int CLIENTID = 1;
    public static final int SERVERID = 2;
    public static final int IA_NA = 3;
    public static final int IA_TA = 4;
    public static final int IAADDR = 5;
    public static final int ORO = 6;
    public static final int PREFERENCE = 7;
    public static final int ELAPSED_TIME = 8;
    public static final int STATUS_CODE = 13;
    public static final int RAPID_COMMIT = 14;
    public static final int DNS_SERVERS = 23;
    public static final int DOMAIN_LIST = 24;
    public static final int IA_PD = 25;
    public static final int INFORMATION_REFRESH_TIME = 32;

    // Status codes (RFC 8415 section 21.13).
    public static final int STATUS_SUCCESS = 0;
    public static final int STATUS_UNSPEC_FAIL = 1;
    public static final int STATUS_NO_ADDRS_AVAIL = 2;
    public static final int STATUS_NO_BINDING = 3;
    public static final int STATUS_NOT_ON_LINK = 4;
    public static final int STATUS_USE_MULTICAST = 5;

    // DUID types (RFC 8415 section 11).
    public static final int DUID_LLT = 1;
    public static final int DUID_EN = 2;
    public static final int DUID_LL = 3;
    public static final int DUID_UUID = 4;
    /** Ethernet in a DUID's hardware type (IANA ARP hardware type 1). */
    public static final int HWTYPE_ETHERNET = 1;
    /** RFC 8415 section 11.1: a DUID is at most 128 octets, plus its 2-octet type. */
    public static final int MAX_DUID_LEN = 130;
}
