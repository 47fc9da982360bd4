package dev.gvproxy.stack.link;

import io.netty.buffer.ByteBuf;

/**
 * Where the switch writes frames for one attached port: a transport (QEMU stream, /connect, vfkit
 * datagram, TAP...) or the gateway stack. Implementations run on the network's event loop.
 */
public interface LinkEndpoint {

    /**
     * Queues one complete Ethernet frame (no FCS, no length prefix) for the peer.
     *
     * @param frame <b>taken</b>: the endpoint releases it or passes it on exactly once.
     */
    void transmit(ByteBuf frame);

    /** Pushes out whatever {@link #transmit} queued; the switch calls it once per batch. */
    void flush();

    /** False while the peer cannot absorb more (e.g. the channel's write buffer is above its high mark). */
    default boolean isWritable() {
        return true;
    }

    /**
     * True when the peer takes TCP frames larger than the MTU (up to 64 KiB of payload) and segments them itself:
     * an offload port (virtio-net header framing on {@code /connect}, see {@link VirtioNetHeader}). TCP senders
     * then hand it large segments, and the switch stops cutting large frames for it; a port without offloads gets
     * them cut in software ({@link SoftwareGso}). Fixed for the life of the endpoint.
     */
    default boolean offloads() {
        return false;
    }

    /** Closes the underlying connection; the transport then detaches the port. */
    default void close(String reason) {}
}
