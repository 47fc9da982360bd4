package dev.gvproxy.dhcp;

import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Ipv4Address;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * DHCP server settings. Build with {@link #builder(StackConfig)} (defaults derived from the network) or
 * {@link #defaults(StackConfig)}.
 *
 * @param leaseTimeSeconds lease duration (option 51), default 3600; T1 and T2 are 50% and 87.5% of it
 * @param searchDomains option 119, omitted when empty
 * @param domainName option 15, omitted when null
 * @param dnsServers option 6, default the gateway IP
 * @param staticLeases IP -> MAC reservations, default the network's {@code dhcpStaticLeases}
 * @param poolStart lowest address handed out dynamically, default network + 1
 * @param poolEnd highest address handed out dynamically, default broadcast - 1
 * @param offerHoldNanos how long an offered address stays reserved for the client that was offered it
 * @param declineQuarantineNanos how long an address a client declined (found in use) is not handed out
 * @param leasesPerPort dynamic leases and offers held at once by the clients behind one switch port (a VM
 *     needs one; containers bridged inside it a few), default 16; more is refused ({@code dhcp.portLeaseLimit})
 */
public record DhcpConfig(
        long leaseTimeSeconds,
        List<String> searchDomains,
        String domainName,
        List<Integer> dnsServers,
        Map<Integer, Long> staticLeases,
        int poolStart,
        int poolEnd,
        long offerHoldNanos,
        long declineQuarantineNanos,
        int leasesPerPort) {

    public static final long DEFAULT_LEASE_SECONDS = 3600;
    public static final int DEFAULT_LEASES_PER_PORT = 16;
    public static final long DEFAULT_OFFER_HOLD_NANOS = 30_000_000_000L;
    public static final long DEFAULT_DECLINE_QUARANTINE_NANOS = 600_000_000_000L;

    public DhcpConfig {
        if (leaseTimeSeconds < 1 || leaseTimeSeconds > 0xFFFF_FFFEL) {
            throw new IllegalArgumentException("lease time out of range: " + leaseTimeSeconds);
        }
        List<String> domains = new ArrayList<>();
        for (String d : searchDomains) {
            String n = DomainNames.normalize(d);
            if (!n.isEmpty()) {
                domains.add(n);
            }
        }
        searchDomains = List.copyOf(domains);
        if (domainName != null) {
            domainName = DomainNames.normalize(domainName);
            if (domainName.isEmpty()) {
                domainName = null;
            }
        }
        dnsServers = List.copyOf(dnsServers);
        staticLeases = Map.copyOf(staticLeases);
        if (Integer.compareUnsigned(poolStart, poolEnd) > 0) {
            throw new IllegalArgumentException("empty DHCP pool: " + Ipv4Address.format(poolStart) + " - "
                    + Ipv4Address.format(poolEnd));
        }
        if (leasesPerPort < 1) {
            throw new IllegalArgumentException("leasesPerPort must be at least 1: " + leasesPerPort);
        }
        if (offerHoldNanos < 0 || declineQuarantineNanos < 0) {
            throw new IllegalArgumentException("negative hold time");
        }
    }

    public static DhcpConfig defaults(StackConfig net) {
        return builder(net).build();
    }

    public static Builder builder(StackConfig net) {
        return new Builder(net);
    }

    /** Builder; every setting defaults from the {@link StackConfig} it was made from. */
    public static final class Builder {
        private final StackConfig net;
        private long leaseTimeSeconds = DEFAULT_LEASE_SECONDS;
        private List<String> searchDomains = List.of();
        private String domainName;
        private List<Integer> dnsServers;
        private Map<Integer, Long> staticLeases;
        private Integer poolStart;
        private Integer poolEnd;
        private long offerHoldNanos = DEFAULT_OFFER_HOLD_NANOS;
        private long declineQuarantineNanos = DEFAULT_DECLINE_QUARANTINE_NANOS;
        private int leasesPerPort = DEFAULT_LEASES_PER_PORT;

        Builder(StackConfig net) {
            this.net = net;
        }

        public Builder leaseTimeSeconds(long s) {
            this.leaseTimeSeconds = s;
            return this;
        }

        public Builder searchDomains(List<String> domains) {
            this.searchDomains = domains;
            return this;
        }

        public Builder domainName(String name) {
            this.domainName = name;
            return this;
        }

        public Builder dnsServers(List<Integer> servers) {
            this.dnsServers = servers;
            return this;
        }

        public Builder staticLeases(Map<Integer, Long> leases) {
            this.staticLeases = new LinkedHashMap<>(leases);
            return this;
        }

        /** Dynamic pool bounds (inclusive); clamped to the subnet's host addresses. */
        public Builder pool(String first, String last) {
            this.poolStart = Ipv4Address.parse(first);
            this.poolEnd = Ipv4Address.parse(last);
            return this;
        }

        public Builder offerHoldNanos(long n) {
            this.offerHoldNanos = n;
            return this;
        }

        public Builder declineQuarantineNanos(long n) {
            this.declineQuarantineNanos = n;
            return this;
        }

        /** Leases and offers held at once by the clients behind one switch port. */
        public Builder leasesPerPort(int n) {
            this.leasesPerPort = n;
            return this;
        }

        public DhcpConfig build() {
            int first = net.network() + 1;
            int last = net.broadcast() - 1;
            int start = poolStart != null ? poolStart : first;
            int end = poolEnd != null ? poolEnd : last;
            if (!net.inSubnet(start) || !net.inSubnet(end)) {
                throw new IllegalArgumentException("DHCP pool outside the subnet");
            }
            start = Integer.compareUnsigned(start, first) < 0 ? first : start;
            end = Integer.compareUnsigned(end, last) > 0 ? last : end;
            return new DhcpConfig(leaseTimeSeconds, searchDomains, domainName,
                    dnsServers != null ? dnsServers : List.of(net.gatewayIp()),
                    staticLeases != null ? staticLeases : net.dhcpStaticLeases(),
                    start, end, offerHoldNanos, declineQuarantineNanos,
                    leasesPerPort);
        }
    }
}
