package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.MacAddress;

/**
 * The fields of the IPv4 datagram being processed, filled by {@link Ipv4Input} and handed to the transport
 * layer together with the (borrowed) payload. One instance per stack, overwritten for every datagram, so
 * a handler must copy what it keeps; this keeps the receive path free of allocation.
 */
public final class Ipv4Header {
    /** Ethernet source of the frame that carried the datagram (the guest's MAC for its own traffic). */
    public long srcMac;
    public int src;
    public int dst;
    public int protocol;
    public int ttl;
    public int identification;
    public int dscpEcn;
    /** Payload length (total length minus header length), after reassembly when fragmented. */
    public int payloadLength;
    /** True when the datagram was reassembled from fragments. */
    public boolean reassembled;

    @Override
    public String toString() {
        return Ipv4Address.format(src) + " -> " + Ipv4Address.format(dst) + " proto " + protocol + " len "
                + payloadLength + " from " + MacAddress.format(srcMac);
    }
}
