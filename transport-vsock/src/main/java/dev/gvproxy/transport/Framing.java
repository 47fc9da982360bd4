package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler;
import java.nio.ByteOrder;

/**
 * Length-prefixed stream framings (spec 1.4). The prefix carries the length of the Ethernet frame that
 * follows it, not counting the prefix itself.
 */
public enum Framing {
    /** QEMU {@code -netdev stream/socket}, {@code -listen-qemu}: 4-byte big-endian length. */
    QEMU(4, ByteOrder.BIG_ENDIAN, VirtualSwitch.MAX_FRAME),
    /** hyperkit/vpnkit, {@code /connect}, stdio: 2-byte little-endian length. */
    HYPERKIT(2, ByteOrder.LITTLE_ENDIAN, 0xFFFF);

    private final int headerLength;
    private final ByteOrder order;
    private final int maxEncodable;

    Framing(int headerLength, ByteOrder order, int maxEncodable) {
        this.headerLength = headerLength;
        this.order = order;
        this.maxEncodable = maxEncodable;
    }

    public int headerLength() {
        return headerLength;
    }

    public ByteOrder order() {
        return order;
    }

    /** Largest frame this framing can send (hyperkit's 16-bit field; gvproxy clamps and corrupts, we drop). */
    public int maxEncodable() {
        return maxEncodable;
    }

    /** Reads the length prefix at {@code index} without moving indexes; caller checked {@link #headerLength()} bytes. */
    long getLength(ByteBuf buf, int index) {
        return headerLength == 4
                ? buf.getUnsignedInt(index)
                : buf.getUnsignedShortLE(index);
    }

    /** Appends the length prefix for a frame of {@code length} bytes. */
    void writeLength(ByteBuf buf, int length) {
        buf.ensureWritable(headerLength);
        setLength(buf, buf.writerIndex(), length);
        buf.writerIndex(buf.writerIndex() + headerLength);
    }

    /** Writes the length prefix for a frame of {@code length} bytes at {@code index}, without moving indexes. */
    void setLength(ByteBuf buf, int index, int length) {
        if (headerLength == 4) {
            buf.setInt(index, length);
        } else {
            buf.setShortLE(index, length);
        }
    }

    /**
     * A new inbound decoder: bytes in, one {@code ByteBuf} per frame out. A declared length of 0 or above
     * {@link VirtualSwitch#MAX_FRAME} counts {@code transport.badFrameLength} and closes the channel.
     * Not sharable: one per channel.
     */
    public ChannelHandler newDecoder(Counters counters) {
        return new LengthPrefixedFrameDecoder(this, counters);
    }

    /** A new outbound encoder: each {@code ByteBuf} written becomes prefix + frame, without copying the frame. */
    public ChannelHandler newEncoder(Counters counters) {
        return new LengthPrefixEncoder(this, counters);
    }
}
