/**
 * UDP at the gateway: {@link dev.gvproxy.stack.udp.UdpDemux} and the in-stack endpoint API that DHCP and
 * DNS are built on.
 *
 * <h2>Theory of operation</h2>
 * Services bind (address, port) — address 0 meaning any, which DHCP uses to hear broadcasts. A datagram
 * goes to the exact binding, then the wildcard binding, then the UDP forwarder (flows re-originated from
 * host sockets). Unbound ports on the gateway's own addresses answer ICMP port unreachable, so a guest
 * querying a service that is not running fails fast instead of timing out.
 */
package dev.gvproxy.stack.udp;
