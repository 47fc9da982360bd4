package dev.gvproxy.model;

import java.util.List;
import java.util.concurrent.CompletionStage;

/**
 * Port forwards host -> guest as the API drives them (spec 4.2, 5.6). All methods are called on the network's
 * event loop; the returned stages may complete on any thread. A failed stage's exception message becomes the
 * HTTP body (gvproxy's wording, e.g. {@code proxy already running for tcp on 127.0.0.1:9090}, status 500; a
 * {@link Forbidden} is answered 403).
 *
 * <p>Every forward remembers its {@link Origin}. Guests (the in-VM API) see and manage only guest-created
 * forwards; the host (CLI, YAML, host API) sees and manages all of them.
 */
public interface PortForwards {
    /**
     * Who asks: the host's configuration (CLI, YAML), the host API ({@code -listen}/{@code -services}) or a guest
     * (the in-VM API). {@link #CONFIG} and {@link #HOST} have the same power; only API-created forwards
     * ({@link #HOST}, {@link #GUEST}) are kept in a state directory, the configuration recreates its own.
     */
    enum Origin {
        /**
         * Forwards from the configuration (command line, YAML).
         */
        CONFIG,
        /**
         * Forwards the host made (its API, an embedder).
         */
        HOST,
        /**
         * Forwards a guest made through the in-VM API.
         */
        GUEST
    }

    /** A request the caller may not make (a guest touching a host forward, a refused path or address): HTTP 403. */
    final class Forbidden extends GoNet.GoError {
        /**
         * A refusal (HTTP 403).
         * @param message the error text
         */
        public Forbidden(String message) {
            super(message);
        }
    }

    /**
     * Every active forward.
     *
     * @return every active forward (any order; the API sorts by local, then protocol)
     */
    List<PortForward> all();

    /**
     * The forwards a viewer may see.
     *
     * @return the forwards {@code viewer} may see: all for the host, the guest-created ones for a guest
     * @param viewer who lists
     */
    default List<PortForward> all(Origin viewer) {
        return all();
    }

    /**
     * Creates a forward for the host. The API has normalised {@code remote} for tcp/udp (caller IP filled in,
     * IPv4 literal checked) and defaulted the protocol to {@code tcp}.
     * @param forward the forward
     * @return completes when the host listener is bound
     */
    default CompletionStage<Void> expose(PortForward forward) {
        return expose(forward, Origin.HOST).thenApply(f -> null);
    }

    /**
     * Creates a forward on behalf of {@code origin}.
     *
     * @return the forward as listed, with the bound port when {@code local} asked for port 0
     * @param forward the forward
     * @param origin who asks (host, configuration or guest)
     */
    CompletionStage<PortForward> expose(PortForward forward, Origin origin);

    /**
     * Removes the forward with exactly this protocol and local string; fails with {@code proxy not found}.
     *
     * @param local the forward's {@code local} exactly as listed
     * @param protocol {@code tcp}, {@code udp}, {@code unix} or {@code npipe}
     * @return completes when the forward is gone
     */
    default CompletionStage<Void> unexpose(String protocol, String local) {
        return unexpose(protocol, local, Origin.HOST);
    }

    /**
     * As {@link #unexpose(String, String)}; a guest may only remove guest-created forwards ({@link Forbidden}).
     *
     * @param local the forward's {@code local} exactly as listed
     * @param origin who asks (host, configuration or guest)
     * @param protocol {@code tcp}, {@code udp}, {@code unix} or {@code npipe}
     * @return completes when the forward is gone
     */
    CompletionStage<Void> unexpose(String protocol, String local, Origin origin);
}
