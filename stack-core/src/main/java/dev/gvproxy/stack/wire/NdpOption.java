package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;
import java.util.ArrayList;
import java.util.List;

/**
 * NDP options (RFC 4861 section 4.6, RFC 8106) and their walk, in the style of {@link OptionIterator}: static,
 * allocation-free, an option named by the absolute index of its type byte, the walk ending in
 * {@link OptionIterator#DONE} or {@link OptionIterator#MALFORMED}:
 *
 * <pre>{@code
 * for (int at = NdpOption.first(buf, start, end); at >= 0; at = NdpOption.next(buf, at, end)) {
 *     int type = NdpOption.type(buf, at), len = NdpOption.length(buf, at); // in bytes, type and length included
 * }
 * }</pre>
 *
 * <p>The layout differs from IPv4/TCP options: no END or NOP, and the length byte counts units of 8 octets
 * (type and length bytes included). A zero length is invalid and makes the whole message invalid (RFC 4861
 * section 6.1.1 / 6.1.2 / 7.1.1 / 7.1.2), as does a length running past the message: both end the walk with
 * {@code MALFORMED}. Within a well-formed walk, a known option whose length is wrong for its type is skipped by
 * the parsers ({@link #valid}; RFC 4861 and RFC 8106 5.3.1 say to ignore such options) and unknown types are
 * skipped (section 4.6). Buffers are <b>borrowed</b>.
 */
public final class NdpOption {
    public static final int SOURCE_LINK_LAYER_ADDRESS = 1;
    public static final int TARGET_LINK_LAYER_ADDRESS = 2;
    public static final int PREFIX_INFORMATION = 3;
    public static final int REDIRECTED_HEADER = 4;
    public static final int MTU = 5;
    /** Recursive DNS servers (RFC 8106 section 5.1). */
    public static final int RDNSS = 25;
    /** DNS search list (RFC 8106 section 5.2). */
    public static final int DNSSL = 31;

    /** Link-layer address option for Ethernet: 8 bytes, the MAC at offset 2. */
    public static final int LINK_LAYER_LEN = 8;
    public static final int PREFIX_INFORMATION_LEN = 32;
    public static final int MTU_LEN = 8;

    /** Prefix information flags (RFC 4861 section 4.6.2). */
    public static final int PREFIX_FLAG_ON_LINK = 0x80;
    public static final int PREFIX_FLAG_AUTONOMOUS = 0x40;

    /** Lifetime meaning "infinity" (RFC 4861 section 4.6.2, RFC 8106 section 5.1). */
    public static final long INFINITE = 0xFFFF_FFFFL;

    private NdpOption() {}

    /** The first option in {@code [start, end)}, or {@link OptionIterator#DONE} / {@link OptionIterator#MALFORMED}. */
    public static int first(ByteBuf buf, int start, int end) {
        return at(buf, start, end);
    }

    /** The option after the one at {@code at} (an index the walk returned). */
    public static int next(ByteBuf buf, int at, int end) {
        return at(buf, at + length(buf, at), end);
    }

    public static int type(ByteBuf buf, int at) {
        return buf.getUnsignedByte(at);
    }

    /** Length in bytes (the length field times 8). */
    public static int length(ByteBuf buf, int at) {
        return buf.getUnsignedByte(at + 1) * 8;
    }

    /** True when the options in {@code [start, end)} are well formed (no zero length, none running past). */
    public static boolean wellFormed(ByteBuf buf, int start, int end) {
        int at = first(buf, start, end);
        while (at >= 0) {
            at = next(buf, at, end);
        }
        return at == OptionIterator.DONE;
    }

    /** Absolute index of the first option of {@code type} that is {@link #valid}, or -1. */
    public static int find(ByteBuf buf, int start, int end, int type) {
        for (int at = first(buf, start, end); at >= 0; at = next(buf, at, end)) {
            if (type(buf, at) == type && valid(buf, at)) {
                return at;
            }
        }
        return -1;
    }

    /** Whether a known option has a length its type allows (unknown types: true). buf: borrowed. */
    public static boolean valid(ByteBuf buf, int at) {
        int len = length(buf, at);
        return switch (type(buf, at)) {
            case SOURCE_LINK_LAYER_ADDRESS, TARGET_LINK_LAYER_ADDRESS -> len == LINK_LAYER_LEN;
            case PREFIX_INFORMATION -> len == PREFIX_INFORMATION_LEN;
            case MTU -> len == MTU_LEN;
            case RDNSS -> len >= 24 && (len - 8) % 16 == 0;
            case DNSSL -> len >= 16;
            default -> true;
        };
    }

    private static int at(ByteBuf buf, int i, int end) {
        if (i >= end) {
            return OptionIterator.DONE;
        }
        if (end - i < 2) {
            return OptionIterator.MALFORMED;
        }
        int len = buf.getUnsignedByte(i + 1) * 8;
        return len == 0 || len > end - i ? OptionIterator.MALFORMED : i;
    }

    // ---- accessors of valid options --------------------------------------------------------------------------

    /** The Ethernet address of a source/target link-layer address option. */
    public static long linkLayerAddress(ByteBuf buf, int at) {
        return MacAddress.get(buf, at + 2);
    }

    public static int prefixLength(ByteBuf buf, int at) {
        return buf.getUnsignedByte(at + 2);
    }

    /** The L and A flags byte of a prefix information option. */
    public static int prefixFlags(ByteBuf buf, int at) {
        return buf.getUnsignedByte(at + 3);
    }

    public static long prefixValidLifetime(ByteBuf buf, int at) {
        return buf.getUnsignedInt(at + 4);
    }

