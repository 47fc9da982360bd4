package dev.gvproxy.stack;

/**
 * What a guest may claim on the virtual link (DESIGN.md "The guest is untrusted"): how many source MACs the
 * switch learns per port and in total, how long a silent MAC stays learned, and whether IPv4 sources must be
 * exactly the address the guest was given.
 *
 * @param macsPerPort source MACs learned per switch port (a VM has one; containers bridged inside it a few);
 *     frames from further MACs are dropped and counted as {@code switch.portMacLimit}
 * @param macsTotal source MACs learned on the whole switch; beyond it {@code switch.camFull}
 * @param macAgeingNanos a MAC not heard from for this long is forgotten (and may then appear on another port),
 *     300 s like a hardware switch
 * @param strictSource when true, a guest's IPv4 source (and ARP sender) must be the address leased or
 *     statically assigned to its MAC ({@code 0.0.0.0} only for DHCP); when false, any subnet address that
 *     nobody else holds
 */
public record PortSecurity(int macsPerPort, int macsTotal, long macAgeingNanos, boolean strictSource) {
    public static final int DEFAULT_MACS_PER_PORT = 32;
    public static final int DEFAULT_MACS_TOTAL = 4096;
    public static final long DEFAULT_MAC_AGEING_NANOS = 300_000_000_000L;

    public PortSecurity {
        if (macsPerPort < 1 || macsTotal < 1) {
            throw new IllegalArgumentException("MAC limits must be at least 1");
        }
        if (macAgeingNanos < 1_000_000_000L) {
            throw new IllegalArgumentException("MAC ageing time must be at least 1 s");
        }
    }

    public static PortSecurity defaults() {
        return new PortSecurity(DEFAULT_MACS_PER_PORT, DEFAULT_MACS_TOTAL, DEFAULT_MAC_AGEING_NANOS, false);
    }

    public PortSecurity withMacsPerPort(int n) {
        return new PortSecurity(n, macsTotal, macAgeingNanos, strictSource);
    }

    public PortSecurity withMacsTotal(int n) {
        return new PortSecurity(macsPerPort, n, macAgeingNanos, strictSource);
    }

    public PortSecurity withMacAgeingNanos(long n) {
        return new PortSecurity(macsPerPort, macsTotal, n, strictSource);
    }

    public PortSecurity withStrictSource(boolean strict) {
        return new PortSecurity(macsPerPort, macsTotal, macAgeingNanos, strict);
    }
}
