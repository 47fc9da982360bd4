/**
 * The embedding library: one {@link dev.gvproxy.network.VirtualNetwork} is a switch, the gateway stack, DHCP, DNS,
 * the host forwarder and its transports, all on one event loop.
 *
 * <h2>Theory of operation</h2>
 * This module wires the modules below it together and nothing else: the protocol machines live in stack-core,
 * stack-dhcp and stack-dns, host sockets in stack-forwarder, framings in transport-vsock. A VM launcher (or the
 * gvproxy-java binary, or a test) builds a network, attaches transports to it ({@code listen*}/{@code attach*}),
 * and closes it. Every state change of the network runs on its event loop; methods callable from other threads
 * say so and hop onto the loop themselves.
 *
 * <h2>The facade</h2>
 * What an embedder uses is {@link dev.gvproxy.network.VirtualNetwork}: build (optionally on the caller's event
 * loop), {@code listen*}/{@code attach*}, {@code expose}/{@code unexpose}/{@code forwards} (futures and snapshots,
 * no loop plumbing), {@code serveTcp}/{@code serveUdp} for in-stack services, {@code stats}, the egress policy
 * ({@code Builder.egress}, {@code egress}/{@code setEgress}/{@code egressRuleHits}: one live policy per network,
 * applied by the forwarders of stack-forwarder), {@code close}. The
 * network owns the one port-forward registry: forwards made through the facade, gvproxy's HTTP API and its
 * configuration are one list with one set of checks. The parts gvproxy-java's own modules wire together (stack,
 * switch, loop, servers) are behind {@code internals()} ({@code dev.gvproxy.network.internal}): not API, left out
 * of the javadoc jar, may change without notice.
 *
 * <h2>Debugging</h2>
 * gvproxy's {@code -debug} maps to two builder options: {@code logFrames} (one line per frame through the switch)
 * and {@code trafficSummary} (every 5 s one line of what changed: frames and bytes per port, flows opened and
 * closed, counters that moved). The summary is a deadline source of the stack like DHCP's or the flow tables'
 * expiry, so the network's one driver runs it on the loop with the stack's clock: no executor, no extra timer.
 *
 * <h2>Why the cut is here</h2>
 * The module depends on no YAML, SSH, HTTP or logging-binding library, so an embedder inherits only Netty and
 * dnsjava. gvproxy's HTTP API (module api-http) and its command line, YAML and SSH forwards (module gvproxy) sit
 * above it; the value types those front ends share with the library are in {@link dev.gvproxy.model}.
 */
package dev.gvproxy.network;
