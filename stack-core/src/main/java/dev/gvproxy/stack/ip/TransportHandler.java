package dev.gvproxy.stack.ip;

import io.netty.buffer.ByteBuf;

/**
 * Receives the payload of IP datagrams of one protocol, after validation and reassembly: IPv4 from
 * {@link Ipv4Input}, IPv6 from {@link Ipv6Input} ({@link IpHeader#ipv6} tells). TCP and UDP have one handler for
 * both families; ICMP has one per family (ICMPv4 and ICMPv6 are different protocols).
 */
@FunctionalInterface
public interface TransportHandler {
    /**
     * @param ip the datagram's header fields (valid only during the call)
     * @param payload <b>borrowed</b>: the transport header and data, exactly {@code ip.payloadLength}
     *     readable bytes; retain a slice to keep any of it. It may be the whole frame's buffer with its
     *     indexes narrowed for the call, so never retain, release or re-index it itself
     * @param now injected monotonic time in nanoseconds
     */
    void receive(IpHeader ip, ByteBuf payload, long now);
}
