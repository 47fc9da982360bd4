package dev.gvproxy.dhcp;

import dev.gvproxy.stack.Ipv6Config;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Ipv6Address;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * DHCPv6 server settings. Build with {@link #builder(StackConfig)} (defaults derived from the network's
 * {@link Ipv6Config}) or {@link #defaults(StackConfig)}.
 *
 * @param leaseTimeSeconds valid and preferred lifetime of an address (default 3600); T1/T2 are 50%/80% of it
 * @param dnsServers option 23, default the gateway's IPv6 address (where the DNS server listens)
 * @param searchDomains option 24, default the RA's DNSSL domains; omitted when empty
 * @param staticByDuid DUID (lower-case hex, no separators) -> address; wins over {@code staticByMac}
 * @param staticByMac MAC -> address, matched against the MAC in a DUID-LL/DUID-LLT or else the frame's source
 *     MAC; default: the IPv4 device lease's MAC gets {@link Ipv6Config#device()}
 * @param poolStart first dynamically leased address (default prefix::1:0)
 * @param poolEnd last dynamically leased address (default prefix::1:ffff, 65,536 addresses in the /64)
 * @param maxLeases dynamic leases held at once (default 4096); beyond it a client gets NoAddrsAvail
 *     ({@code dhcpv6.leaseLimit})
 * @param rapidCommit answer a Solicit carrying Rapid Commit (option 14) with a committed Reply (default true)
 * @param declineQuarantineNanos how long a declined address is not leased again (default 10 min)
 */
public record Dhcpv6Config(
        long leaseTimeSeconds,
        List<Ipv6Address> dnsServers,
        List<String> searchDomains,
        Map<String, Ipv6Address> staticByDuid,
        Map<Long, Ipv6Address> staticByMac,
        Ipv6Address poolStart,
        Ipv6Address poolEnd,
        int maxLeases,
        boolean rapidCommit,
        long declineQuarantineNanos) {

    public static final long DEFAULT_LEASE_SECONDS = 3600;
    public static final int DEFAULT_MAX_LEASES = 4096;
    public static final long DEFAULT_DECLINE_QUARANTINE_NANOS = 600_000_000_000L;

    public Dhcpv6Config {
        if (leaseTimeSeconds < 1 || leaseTimeSeconds > 0xFFFF_FFFEL) {
            throw new IllegalArgumentException("DHCPv6 lease time out of range: " + leaseTimeSeconds);
        }
        dnsServers = List.copyOf(dnsServers);
        List<String> domains = new ArrayList<>();
        for (String d : searchDomains) {
            String n = DomainNames.normalize(d);
            if (!n.isEmpty()) {
                domains.add(n);
            }
        }
        searchDomains = List.copyOf(domains);
        Map<String, Ipv6Address> byDuid = new LinkedHashMap<>();
        staticByDuid.forEach((k, v) -> byDuid.put(normalizeDuid(k), v));
        staticByDuid = Map.copyOf(byDuid);
        staticByMac = Map.copyOf(staticByMac);
        if (poolStart.hi() != poolEnd.hi() || Long.compareUnsigned(poolStart.lo(), poolEnd.lo()) > 0) {
            throw new IllegalArgumentException("DHCPv6 pool must be a non-empty range in one /64: " + poolStart
                    + " - " + poolEnd);
        }
        if (maxLeases < 1 || declineQuarantineNanos < 0) {
            throw new IllegalArgumentException("DHCPv6 limits must be positive");
        }
    }

    /** A DUID as written in config: hex, with or without {@code :} or {@code -} separators. */
    public static String normalizeDuid(String duid) {
        String hex = duid.replace(":", "").replace("-", "").toLowerCase(Locale.ROOT);
        byte[] b = HexFormat.of().parseHex(hex);
        if (b.length < 2 || b.length > Dhcpv6Option.MAX_DUID_LEN) {
            throw new IllegalArgumentException("DUID must be 2..130 bytes: " + duid);
        }
        return hex;
    }

    public static Dhcpv6Config defaults(StackConfig net) {
        return builder(net).build();
    }

    public static Builder builder(StackConfig net) {
        return new Builder(net);
    }

    /** Builder; every setting defaults from the {@link StackConfig} it was made from. */
    public static final class Builder {
        private final StackConfig net;
        private long leaseTimeSeconds = DEFAULT_LEASE_SECONDS;
        private List<Ipv6Address> dnsServers;
        private List<String> searchDomains;
        private final Map<String, Ipv6Address> staticByDuid = new LinkedHashMap<>();
        private Map<Long, Ipv6Address> staticByMac;
        private Ipv6Address poolStart;
        private Ipv6Address poolEnd;
        private int maxLeases = DEFAULT_MAX_LEASES;
        private boolean rapidCommit = true;
        private long declineQuarantineNanos = DEFAULT_DECLINE_QUARANTINE_NANOS;

        Builder(StackConfig net) {
            this.net = net;
        }

        public Builder leaseTimeSeconds(long s) {
            this.leaseTimeSeconds = s;
            return this;
        }

        public Builder dnsServers(List<Ipv6Address> servers) {
            this.dnsServers = servers;
            return this;
        }

        public Builder searchDomains(List<String> domains) {
            this.searchDomains = domains;
            return this;
        }

        /** A fixed address for a DUID (hex, separators allowed). */
        public Builder staticLease(String duid, Ipv6Address address) {
            staticByDuid.put(duid, address);
            return this;
        }

        /** Replaces the MAC reservations (the default holds the device's). */
        public Builder staticByMac(Map<Long, Ipv6Address> leases) {
            this.staticByMac = new LinkedHashMap<>(leases);
            return this;
        }

        public Builder pool(Ipv6Address first, Ipv6Address last) {
            this.poolStart = first;
            this.poolEnd = last;
            return this;
        }

        public Builder maxLeases(int n) {
            this.maxLeases = n;
            return this;
        }

        public Builder rapidCommit(boolean on) {
            this.rapidCommit = on;
            return this;
        }

        public Builder declineQuarantineNanos(long n) {
            this.declineQuarantineNanos = n;
            return this;
        }

        public Dhcpv6Config build() {
            Ipv6Config v6 = net.ipv6();
            Map<Long, Ipv6Address> byMac = staticByMac;
            if (byMac == null) {
                byMac = new LinkedHashMap<>();
                Long deviceMac = net.dhcpStaticLeases().get(net.deviceIp());
                if (deviceMac != null) {
                    byMac.put(deviceMac, v6.device());
                }
            }
            Ipv6Address first = poolStart != null ? poolStart : new Ipv6Address(v6.prefix().hi(), 0x1_0000L);
            Ipv6Address last = poolEnd != null ? poolEnd : new Ipv6Address(v6.prefix().hi(), 0x1_FFFFL);
            if (!first.inPrefix(v6.prefix(), 64) || !last.inPrefix(v6.prefix(), 64)) {
                throw new IllegalArgumentException("DHCPv6 pool outside " + v6.prefix() + "/64");
            }
            for (Ipv6Address a : staticByDuid.values()) {
                requireOnLink(v6, a);
            }
            for (Ipv6Address a : byMac.values()) {
                requireOnLink(v6, a);
            }
            return new Dhcpv6Config(leaseTimeSeconds, dnsServers != null ? dnsServers : List.of(v6.gateway()),
                    searchDomains != null ? searchDomains : v6.searchDomains(), staticByDuid, byMac, first, last,
                    maxLeases, rapidCommit, declineQuarantineNanos);
        }

        private static void requireOnLink(Ipv6Config v6, Ipv6Address a) {
            if (!a.inPrefix(v6.prefix(), 64) || v6.isGatewayAddress(a) || a.equals(v6.prefix())) {
                throw new IllegalArgumentException("DHCPv6 static address " + a + " is not a guest address in "
                        + v6.prefix() + "/64");
            }
        }
    }
}
