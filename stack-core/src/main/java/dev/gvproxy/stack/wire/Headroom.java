package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * Room in front of a buffer's readable bytes, for headers written in place instead of in a buffer of their own.
 * Every frame the gateway originates is built in a buffer from {@link #buffer}, with room for every header that
 * will precede what the builder writes: the headers its IP output writes (Ethernet and IP, for an upper-layer
 * message; none for a whole frame), then {@link #TRANSPORT} bytes a transport's framing writes (the length prefix
 * of a stream socket, the virtio-net header of the offload framing). The frame then leaves as one buffer, with no
 * header buffer and no composite per frame.
 */
public final class Headroom {
    /**
     * Bytes kept in front of a frame the gateway builds for a transport's framing: a length prefix of up to 4
     * bytes (QEMU's; vpnkit's is 2) and the 12-byte virtio-net header of the offload framing.
     */
    public static final int TRANSPORT = 16;

    private Headroom() {}

    /**
     * A new buffer for what a frame builder writes: {@code len} bytes (the capacity's start; the buffer grows if
     * the builder writes more), after {@code headers} + {@link #TRANSPORT} bytes of room, with the reader and
     * writer index at the end of that room. The one rule for the room in front of a frame the gateway builds:
     * {@code headers} is what its IP output still writes in front ({@link Ipv4Packet#FRAME_HEADROOM},
     * {@link Ipv6Packet#FRAME_HEADROOM}), 0 when the builder writes the whole frame (ARP, the IP output's own
     * copies and fragments, software segmentation); the transport's room is added here, never by the builder.
     *
     * @return a new buffer the caller owns
     */
    public static ByteBuf buffer(ByteBufAllocator alloc, int headers, int len) {
        int room = headers + TRANSPORT;
        ByteBuf b = alloc.buffer(room + len);
        return b.setIndex(room, room);
    }

    /**
     * A new I/O buffer for a whole frame a transport receives and copies out of its read buffer ({@code len} bytes,
     * the capacity's start), after {@link #TRANSPORT} bytes of room, reader and writer index at the end of it: the
     * frame may be switched to another guest's stream transport, whose framing then goes into that room.
     *
     * @return a new buffer the caller owns
     */
    public static ByteBuf ioBuffer(ByteBufAllocator alloc, int len) {
        ByteBuf b = alloc.ioBuffer(TRANSPORT + len);
        return b.setIndex(TRANSPORT, TRANSPORT);
    }

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
