package dev.gvproxy.stack.udp;

import io.netty.buffer.ByteBuf;

/** An in-stack UDP service (DHCP, DNS) or the UDP forwarder. Runs on the network's event loop. */
@FunctionalInterface
public interface UdpHandler {
    /**
     * @param payload <b>borrowed</b>: the UDP data (after the 8-byte header); retain to keep it
     * @param now injected monotonic nanoseconds
     */
    void datagram(UdpDatagram d, ByteBuf payload, long now);
}
