package dev.gvproxy.stack;

import dev.gvproxy.stack.ip.FlowKey;
import java.net.InetSocketAddress;

/**
 * One row of a network's live flow table (the host API's {@code /services/flows}): a TCP connection, a UDP flow or
 * an ICMP echo flow as the layer that owns it sees it, copied on the event loop so it can be formatted anywhere.
 *
 * @param protocol {@code tcp}, {@code udp} or {@code icmp}
 * @param key the flow's identity as its table keys it: the guest's address and port (ICMP: the echo identifier),
 *            the peer as the guest addressed it, before NAT (ICMP: port 0)
 * @param hostLocal the host socket's local address, null when there is none (in-stack services, a connect in
 *                  flight)
 * @param hostRemote the host socket's peer, null when there is none
 * @param state TCP's RFC 9293 state name ({@code ESTABLISHED}, {@code TIME-WAIT}...); {@code open} for UDP and
 *              ICMP ({@code connecting} while a UDP flow's host socket connects)
 * @param bytesFromGuest payload bytes the guest sent (TCP: as received, duplicates included)
 * @param packetsFromGuest segments, datagrams or echo requests the guest sent
 * @param bytesToGuest payload bytes sent to the guest (TCP: retransmissions included)
 * @param packetsToGuest segments, datagrams or echo replies sent to the guest
 * @param retransmits TCP segments retransmitted to the guest (0 for UDP and ICMP)
 * @param createdNanos when the flow was created (the stack's monotonic clock)
 * @param lastActiveNanos when the flow last carried a packet either way (the stack's monotonic clock)
 */
public record FlowEntry(String protocol, FlowKey key, InetSocketAddress hostLocal, InetSocketAddress hostRemote, String state,
                        long bytesFromGuest, long packetsFromGuest, long bytesToGuest, long packetsToGuest,
                        long retransmits, long createdNanos, long lastActiveNanos) {
    /** The same row with the host socket's addresses (the forwarder knows them, the stack does not). */
    public FlowEntry withHost(InetSocketAddress local, InetSocketAddress remote) {
        return new FlowEntry(protocol, key, local, remote, state, bytesFromGuest,
                packetsFromGuest, bytesToGuest, packetsToGuest, retransmits, createdNanos, lastActiveNanos);
    }
}
