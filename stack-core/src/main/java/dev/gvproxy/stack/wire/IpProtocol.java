package dev.gvproxy.stack.wire;

/** IP protocol numbers (IANA). An open set carried as {@code int}; unknown numbers are just values. */
public final class IpProtocol {
    public static final int ICMP = 1;
    public static final int TCP = 6;
    public static final int UDP = 17;
    public static final int ICMPV6 = 58;

    private IpProtocol() {}

    /** {@code ICMP}, {@code TCP}, {@code UDP}, ... or the decimal number. Never throws. */
    public static String name(int protocol) {
        return switch (protocol) {
            case ICMP -> "ICMP";
            case TCP -> "TCP";
            case UDP -> "UDP";
            case ICMPV6 -> "ICMPv6";
            default -> Integer.toString(protocol & 0xFF);
        };
    }
}
