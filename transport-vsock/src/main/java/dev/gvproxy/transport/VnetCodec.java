package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtioNetHeader;
import dev.gvproxy.stack.wire.Headroom;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
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
 * gateway builds has it), else as a composite of a header buffer and the frame. Not sharable. A {@code TapPort}
 * whose TAP carries the same header uses {@link #receive} and {@link #send} directly.
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
        if (msg instanceof ByteBuf frame && !receive(frame)) {
            return;
        }
        ctx.fireChannelRead(msg);
    }

    /**
     * Checks a received frame's header, completes a partial checksum and strips the header.
     *
     * @param frame <b>borrowed</b> when accepted (it is then the bare Ethernet frame); <b>taken</b> (released and
     *              counted) when refused
     * @return whether the frame was accepted
     */
    boolean receive(ByteBuf frame) {
        if (frame.readableBytes() > 1 && frame.getByte(frame.readerIndex() + 1) != 0) {
            gsoIn.inc();
        }
        VirtioNetHeader.Error e = VirtioNetHeader.receive(frame);
        if (e != null) {
            refused.get(e).inc();
            frame.release();
            return false;
        }
        return true;
    }

    /** @param msg <b>taken</b> */
    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        ctx.write(msg instanceof ByteBuf frame ? send(frame, ctx.alloc()) : msg, promise);
    }

    /**
     * Puts a header in front of a frame to send, without copying the frame.
     *
     * @param frame <b>taken</b>: it is the returned buffer or a component of it
     * @return the header and the frame, to be written as one
     */
    ByteBuf send(ByteBuf frame, ByteBufAllocator alloc) {
        ByteBuf out;
        if (Headroom.isOwn(frame, VirtioNetHeader.LENGTH)) {
            int at = frame.readerIndex() - VirtioNetHeader.LENGTH;
            VirtioNetHeader.set(frame, mtu, frame, at);
            out = frame.readerIndex(at);
        } else {
            ByteBuf header = alloc.ioBuffer(VirtioNetHeader.LENGTH);
            VirtioNetHeader.write(frame, mtu, header);
            out = alloc.compositeDirectBuffer(2).addComponents(true, header, frame);
        }
        if (out.getByte(out.readerIndex() + 1) != 0) { // gso_type: the frame goes out as a large segment
            gsoOut.inc();
        }
        return out;
    }
}
