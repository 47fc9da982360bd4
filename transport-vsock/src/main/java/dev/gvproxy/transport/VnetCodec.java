package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtioNetHeader;
import dev.gvproxy.stack.wire.Headroom;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import java.util.EnumMap;

/**
 * The virtio-net header of the offload framing ({@link ConnectHandler#UPGRADE}), between the length-prefix codec
 * and the {@link ChannelPort}: inbound it checks the header, completes a partial checksum and strips it
 * ({@link VirtioNetHeader#receive}; a refused frame is counted as {@code transport.vnet.<reason>} and dropped);
 * outbound it puts a header in front of each frame ({@link VirtioNetHeader#write}: GSO for large TCP frames) without
 * copying the frame: into the room before it in its own buffer when there is some ({@link Headroom}; every frame the
 * gateway builds has it), else as a composite of a header buffer and the frame. Not sharable.
 */
final class VnetCodec extends ChannelDuplexHandler {
    private final int mtu;
    private final Counters.Counter gsoIn;
    private final Counters.Counter gsoOut;
    private final EnumMap<VirtioNetHeader.Error, Counters.Counter> refused = new EnumMap<>(VirtioNetHeader.Error.class);

    VnetCodec(int mtu, Counters counters) {
        this.mtu = mtu;
        this.gsoIn = counters.counter("transport.vnet.gsoIn");
        this.gsoOut = counters.counter("transport.vnet.gsoOut");
        for (VirtioNetHeader.Error e : VirtioNetHeader.Error.values()) {
            refused.put(e, counters.counter("transport." + e.counter()));
        }
    }

    /** @param msg <b>taken</b> */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf frame) {
            if (frame.readableBytes() > 1 && frame.getByte(frame.readerIndex() + 1) != 0) {
                gsoIn.inc();
            }
            VirtioNetHeader.Error e = VirtioNetHeader.receive(frame);
            if (e != null) {
                refused.get(e).inc();
                frame.release();
                return;
            }
        }
        ctx.fireChannelRead(msg);
    }

    /** @param msg <b>taken</b> */
    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf frame) {
            ByteBuf out;
            if (Headroom.isOwn(frame, VirtioNetHeader.LENGTH)) {
                int at = frame.readerIndex() - VirtioNetHeader.LENGTH;
                VirtioNetHeader.set(frame, mtu, frame, at);
                out = frame.readerIndex(at);
            } else {
                ByteBuf header = ctx.alloc().ioBuffer(VirtioNetHeader.LENGTH);
                VirtioNetHeader.write(frame, mtu, header);
                out = ctx.alloc().compositeDirectBuffer(2).addComponents(true, header, frame);
            }
            if (out.getByte(out.readerIndex() + 1) != 0) { // gso_type: the frame goes out as a large segment
                gsoOut.inc();
            }
            ctx.write(out, promise);
            return;
        }
        ctx.write(msg, promise);
    }
}
