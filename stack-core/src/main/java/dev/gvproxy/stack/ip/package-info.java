/**
 * Layer 3 at the gateway: ARP responder and neighbour cache, IPv4 input validation, fragment
 * reassembly, IPv4 output with fragmentation, ICMP echo.
 *
 * <h2>Theory of operation</h2>
 * {@link dev.gvproxy.stack.ip.Ipv4Input} accepts datagrams for any destination (the gateway is
 * promiscuous: everything off-link is terminated here), checks them through
 * {@link dev.gvproxy.stack.wire.Ipv4Packet#check}, learns the sender's MAC (so replies rarely need ARP),
 * and passes the payload as a borrowed slice to the protocol's {@link dev.gvproxy.stack.ip.TransportHandler}.
 * Fragments are held as retained slices by {@link dev.gvproxy.stack.ip.FragmentReassembler} under a
 * global memory bound and a timeout, and the completed datagram is a composite buffer of those slices.
 * {@link dev.gvproxy.stack.ip.Ipv4Output} resolves the destination MAC (learned, or an ARP request with a
 * short bounded queue), prepends headers into a pooled buffer and fragments datagrams larger than the MTU.
 *
 * <p>Before any of that, {@link dev.gvproxy.stack.ip.GuestAddressGuard} sits in the switch and drops
 * frames in which a guest claims an address that is not its to claim (source address validation, BCP 38
 * at the edge): IPv4 sources outside the subnet or belonging to the gateway or, per
 * {@link dev.gvproxy.stack.ip.AddressBindings} (static leases plus what the DHCP server feeds it), to
 * another MAC; ARP senders likewise. It runs for every guest frame, also those switched to other guests, so
 * a gratuitous ARP for the gateway never reaches another guest's neighbour table. Neighbour entries lapse
 * at half the switch's MAC ageing time, so the gateway never sends to a MAC the switch forgot.
 *
 * <p>Above this layer every flow table (TCP connections, UDP flows, ICMP echo flows) is keyed by the one
 * {@link dev.gvproxy.stack.ip.FlowKey}: guest address and port, peer address and port as the guest
 * addressed it. It lives here because it is made of layer-3 addresses plus a demultiplexing number, and
 * both the transport layer in this module and the forwarder above it key their tables by it.
 */
package dev.gvproxy.stack.ip;
