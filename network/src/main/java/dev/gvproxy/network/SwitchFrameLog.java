package dev.gvproxy.network;

import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.FrameDescription;
import io.netty.buffer.ByteBuf;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@code -debug}'s per-frame log (spec 6): one FINE line per frame crossing the switch, e.g.
 * {@code 5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 192.168.127.2:40000 > 192.168.127.1:80 TCP len 74}.
 * The line is {@link FrameDescription}'s (untrusted bytes are described, never thrown on). The level is
 * checked before any formatting, so an installed tap costs little when FINE is off.
 */
final class SwitchFrameLog implements VirtualSwitch.FrameTap {
    private final Logger log;

    public SwitchFrameLog(Logger log) {
        this.log = log;
    }

    public SwitchFrameLog() {
        this(Logger.getLogger("gvproxy.frames"));
    }

    /** @param frame <b>borrowed</b> */
    @Override
    public void frame(ByteBuf frame, long nowNanos) {
        if (log.isLoggable(Level.FINE)) {
            log.fine(describe(frame));
        }
    }

    /** Both taps see every frame, {@code first} before {@code second}; either may be null. */
    public static VirtualSwitch.FrameTap compose(VirtualSwitch.FrameTap first, VirtualSwitch.FrameTap second) {
        if (first == null) {
            return second;
        }
        if (second == null) {
            return first;
        }
        return (frame, now) -> {
            first.frame(frame, now);
            second.frame(frame, now);
        };
    }

    /** @param f <b>borrowed</b>; its indices are not changed */
    public static String describe(ByteBuf f) {
        return FrameDescription.describe(f);
    }
}
