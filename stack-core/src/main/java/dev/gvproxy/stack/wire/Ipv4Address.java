package dev.gvproxy.stack.wire;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/** IPv4 addresses held in an {@code int} (network order: first octet in the high byte). Static helpers only. */
public final class Ipv4Address {
    public static final int ANY = 0;
    public static final int BROADCAST = 0xFFFF_FFFF;

    private Ipv4Address() {}

    /** Parses a dotted quad strictly (no host names, no shortened forms). */
    public static int parse(String s) {
        String[] p = s.trim().split("\\.", -1);
        if (p.length != 4) {
            throw new IllegalArgumentException("invalid IP address: " + s);
        }
        int v = 0;
        for (String part : p) {
            if (part.isEmpty() || part.length() > 3 || !part.chars().allMatch(Character::isDigit)) {
                throw new IllegalArgumentException("invalid IP address: " + s);
            }
            int o = Integer.parseInt(part);
            if (o > 255) {
                throw new IllegalArgumentException("invalid IP address: " + s);
            }
            v = (v << 8) | o;
        }
        return v;
    }

    public static String format(int a) {
        return ((a >>> 24) & 0xFF) + "." + ((a >>> 16) & 0xFF) + "." + ((a >>> 8) & 0xFF) + "." + (a & 0xFF);
    }

    public static Inet4Address toInet(int a) {
        try {
            return (Inet4Address) InetAddress.getByAddress(
                    new byte[] {(byte) (a >>> 24), (byte) (a >>> 16), (byte) (a >>> 8), (byte) a});
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    public static int fromInet(Inet4Address a) {
        byte[] b = a.getAddress();
        return ((b[0] & 0xFF) << 24) | ((b[1] & 0xFF) << 16) | ((b[2] & 0xFF) << 8) | (b[3] & 0xFF);
    }

    /** Netmask for a prefix length 0..32. */
    public static int mask(int prefixLen) {
        return prefixLen == 0 ? 0 : -1 << (32 - prefixLen);
    }

    /** True for 169.254.0.0/16. */
    public static boolean isLinkLocal(int a) {
        return (a >>> 16) == 0xA9FE;
    }

    public static boolean isMulticast(int a) {
        return (a >>> 28) == 0xE;
    }
}
