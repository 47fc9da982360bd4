package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * 48-bit IEEE 802 MAC addresses held in the low 48 bits of a {@code long}, so that the data path never
 * allocates for them. Static helpers only.
 */
public final class MacAddress {
    public static final long BROADCAST = 0xFFFF_FFFF_FFFFL;
    public static final long ZERO = 0L;

    private MacAddress() {}

    /** Reads six bytes at {@code off} (borrowed buffer, absolute index, caller checked the length). */
    public static long get(ByteBuf buf, int off) {
        return ((long) buf.getUnsignedShort(off) << 32) | buf.getUnsignedInt(off + 2);
    }

    /** Writes six bytes at absolute index {@code off}. */
    public static void set(ByteBuf buf, int off, long mac) {
        buf.setShort(off, (int) (mac >>> 32));
        buf.setInt(off + 2, (int) mac);
    }

    /** Appends six bytes at the writer index. */
    public static void write(ByteBuf buf, long mac) {
        buf.writeShort((int) (mac >>> 32));
        buf.writeInt((int) mac);
    }

    /** True for group (multicast and broadcast) addresses: I/G bit of the first octet. */
    public static boolean isMulticast(long mac) {
        return ((mac >>> 40) & 0x01) != 0;
    }

    public static boolean isBroadcast(long mac) {
        return mac == BROADCAST;
    }

    /** Parses {@code xx:xx:xx:xx:xx:xx} (also {@code -} separators), case-insensitive. */
    public static long parse(String s) {
        String t = s.trim();
        String[] parts = t.split("[:-]");
        if (parts.length != 6) {
            throw new IllegalArgumentException("invalid MAC address: " + s);
        }
        long v = 0;
        for (String p : parts) {
            if (p.isEmpty() || p.length() > 2) {
                throw new IllegalArgumentException("invalid MAC address: " + s);
            }
            int b;
            try {
                b = Integer.parseInt(p, 16);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("invalid MAC address: " + s, e);
            }
            v = (v << 8) | b;
        }
        return v;
    }

    /** Formats as lower-case {@code xx:xx:xx:xx:xx:xx}, as gvproxy prints MACs. */
    public static String format(long mac) {
        StringBuilder sb = new StringBuilder(17);
        for (int i = 5; i >= 0; i--) {
            int b = (int) (mac >>> (i * 8)) & 0xFF;
            sb.append(Character.forDigit(b >> 4, 16)).append(Character.forDigit(b & 0xF, 16));
            if (i > 0) {
                sb.append(':');
            }
        }
        return sb.toString();
    }

    /** A random unicast, locally administered address (for vpnkit VMs without a configured MAC). */
    public static long randomLocal(java.util.random.RandomGenerator rnd) {
        long v = rnd.nextLong() & BROADCAST;
        long first = (v >>> 40) & 0xFF;
        first = (first | 0x02) & ~0x01L;
        return (first << 40) | (v & 0xFF_FFFF_FFFFL);
    }
}
