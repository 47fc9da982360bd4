package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * The one walk over header options, shared by IPv4 (RFC 791 section 3.1) and TCP (RFC 9293 section 3.1), which
 * lay options out the same way: kind 0 (END) ends the list and the rest is padding, kind 1 (NOP) is a single
 * byte, and every other kind is followed by a length byte that counts the kind and length bytes (so at least 2)
 * and must not run past the header.
 *
 * <p>Static and allocation-free, so the per-segment receive path can use it: an option is named by the absolute
 * index of its kind byte, and the walk goes
 *
 * <pre>{@code
 * for (int at = OptionIterator.first(buf, start, end); at >= 0; at = OptionIterator.next(buf, at, end)) {
 *     int kind = OptionIterator.kind(buf, at), len = OptionIterator.length(buf, at); // data at at + 2
 * }
 * }</pre>
 *
 * ending with {@link #DONE} (END or the end of the area reached) or {@link #MALFORMED} (a missing length byte,
 * a length below 2 or one running past {@code end}). NOPs are skipped; every index the walk yields has a length
 * byte that fits in {@code [start, end)}, so reading an option's own bytes never leaves the area. What a kind's
 * length must be is the protocol's rule ({@link TcpOptions#first}). Never throws for an area inside the buffer.
 * Buffers are <b>borrowed</b>.
 */
public final class OptionIterator {
    public static final int END = 0;
    public static final int NOP = 1;

    /** The walk reached END or the end of the area: every option before it was well formed. */
    public static final int DONE = -1;
    /** The walk stopped at a malformed option. */
    public static final int MALFORMED = -2;

    private OptionIterator() {}

    /** The first option in {@code [start, end)}, or {@link #DONE} / {@link #MALFORMED}. */
    public static int first(ByteBuf buf, int start, int end) {
        return skip(buf, start, end);
    }

    /** The option after the one at {@code at} (an index the walk returned), or {@link #DONE} / {@link #MALFORMED}. */
    public static int next(ByteBuf buf, int at, int end) {
        return skip(buf, at + buf.getUnsignedByte(at + 1), end);
    }

    /** The kind of the option at {@code at}. */
    public static int kind(ByteBuf buf, int at) {
        return buf.getUnsignedByte(at);
    }

    /** The total length (kind and length bytes included) of the option at {@code at}. */
    public static int length(ByteBuf buf, int at) {
        return buf.getUnsignedByte(at + 1);
    }

    /** True when the options in {@code [start, end)} are well formed (the walk ends in {@link #DONE}). */
    public static boolean wellFormed(ByteBuf buf, int start, int end) {
        int at = first(buf, start, end);
        while (at >= 0) {
            at = next(buf, at, end);
        }
        return at == DONE;
    }

    /** Absolute index of the first option of {@code kind} in {@code [start, end)}, or -1. */
    public static int find(ByteBuf buf, int start, int end, int kind) {
        for (int at = first(buf, start, end); at >= 0; at = next(buf, at, end)) {
            if (buf.getUnsignedByte(at) == kind) {
                return at;
            }
        }
        return -1;
    }

    private static int skip(ByteBuf buf, int i, int end) {
        while (i < end) {
            int kind = buf.getUnsignedByte(i);
            if (kind == END) {
                return DONE;
            }
            if (kind == NOP) {
                i++;
                continue;
            }
            if (end - i < 2) {
                return MALFORMED;
            }
            int len = buf.getUnsignedByte(i + 1);
            return len < 2 || len > end - i ? MALFORMED : i;
        }
        return DONE;
    }
}
