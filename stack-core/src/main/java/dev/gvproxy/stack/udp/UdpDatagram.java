package dev.gvproxy.stack.udp;

import dev.gvproxy.stack.wire.Ipv4Address;

/**
 * Addressing of one received UDP datagram (a copy: safe to keep, e.g. while a DNS query is forwarded).
 *
 * @param srcMac Ethernet source of the frame (lets DHCP answer clients that have no address yet)
 */
public record UdpDatagram(long srcMac, int srcIp, int srcPort, int dstIp, int dstPort) {
    @Override
    public String toString() {
        return Ipv4Address.format(srcIp) + ":" + srcPort + " -> " + Ipv4Address.format(dstIp) + ":" + dstPort;
    }
}
