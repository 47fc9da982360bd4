package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.wire.Checksums;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.MacAddress;

/**
 * The fields of the IPv4 or IPv6 datagram being processed, filled by {@link Ipv4Input} or {@link Ipv6Input}
 * and handed to the transport layer together with the (borrowed) payload. One instance per input, overwritten
 * for every datagram, so a handler must copy what it keeps; this keeps the receive path free of allocation.
 *
 * <p>Addresses are primitives: {@link #src}/{@link #dst} are the IPv4 addresses (host byte order, 0 for IPv6),
 * and {@code srcHi/srcLo/dstHi/dstLo} the 128-bit addresses of both families, IPv4 ones IPv4-mapped
 * ({@code ::ffff:a.b.c.d}), so family-neutral code (TCP, UDP, flow keys) compares the longs and never branches
 * on the family except to pick a pseudo-header or an output. {@link #srcAddress()} and {@link #dstAddress()}
 * build {@link Ipv6Address} values (IPv4-mapped for IPv4) for slow paths.
 */
public final class IpHeader {
    /** True for IPv6; the IPv4 fields ({@link #src}, {@link #dst}, {@link #identification}) are then 0. */
    public boolean ipv6;
    /** Ethernet source of the frame that carried the datagram (the guest's MAC for its own traffic). */
    public long srcMac;
    /** IPv4 source, host byte order (IPv4 only). */
    public int src;
    /** IPv4 destination, host byte order (IPv4 only). */
    public int dst;
    public long srcHi;
    public long srcLo;
    public long dstHi;
    public long dstLo;
    /** The upper-layer protocol: IPv4's protocol field, IPv6's last Next Header after the extension headers. */
    public int protocol;
    /** IPv4 TTL or IPv6 hop limit. */
    public int ttl;
    /** IPv4 identification (IPv4 only). */
    public int identification;
    /** IPv4 DSCP/ECN byte or IPv6 traffic class. */
    public int dscpEcn;
    /** IPv6 flow label (IPv6 only). */
    public int flowLabel;
    /** Payload length (the upper-layer message's length), after reassembly when fragmented. */
    public int payloadLength;
    /** True when the datagram was reassembled from fragments. */
    public boolean reassembled;
    /**
     * IPv6: the absolute index of the fixed IPv6 header in the buffer handed to the handler (the frame), for
     * checks that read it in place (NDP); -1 when the payload is not in that buffer (reassembled). IPv4: -1.
     */
    public int ipOffset = -1;

    /** Fills the IPv4 fields and their IPv4-mapped 128-bit forms. */
    public void setIpv4(int src, int dst) {
        this.ipv6 = false;
        this.src = src;
        this.dst = dst;
        this.srcHi = 0;
        this.srcLo = Ipv6Address.mappedLo(src);
        this.dstHi = 0;
        this.dstLo = Ipv6Address.mappedLo(dst);
        this.flowLabel = 0;
        this.ipOffset = -1;
    }

    /** Fills the IPv6 addresses (the IPv4 fields become 0). */
    public void setIpv6(long srcHi, long srcLo, long dstHi, long dstLo) {
        this.ipv6 = true;
        this.src = 0;
        this.dst = 0;
        this.srcHi = srcHi;
        this.srcLo = srcLo;
        this.dstHi = dstHi;
        this.dstLo = dstLo;
        this.identification = 0;
    }

    /** The source as a value (IPv4-mapped for IPv4); allocates, for slow paths. */
    public Ipv6Address srcAddress() {
        return new Ipv6Address(srcHi, srcLo);
    }

    /** The destination as a value (IPv4-mapped for IPv4); allocates, for slow paths. */
    public Ipv6Address dstAddress() {
        return new Ipv6Address(dstHi, dstLo);
    }

    /** True when the source is {@code a} (compares the longs; no allocation). */
    public boolean srcIs(Ipv6Address a) {
        return srcHi == a.hi() && srcLo == a.lo();
    }

    /** True when the destination is {@code a} (compares the longs; no allocation). */
    public boolean dstIs(Ipv6Address a) {
        return dstHi == a.hi() && dstLo == a.lo();
    }

    /**
     * The unfolded sum of the pseudo-header of an upper-layer message of {@code l4Len} bytes of
     * {@code protocol} carried by this datagram: IPv4's (RFC 9293 3.1) or IPv6's (RFC 8200 8.1).
     */
    public long pseudoHeaderSum(int protocol, int l4Len) {
        return ipv6 ? Checksums.ipv6PseudoHeader(srcHi, srcLo, dstHi, dstLo, protocol, l4Len)
                : Checksums.pseudoHeader(src, dst, protocol, l4Len);
    }

    /**
     * The unfolded sum of the two addresses as the pseudo-header of this family counts them (IPv4's four 16-bit
     * words or IPv6's sixteen): add the protocol and the upper-layer length for the whole pseudo-header.
     */
    public long addressSum() {
        return ipv6 ? Checksums.ipv6PseudoHeader(srcHi, srcLo, dstHi, dstLo, 0, 0)
                : Checksums.pseudoHeader(src, dst, 0, 0);
    }

    @Override
    public String toString() {
        String s = ipv6 ? srcAddress() + " -> " + dstAddress() : Ipv4Address.format(src) + " -> " + Ipv4Address.format(dst);
        return s + " proto " + protocol + " len " + payloadLength + " from " + MacAddress.format(srcMac);
    }
}
