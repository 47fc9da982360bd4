package dev.gvproxy.agent;

import java.nio.ByteBuffer;
import java.util.Locale;

/** One-line decode of an Ethernet frame for {@code -debug} (never throws on short or odd frames). */
final class FrameLog {
    private FrameLog() {}

    static String describe(ByteBuffer b, int off, int len) {
        if (len < 14) {
            return "short frame, " + len + " bytes";
        }
        StringBuilder s = new StringBuilder();
        s.append(mac(b, off + 6)).append(" > ").append(mac(b, off)).append(", ");
        int type = b.getShort(off + 12) & 0xffff;
        switch (type) {
            case 0x0800 -> {
                if (len >= 34) {
                    int proto = b.get(off + 23) & 0xff;
                    s.append("IPv4 ").append(ip(b, off + 26)).append(" > ").append(ip(b, off + 30))
                            .append(switch (proto) {
                                case 1 -> " ICMP";
                                case 6 -> " TCP";
                                case 17 -> " UDP";
                                default -> " proto " + proto;
                            });
                } else {
                    s.append("IPv4 (truncated)");
                }
            }
            case 0x0806 -> {
                if (len >= 42) {
                    int op = b.getShort(off + 20) & 0xffff;
                    s.append(op == 1 ? "ARP who-has " + ip(b, off + 38) + " tell " + ip(b, off + 28)
                            : op == 2 ? "ARP reply " + ip(b, off + 28) + " is-at " + mac(b, off + 22)
                            : "ARP op " + op);
                } else {
                    s.append("ARP (truncated)");
                }
            }
            case 0x86dd -> s.append("IPv6");
            default -> s.append(String.format(Locale.ROOT, "ethertype 0x%04x", type));
        }
        return s.append(", length ").append(len).toString();
    }

    private static String mac(ByteBuffer b, int at) {
        return String.format(Locale.ROOT, "%02x:%02x:%02x:%02x:%02x:%02x", b.get(at), b.get(at + 1), b.get(at + 2),
                b.get(at + 3), b.get(at + 4), b.get(at + 5));
    }

    private static String ip(ByteBuffer b, int at) {
        return (b.get(at) & 0xff) + "." + (b.get(at + 1) & 0xff) + "." + (b.get(at + 2) & 0xff) + "."
                + (b.get(at + 3) & 0xff);
    }
}
