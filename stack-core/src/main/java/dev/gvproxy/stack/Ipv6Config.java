package dev.gvproxy.stack;

import dev.gvproxy.stack.wire.Ipv6Address;
import java.util.List;

/**
 * The IPv6 side of a virtual network: one /64 on the link, the gateway's addresses in it, and what its router
 * advertisements say. Part of {@link StackConfig}; build with {@link #builder()}.
 *
 * <p>Default prefix {@code fd00:5a94:efe4::/64}: a unique local prefix (RFC 4193 {@code fd00::/8}) whose global
 * ID is taken from the default gateway MAC's first bytes, fixed like IPv4's 192.168.127.0/24 so guests and
 * port forwards see the same addresses on every run. Addresses derive from the prefix as upstream's config code
 * does for IPv6 subnets (spec 7.2: {@code fc00::fff/64} gives gateway {@code fc00::1}, host alias
 * {@code fc00::ffff:ffff:ffff:fffe}, device {@code fc00::2}): gateway = prefix + 1, device = gateway + 1, host
 * alias = the last address - 1. The gateway also holds the link-local {@code fe80::1}, the address its router
 * advertisements come from and guests route through.
 *
 * @param enabled whether the stack speaks IPv6 at all (off: IPv6 frames are counted as {@code eth.ipv6} and
 *                dropped, as before)
 * @param prefix the link's /64 (canonical: the interface-identifier half zero)
 * @param gateway the gateway's address in the prefix (default prefix::1); also the RDNSS address
 * @param linkLocal the gateway's link-local address (default fe80::1)
 * @param hostAlias the address mapped to the host's loopback (default prefix:ffff:ffff:ffff:fffe)
 * @param device the first guest's address (default prefix::2; a DHCPv6 static lease)
 * @param raMaxIntervalNanos MaxRtrAdvInterval (RFC 4861 6.2.1, default 600 s, 4..1800 s)
 * @param raMinIntervalNanos MinRtrAdvInterval (default 0.33 * max, at least 3 s)
 * @param routerLifetimeSeconds AdvDefaultLifetime (default 3 * max = 1800 s; 0 = not a default router)
 * @param managed the RA's M flag: addresses from DHCPv6 too (default false: SLAAC gives addresses)
 * @param otherConfig the RA's O flag: other configuration (DNS) from DHCPv6 (default true, so a stateless
 *                    DHCPv6 client asks; RDNSS/DNSSL in the RA carry the same for clients without DHCPv6)
 * @param searchDomains the DNSSL option's domains (RFC 8106; none = no DNSSL option)
 * @param maxNeighbors bound on the IPv6 neighbour cache (learned guest addresses); beyond it nothing new is
 *                     learned ({@code ndp.cacheFull})
 * @param maxNeighborsPerMac addresses one MAC may have in the neighbour cache (default 16; {@code ndp.perMacLimit})
 * @param maxExtensionHeaders extension headers walked per packet before it is dropped
 * @param icmpErrorsPerSecond ICMPv6 errors the gateway sends per second at most (RFC 4443 2.4 (f))
 */
