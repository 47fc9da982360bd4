package dev.gvproxy;

import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.buffer.ByteBuf;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@code -debug}'s per-frame log (spec 6): one FINE line per frame crossing the switch, e.g.
 * {@code 5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 192.168.127.2:40000 > 192.168.127.1:80 TCP len 74}.
 * Bytes are untrusted: every field is read only after a length check, and odd frames are described, never
 * thrown on. The level is checked before any formatting, so an installed tap costs little when FINE is off.
 */
public final class SwitchFrameLog implements VirtualSwitch.FrameTap {
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
        int off = f.readerIndex();
        int len = f.readableBytes();
        if (len < 14) {
            return "short frame, len " + len;
        }
        StringBuilder s = new StringBuilder(96);
        mac(s, f, off + 6).append(" > ");
        mac(s, f, off).append(' ');
        int type = f.getUnsignedShort(off + 12);
        switch (type) {
            case 0x0800 -> ipv4(s, f, off + 14, len - 14);
            case 0x0806 -> {
                if (len >= 42) {
                    int op = f.getUnsignedShort(off + 20);
                    if (op == 1) {
                        s.append("ARP who-has ");
                        ip(s, f, off + 38).append(" tell ");
                        ip(s, f, off + 28);
                    } else if (op == 2) {
                        s.append("ARP reply ");
                        ip(s, f, off + 28).append(" is-at ");
                        mac(s, f, off + 22);
                    } else {
                        s.append("ARP op ").append(op);
                    }
                } else {
                    s.append("ARP (truncated)");
                }
            }
            case 0x86dd -> s.append("IPv6");
            default -> s.append(String.format(Locale.ROOT, "ethertype 0x%04x", type));
        }
        return s.append(" len ").append(len).toString();
    }

    private static void ipv4(StringBuilder s, ByteBuf f, int at, int len) {
        if (len < 20 || (f.getUnsignedByte(at) >> 4) != 4) {
            s.append("IPv4 (truncated or bad header)");
            return;
        }
        int ihl = (f.getUnsignedByte(at) & 0x0f) * 4;
        int proto = f.getUnsignedByte(at + 9);
        boolean firstFragment = (f.getUnsignedShort(at + 6) & 0x1fff) == 0;
        boolean ports = (proto == 6 || proto == 17) && firstFragment && ihl >= 20 && len >= ihl + 4;
        s.append("IPv4 ");
        ip(s, f, at + 12);
        if (ports) {
            s.append(':').append(f.getUnsignedShort(at + ihl));
        }
        s.append(" > ");
        ip(s, f, at + 16);
        if (ports) {
            s.append(':').append(f.getUnsignedShort(at + ihl + 2));
        }
        switch (proto) {
            case 1 -> {
                s.append(" ICMP");
                if (firstFragment && ihl >= 20 && len >= ihl + 2) {
                    s.append(" type ").append(f.getUnsignedByte(at + ihl)).append(" code ")
                            .append(f.getUnsignedByte(at + ihl + 1));
                }
            }
            case 6 -> {
                s.append(" TCP");
                if (ports && len >= ihl + 14) {
                    tcpFlags(s, f.getUnsignedByte(at + ihl + 13));
                }
            }
            case 17 -> s.append(" UDP");
            default -> s.append(" proto ").append(proto);
        }
        if (!firstFragment) {
            s.append(" (fragment)");
        }
    }

    private static void tcpFlags(StringBuilder s, int flags) {
        s.append(" [");
        String names = "FSRPAU";
        for (int i = 0; i < names.length(); i++) {
            if ((flags & (1 << i)) != 0) {
                s.append(names.charAt(i));
            }
        }
        s.append(']');
    }

    private static StringBuilder mac(StringBuilder s, ByteBuf f, int at) {
        for (int i = 0; i < 6; i++) {
            if (i > 0) {
                s.append(':');
            }
            int b = f.getUnsignedByte(at + i);
            s.append(Character.forDigit(b >> 4, 16)).append(Character.forDigit(b & 15, 16));
        }
        return s;
    }

    private static StringBuilder ip(StringBuilder s, ByteBuf f, int at) {
        return s.append(f.getUnsignedByte(at)).append('.').append(f.getUnsignedByte(at + 1)).append('.')
                .append(f.getUnsignedByte(at + 2)).append('.').append(f.getUnsignedByte(at + 3));
    }
}
