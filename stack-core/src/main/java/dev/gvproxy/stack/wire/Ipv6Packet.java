package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * IPv6 header (RFC 8200) and its extension-header chain, a flyweight over {@code (ByteBuf, off)} where
 * {@code off} is the absolute index of the IPv6 header.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version| Traffic Class |           Flow Label                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Payload Length        |  Next Header  |   Hop Limit   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                Source Address (128 bits)                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |             Destination Address (128 bits)                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * <p>{@link #check} validates the fixed header: version and payload length against the bytes available (the
 * packet is {@code 40 + payloadLength} bytes even when the frame carries padding). There is no header
 * checksum: the upper layers' checksums cover the addresses through the pseudo-header
 * ({@link Checksums#ipv6PseudoHeader}).
 *
 * <p>{@link #walk} then follows the Next Header chain (RFC 8200 section 4) into a caller-owned, reusable
 * {@link Chain}, allocation-free:
 * <ul>
 *   <li>at most {@code maxHeaders} extension headers are walked; one more is {@link Error#TOO_MANY_HEADERS}
 *       (a guest cannot make the stack walk a packet full of empty headers);</li>
 *   <li>hop-by-hop options only directly after the IPv6 header; anywhere else it is an unrecognised Next
 *       Header (section 4.3), answered with a Parameter Problem code 1;</li>
 *   <li>hop-by-hop and destination options are walked (section 4.2): Pad1, PadN and Router Alert are known,
 *       an unknown option acts as its two high-order type bits say (skip, discard, discard and report with
 *       code 2, the last only for a unicast destination);</li>
 *   <li>a routing header with segments left is refused with code 0 pointing at its type (section 4.4: the stack
 *       implements no routing type, and terminates rather than forwards);</li>
 *   <li>a fragment header of a real fragment ends the walk: the rest is fragment data for the reassembler
 *       ({@link dev.gvproxy.stack.ip.FragmentReassembler}), and the caller walks the reassembled payload again
 *       from the fragment header's Next Header with {@link #walkPayload}. An atomic fragment (offset 0, M clear,
 *       RFC 6946) is walked through;</li>
 *   <li>any other Next Header value ends the walk as the upper-layer protocol (an open set, as everywhere in
 *       this package), also the extension headers the stack does not implement (AH, ESP, Mobility, HIP, Shim6):
 *       {@link Chain#protocol()} with {@link Chain#protocolPointer()}, the offset of the Next Header field that
 *       named it, which is what a Parameter Problem code 1 for an unsupported protocol needs (section 4).</li>
 * </ul>
 * On an error {@link Chain#problemCode()} and {@link Chain#problemPointer()} say which ICMPv6 Parameter Problem
 * (RFC 4443 section 3.4) RFC 8200 asks for, already filtered by RFC 4443 section 2.4 (e) (no error about a
 * packet sent to a multicast address, but for code 2 of an option whose type says so); -1 means a silent drop.
 * Rate limiting and not answering {@code ::} are the sender's business. Buffers are <b>borrowed</b>.
 */
public final class Ipv6Packet {
    public static final int HEADER_LEN = 40;
    /** Room a segment keeps in front of itself for the Ethernet and fixed IPv6 headers (see {@code Ipv6Output}). */
    public static final int FRAME_HEADROOM = EthernetFrame.HEADER_LEN + HEADER_LEN;
    /** The minimum link MTU of IPv6 (RFC 8200 section 5). */
    public static final int MIN_MTU = 1280;
    /** Extension headers {@link #walk} follows unless told otherwise. */
    public static final int DEFAULT_MAX_EXTENSION_HEADERS = 8;

    /** Next Header values (IANA), an open set. Upper layers are in {@link IpProtocol}. */
    public static final int NH_HOP_BY_HOP = 0;
    public static final int NH_ROUTING = 43;
    public static final int NH_FRAGMENT = 44;
    public static final int NH_ESP = 50;
    public static final int NH_AUTH = 51;
    public static final int NH_NONE = 59;
    public static final int NH_DEST_OPTIONS = 60;
    public static final int NH_MOBILITY = 135;
    public static final int NH_HIP = 139;
    public static final int NH_SHIM6 = 140;
    public static final int NH_EXPERIMENT1 = 253;
    public static final int NH_EXPERIMENT2 = 254;

    /** Hop-by-hop and destination option types (RFC 8200 section 4.2, RFC 2711). */
    public static final int OPT_PAD1 = 0;
    public static final int OPT_PADN = 1;
    public static final int OPT_ROUTER_ALERT = 5;

    public static final int FRAGMENT_HEADER_LEN = 8;

    /** ICMPv6 Parameter Problem codes (RFC 4443 section 3.4). */
    public static final int PROBLEM_ERRONEOUS_FIELD = 0;
    public static final int PROBLEM_UNRECOGNIZED_NEXT_HEADER = 1;
    public static final int PROBLEM_UNRECOGNIZED_OPTION = 2;

    private static final int VTF = 0;
    private static final int PAYLOAD_LEN = 4;
    private static final int NEXT_HEADER = 6;
    private static final int HOP_LIMIT = 7;
    private static final int SRC = 8;
    private static final int DST = 24;

    private Ipv6Packet() {}

    /** Why an IPv6 packet was rejected. */
    public enum Error {
        /** Fewer bytes than the fixed header or the payload length say. */
        TRUNCATED("ipv6.truncated"),
        BAD_VERSION("ipv6.badVersion"),
        /** An extension header (or its options) running past the payload. */
        BAD_EXTENSION_LENGTH("ipv6.badExtensionLength"),
        /** More extension headers than the configured bound. */
        TOO_MANY_HEADERS("ipv6.tooManyExtensionHeaders"),
        /** A hop-by-hop options header anywhere but first. */
        HOP_BY_HOP_NOT_FIRST("ipv6.hopByHopNotFirst"),
        /** An unknown option whose type says to discard the packet. */
        UNKNOWN_OPTION("ipv6.unknownOption"),
        /** A malformed option (a length running past its header). */
        BAD_OPTION("ipv6.badOption"),
        /** A routing header with segments left (none is implemented; the stack is the final destination). */
        ROUTING_HEADER("ipv6.routingHeader"),
        /** A non-final fragment whose length is not a multiple of 8, or one that ends beyond 65,535 bytes. */
        BAD_FRAGMENT("ipv6.badFragment");

        private final String counter;

        Error(String counter) {
            this.counter = counter;
        }

        /** Counter name, {@code <layer>.<reason>}. */
        public String counter() {
            return counter;
        }
    }

    /**
     * Null when the bytes at {@code off} hold a well-formed fixed IPv6 header and the payload it announces.
     * {@code len} is the number of bytes available (it may exceed {@link #totalLength}). Never throws.
     * buf: borrowed.
     */
    public static Error check(ByteBuf buf, int off, int len) {
        if (len < HEADER_LEN || off < 0 || off > buf.capacity() - len) {
            return Error.TRUNCATED;
        }
        if (version(buf, off) != 6) {
            return Error.BAD_VERSION;
        }
        if (HEADER_LEN + payloadLength(buf, off) > len) {
            return Error.TRUNCATED;
        }
        return null;
    }

    public static int version(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + VTF) >>> 4;
    }

    /** Traffic class: DSCP (high 6 bits) and ECN (low 2 bits). */
    public static int trafficClass(ByteBuf buf, int off) {
        return (buf.getInt(off + VTF) >>> 20) & 0xFF;
    }

    public static int flowLabel(ByteBuf buf, int off) {
        return buf.getInt(off + VTF) & 0xF_FFFF;
    }

    /** Bytes after the fixed header, extension headers included. */
    public static int payloadLength(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + PAYLOAD_LEN);
    }

    /** {@code 40 + payloadLength}. */
    public static int totalLength(ByteBuf buf, int off) {
        return HEADER_LEN + payloadLength(buf, off);
    }

    /** The Next Header field of the fixed header. */
    public static int nextHeader(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + NEXT_HEADER);
    }

    public static int hopLimit(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + HOP_LIMIT);
    }

    public static Ipv6Address src(ByteBuf buf, int off) {
        return Ipv6Address.get(buf, off + SRC);
    }

    public static Ipv6Address dst(ByteBuf buf, int off) {
        return Ipv6Address.get(buf, off + DST);
    }

    /** Absolute index of the source address (for allocation-free comparisons and checksums). */
    public static int srcOffset(int off) {
        return off + SRC;
    }

    /** Absolute index of the destination address. */
    public static int dstOffset(int off) {
        return off + DST;
    }

    /** True when the destination is multicast, read in place. */
    public static boolean dstIsMulticast(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + DST) == 0xFF;
    }

    // ---- setters (in place) --------------------------------------------------------------------------------------

    public static void setPayloadLength(ByteBuf buf, int off, int payloadLength) {
        buf.setShort(off + PAYLOAD_LEN, payloadLength);
    }

    public static void setNextHeader(ByteBuf buf, int off, int nextHeader) {
        buf.setByte(off + NEXT_HEADER, nextHeader);
    }

    public static void setHopLimit(ByteBuf buf, int off, int hopLimit) {
        buf.setByte(off + HOP_LIMIT, hopLimit);
    }

    public static void setSrc(ByteBuf buf, int off, Ipv6Address src) {
        src.set(buf, off + SRC);
    }

    public static void setDst(ByteBuf buf, int off, Ipv6Address dst) {
        dst.set(buf, off + DST);
    }

    // ---- writing -------------------------------------------------------------------------------------------------

    /**
     * Appends a 40-byte header at the writer index.
     *
     * @param out borrowed
     * @param payloadLength bytes after this header, extension headers included
     */
    public static void writeHeader(ByteBuf out, int trafficClass, int flowLabel, int payloadLength, int nextHeader,
            int hopLimit, Ipv6Address src, Ipv6Address dst) {
        out.ensureWritable(HEADER_LEN);
        out.writeInt((6 << 28) | ((trafficClass & 0xFF) << 20) | (flowLabel & 0xF_FFFF));
        out.writeShort(payloadLength);
        out.writeByte(nextHeader);
        out.writeByte(hopLimit);
        src.write(out);
        dst.write(out);
    }

    /**
     * Appends a fragment header (RFC 8200 section 4.5). out: borrowed.
     *
     * @param fragmentOffsetBytes offset of this fragment's data in the fragmentable part, a multiple of 8
     */
    public static void writeFragmentHeader(ByteBuf out, int nextHeader, int fragmentOffsetBytes, boolean more,
            int identification) {
        out.ensureWritable(FRAGMENT_HEADER_LEN);
        out.writeByte(nextHeader);
        out.writeByte(0);
        out.writeShort((fragmentOffsetBytes & 0xFFF8) | (more ? 1 : 0));
        out.writeInt(identification);
    }

    // ---- fragment header (at absolute index fh) ------------------------------------------------------------------

    public static int fragmentNextHeader(ByteBuf buf, int fh) {
        return buf.getUnsignedByte(fh);
    }

    /** Fragment offset in bytes (the 13-bit field times 8). */
    public static int fragmentOffset(ByteBuf buf, int fh) {
        return buf.getUnsignedShort(fh + 2) & 0xFFF8;
    }

    /** The M flag: more fragments follow. */
    public static boolean moreFragments(ByteBuf buf, int fh) {
        return (buf.getUnsignedShort(fh + 2) & 1) != 0;
    }

    public static int fragmentIdentification(ByteBuf buf, int fh) {
        return buf.getInt(fh + 4);
    }

    // ---- the extension-header chain ------------------------------------------------------------------------------

    /**
     * Where a walk of the extension headers ended. Caller-owned and reusable (one per event loop): {@link #walk}
     * overwrites every field. Offsets named "absolute" are buffer indexes; "pointers" count from the first
     * byte of the IPv6 header, as ICMPv6 Parameter Problem pointers do.
     */
    public static final class Chain {
        private int headers;
        private int protocol;
        private int protocolPointer;
        private int payloadOffset;
        private int payloadLength;
        private int hopByHop;
        private int fragmentHeader;
        private int routerAlert;
        private int problemCode;
        private int problemPointer;

        /** Extension headers walked. */
        public int headers() {
            return headers;
        }

        /**
         * The upper-layer protocol (TCP, UDP, ICMPv6, No Next Header, ESP, or any unknown value), or for a
         * fragment the Next Header of its fragment header.
         */
        public int protocol() {
            return protocol;
        }

        /** Pointer to the Next Header field holding {@link #protocol()}: for a code 1 Parameter Problem. */
        public int protocolPointer() {
            return protocolPointer;
        }

        /** Absolute index of the upper-layer header (for a fragment: of the fragment data). */
        public int payloadOffset() {
            return payloadOffset;
        }

        /** Bytes from {@link #payloadOffset()} to the end of the packet. */
        public int payloadLength() {
            return payloadLength;
        }

        /** Absolute index of the hop-by-hop options header, or -1. */
        public int hopByHop() {
            return hopByHop;
        }

        /** Absolute index of the fragment header of a real fragment (not an atomic one), or -1. */
        public int fragmentHeader() {
            return fragmentHeader;
        }

        public boolean isFragment() {
            return fragmentHeader >= 0;
        }

        /** The Router Alert value (RFC 2711; 0 for MLD), or -1 when there is none. */
        public int routerAlert() {
            return routerAlert;
        }

        /** After an error: the Parameter Problem code to send (0, 1 or 2), or -1 to drop silently. */
        public int problemCode() {
            return problemCode;
        }

        /** After an error with a {@link #problemCode()}: the pointer to send. */
        public int problemPointer() {
            return problemPointer;
        }
    }

    /**
     * Walks the extension headers of a checked packet (see the class comment) and fills {@code chain}. Returns
     * null when the chain ends in an upper-layer protocol or a fragment, else the error (and the Parameter
     * Problem to answer with in {@code chain}). Never throws on a packet that passed {@link #check}.
     * buf: borrowed.
     *
     * @param maxHeaders how many extension headers may be walked (configuration;
     *     {@link #DEFAULT_MAX_EXTENSION_HEADERS})
     */
    public static Error walk(ByteBuf buf, int off, int maxHeaders, Chain chain) {
        return walkFrom(buf, off, nextHeader(buf, off), off + HEADER_LEN, off + totalLength(buf, off), NEXT_HEADER,
                dstIsMulticast(buf, off), maxHeaders, chain);
    }

    /**
     * Walks a reassembled fragmentable part: {@code len} bytes at {@code start} that begin with the header
     * {@code nextHeader} names (the fragment header's Next Header of the first fragment). Hop-by-hop options
     * are not allowed here. Pointers count from {@code start}. buf: borrowed.
     */
    public static Error walkPayload(ByteBuf buf, int start, int len, int nextHeader, boolean dstMulticast,
            int maxHeaders, Chain chain) {
        if (start < 0 || len < 0 || start > buf.capacity() - len) {
            throw new IndexOutOfBoundsException("payload range " + start + "+" + len);
        }
        return walkFrom(buf, start, nextHeader, start, start + len, -1, dstMulticast, maxHeaders, chain);
    }

    private static Error walkFrom(ByteBuf buf, int base, int first, int at, int end, int firstPointer,
            boolean multicast, int maxHeaders, Chain c) {
        c.headers = 0;
        c.hopByHop = -1;
        c.fragmentHeader = -1;
        c.routerAlert = -1;
        c.problemCode = -1;
        c.problemPointer = 0;
        int nh = first;
        int nhField = firstPointer; // pointer (from base) of the Next Header field that holds nh
        while (true) {
            c.protocol = nh;
            c.protocolPointer = nhField;
            c.payloadOffset = at;
            c.payloadLength = end - at;
            if (!isWalked(nh)) {
                return null;
            }
            if (nh == NH_HOP_BY_HOP && (c.headers > 0 || firstPointer < 0)) {
                return problem(c, Error.HOP_BY_HOP_NOT_FIRST, PROBLEM_UNRECOGNIZED_NEXT_HEADER, nhField,
                        multicast);
            }
            if (c.headers >= maxHeaders) {
                c.problemCode = -1;
                return Error.TOO_MANY_HEADERS;
            }
            c.headers++;
            int hdrLen;
            if (end - at < 2) {
                // The header named is (almost) not there: point at the Next Header field that named it.
                return problem(c, Error.BAD_EXTENSION_LENGTH, PROBLEM_ERRONEOUS_FIELD, Math.max(nhField, 0),
                        multicast);
            } else if (nh == NH_FRAGMENT) {
                hdrLen = FRAGMENT_HEADER_LEN;
            } else {
                hdrLen = (buf.getUnsignedByte(at + 1) + 1) * 8;
            }
            if (hdrLen > end - at) {
                return problem(c, Error.BAD_EXTENSION_LENGTH, PROBLEM_ERRONEOUS_FIELD,
                        at + (nh == NH_FRAGMENT ? 0 : 1) - base, multicast);
            }
            switch (nh) {
                case NH_HOP_BY_HOP, NH_DEST_OPTIONS -> {
                    if (nh == NH_HOP_BY_HOP) {
                        c.hopByHop = at;
                    }
                    Error e = options(buf, base, at, hdrLen, multicast, c);
                    if (e != null) {
                        return e;
                    }
                }
                case NH_ROUTING -> {
                    if (buf.getUnsignedByte(at + 3) != 0) { // segments left
                        return problem(c, Error.ROUTING_HEADER, PROBLEM_ERRONEOUS_FIELD, at + 2 - base, multicast);
                    }
                }
                case NH_FRAGMENT -> {
                    int data = end - at - FRAGMENT_HEADER_LEN;
                    boolean more = moreFragments(buf, at);
                    int fragOff = fragmentOffset(buf, at);
                    if (more && (data & 7) != 0) {
                        // RFC 8200 4.5: Parameter Problem code 0 pointing at the Payload Length field.
                        return problem(c, Error.BAD_FRAGMENT, PROBLEM_ERRONEOUS_FIELD,
                                firstPointer < 0 ? 0 : PAYLOAD_LEN, multicast);
                    }
                    // The reassembled payload: the headers before this one plus the fragmentable part.
                    if ((at - (base + (firstPointer < 0 ? 0 : HEADER_LEN))) + fragOff + data > 65535) {
                        return problem(c, Error.BAD_FRAGMENT, PROBLEM_ERRONEOUS_FIELD, at + 2 - base, multicast);
                    }
                    if (more || fragOff != 0) {
                        c.fragmentHeader = at;
                        c.protocol = buf.getUnsignedByte(at);
                        c.protocolPointer = at - base;
                        c.payloadOffset = at + FRAGMENT_HEADER_LEN;
                        c.payloadLength = data;
                        return null;
                    }
                    // An atomic fragment (RFC 6946): the packet is whole, go on.
                }
                default -> throw new AssertionError(nh);
            }
            nhField = at - base;
            nh = buf.getUnsignedByte(at);
            at += hdrLen;
        }
    }

    /**
     * True for the Next Header values {@link #walk} processes and walks through: hop-by-hop, routing, fragment
     * and destination options. The other extension headers (AH, ESP, Mobility, HIP, Shim6, experiments) are
     * protocols the stack does not implement, so as a final destination it reports them like any unknown upper
     * layer (RFC 8200 section 4).
     */
    public static boolean isWalked(int nh) {
        return nh == NH_HOP_BY_HOP || nh == NH_ROUTING || nh == NH_FRAGMENT || nh == NH_DEST_OPTIONS;
    }

    /** True for the Next Header values IANA lists as IPv6 extension headers. */
    public static boolean isExtensionHeader(int nh) {
        return switch (nh) {
            case NH_HOP_BY_HOP, NH_ROUTING, NH_FRAGMENT, NH_AUTH, NH_DEST_OPTIONS, NH_MOBILITY, NH_HIP, NH_SHIM6,
                    NH_EXPERIMENT1, NH_EXPERIMENT2 -> true;
            default -> false;
        };
    }

    /** Walks the TLV options of a hop-by-hop or destination options header of {@code hdrLen} bytes at {@code at}. */
    private static Error options(ByteBuf buf, int base, int at, int hdrLen, boolean multicast, Chain c) {
        int i = at + 2;
        int end = at + hdrLen;
        while (i < end) {
            int type = buf.getUnsignedByte(i);
            if (type == OPT_PAD1) {
                i++;
                continue;
            }
            if (end - i < 2) {
                return problem(c, Error.BAD_OPTION, PROBLEM_ERRONEOUS_FIELD, i - base, multicast);
            }
            int dataLen = buf.getUnsignedByte(i + 1);
            if (dataLen > end - i - 2) {
                return problem(c, Error.BAD_OPTION, PROBLEM_ERRONEOUS_FIELD, i + 1 - base, multicast);
            }
            if (type == OPT_ROUTER_ALERT && dataLen == 2) {
                c.routerAlert = buf.getUnsignedShort(i + 2);
            } else if (type != OPT_PADN) {
                switch (type >>> 6) {
                    case 0 -> { } // skip over this option
                    case 1 -> {
                        c.problemCode = -1;
                        return Error.UNKNOWN_OPTION;
                    }
                    case 2 -> {
                        c.problemCode = PROBLEM_UNRECOGNIZED_OPTION;
                        c.problemPointer = i - base;
                        return Error.UNKNOWN_OPTION;
                    }
                    default -> {
                        c.problemCode = multicast ? -1 : PROBLEM_UNRECOGNIZED_OPTION;
                        c.problemPointer = i - base;
                        return Error.UNKNOWN_OPTION;
                    }
                }
            }
            i += 2 + dataLen;
        }
        return null;
    }

    private static Error problem(Chain c, Error e, int code, int pointer, boolean multicast) {
        // RFC 4443 2.4 (e): no ICMPv6 error about a packet sent to a multicast address (code 2 is handled above).
        c.problemCode = multicast ? -1 : code;
        c.problemPointer = pointer;
        return e;
    }
}
