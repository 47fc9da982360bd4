package dev.gvproxy.agent;

import dev.gvproxy.stack.wire.FrameDescription;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;

/** One-line decode of an Ethernet frame for {@code -debug}: {@link FrameDescription}'s, as the switch logs it. */
final class FrameLog {
    private FrameLog() {}

    /** @param b <b>borrowed</b>: {@code len} bytes at {@code off} are the frame; its position is not changed */
    static String describe(ByteBuffer b, int off, int len) {
        ByteBuf view = Unpooled.wrappedBuffer(b.slice(off, len));
        try {
            return FrameDescription.describe(view);
        } finally {
            view.release();
        }
    }
}
