package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * Neighbor Discovery messages (RFC 4861): router solicitation and advertisement, neighbor solicitation and
 * advertisement, and redirect, as flyweights over the ICMPv6 message at absolute index {@code off} ({@code len}
 * bytes, the ICMPv6 header included). Offsets below count from the ICMPv6 type byte.
 *
 * <pre>
 * RS  133: type code checksum | reserved(4)                                          | options at 8
 * RA  134: type code checksum | cur hop limit, M O flags, router lifetime(2)
 *          | reachable time(4) | retrans timer(4)                                    | options at 16
 * NS  135: type code checksum | reserved(4) | target(16)                             | options at 24
 * NA  136: type code checksum | R S O flags, reserved | target(16)                   | options at 24
 * Redirect 137: type code checksum | reserved(4) | target(16) | destination(16)      | options at 40
 * </pre>
 *
 * <p>{@link #check} is the validation of RFC 4861 sections 6.1.1, 6.1.2, 7.1.1, 7.1.2 and 8.1, run after
 * {@link Icmpv6Packet#check} (checksum) on an ICMPv6 message in the checked IPv6 packet at {@code ipOff}: hop
 * limit 255 (the message cannot have come from off the link), code 0, the fixed part present, every option with
 * a non-zero length inside the message ({@link NdpOption}), and the per-message address rules. A redirect is
 * recognised and validated but the stack, being the only router of its link, ignores it (the caller counts it).
 * NDP messages that arrived fragmented must be dropped before this check (RFC 6980): they cannot be checked here
 * anyway, the hop limit and addresses being read from the IPv6 header at {@code ipOff}.
 * Buffers are <b>borrowed</b>.
 */
public final class NdpPacket {
    public static final int RS_LEN = 8;
    public static final int RA_LEN = 16;
    public static final int NS_LEN = 24;
    public static final int NA_LEN = 24;
    public static final int REDIRECT_LEN = 40;

    /** The hop limit every NDP message is sent with and must arrive with. */
    public static final int HOP_LIMIT = 255;

    /** RA flags (byte 5). */
    public static final int RA_FLAG_MANAGED = 0x80;
    public static final int RA_FLAG_OTHER = 0x40;
    /** NA flags (byte 4). */
    public static final int NA_FLAG_ROUTER = 0x80;
    public static final int NA_FLAG_SOLICITED = 0x40;
    public static final int NA_FLAG_OVERRIDE = 0x20;

    private NdpPacket() {}

    /** Why an NDP message was rejected. */
    public enum Error {
        /** Shorter than the fixed part of its type. */
        TRUNCATED("ndp.truncated"),
        /** Hop limit other than 255: the message was forwarded by a router. */
        BAD_HOP_LIMIT("ndp.badHopLimit"),
        BAD_CODE("ndp.badCode"),
        /** An option with length zero, or one running past the message. */
        BAD_OPTION_LENGTH("ndp.badOptionLength"),
        /** A multicast target address (NS, NA), or a redirect target that is neither link-local nor its destination. */
        BAD_TARGET("ndp.badTarget"),
        /**
         * A source the message may not come from: an RA or redirect not from a link-local address, an RS or NS from
         * {@code ::} carrying a source link-layer address option.
         */
        BAD_SOURCE("ndp.badSource"),
        /** A duplicate address detection NS ({@code ::} source) not sent to a solicited-node address. */
        BAD_DESTINATION("ndp.badDestination"),
        /** A solicited NA sent to a multicast address. */
        BAD_FLAGS("ndp.badFlags");

        private final String counter;

        Error(String counter) {
            this.counter = counter;
        }

        /** Counter name, {@code <layer>.<reason>}. */
        public String counter() {
            return counter;
        }
    }

    /** True for the ICMPv6 types this class knows (133-137). */
    public static boolean isNdp(int type) {
        return type >= Icmpv6Packet.TYPE_ROUTER_SOLICITATION && type <= Icmpv6Packet.TYPE_REDIRECT;
    }

    /** Length of the fixed part of an NDP message type (where its options start), or -1 for other types. */
    public static int fixedLength(int type) {
        return switch (type) {
            case Icmpv6Packet.TYPE_ROUTER_SOLICITATION -> RS_LEN;
            case Icmpv6Packet.TYPE_ROUTER_ADVERTISEMENT -> RA_LEN;
            case Icmpv6Packet.TYPE_NEIGHBOR_SOLICITATION -> NS_LEN;
            case Icmpv6Packet.TYPE_NEIGHBOR_ADVERTISEMENT -> NA_LEN;
            case Icmpv6Packet.TYPE_REDIRECT -> REDIRECT_LEN;
            default -> -1;
        };
    }

    /**
     * Null when the NDP message ({@link #isNdp} type) of {@code len} bytes at {@code off}, in the IPv6 packet at
     * {@code ipOff}, is valid; {@link Icmpv6Packet#check} must have passed. Never throws. buf: borrowed.
     */
    public static Error check(ByteBuf buf, int off, int len, int ipOff) {
        int type = Icmpv6Packet.type(buf, off);
        int fixed = fixedLength(type);
        if (fixed < 0 || len < fixed) {
            return Error.TRUNCATED;
        }
        if (Ipv6Packet.hopLimit(buf, ipOff) != HOP_LIMIT) {
            return Error.BAD_HOP_LIMIT;
        }
        if (Icmpv6Packet.code(buf, off) != 0) {
            return Error.BAD_CODE;
        }
        int end = off + len;
        if (!NdpOption.wellFormed(buf, off + fixed, end)) {
            return Error.BAD_OPTION_LENGTH;
        }
        Ipv6Address src = Ipv6Packet.src(buf, ipOff);
        boolean fromUnspecified = src.isUnspecified();
        switch (type) {
            case Icmpv6Packet.TYPE_ROUTER_SOLICITATION -> {
                if (fromUnspecified && hasOption(buf, off + fixed, end, NdpOption.SOURCE_LINK_LAYER_ADDRESS)) {
                    return Error.BAD_SOURCE;
                }
            }
            case Icmpv6Packet.TYPE_ROUTER_ADVERTISEMENT -> {
                if (!src.isLinkLocal()) {
                    return Error.BAD_SOURCE;
                }
            }
            case Icmpv6Packet.TYPE_NEIGHBOR_SOLICITATION -> {
                if (target(buf, off).isMulticast()) {
                    return Error.BAD_TARGET;
                }
                if (fromUnspecified) {
                    if (!Ipv6Packet.dst(buf, ipOff).isSolicitedNode()) {
                        return Error.BAD_DESTINATION;
                    }
                    if (hasOption(buf, off + fixed, end, NdpOption.SOURCE_LINK_LAYER_ADDRESS)) {
                        return Error.BAD_SOURCE;
                    }
                }
            }
            case Icmpv6Packet.TYPE_NEIGHBOR_ADVERTISEMENT -> {
                if (target(buf, off).isMulticast()) {
                    return Error.BAD_TARGET;
                }
                if (solicited(buf, off) && Ipv6Packet.dstIsMulticast(buf, ipOff)) {
                    return Error.BAD_FLAGS;
                }
            }
            default -> { // redirect
                if (!src.isLinkLocal()) {
                    return Error.BAD_SOURCE;
                }
                Ipv6Address target = target(buf, off);
                if (target.isMulticast() || (!target.isLinkLocal() && !target.equals(redirectDestination(buf, off)))) {
                    return Error.BAD_TARGET;
                }
                if (redirectDestination(buf, off).isMulticast()) {
                    return Error.BAD_DESTINATION;
                }
            }
        }
        return null;
    }

    private static boolean hasOption(ByteBuf buf, int start, int end, int type) {
        for (int at = NdpOption.first(buf, start, end); at >= 0; at = NdpOption.next(buf, at, end)) {
            if (NdpOption.type(buf, at) == type) {
                return true;
            }
        }
        return false;
    }

    /** Absolute index of the first option of a checked message. */
    public static int optionsOffset(ByteBuf buf, int off) {
        return off + fixedLength(Icmpv6Packet.type(buf, off));
    }

    /** The target address of an NS, NA or redirect. */
    public static Ipv6Address target(ByteBuf buf, int off) {
        return Ipv6Address.get(buf, off + 8);
    }

    /** Absolute index of the target address of an NS, NA or redirect (for allocation-free comparisons). */
    public static int targetOffset(int off) {
        return off + 8;
    }

    /** The destination address of a redirect. */
    public static Ipv6Address redirectDestination(ByteBuf buf, int off) {
        return Ipv6Address.get(buf, off + 24);
    }

    // ---- RA fields -----------------------------------------------------------------------------------------------

    public static int curHopLimit(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + 4);
    }

    public static int raFlags(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + 5);
    }

    /** Router lifetime in seconds (0: not a default router). */
    public static int routerLifetime(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + 6);
    }

    /** Reachable time in milliseconds (0: unspecified). */
    public static long reachableTime(ByteBuf buf, int off) {
        return buf.getUnsignedInt(off + 8);
    }

    /** Retransmission timer in milliseconds (0: unspecified). */
    public static long retransTimer(ByteBuf buf, int off) {
        return buf.getUnsignedInt(off + 12);
    }

    // ---- NA flags ------------------------------------------------------------------------------------------------

    public static int naFlags(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + 4);
    }

    public static boolean router(ByteBuf buf, int off) {
        return (naFlags(buf, off) & NA_FLAG_ROUTER) != 0;
    }

    public static boolean solicited(ByteBuf buf, int off) {
        return (naFlags(buf, off) & NA_FLAG_SOLICITED) != 0;
    }

    public static boolean override(ByteBuf buf, int off) {
        return (naFlags(buf, off) & NA_FLAG_OVERRIDE) != 0;
    }
}
