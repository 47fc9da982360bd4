package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.wire.Ipv4Address;

/**
 * A guest flow's identity: the one key shape of every flow table the stack keeps (TCP connections in
 * {@code TcpLayer}, UDP flows and ICMP echo flows in the forwarder), named from the guest's side.
 *
 * <p>{@code guest} is the guest's end; {@code peer} is the far end as the guest addresses it (before any
 * translation such as host alias to 127.0.0.1), which is also the address the stack answers from. For ICMP
 * echo the guest "port" is the echo identifier and the peer port is 0, so one echo flow per (guest,
 * identifier, destination), as a ping socket would key it.
 *
 * <p>Why one shape: each table used to have its own record with its own side names (local/remote,
 * guest/dst, identifier), and every new address family or table view (the live flow table, the egress
 * policy) would have had to learn three. Addresses are IPv4 in host byte order; IPv6 widens this record,
 * once.
 */
public record FlowKey(int guestIp, int guestPort, int peerIp, int peerPort) {

    /** The key of an ICMP echo flow: the identifier stands in for the guest port. */
    public static FlowKey echo(int guestIp, int identifier, int peerIp) {
        return new FlowKey(guestIp, identifier, peerIp, 0);
    }

    @Override
    public String toString() {
        return Ipv4Address.format(guestIp) + ":" + guestPort + " -> " + Ipv4Address.format(peerIp) + ":" + peerPort;
    }
}
