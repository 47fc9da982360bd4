/**
 * Layer 3 at the gateway, both families: ARP and IPv6 neighbour discovery with their neighbour caches, IPv4 and
 * IPv6 input validation, fragment reassembly, IPv4 and IPv6 output with fragmentation, ICMP and ICMPv6 echo,
 * router advertisements.
 *
 * <h2>Theory of operation</h2>
 * {@link dev.gvproxy.stack.ip.Ipv4Input} accepts datagrams for any destination (the gateway is
 * promiscuous: everything off-link is terminated here), checks them through
 * {@link dev.gvproxy.stack.wire.Ipv4Packet#check}, learns the sender's MAC (so replies rarely need ARP),
 * and passes the payload as a borrowed slice to the protocol's {@link dev.gvproxy.stack.ip.TransportHandler}.
 * Fragments are held as retained slices by {@link dev.gvproxy.stack.ip.FragmentReassembler} under a
 * global memory bound and a timeout, and the completed datagram is a composite buffer of those slices.
 * {@link dev.gvproxy.stack.ip.Ipv4Output} resolves the destination MAC (learned, or an ARP request with a
 * short bounded queue), prepends headers and fragments datagrams larger than the MTU. Every message the stack
 * builds (TCP, UDP, ICMP, NDP) is built in a {@code Headroom.buffer} with room for the Ethernet and IP headers and
 * for a transport's framing in front; the output writes its headers into that room, so the frame, fragments and
 * ARP included, reaches a stream transport as one buffer, framing written in place.
 *
 * <p>IPv6 mirrors it (when {@code StackConfig.ipv6().enabled()}): {@link dev.gvproxy.stack.ip.Ipv6Input}
 * validates the fixed header, refuses oversized packets with Packet Too Big (but for TCP segments from a port with
 * offloads, which it takes whole as IPv4 input takes any), guards the source (no multicast,
 * none of the gateway's addresses, on-link only), walks the extension headers with a bound and answers what
 * RFC 8200 says with Parameter Problem, reassembles fragments (a second reassembler instance,
 * {@code FragmentReassembler.forIpv6}, same bounds, {@code ipv6.*} counters; RFC 7112 first-fragment rule), and
 * hands TCP and UDP to the same handlers as IPv4. {@link dev.gvproxy.stack.ip.Icmpv6Input} answers echo and
 * neighbour solicitations for the gateway's addresses (fe80::1, the prefix gateway, the host alias), defends
 * them against duplicate address detection, learns neighbours into the bounded
 * {@link dev.gvproxy.stack.ip.NeighborCache}, drops RAs and redirects from guests (RA guard) and NDP in
 * fragments (RFC 6980), and lets {@link dev.gvproxy.stack.ip.RouterAdvertiser} answer solicitations and send
 * the periodic advertisements (prefix for SLAAC, MTU, RDNSS, DNSSL, M/O flags). {@link dev.gvproxy.stack.ip.Ipv6Output}
 * resolves MACs through the neighbour cache (multicast by mapping, unknown on-link neighbours solicited, the
 * frame waiting in the same bounded queue as ARP's, {@link dev.gvproxy.stack.ip.PendingFrames}).
 *
 * <p>Before any of that, {@link dev.gvproxy.stack.ip.GuestAddressGuard} sits in the switch and drops
 * frames in which a guest claims an address that is not its to claim (source address validation, BCP 38
 * at the edge): IPv4 sources outside the subnet or belonging to the gateway or, per
 * {@link dev.gvproxy.stack.ip.AddressBindings} (static leases plus what the DHCP server feeds it), to
 * another MAC; ARP senders likewise. It runs for every guest frame, also those switched to other guests, so
 * a gratuitous ARP for the gateway never reaches another guest's neighbour table. Neighbour entries lapse
 * at half the switch's MAC ageing time, so the gateway never sends to a MAC the switch forgot.
 *
 * <h2>The seam above IP (for the transport layers and the forwarder)</h2>
 * <ul>
 *   <li>One family-neutral address: {@link dev.gvproxy.stack.wire.Ipv6Address}, an IPv4 address carried as its
 *       IPv4-mapped form ({@code Ipv6Address.ofIpv4(int)}, {@code isIpv4Mapped()}, {@code ipv4()}).</li>
 *   <li>One flow key: {@link dev.gvproxy.stack.ip.FlowKey}{@code (guest, guestPort, peer, peerPort)} of
 *       {@code Ipv6Address}es; {@code FlowKey.ipv4(...)}, {@code FlowKey.echo(...)} (both families),
 *       {@code isIpv4()}.</li>
 *   <li>One header: {@link dev.gvproxy.stack.ip.IpHeader} ({@code ipv6} flag, IPv4 ints, 128-bit halves of
 *       both families, {@code srcAddress()/dstAddress()} values for slow paths, {@code addressSum()} for
 *       checksums), passed to {@code TransportHandler.receive(IpHeader, ByteBuf, long)}.</li>
 *   <li>Forwarder hooks, the same for both families where the protocol is: {@code TcpLayer.setSynHandler}
 *       ({@code SynRequest.isIpv4()}), {@code UdpDemux.setForwarder} ({@code UdpDatagram.isIpv4()}); per family
 *       for ICMP: {@code IcmpInput.setForwarder} / {@code Icmpv6Input.setForwarder} (echo to anything but the
 *       gateway's own addresses, the host alias included, and the errors guests send), and the errors
 *       {@code IcmpInput.sendUnreachable} / {@code Icmpv6Input.sendUnreachable} (codes of RFC 4443 3.1).</li>
 * </ul>
 * Every flow table above this layer (TCP connections, UDP flows, ICMP echo flows) is keyed by the one
 * {@code FlowKey}; it lives here because it is made of layer-3 addresses plus a demultiplexing number, and
 * both the transport layer in this module and the forwarder above it key their tables by it.
 */
package dev.gvproxy.stack.ip;
