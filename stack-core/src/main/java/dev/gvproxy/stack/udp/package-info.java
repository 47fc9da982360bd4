/**
 * UDP at the gateway: {@link dev.gvproxy.stack.udp.UdpDemux} and the in-stack endpoint API that DHCP and
 * DNS are built on, for both families.
 *
 * <h2>Theory of operation</h2>
 * Services bind (address, port), the address an {@link dev.gvproxy.stack.wire.Ipv6Address} (IPv4 ones
 * IPv4-mapped). Each family has its own wildcard: {@code Ipv6Address.ofIpv4(0)} (what {@code bind(0, port, h)}
 * means, DHCP uses it to hear broadcasts) hears every IPv4 address, {@code Ipv6Address.UNSPECIFIED} every IPv6
 * address, multicast groups included (DHCPv6's {@code ff02::1:2}); a service that serves both binds both. A
 * datagram goes to the exact binding, then its family's wildcard binding, then the UDP forwarder (flows
 * re-originated from host sockets; {@link dev.gvproxy.stack.udp.UdpDatagram#isIpv4()} tells the family).
 * Unbound ports on the gateway's own addresses answer ICMP (ICMPv6) port unreachable, so a guest querying a
 * service that is not running fails fast instead of timing out. {@code send}/{@code sendTo} take either family
 * and compute the checksum with that family's pseudo-header (mandatory over IPv6).
 */
package dev.gvproxy.stack.udp;
