package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.Headroom;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.util.ReferenceCountUtil;

/**
 * Puts the length prefix in front of each outbound frame without copying the frame: into the frame's own buffer
 * when it has room before the frame ({@link Headroom}; every frame the gateway builds, every segment the switch cuts
 * in software, every frame a datagram or BESS guest sent does), else as a small buffer of its own from the channel's
 * allocator, written before the frame (epoll sends both with one {@code writev}): a stream guest's frame switched
 * here is a view of that guest's read buffer, whose bytes in front are not this frame's to write. Other messages
 * pass.
 */
final class LengthPrefixEncoder extends ChannelOutboundHandlerAdapter {
    private final Framing framing;
    private final Counters.Counter tooLarge;

    LengthPrefixEncoder(Framing framing, Counters counters) {
        this.framing = framing;
        this.tooLarge = counters.counter("transport.frameTooLargeForFraming");
    }

    /** @param msg <b>taken</b>: a frame {@code ByteBuf} is passed on (or released when too large). */
    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (!(msg instanceof ByteBuf frame)) {
            ctx.write(msg, promise);
            return;
        }
        int length = frame.readableBytes();
        if (length > framing.maxEncodable()) {
            // gvproxy clamps the 16-bit field and desynchronises the stream; dropping keeps the stream sane.
            tooLarge.inc();
            ReferenceCountUtil.release(frame);
            promise.trySuccess();
            return;
        }
        int prefix = framing.headerLength();
        if (Headroom.isOwn(frame, prefix)) {
            int at = frame.readerIndex() - prefix;
            framing.setLength(frame, at, length);
            frame.readerIndex(at);
            ctx.write(frame, promise);
            return;
        }
        ByteBuf header = ctx.alloc().ioBuffer(prefix);
        framing.writeLength(header, length);
        ctx.write(header, ctx.voidPromise());
        ctx.write(frame, promise);
    }
}
