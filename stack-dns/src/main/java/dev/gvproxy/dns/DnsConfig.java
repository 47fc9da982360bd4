package dev.gvproxy.dns;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Configuration of the gateway's DNS server. Build with {@link #builder()}.
 *
 * @param zones static zones in evaluation order (legacy mode: {@link Zone#legacyDefaults})
 * @param resolvConf the host's resolver configuration (nameservers, search, ndots, timeout, attempts);
 *     {@code null} to read none (defaults apply)
 * @param hostsFile the host's hosts file, consulted first for A/AAAA/PTR; {@code null} to skip
 * @param upstreams explicit upstream servers, overriding resolv.conf's nameservers (resolv.conf has no port
 *     syntax, so tests point this at a server on 127.0.0.1:&lt;port&gt;); empty means use resolv.conf
 * @param timeout per-try upstream timeout, overriding resolv.conf's {@code options timeout}; {@code null} keeps it
 * @param attempts rounds over the upstreams, overriding resolv.conf's {@code options attempts}; 0 keeps it
 * @param useSearch apply resolv.conf's search list to names with fewer than ndots dots
 * @param maxInFlight upstream queries outstanding at once; beyond it queries get SERVFAIL
 * @param maxUdpPayload the largest UDP response sent (and the EDNS size advertised), 512..65535
 * @param upstreamUdpPayload EDNS size advertised to upstreams (larger answers come back over TCP)
 * @param reloadInterval how often resolv.conf and the hosts file are checked for changes
 * @param maxInFlightPerClient upstream queries one guest (source address) may have outstanding, so one guest
 *     cannot take every slot of {@code maxInFlight} and leave the others with SERVFAIL
 */
public record DnsConfig(
        List<Zone> zones,
        Path resolvConf,
        Path hostsFile,
        List<InetSocketAddress> upstreams,
        Duration timeout,
        int attempts,
        boolean useSearch,
        int maxInFlight,
        int maxUdpPayload,
        int upstreamUdpPayload,
        Duration reloadInterval,
        int maxInFlightPerClient) {

    public static final Path SYSTEM_RESOLV_CONF = Path.of("/etc/resolv.conf");
    public static final Path SYSTEM_HOSTS = Path.of("/etc/hosts");

    public DnsConfig {
        zones = List.copyOf(zones);
        upstreams = List.copyOf(upstreams);
        if (maxInFlight < 1 || maxInFlightPerClient < 1) {
            throw new IllegalArgumentException("maxInFlight and maxInFlightPerClient must be positive");
        }
        if (maxUdpPayload < 512 || maxUdpPayload > 65535) {
            throw new IllegalArgumentException("maxUdpPayload must be 512..65535");
        }
        if (upstreamUdpPayload < 512 || upstreamUdpPayload > 65535) {
            throw new IllegalArgumentException("upstreamUdpPayload must be 512..65535");
        }
        if (attempts < 0) {
            throw new IllegalArgumentException("attempts must not be negative");
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Defaults: no zones, the system's resolv.conf and hosts file, 256 in flight, 4096-byte UDP answers. */
    public static final class Builder {
        private final List<Zone> zones = new ArrayList<>();
        private Path resolvConf = SYSTEM_RESOLV_CONF;
        private Path hostsFile = SYSTEM_HOSTS;
        private List<InetSocketAddress> upstreams = List.of();
        private Duration timeout;
        private int attempts;
        private boolean useSearch = true;
        private int maxInFlight = 256;
        private int maxUdpPayload = 4096;
        private int upstreamUdpPayload = 1232;
        private Duration reloadInterval = Duration.ofSeconds(5);
        private int maxInFlightPerClient = 64;

        public Builder zone(Zone z) {
            zones.add(z);
            return this;
        }

        public Builder zones(List<Zone> zs) {
            zones.addAll(zs);
            return this;
        }

        public Builder resolvConf(Path p) {
            this.resolvConf = p;
            return this;
        }

        public Builder hostsFile(Path p) {
            this.hostsFile = p;
            return this;
        }

        public Builder upstreams(List<InetSocketAddress> servers) {
            this.upstreams = servers;
            return this;
        }

        public Builder timeout(Duration t) {
            this.timeout = t;
            return this;
        }

        public Builder attempts(int n) {
            this.attempts = n;
            return this;
        }

        public Builder useSearch(boolean b) {
            this.useSearch = b;
            return this;
        }

        /** Upstream queries one guest may have outstanding (default 64, a quarter of {@code maxInFlight}). */
        public Builder maxInFlightPerClient(int n) {
            this.maxInFlightPerClient = n;
            return this;
        }

        public Builder maxInFlight(int n) {
            this.maxInFlight = n;
            return this;
        }

        public Builder maxUdpPayload(int n) {
            this.maxUdpPayload = n;
            return this;
        }

        public Builder upstreamUdpPayload(int n) {
            this.upstreamUdpPayload = n;
            return this;
        }

        public Builder reloadInterval(Duration d) {
            this.reloadInterval = d;
            return this;
        }

        public DnsConfig build() {
            return new DnsConfig(zones, resolvConf, hostsFile, upstreams, timeout, attempts, useSearch, maxInFlight,
                    maxUdpPayload, upstreamUdpPayload, reloadInterval, Math.min(maxInFlightPerClient, maxInFlight));
        }
    }
}
