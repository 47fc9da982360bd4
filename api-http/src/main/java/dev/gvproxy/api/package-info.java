/**
 * gvproxy's HTTP API (spec section 4) on Netty's HTTP codec.
 *
 * <h2>Theory of operation</h2>
 * The transports own the listeners: {@code Transports.listenApi} ({@code -listen}) routes {@code /connect} itself
 * and hands every other request to {@link dev.gvproxy.api.ApiHandler} made by
 * {@link dev.gvproxy.api.ApiServer#hostFallback}; {@code Transports.listenServices} ({@code -services}) does the
 * same without {@code /connect}; the in-VM API on gateway:80 is {@link dev.gvproxy.api.ApiServer#inVm} on a channel
 * accepted by the gateway stack. All API channels run on the network's event loop, so the routes read the switch,
 * counters, leases and zones directly, without locks; but nothing is parsed there: the loop only copies a complete
 * (bounded) request, an offload executor (virtual threads) checks the token, routes and decodes the JSON (bounded
 * depth and number length, {@link dev.gvproxy.model.GoJson}), and only the resulting action hops back to the loop.
 * Connections idle too long are closed (10 s before the first request, 60 s between keep-alive requests), and the
 * in-VM listener bounds its connections per network and per guest address.
 *
 * <h2>The guest is untrusted</h2>
 * The in-VM surface acts as {@link dev.gvproxy.model.PortForwards.Origin#GUEST}: {@link
 * dev.gvproxy.model.PortForwardRegistry} lets it list and remove only guest-created forwards, refuses exposes that
 * overlap host forwards, applies the {@link dev.gvproxy.model.PortForwardRegistry.GuestPolicy} (default: podman's
 * needs, every address and privileged ports; strict: loopback and unprivileged ports) and confines unix exposes
 * to a configured directory (none by default). For every origin, files gvproxy-java owns are never replaced
 * ({@link dev.gvproxy.model.PortForwardRegistry#protectPath}); the forwarder refuses regular files and live sockets.
 * Refusals are 403 and counted ({@code api.guestForbidden}). The egress policy ({@code /services/egress},
 * gvproxy-java's own route) exists on the host surfaces only: the in-VM surface answers 404, so a guest can neither
 * read nor loosen the rules that confine it.
 *
 * <p>What the API reads and drives is behind small interfaces in {@link dev.gvproxy.api.ApiContext}:
 * {@link dev.gvproxy.model.LeaseSource} (DHCP), {@link dev.gvproxy.model.DnsZones} (DNS),
 * {@link dev.gvproxy.model.PortForwards} (forwarder; {@link dev.gvproxy.model.PortForwardRegistry} implements gvproxy's
 * keying, checks and error texts over an opener such as {@link dev.gvproxy.model.PortForwarderOpener}), and
 * {@link dev.gvproxy.model.Tunneler} (active TCP opens into the network, for {@code /tunnel} and SSH forwards; a
 * {@code /tunnel} connection is relayed by the same {@link dev.gvproxy.forwarder.TcpBridge} as every forwarded
 * host socket), and {@link dev.gvproxy.api.ApiContext.Egress} (the network's egress policy: {@code GET} lists the
 * rules in the YAML's shape, {@code POST} replaces them, {@code ?close=true} also closes the flows they deny;
 * {@code /stats} adds each rule's count as {@code egress.rule.<i>.denied|allowed}).
 *
 * <h2>Observability (host API only)</h2>
 * {@code GET /metrics} ({@link dev.gvproxy.api.PrometheusMetrics}) and {@code GET /services/flows}
 * ({@link dev.gvproxy.api.FlowTable}) follow the same split as every route: what is loop-only (the counters, the
 * flow tables, the CAM) is copied on the loop into immutable snapshots ({@link dev.gvproxy.api.NetworkObservation},
 * {@link dev.gvproxy.api.FlowTable.Snapshot}; the flow table filtered and cut to its limit there, so the copy is
 * bounded), and the text is written on the offload executor. {@code /metrics} is written by the Prometheus Java
 * client's text exposition writer, with the client's JVM metrics; the client is a dependency of this module only.
 * The in-VM surface serves neither (404).
 *
 * <h2>Compatibility</h2>
 * Bodies, statuses and JSON shapes follow gvproxy and Go's {@code net/http}/{@code encoding/json} exactly
 * ({@link dev.gvproxy.model.GoJson} and {@link dev.gvproxy.model.GoNet} reproduce the Go error texts clients show
 * users). {@code /stats} keeps {@code BytesSent}/{@code BytesReceived} and adds the network's named counters
 * ({@code <layer>.<reason>}) as {@code "stack":{"<layer>":{"<reason>":n}}} instead of gVisor's counters.
 * Deliberate differences: an IPv6 literal or host name as an expose {@code remote} and a non-IPv4 {@code /tunnel}
 * {@code ip} are answered 400 with a clear message (gvproxy: 500 {@code invalid remote addr}, or a crashed
 * handler); the in-VM API can require {@code Authorization: Bearer <token>}, and be limited to listing or turned
 * off ({@link dev.gvproxy.api.ApiContext.InVmAccess}; checked after the token, so an unauthenticated guest learns
 * nothing about the mode); an expose of port 0 is answered and
 * listed with the bound port; request bodies are limited
 * ({@link dev.gvproxy.api.ApiContext#DEFAULT_MAX_BODY}, 413 above); responses always carry a Content-Length.
 *
 * <p>Where the module stands: above network (whose model package it speaks), below the gvproxy CLI; an embedder that
 * wants no HTTP API leaves the module out.
 */
package dev.gvproxy.api;
