package dev.gvproxy.api;

import java.util.List;
import java.util.concurrent.CompletionStage;

/**
 * Port forwards host -> guest as the API drives them (spec 4.2, 5.6). All methods are called on the network's
 * event loop; the returned stages may complete on any thread. A failed stage's exception message becomes the
 * HTTP 500 body (gvproxy's wording, e.g. {@code proxy already running for tcp on 127.0.0.1:9090}).
 */
public interface PortForwards {
    /** @return the active forwards (any order; the API sorts by local, then protocol) */
    List<PortForward> all();

    /**
     * Creates a forward. The API has normalised {@code remote} for tcp/udp (caller IP filled in, IPv4 literal
     * checked) and defaulted the protocol to {@code tcp}.
     */
    CompletionStage<Void> expose(PortForward forward);

    /** Removes the forward with exactly this protocol and local string; fails with {@code proxy not found}. */
    CompletionStage<Void> unexpose(String protocol, String local);
}
