package dev.gvproxy.stack.wire;

/**
 * EtherType values (IEEE 802.3 / IANA). An open set: any 16-bit value may appear in a frame and is carried as a
 * plain {@code int}; these are the ones the stack knows by name.
 */
public final class EtherType {
    public static final int IPV4 = 0x0800;
    public static final int ARP = 0x0806;
    public static final int VLAN = 0x8100;
    public static final int IPV6 = 0x86DD;

    private EtherType() {}

    /** A readable name: {@code IPv4}, {@code ARP}, ... or {@code 0x88cc} for values without one. Never throws. */
    public static String name(int etherType) {
        return switch (etherType) {
            case IPV4 -> "IPv4";
            case ARP -> "ARP";
            case VLAN -> "VLAN";
            case IPV6 -> "IPv6";
            default -> String.format("0x%04x", etherType & 0xFFFF);
        };
    }
}