    public static long prefixPreferredLifetime(ByteBuf buf, int at) {
        return buf.getUnsignedInt(at + 8);
    }

    public static Ipv6Address prefix(ByteBuf buf, int at) {
        return Ipv6Address.get(buf, at + 16);
    }

    public static long mtu(ByteBuf buf, int at) {
        return buf.getUnsignedInt(at + 4);
    }

    /** Lifetime in seconds of an RDNSS or DNSSL option. */
    public static long lifetime(ByteBuf buf, int at) {
        return buf.getUnsignedInt(at + 4);
    }

    /** The servers of an RDNSS option. */
    public static List<Ipv6Address> rdnssServers(ByteBuf buf, int at) {
        int n = (length(buf, at) - 8) / 16;
        List<Ipv6Address> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(Ipv6Address.get(buf, at + 8 + 16 * i));
        }
        return out;
    }

    /**
     * The domain names of a DNSSL option (RFC 8106 section 5.2: uncompressed DNS labels, the rest zero
     * padding), or null when they are malformed (a label running past the option, a compression pointer, a name
     * over 255 bytes, a byte that is not printable ASCII or a dot inside a label): such an option is ignored.
     */
    public static List<String> dnsslDomains(ByteBuf buf, int at) {
        int end = at + length(buf, at);
        int i = at + 8;
        List<String> out = new ArrayList<>(2);
        StringBuilder name = new StringBuilder();
        int nameLen = 0;
        while (i < end) {
            int l = buf.getUnsignedByte(i++);
            if (l == 0) {
                if (name.length() > 0) {
                    out.add(name.toString());
                    name.setLength(0);
                    nameLen = 0;
                }
                continue; // the end of a name, or padding
            }
            if (l > 63 || l > end - i || (nameLen += l + 1) > 255) {
                return null;
            }
            if (name.length() > 0) {
                name.append('.');
            }
            for (int k = 0; k < l; k++) {
                int ch = buf.getUnsignedByte(i + k);
                if (ch <= ' ' || ch >= 127 || ch == '.') {
                    return null; // not a name a resolver could search: ignore the option
                }
                name.append((char) ch);
            }
            i += l;
        }
        return name.length() > 0 ? null : out; // a name not ended by a zero label
    }

    // ---- writing ---------------------------------------------------------------------------------------------

    /** Appends a source or target link-layer address option for an Ethernet MAC. out: borrowed. */
    public static void writeLinkLayerAddress(ByteBuf out, int type, long mac) {
        out.writeByte(type);
        out.writeByte(1);
        MacAddress.write(out, mac);
    }

    /** Appends a prefix information option. out: borrowed. */
    public static void writePrefixInformation(ByteBuf out, int prefixLength, int flags, long validLifetime,
            long preferredLifetime, Ipv6Address prefix) {
        out.writeByte(PREFIX_INFORMATION);
        out.writeByte(4);
        out.writeByte(prefixLength);
        out.writeByte(flags);
        out.writeInt((int) validLifetime);
        out.writeInt((int) preferredLifetime);
        out.writeInt(0);
        prefix.write(out);
    }

    /** Appends an MTU option. out: borrowed. */
    public static void writeMtu(ByteBuf out, long mtu) {
        out.writeByte(MTU);
        out.writeByte(1);
        out.writeShort(0);
        out.writeInt((int) mtu);
    }

    /** Appends an RDNSS option. out: borrowed. */
    public static void writeRdnss(ByteBuf out, long lifetime, List<Ipv6Address> servers) {
        out.writeByte(RDNSS);
        out.writeByte(1 + 2 * servers.size());
        out.writeShort(0);
        out.writeInt((int) lifetime);
        for (Ipv6Address a : servers) {
            a.write(out);
        }
    }

    /** Bytes a DNSSL option for {@code domains} takes (header, names, zero padding to 8). */
    public static int dnsslLength(List<String> domains) {
        int n = 8;
        for (String d : domains) {
            n += encodedNameLength(d);
        }
        return (n + 7) & ~7;
    }

    /**
     * Appends a DNSSL option. out: borrowed.
     *
     * @throws IllegalArgumentException for a name that is not a DNS name (an empty label, a label over 63 bytes,
     *     a name over 255 bytes, non-ASCII)
     */
    public static void writeDnssl(ByteBuf out, long lifetime, List<String> domains) {
        int len = dnsslLength(domains);
        int start = out.writerIndex();
        out.writeByte(DNSSL);
        out.writeByte(len / 8);
        out.writeShort(0);
        out.writeInt((int) lifetime);
        for (String d : domains) {
            String n = d.endsWith(".") ? d.substring(0, d.length() - 1) : d;
            for (String label : n.split("\\.", -1)) {
                out.writeByte(label.length());
                for (int k = 0; k < label.length(); k++) {
                    out.writeByte(label.charAt(k));
                }
            }
            out.writeByte(0);
        }
        out.writeZero(start + len - out.writerIndex());
    }

    private static int encodedNameLength(String d) {
        String n = d.endsWith(".") ? d.substring(0, d.length() - 1) : d;
        if (n.isEmpty() || n.length() > 253) {
            throw new IllegalArgumentException("invalid domain name: " + d);
        }
        for (String label : n.split("\\.", -1)) {
            if (label.isEmpty() || label.length() > 63 || !label.chars().allMatch(c -> c > 32 && c < 127)) {
                throw new IllegalArgumentException("invalid domain name: " + d);
            }
        }
        return n.length() + 2;
    }
}
