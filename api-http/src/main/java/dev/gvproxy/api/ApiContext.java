package dev.gvproxy.api;

import dev.gvproxy.model.DnsZones;
import dev.gvproxy.model.InMemoryDnsZones;
import dev.gvproxy.model.LeaseSource;
import dev.gvproxy.model.PortForwardRegistry;
import dev.gvproxy.model.PortForwards;
import dev.gvproxy.model.Tunneler;
import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Everything the HTTP API reads or drives, as small suppliers and interfaces so the routes can be tested with
 * fakes, plus the API's limits. The suppliers and interfaces are called on the network's event loop (the API's
 * channels live there); parsing runs on {@link Builder#offload}.
 */
public final class ApiContext {
    /** Default limit for request bodies (the API's bodies are a few hundred bytes; 413 above). */
    public static final int DEFAULT_MAX_BODY = 64 * 1024;
    /** Default time a connection may take to send its first complete request (Go's ReadHeaderTimeout role). */
    public static final long DEFAULT_REQUEST_TIMEOUT_MILLIS = 10_000;
    /** Default time a keep-alive connection may stay idle between requests (Go's IdleTimeout role). */
    public static final long DEFAULT_KEEP_ALIVE_IDLE_MILLIS = 60_000;
    /** Default bound of concurrent in-VM API connections per network, and per guest address. */
    public static final int DEFAULT_MAX_IN_VM_CONNECTIONS = 64;
    public static final int DEFAULT_MAX_IN_VM_CONNECTIONS_PER_GUEST = 16;
    /** Parsing and formatting off the event loop: one virtual thread per request (they only parse bounded input). */
    private static final Executor VIRTUAL_THREADS = java.util.concurrent.Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("gvproxy-api-", 0).factory());

    /**
     * What the in-VM surface (gateway:80, vsock {@code -listen}) serves. {@code /connect} on a vsock endpoint is
     * taken before the API and works in every mode.
     */
    public enum InVmAccess {
        /** {@code /services/forwarder/{all,expose,unexpose}}, as gvproxy (the default). */
        FULL,
        /** Only {@code /services/forwarder/all}; expose and unexpose answer 403 ({@code api.inVmReadOnly}). */
        READ_ONLY,
        /** Nothing: every request answers 404 ({@code api.inVmDisabled}). */
        OFF
    }

    final LongSupplier bytesSent;
    final LongSupplier bytesReceived;
    final Supplier<Map<String, Long>> counters;
    final Supplier<Map<String, Integer>> cam;
    final LeaseSource leases;
    /** DHCPv6 bindings, IPv6 address -> MAC ({@code /services/dhcpv6/leases}). */
    final LeaseSource leases6;
    /** The gateway's IPv6 neighbour cache, IPv6 address -> MAC ({@code /services/ndp/neighbors}). */
    final LeaseSource neighbors6;
    final DnsZones dns;
    final PortForwards forwards;
    final Tunneler tunneler;
    final Egress egress;
    final String inVmToken;
    final InVmAccess inVmAccess;
    final int maxBody;
    final Executor offload;
    final long requestTimeoutMillis;
    final long keepAliveIdleMillis;
    final int maxInVmConnections;
    final int maxInVmConnectionsPerGuest;
    final Counters apiCounters;
    final Counters.Counter idleClosed;
    final Counters.Counter pipelineLimit;
    final Counters.Counter unauthorized;
    final Counters.Counter badRequest;
    final Counters.Counter bodyTooLarge;
    // --- observability (GET /metrics; issue 12) ---
    final Supplier<NetworkObservation> observation;
    /** Made at the first scrape: registering the JVM collectors is not free, and most contexts never serve one. */
    private PrometheusMetrics metrics;
    final java.util.function.Function<FlowTable.Query, FlowTable.Snapshot> flows;
    /** -debug: the JVM diagnostics routes (/debug/threads, /debug/jfr), else null (404). */
    final DebugRoutes debug;
    final Counters.Counter inVmReadOnly;
    final Counters.Counter inVmDisabled;

    private ApiContext(Builder b) {
        this.bytesSent = b.bytesSent;
        this.bytesReceived = b.bytesReceived;
        this.counters = b.counters;
        this.cam = b.cam;
        this.leases = b.leases;
        this.leases6 = b.leases6;
        this.neighbors6 = b.neighbors6;
        this.dns = b.dns;
        this.forwards = b.forwards;
        this.tunneler = b.tunneler;
        this.egress = b.egress;
        this.inVmToken = b.inVmToken;
        this.inVmAccess = b.inVmAccess;
        this.maxBody = b.maxBody;
        this.offload = b.offload;
        this.requestTimeoutMillis = b.requestTimeoutMillis;
        this.keepAliveIdleMillis = b.keepAliveIdleMillis;
        this.maxInVmConnections = b.maxInVmConnections;
        this.maxInVmConnectionsPerGuest = b.maxInVmConnectionsPerGuest;
        this.apiCounters = b.apiCounters;
        this.idleClosed = apiCounters.counter("api.idleClosed");
        this.pipelineLimit = apiCounters.counter("api.pipelineLimit");
        this.unauthorized = apiCounters.counter("api.unauthorized");
        this.badRequest = apiCounters.counter("api.badRequest");
        this.bodyTooLarge = apiCounters.counter("api.bodyTooLarge");
        this.observation = b.observation;
        this.flows = b.flows;
        this.debug = b.debug ? new DebugRoutes() : null;
        this.inVmReadOnly = apiCounters.counter("api.inVmReadOnly");
        this.inVmDisabled = apiCounters.counter("api.inVmDisabled");
    }

    /** The {@code /metrics} writer and its JVM collectors, made on first use. */
    synchronized PrometheusMetrics metrics() {
        if (metrics == null) {
            metrics = new PrometheusMetrics();
        }
        return metrics;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The bearer token the in-VM API requires, or null when authentication is off (the default, as gvproxy). */
    public String inVmToken() {
        return inVmToken;
    }

    /**
     * The network's egress policy as the host API reads and replaces it ({@code /services/egress}; never on the
     * in-VM surface). {@link #of} adapts a {@link dev.gvproxy.network.VirtualNetwork}.
     */
    public interface Egress {
        /** The rules in force (any thread). */
        dev.gvproxy.forwarder.EgressPolicy policy();

        /** Replaces the rules, optionally closing the flows they deny; completes with the number closed. */
        java.util.concurrent.CompletionStage<Integer> replace(dev.gvproxy.forwarder.EgressPolicy policy,
                boolean closeDenied);

        /** Each rule's hit count since it was set (any thread). */
        java.util.List<dev.gvproxy.forwarder.EgressFilter.RuleHits> ruleHits();

        /** The policy of a network. */
        static Egress of(dev.gvproxy.network.VirtualNetwork net) {
            return new Egress() {
                @Override
                public dev.gvproxy.forwarder.EgressPolicy policy() {
                    return net.egress();
                }

                @Override
                public java.util.concurrent.CompletionStage<Integer> replace(dev.gvproxy.forwarder.EgressPolicy p,
                        boolean closeDenied) {
                    return net.setEgress(p, closeDenied);
                }

                @Override
                public java.util.List<dev.gvproxy.forwarder.EgressFilter.RuleHits> ruleHits() {
                    return net.egressRuleHits();
                }
            };
        }
    }

    /** What the in-VM surface serves ({@link InVmAccess#FULL} unless configured). */
    public InVmAccess inVmAccess() {
        return inVmAccess;
    }

    /** Options; unset parts answer as "nothing there" (empty maps, no zones, no forwards, failing tunnels). */
    public static final class Builder {
        private LongSupplier bytesSent = () -> 0;
        private LongSupplier bytesReceived = () -> 0;
        private Supplier<Map<String, Long>> counters = Map::of;
        private Supplier<Map<String, Integer>> cam = Map::of;
        private LeaseSource leases = LeaseSource.none();
        private LeaseSource leases6 = LeaseSource.none();
        private LeaseSource neighbors6 = LeaseSource.none();
        private DnsZones dns = new InMemoryDnsZones();
        private PortForwards forwards = new PortForwardRegistry(f -> java.util.concurrent.CompletableFuture
                .failedFuture(new UnsupportedOperationException("port forwarding is not available")));
        private Tunneler tunneler = Tunneler.unavailable();
        private Egress egress;
        private String inVmToken;
        private InVmAccess inVmAccess = InVmAccess.FULL;
        private int maxBody = DEFAULT_MAX_BODY;
        private Executor offload = VIRTUAL_THREADS;
        private long requestTimeoutMillis = DEFAULT_REQUEST_TIMEOUT_MILLIS;
        private long keepAliveIdleMillis = DEFAULT_KEEP_ALIVE_IDLE_MILLIS;
        private int maxInVmConnections = DEFAULT_MAX_IN_VM_CONNECTIONS;
        private int maxInVmConnectionsPerGuest = DEFAULT_MAX_IN_VM_CONNECTIONS_PER_GUEST;
        private Counters apiCounters = new Counters();
        private Supplier<NetworkObservation> observation = () -> NetworkObservation.EMPTY;
        private java.util.function.Function<FlowTable.Query, FlowTable.Snapshot> flows =
                q -> new FlowTable.Snapshot(java.util.List.of(), 0, 0, q);
        private boolean debug;

        /** Reads {@code /stats} and {@code /cam} from a network's switch and counters. */
        public Builder network(VirtualSwitch sw, Counters counters) {
            this.bytesSent = sw::bytesSent;
            this.bytesReceived = sw::bytesReceived;
            this.counters = counters::snapshot;
            this.cam = sw::cam;
            this.apiCounters = counters;
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

        /** The DHCPv6 server's bindings and the gateway's IPv6 neighbours (address -> MAC, read on the loop). */
        public Builder ipv6(LeaseSource leases6, LeaseSource neighbors6) {
            this.leases6 = Objects.requireNonNull(leases6);
            this.neighbors6 = Objects.requireNonNull(neighbors6);
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

        /** The egress policy {@code /services/egress} reads and replaces (host API only); unset: no such route. */
        public Builder egress(Egress egress) {
            this.egress = Objects.requireNonNull(egress);
            return this;
        }

        /**
         * Requires {@code Authorization: Bearer <token>} on the in-VM API (gateway:80). Off (null) by default, as in
         * gvproxy; any process in any guest can otherwise manage the guest-created forwards (within the guest
         * policy; host forwards are out of its reach either way).
         */
        public Builder inVmToken(String token) {
            if (token != null && token.isEmpty()) {
                throw new IllegalArgumentException("empty API token");
            }
            this.inVmToken = token;
            return this;
        }

        /** What the in-VM surface serves (default {@link InVmAccess#FULL}, as gvproxy). */
        public Builder inVmAccess(InVmAccess access) {
            this.inVmAccess = Objects.requireNonNull(access);
            return this;
        }

        public Builder maxBody(int bytes) {
            this.maxBody = bytes;
            return this;
        }

        /** Where the API's own counters ({@code api.*}) go; {@link #network} sets the network's. */
        public Builder apiCounters(Counters counters) {
            this.apiCounters = Objects.requireNonNull(counters);
            return this;
        }

        /** Runs request parsing and large formatting off the event loop (tests pass {@code Runnable::run}). */
        public Builder offload(Executor executor) {
            this.offload = Objects.requireNonNull(executor);
            return this;
        }

        /** Idle limits in milliseconds (0 disables): before the first complete request, between keep-alive requests. */
        public Builder idleTimeouts(long requestTimeoutMillis, long keepAliveIdleMillis) {
            this.requestTimeoutMillis = requestTimeoutMillis;
            this.keepAliveIdleMillis = keepAliveIdleMillis;
            return this;
        }

        /** Concurrent in-VM API connections per network and per guest address; more are closed at once. */
        public Builder maxInVmConnections(int perNetwork, int perGuest) {
            if (perNetwork < 1 || perGuest < 1) {
                throw new IllegalArgumentException("connection limits must be positive");
            }
            this.maxInVmConnections = perNetwork;
            this.maxInVmConnectionsPerGuest = perGuest;
            return this;
        }

        /**
         * What {@code GET /metrics} shows beyond the counters (ports, flows, CAM size, connects in flight); called
         * on the network's event loop. {@link NetworkObservation#of} reads a running network.
         */
        public Builder observation(Supplier<NetworkObservation> observation) {
            this.observation = Objects.requireNonNull(observation);
            return this;
        }

        /**
         * The live flow table of {@code GET /services/flows}, called on the network's event loop with the request's
         * filter and limit. {@link FlowTable#of} reads a running network.
         */
        public Builder flows(java.util.function.Function<FlowTable.Query, FlowTable.Snapshot> flows) {
            this.flows = Objects.requireNonNull(flows);
            return this;
        }

        /**
         * gvproxy's {@code -debug}: serves {@code GET /debug/threads} (a thread dump) and
         * {@code GET /debug/jfr?seconds=N} (a JFR recording) on the host API, the JVM's counterpart of upstream's
         * pprof routes. Off by default (404).
         */
        public Builder debug(boolean enabled) {
            this.debug = enabled;
            return this;
        }

        public ApiContext build() {
            return new ApiContext(this);
        }
    }
}