public record Ipv6Config(
        boolean enabled,
        Ipv6Address prefix,
        Ipv6Address gateway,
        Ipv6Address linkLocal,
        Ipv6Address hostAlias,
        Ipv6Address device,
        long raMaxIntervalNanos,
        long raMinIntervalNanos,
        int routerLifetimeSeconds,
        boolean managed,
        boolean otherConfig,
        List<String> searchDomains,
        int maxNeighbors,
        int maxNeighborsPerMac,
        int maxExtensionHeaders,
        int icmpErrorsPerSecond) {

    public static final String DEFAULT_PREFIX = "fd00:5a94:efe4::/64";
    public static final Ipv6Address DEFAULT_LINK_LOCAL = Ipv6Address.parse("fe80::1");
    private static final long SECOND = 1_000_000_000L;

    public Ipv6Config {
        searchDomains = List.copyOf(searchDomains);
        if (!prefix.equals(prefix.prefix(64))) {
            throw new IllegalArgumentException("IPv6 prefix must be a /64 network: " + prefix);
        }
        for (Ipv6Address a : new Ipv6Address[] {gateway, hostAlias, device}) {
            if (!a.inPrefix(prefix, 64) || a.equals(prefix)) {
                throw new IllegalArgumentException("IPv6 address " + a + " not a host in " + prefix + "/64");
            }
        }
        if (gateway.equals(device) || gateway.equals(hostAlias) || device.equals(hostAlias)) {
            throw new IllegalArgumentException("IPv6 gateway, device and host alias addresses need to be distinct");
        }
        if (!linkLocal.isLinkLocal()) {
            throw new IllegalArgumentException("IPv6 gateway link-local address not in fe80::/10: " + linkLocal);
        }
        if (raMaxIntervalNanos < 4 * SECOND || raMaxIntervalNanos > 1800 * SECOND
                || raMinIntervalNanos < 3 * SECOND || raMinIntervalNanos > raMaxIntervalNanos * 3 / 4) {
            throw new IllegalArgumentException("RA intervals out of RFC 4861 6.2.1 range");
        }
        if (routerLifetimeSeconds < 0 || routerLifetimeSeconds > 9000) {
            throw new IllegalArgumentException("router lifetime must be 0..9000 s: " + routerLifetimeSeconds);
        }
        if (maxNeighbors < 1 || maxNeighborsPerMac < 1 || maxExtensionHeaders < 1 || icmpErrorsPerSecond < 0) {
            throw new IllegalArgumentException("IPv6 limits must be positive");
        }
    }

    /** True for the addresses the gateway itself holds: link-local, gateway and host alias. */
    public boolean isGatewayAddress(Ipv6Address a) {
        return enabled && (a.equals(gateway) || a.equals(linkLocal) || a.equals(hostAlias));
    }

    /** True for addresses on the link: the prefix and link-local. */
    public boolean onLink(Ipv6Address a) {
        return a.isLinkLocal() || a.inPrefix(prefix, 64);
    }

    public static Ipv6Config defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.enabled = enabled;
        b.prefix = prefix + "/64";
        b.gateway = gateway;
        b.linkLocal = linkLocal;
        b.hostAlias = hostAlias;
        b.device = device;
        b.raMaxIntervalNanos = raMaxIntervalNanos;
        b.raMinIntervalNanos = raMinIntervalNanos;
        b.routerLifetimeSeconds = routerLifetimeSeconds;
        b.managed = managed;
        b.otherConfig = otherConfig;
        b.searchDomains = searchDomains;
        b.maxNeighbors = maxNeighbors;
        b.maxNeighborsPerMac = maxNeighborsPerMac;
        b.maxExtensionHeaders = maxExtensionHeaders;
        b.icmpErrorsPerSecond = icmpErrorsPerSecond;
        return b;
    }

    /** Builder; unset addresses derive from the prefix, unset RA timings from the maximum interval. */
    public static final class Builder {
        private boolean enabled = true;
        private String prefix = DEFAULT_PREFIX;
        private Ipv6Address gateway;
        private Ipv6Address linkLocal = DEFAULT_LINK_LOCAL;
        private Ipv6Address hostAlias;
        private Ipv6Address device;
        private long raMaxIntervalNanos = 600 * SECOND;
        private Long raMinIntervalNanos;
        private Integer routerLifetimeSeconds;
        private boolean managed;
        private boolean otherConfig = true;
        private List<String> searchDomains = List.of();
        private int maxNeighbors = 1024;
        private int maxNeighborsPerMac = 16;
        private int maxExtensionHeaders = 8;
        private int icmpErrorsPerSecond = 100;

        public Builder enabled(boolean on) {
            this.enabled = on;
            return this;
        }

        /**
         * The link's prefix as {@code address/64}; any address inside it works ({@code fc00::fff/64} means
         * {@code fc00::/64}). Derived addresses not set explicitly are reset.
         */
        public Builder prefix(String cidr) {
            this.prefix = cidr;
            return this;
        }

        public Builder gateway(Ipv6Address a) {
            this.gateway = a;
            return this;
        }

        public Builder linkLocal(Ipv6Address a) {
            this.linkLocal = a;
            return this;
        }

        public Builder hostAlias(Ipv6Address a) {
            this.hostAlias = a;
            return this;
        }

        public Builder device(Ipv6Address a) {
            this.device = a;
            return this;
        }

        /** MaxRtrAdvInterval; the minimum (unless set) becomes a third of it, the router lifetime three times. */
        public Builder raMaxInterval(long nanos) {
            this.raMaxIntervalNanos = nanos;
            return this;
        }

        public Builder raMinInterval(long nanos) {
            this.raMinIntervalNanos = nanos;
            return this;
        }

        public Builder routerLifetimeSeconds(int s) {
            this.routerLifetimeSeconds = s;
            return this;
        }

        public Builder managed(boolean m) {
            this.managed = m;
            return this;
        }

        public Builder otherConfig(boolean o) {
            this.otherConfig = o;
            return this;
        }

        public Builder searchDomains(List<String> domains) {
            this.searchDomains = domains;
            return this;
        }

        public Builder maxNeighbors(int n) {
            this.maxNeighbors = n;
            return this;
        }

        public Builder maxNeighborsPerMac(int n) {
            this.maxNeighborsPerMac = n;
            return this;
        }

        public Builder maxExtensionHeaders(int n) {
            this.maxExtensionHeaders = n;
            return this;
        }

        public Builder icmpErrorsPerSecond(int n) {
            this.icmpErrorsPerSecond = n;
            return this;
        }

        public Ipv6Config build() {
            int slash = prefix.indexOf('/');
            if (slash < 0 || !prefix.substring(slash + 1).equals("64")) {
                throw new IllegalArgumentException("IPv6 prefix must be given as address/64: " + prefix);
            }
            Ipv6Address net = Ipv6Address.parse(prefix.substring(0, slash)).prefix(64);
            Ipv6Address gw = gateway != null ? gateway : new Ipv6Address(net.hi(), 1);
            Ipv6Address dev = device != null ? device : new Ipv6Address(gw.hi(), gw.lo() + 1);
            Ipv6Address host = hostAlias != null ? hostAlias : new Ipv6Address(net.hi(), 0xFFFF_FFFF_FFFF_FFFEL);
            // The gateway, host alias and first guest live on the link: the gateway answers neighbour solicitations
            // for the first two, and SLAAC guests and DHCPv6 leases take addresses from the same /64.
            for (Ipv6Address a : new Ipv6Address[] {gw, host, dev}) {
                if (!a.inPrefix(net, 64) || a.equals(net)) {
                    throw new IllegalArgumentException("IPv6 address " + a + " is not a host address in the prefix "
                            + net + "/64");
                }
            }
            if (gw.equals(host) || gw.equals(dev) || host.equals(dev)) {
                throw new IllegalArgumentException("IPv6 gateway " + gw + ", host alias " + host + " and device " + dev
                        + " must differ");
            }
            long min = raMinIntervalNanos != null ? raMinIntervalNanos : Math.max(3 * SECOND, raMaxIntervalNanos / 3);
            int lifetime = routerLifetimeSeconds != null ? routerLifetimeSeconds
                    : (int) Math.min(9000, 3 * (raMaxIntervalNanos / SECOND));
            return new Ipv6Config(enabled, net, gw, linkLocal, host, dev, raMaxIntervalNanos, min, lifetime, managed,
                    otherConfig, searchDomains, maxNeighbors, maxNeighborsPerMac, maxExtensionHeaders, icmpErrorsPerSecond);
        }
    }
}
