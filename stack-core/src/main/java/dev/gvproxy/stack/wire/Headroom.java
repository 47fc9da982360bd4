package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * Room in front of a buffer's readable bytes, for headers written in place instead of in a buffer of their own.
 * The gateway builds each TCP segment with room for every header that will precede it ({@code TcpSegmentWriter}):
 * the IP and Ethernet headers its output writes, then {@link #TRANSPORT} bytes a transport's framing writes (the
 * length prefix of a stream socket, the virtio-net header of the offload framing). The frame then leaves as one
 * buffer, with no header buffer and no composite per frame.
 */
public final class Headroom {
    /**
     * Bytes kept in front of a frame the gateway builds for a transport's framing: a length prefix of up to 4
     * bytes (QEMU's; vpnkit's is 2) and the 12-byte virtio-net header of the offload framing.
     */
    public static final int TRANSPORT = 16;

    private Headroom() {}

    /**
     * True when the {@code n} bytes before {@code buf}'s reader index may be written: there are that many, and the
     * buffer is nobody else's (one reference, not a view of another buffer whose bytes those could be, writable).
     *
     * @param buf <b>borrowed</b>
     */
    public static boolean isOwn(ByteBuf buf, int n) {
        return buf.readerIndex() >= n && buf.refCnt() == 1 && buf.unwrap() == null && !buf.isReadOnly();
    }
}
