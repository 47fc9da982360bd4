package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;

/**
 * A guest flow's identity: the one key shape of every flow table the stack keeps (TCP connections in
 * {@code TcpLayer}, UDP flows and ICMP echo flows in the forwarder), named from the guest's side.
 *
 * <p>{@code guest} is the guest's end; {@code peer} is the far end as the guest addresses it (before any
 * translation such as host alias to 127.0.0.1), which is also the address the stack answers from. For ICMP
 * echo the guest "port" is the echo identifier and the peer port is 0, so one echo flow per (guest,
 * identifier, destination), as a ping socket would key it.
 *
 * <p>Both families in one shape: an IPv4 flow carries its addresses as IPv4-mapped IPv6 addresses
 * ({@code ::ffff:a.b.c.d}, RFC 4291 section 2.5.5.2, {@link Ipv6Address#ofIpv4}); {@link #isIpv4()} tells
 * the families apart and {@code guest().ipv4()} gives the IPv4 address back. A flow never mixes families
 * (NAT64 keys the guest's IPv6 view; the host side is the forwarder's business).
 */
public record FlowKey(Ipv6Address guest, int guestPort, Ipv6Address peer, int peerPort) {

    /** The key of an IPv4 flow (addresses in host byte order). */
    public static FlowKey ipv4(int guestIp, int guestPort, int peerIp, int peerPort) {
        return new FlowKey(Ipv6Address.ofIpv4(guestIp), guestPort, Ipv6Address.ofIpv4(peerIp), peerPort);
    }

    /** The key of an ICMP echo flow: the identifier stands in for the guest port. */
    public static FlowKey echo(Ipv6Address guest, int identifier, Ipv6Address peer) {
        return new FlowKey(guest, identifier, peer, 0);
    }

    /** The key of an ICMPv4 echo flow (addresses in host byte order). */
    public static FlowKey echo(int guestIp, int identifier, int peerIp) {
        return ipv4(guestIp, identifier, peerIp, 0);
    }

    /** True for an IPv4 flow (both addresses IPv4-mapped). */
    public boolean isIpv4() {
        return guest.isIpv4Mapped();
    }

    @Override
    public String toString() {
        return isIpv4()
                ? Ipv4Address.format(guest.ipv4()) + ":" + guestPort + " -> " + Ipv4Address.format(peer.ipv4()) + ":"
                        + peerPort
                : "[" + guest + "]:" + guestPort + " -> [" + peer + "]:" + peerPort;
    }
}
