package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Splits a byte stream into frames using {@link Framing}'s prefix; Netty's decoder does the splitting and
 * the frames it yields are retained slices of the read buffer (no copy).
 *
 * <p>The declared length is checked before Netty sees it: 0 (gvproxy would crash on it) or more than
 * {@link VirtualSwitch#MAX_FRAME} makes the rest of the stream meaningless, so the decoder counts
 * {@code transport.badFrameLength}, logs, discards everything that follows and closes this channel only.
 */
final class LengthPrefixedFrameDecoder extends LengthFieldBasedFrameDecoder {
    private static final Logger LOG = Logger.getLogger(LengthPrefixedFrameDecoder.class.getName());

    private final Framing framing;
    private final Counters.Counter badLength;
    private boolean failed;

    LengthPrefixedFrameDecoder(Framing framing, Counters counters) {
        super(framing.order(), VirtualSwitch.MAX_FRAME + framing.headerLength(), 0, framing.headerLength(), 0,
                framing.headerLength(), true);
        this.framing = framing;
        this.badLength = counters.counter("transport.badFrameLength");
    }

    @Override
    protected Object decode(ChannelHandlerContext ctx, ByteBuf in) throws Exception {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return null;
        }
        if (in.readableBytes() >= framing.headerLength()) {
            long length = framing.getLength(in, in.readerIndex());
            if (length == 0 || length > VirtualSwitch.MAX_FRAME) {
                failed = true;
                badLength.inc();
                LOG.log(Level.WARNING, "{0}: invalid packet size: {1} is zero or exceeds maximum {2}; closing the port",
                        new Object[] {ctx.channel(), Long.toString(length), Integer.toString(VirtualSwitch.MAX_FRAME)});
                in.skipBytes(in.readableBytes());
                ctx.close();
                return null;
            }
        }
        return super.decode(ctx, in);
    }
}
