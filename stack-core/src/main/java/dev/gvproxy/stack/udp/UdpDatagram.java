package dev.gvproxy.stack.udp;

import dev.gvproxy.stack.ip.FlowKey;
import dev.gvproxy.stack.wire.Ipv6Address;

/**
 * Addressing of one received UDP datagram (a copy: safe to keep, e.g. while a DNS query is forwarded). Addresses
 * of either family, IPv4 ones IPv4-mapped ({@link Ipv6Address#ofIpv4}); {@link #isIpv4()} tells, and
 * {@code src().ipv4()} gives an IPv4 address back.
 *
 * @param srcMac Ethernet source of the frame (lets DHCP answer clients that have no address yet)
 */
public record UdpDatagram(long srcMac, Ipv6Address src, int srcPort, Ipv6Address dst, int dstPort) {

    /** A datagram received over IPv4 (addresses in host byte order). */
    public static UdpDatagram ipv4(long srcMac, int srcIp, int srcPort, int dstIp, int dstPort) {
        return new UdpDatagram(srcMac, Ipv6Address.ofIpv4(srcIp), srcPort, Ipv6Address.ofIpv4(dstIp), dstPort);
    }

    /** True when the datagram came over IPv4. */
    public boolean isIpv4() {
        return src.isIpv4Mapped();
    }

    /** The IPv4 source (host byte order); meaningful only when {@link #isIpv4()}. */
    public int srcIp() {
        return src.ipv4();
    }

    /** The IPv4 destination (host byte order); meaningful only when {@link #isIpv4()}. */
    public int dstIp() {
        return dst.ipv4();
    }

    /** The datagram's flow, the guest being its source. */
    public FlowKey flowKey() {
        return new FlowKey(src, srcPort, dst, dstPort);
    }

    @Override
    public String toString() {
        return flowKey().toString();
    }
}
