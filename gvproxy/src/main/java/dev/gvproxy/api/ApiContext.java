package dev.gvproxy.api;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Everything the HTTP API reads or drives, as small suppliers and interfaces so the routes can be tested with
 * fakes. All of them are called on the network's event loop (the API's channels live there).
 */
public final class ApiContext {
    /** Default limit for request bodies (the API's bodies are a few hundred bytes). */
    public static final int DEFAULT_MAX_BODY = 1 << 20;

    final LongSupplier bytesSent;
    final LongSupplier bytesReceived;
    final Supplier<Map<String, Long>> counters;
    final Supplier<Map<String, Integer>> cam;
    final LeaseSource leases;
    final DnsZones dns;
    final PortForwards forwards;
    final Tunneler tunneler;
    final String inVmToken;
    final int maxBody;

    private ApiContext(Builder b) {
        this.bytesSent = b.bytesSent;
        this.bytesReceived = b.bytesReceived;
        this.counters = b.counters;
        this.cam = b.cam;
        this.leases = b.leases;
        this.dns = b.dns;
        this.forwards = b.forwards;
        this.tunneler = b.tunneler;
        this.inVmToken = b.inVmToken;
        this.maxBody = b.maxBody;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The bearer token the in-VM API requires, or null when authentication is off (the default, as gvproxy). */
    public String inVmToken() {
        return inVmToken;
    }

    /** Options; unset parts answer as "nothing there" (empty maps, no zones, no forwards, failing tunnels). */
    public static final class Builder {
        private LongSupplier bytesSent = () -> 0;
        private LongSupplier bytesReceived = () -> 0;
        private Supplier<Map<String, Long>> counters = Map::of;
        private Supplier<Map<String, Integer>> cam = Map::of;
        private LeaseSource leases = LeaseSource.none();
        private DnsZones dns = new InMemoryDnsZones();
        private PortForwards forwards = new PortForwardRegistry(f -> java.util.concurrent.CompletableFuture
                .failedFuture(new UnsupportedOperationException("port forwarding is not available")));
        private Tunneler tunneler = Tunneler.unavailable();
        private String inVmToken;
        private int maxBody = DEFAULT_MAX_BODY;

        /** Reads {@code /stats} and {@code /cam} from a network's switch and counters. */
        public Builder network(VirtualSwitch sw, Counters counters) {
            this.bytesSent = sw::bytesSent;
            this.bytesReceived = sw::bytesReceived;
            this.counters = counters::snapshot;
            this.cam = sw::cam;
            return this;
        }

        public Builder stats(LongSupplier bytesSent, LongSupplier bytesReceived, Supplier<Map<String, Long>> counters) {
            this.bytesSent = Objects.requireNonNull(bytesSent);
            this.bytesReceived = Objects.requireNonNull(bytesReceived);
            this.counters = Objects.requireNonNull(counters);
            return this;
        }

        public Builder cam(Supplier<Map<String, Integer>> cam) {
            this.cam = Objects.requireNonNull(cam);
            return this;
        }

        public Builder leases(LeaseSource leases) {
            this.leases = Objects.requireNonNull(leases);
            return this;
        }

        public Builder dns(DnsZones dns) {
            this.dns = Objects.requireNonNull(dns);
            return this;
        }

        public Builder forwards(PortForwards forwards) {
            this.forwards = Objects.requireNonNull(forwards);
            return this;
        }

        public Builder tunneler(Tunneler tunneler) {
            this.tunneler = Objects.requireNonNull(tunneler);
            return this;
        }

        /**
         * Requires {@code Authorization: Bearer <token>} on the in-VM API (gateway:80). Off (null) by default, as in
         * gvproxy; any guest can otherwise create and remove host listeners.
         */
        public Builder inVmToken(String token) {
            if (token != null && token.isEmpty()) {
                throw new IllegalArgumentException("empty API token");
            }
            this.inVmToken = token;
            return this;
        }

        public Builder maxBody(int bytes) {
            this.maxBody = bytes;
            return this;
        }

        public ApiContext build() {
            return new ApiContext(this);
        }
    }
}
