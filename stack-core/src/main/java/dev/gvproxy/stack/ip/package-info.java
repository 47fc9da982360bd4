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
 */
package dev.gvproxy.stack.ip;
