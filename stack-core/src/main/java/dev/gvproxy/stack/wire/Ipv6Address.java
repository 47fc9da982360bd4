package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * An IPv6 address (RFC 4291) as a value: the 128 bits in two {@code long}s, {@code hi} holding the first eight
 * octets in network order (first octet in the high byte) and {@code lo} the last eight. Unlike IPv4 addresses
 * (an {@code int}, {@link Ipv4Address}) an IPv6 address does not fit a primitive, so the value is a record: equal
 * addresses are {@code equals}, it can key a map, and {@link #get(ByteBuf, int)} reads it without any other
 * allocation. Hot paths that only compare can use {@link #equalsAt} on the buffer instead.
 *
 * <p>Text form: {@link #toString()} is the canonical form of RFC 5952 (lower case, no leading zeros, the longest
 * run of two or more zero groups shortened to {@code ::}, the first of equal runs, IPv4-mapped addresses as
 * {@code ::ffff:192.0.2.1}); {@link #parse} accepts every form of RFC 4291 section 2.2 (also an embedded dotted
 * quad) but no zone index, prefix length or brackets.
 */
public record Ipv6Address(long hi, long lo) implements Comparable<Ipv6Address> {
    public static final int LEN = 16;

    /** {@code ::} */
    public static final Ipv6Address UNSPECIFIED = new Ipv6Address(0, 0);
    /** {@code ::1} */
    public static final Ipv6Address LOOPBACK = new Ipv6Address(0, 1);
    /** {@code ff02::1}, all nodes on the link. */
    public static final Ipv6Address ALL_NODES = new Ipv6Address(0xFF02_0000_0000_0000L, 1);
    /** {@code ff02::2}, all routers on the link. */
    public static final Ipv6Address ALL_ROUTERS = new Ipv6Address(0xFF02_0000_0000_0000L, 2);
    /** {@code ff02::1:2}, all DHCPv6 relay agents and servers (RFC 8415 section 7.1). */
    public static final Ipv6Address ALL_DHCP_AGENTS = new Ipv6Address(0xFF02_0000_0000_0000L, 0x1_0002L);

    private static final long SOLICITED_NODE_HI = 0xFF02_0000_0000_0000L;
    private static final long SOLICITED_NODE_LO = 0x0000_0001_FF00_0000L;

    /** Reads sixteen bytes at absolute index {@code off}. buf: borrowed; the caller checked the length. */
    public static Ipv6Address get(ByteBuf buf, int off) {
        return new Ipv6Address(buf.getLong(off), buf.getLong(off + 8));
    }

    /** Writes the address at absolute index {@code off}. buf: borrowed. */
    public void set(ByteBuf buf, int off) {
        buf.setLong(off, hi);
        buf.setLong(off + 8, lo);
    }

    /** Appends the address at the writer index. buf: borrowed. */
    public void write(ByteBuf buf) {
        buf.writeLong(hi);
        buf.writeLong(lo);
    }

    /** True when the sixteen bytes at {@code off} hold this address (no allocation). buf: borrowed. */
    public boolean equalsAt(ByteBuf buf, int off) {
        return buf.getLong(off) == hi && buf.getLong(off + 8) == lo;
    }

    public byte[] toBytes() {
        byte[] b = new byte[LEN];
        for (int i = 0; i < 8; i++) {
            b[i] = (byte) (hi >>> (56 - 8 * i));
            b[8 + i] = (byte) (lo >>> (56 - 8 * i));
        }
        return b;
    }

    public static Ipv6Address fromBytes(byte[] b) {
        if (b.length != LEN) {
            throw new IllegalArgumentException("an IPv6 address has 16 bytes, not " + b.length);
        }
        long h = 0;
        long l = 0;
        for (int i = 0; i < 8; i++) {
            h = (h << 8) | (b[i] & 0xFF);
            l = (l << 8) | (b[8 + i] & 0xFF);
        }
        return new Ipv6Address(h, l);
    }

    public Inet6Address toInet() {
        try {
            return (Inet6Address) InetAddress.getByAddress(toBytes());
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    /** The address without its scope (a zone index is not part of the value). */
    public static Ipv6Address fromInet(Inet6Address a) {
        return fromBytes(a.getAddress());
    }

    /** The 16-bit group {@code i} (0..7). */
    public int group(int i) {
        long w = i < 4 ? hi : lo;
        return (int) (w >>> (48 - 16 * (i & 3))) & 0xFFFF;
    }

    // ---- classification (RFC 4291 section 2.4, RFC 4193) --------------------------------------------------------

    public boolean isUnspecified() {
        return hi == 0 && lo == 0;
    }

    public boolean isLoopback() {
        return hi == 0 && lo == 1;
    }

    /** {@code ff00::/8}. */
    public boolean isMulticast() {
        return (hi >>> 56) == 0xFF;
    }

    /** Unicast link-local, {@code fe80::/10}. */
    public boolean isLinkLocal() {
        return (hi >>> 54) == (0xFE80L >>> 6);
    }

    /** Unique local (ULA, RFC 4193), {@code fc00::/7}. */
    public boolean isUniqueLocal() {
        return (hi >>> 57) == (0xFCL >>> 1);
    }

    /** IPv4-mapped, {@code ::ffff:0:0/96}. */
    public boolean isIpv4Mapped() {
        return hi == 0 && (lo >>> 32) == 0xFFFFL;
    }

    /** The {@code lo} half of the IPv4-mapped address of {@code ipv4} (its {@code hi} is 0). */
    public static long mappedLo(int ipv4) {
        return 0xFFFF_0000_0000L | (ipv4 & 0xFFFF_FFFFL);
    }

    /**
     * The IPv4-mapped address of {@code ipv4} (RFC 4291 section 2.5.5.2, {@code ::ffff:a.b.c.d}): how the
     * family-neutral layers above IP (flow keys, TCP, UDP) carry an IPv4 address. {@code ofIpv4(0)} is the IPv4
     * wildcard, distinct from {@link #UNSPECIFIED}.
     */
    public static Ipv6Address ofIpv4(int ipv4) {
        return new Ipv6Address(0, mappedLo(ipv4));
    }

    /**
     * The IPv4 address (host byte order) of an IPv4-mapped address: the last 32 bits. Meaningful only when
     * {@link #isIpv4Mapped()}; callers test that first.
     */
    public int ipv4() {
        return (int) lo;
    }

    /** The multicast scope (RFC 4291 section 2.7), e.g. 2 for link-local; meaningful for multicast only. */
    public int multicastScope() {
        return (int) (hi >>> 48) & 0x0F;
    }

    /** The solicited-node multicast address of this address (RFC 4291 section 2.7.1): {@code ff02::1:ffXX:XXXX}. */
    public Ipv6Address solicitedNode() {
        return new Ipv6Address(SOLICITED_NODE_HI, SOLICITED_NODE_LO | (lo & 0x00FF_FFFFL));
    }

    /** True for {@code ff02::1:ff00:0/104}. */
    public boolean isSolicitedNode() {
        return hi == SOLICITED_NODE_HI && (lo & 0xFFFF_FFFF_FF00_0000L) == SOLICITED_NODE_LO;
    }

    /** The Ethernet multicast MAC a multicast address maps to (RFC 2464 section 7): 33:33 and the last 32 bits. */
    public long multicastMac() {
        return 0x3333_0000_0000L | (lo & 0xFFFF_FFFFL);
    }

    /**
     * The address made of a /64 prefix and the modified EUI-64 interface identifier of a MAC (RFC 4291
     * appendix A): the universal/local bit flipped and ff:fe inserted, as SLAAC (RFC 4862) derives it.
     */
    public static Ipv6Address fromPrefixAndMac(Ipv6Address prefix, long mac) {
        long iid = ((mac & 0xFFFF_FF00_0000L) << 16) | 0x0000_00FF_FE00_0000L | (mac & 0xFF_FFFFL);
        return new Ipv6Address(prefix.hi, iid ^ 0x0200_0000_0000_0000L);
    }

    /** The link-local address SLAAC gives a MAC: {@code fe80::} and its modified EUI-64. */
    public static Ipv6Address linkLocalFromMac(long mac) {
        return fromPrefixAndMac(new Ipv6Address(0xFE80_0000_0000_0000L, 0), mac);
    }

    /** This address with all but the first {@code prefixLen} (0..128) bits cleared. */
    public Ipv6Address prefix(int prefixLen) {
        if (prefixLen < 0 || prefixLen > 128) {
            throw new IllegalArgumentException("prefix length " + prefixLen);
        }
        long mh = prefixLen == 0 ? 0 : prefixLen >= 64 ? -1L : -1L << (64 - prefixLen);
        long ml = prefixLen <= 64 ? 0 : -1L << (128 - prefixLen);
        return new Ipv6Address(hi & mh, lo & ml);
    }

    /** True when this address is in {@code prefix/prefixLen}. */
    public boolean inPrefix(Ipv6Address prefix, int prefixLen) {
        return prefix(prefixLen).equals(prefix.prefix(prefixLen));
    }

    @Override
    public int compareTo(Ipv6Address o) {
        int c = Long.compareUnsigned(hi, o.hi);
        return c != 0 ? c : Long.compareUnsigned(lo, o.lo);
    }

    // ---- text (RFC 4291 section 2.2, RFC 5952) ----------------------------------------------------------------

    /** Parses any RFC 4291 text form strictly (no zone, no prefix length, no brackets, no host names). */
    public static Ipv6Address parse(String s) {
        String t = s.trim();
        int[] groups = new int[8];
        int n = 0;
        int gap = -1; // group index where "::" stands
        int i = 0;
        int len = t.length();
        if (t.startsWith("::")) {
            gap = 0;
            i = 2;
        } else if (t.startsWith(":")) {
            throw invalid(s);
        }
        while (i < len) {
            int end = i;
            while (end < len && t.charAt(end) != ':') {
                end++;
            }
            String part = t.substring(i, end);
            if (part.indexOf('.') >= 0) {
                if (end != len || n > 6) {
                    throw invalid(s);
                }
                int v4;
                try {
                    v4 = Ipv4Address.parse(part);
                } catch (IllegalArgumentException e) {
                    throw invalid(s);
                }
                groups[n++] = v4 >>> 16;
                groups[n++] = v4 & 0xFFFF;
                i = len;
                break;
            }
            if (part.isEmpty() || part.length() > 4 || n >= 8) {
                throw invalid(s);
            }
            int g = 0;
            for (int k = 0; k < part.length(); k++) {
                int d = Character.digit(part.charAt(k), 16);
                if (d < 0) {
                    throw invalid(s);
                }
                g = (g << 4) | d;
            }
            groups[n++] = g;
            if (end == len) {
                i = len;
            } else if (end + 1 < len && t.charAt(end + 1) == ':') {
                if (gap >= 0) {
                    throw invalid(s);
                }
                gap = n;
                i = end + 2;
            } else if (end + 1 == len) {
                throw invalid(s); // trailing single colon
            } else {
                i = end + 1;
            }
        }
        if (gap < 0 ? n != 8 : n > 7) {
            throw invalid(s);
        }
        int[] full = new int[8];
        if (gap < 0) {
            full = groups;
        } else {
            System.arraycopy(groups, 0, full, 0, gap);
            System.arraycopy(groups, gap, full, 8 - (n - gap), n - gap);
        }
        long h = 0;
        long l = 0;
        for (int k = 0; k < 4; k++) {
            h = (h << 16) | full[k];
            l = (l << 16) | full[4 + k];
        }
        return new Ipv6Address(h, l);
    }

    private static IllegalArgumentException invalid(String s) {
        return new IllegalArgumentException("invalid IPv6 address: " + s);
    }

    /** The canonical text form (RFC 5952). */
    @Override
    public String toString() {
        if (isIpv4Mapped()) {
            return "::ffff:" + Ipv4Address.format((int) lo);
        }
        // Longest run of zero groups, at least two long; the first one wins a tie (RFC 5952 section 4.2.3).
        int bestAt = -1;
        int bestLen = 1;
        for (int i = 0; i < 8; ) {
            if (group(i) != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && group(j) == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestAt = i;
                bestLen = j - i;
            }
            i = j;
        }
        StringBuilder sb = new StringBuilder(39);
        for (int i = 0; i < 8; i++) {
            if (i == bestAt) {
                sb.append("::");
                i += bestLen - 1;
                continue;
            }
            if (i > 0 && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Integer.toHexString(group(i)));
        }
        return sb.toString();
    }
}
