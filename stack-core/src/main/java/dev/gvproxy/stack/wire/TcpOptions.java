package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * TCP option kinds and TCP's rules on top of the shared {@link OptionIterator} walk.
 *
 * <p>Validation rules ({@link #check}): END stops the walk (the rest is padding); NOP is one byte; every other
 * option needs a length byte, at least 2, not running past the header. The kinds the stack understands must
 * also have their exact length (MSS 4, window scale 3, SACK-permitted 2, timestamps 10, SACK 2 + 8n with
 * n = 1..4); a known kind with another length is malformed. Unknown kinds are fine and kept raw by
 * {@link TcpRepr}. Buffers are <b>borrowed</b>.
 */
public final class TcpOptions {
    public static final int END = OptionIterator.END;
    public static final int NOP = OptionIterator.NOP;
    /** Maximum segment size (RFC 9293 section 3.2). */
    public static final int MSS = 2;
    /** Window scale (RFC 7323 section 2). */
    public static final int WINDOW_SCALE = 3;
    /** SACK permitted (RFC 2018). */
    public static final int SACK_PERMITTED = 4;
    /** SACK blocks (RFC 2018). */
    public static final int SACK = 5;
    /** Timestamps (RFC 7323 section 3). */
    public static final int TIMESTAMPS = 8;

    public static final int MSS_LEN = 4;
    public static final int WINDOW_SCALE_LEN = 3;
    public static final int SACK_PERMITTED_LEN = 2;
    public static final int TIMESTAMPS_LEN = 10;
    /** At most four SACK blocks fit in 40 bytes of options. */
    public static final int MAX_SACK_BLOCKS = 4;
    /** RFC 7323 section 2.3: shifts above 14 are treated as 14. */
    public static final int MAX_WINDOW_SCALE = 14;

    private TcpOptions() {}

    /**
     * The first option in {@code [start, end)} by {@link OptionIterator}'s walk, with TCP's rule added: a kind the
     * stack understands with another length than its own is {@link OptionIterator#MALFORMED}. buf: borrowed.
     */
    public static int first(ByteBuf buf, int start, int end) {
        return fitting(buf, OptionIterator.first(buf, start, end));
    }

    /** The option after the one at {@code at}, as {@link #first} walks. buf: borrowed. */
    public static int next(ByteBuf buf, int at, int end) {
        return fitting(buf, OptionIterator.next(buf, at, end));
    }

    private static int fitting(ByteBuf buf, int at) {
        return at >= 0 && !lengthFits(OptionIterator.kind(buf, at), OptionIterator.length(buf, at))
                ? OptionIterator.MALFORMED : at;
    }

    /**
     * True when the option bytes in {@code [start, end)} are well formed (see the class comment). Never throws
     * for indexes inside the buffer. buf: borrowed.
     */
    public static boolean check(ByteBuf buf, int start, int end) {
        int at = first(buf, start, end);
        while (at >= 0) {
            at = next(buf, at, end);
        }
        return at == OptionIterator.DONE;
    }

    /** Whether {@code olen} is a valid total length for an option of {@code kind}; any length for unknown kinds. */
    public static boolean lengthFits(int kind, int olen) {
        return switch (kind) {
            case MSS -> olen == MSS_LEN;
            case WINDOW_SCALE -> olen == WINDOW_SCALE_LEN;
            case SACK_PERMITTED -> olen == SACK_PERMITTED_LEN;
            case TIMESTAMPS -> olen == TIMESTAMPS_LEN;
            case SACK -> olen >= 10 && olen <= 2 + 8 * MAX_SACK_BLOCKS && ((olen - 2) & 7) == 0;
            default -> olen >= 2;
        };
    }

    /**
     * Receives one header's options as {@link #decode} reads them, in arrival order. The one decoder of TCP
     * options: the receive path's reused segment holder and the {@link TcpRepr} value both fill themselves
     * through it, so a kind is decoded in one place.
     */
    public interface Sink {
        /** The MSS option's value. */
        void mss(int mss);

        /** The window scale option's shift as sent (not clamped). */
        void windowScale(int shift);

        /** SACK-permitted is present. */
        void sackPermitted();

        /** The timestamps option's TSval and TSecr. */
        void timestamps(int tsVal, int tsEcr);

        /**
         * A SACK option with {@code blocks} (1..4) pairs; edge {@code i} (left0, right0, left1, ...) is
         * {@code buf.getInt(at + 2 + 4 * i)}. buf: borrowed, only during the call.
         */
        void sack(ByteBuf buf, int at, int blocks);

        /** An option of a kind not listed above, {@code length} raw bytes at {@code at}. buf: borrowed. */
        void unknown(ByteBuf buf, int at, int length);
    }

    /**
     * Decodes the options in {@code [start, end)} of a header that passed {@link #check} into {@code sink}.
     * Should the walk meet a malformed option anyway, it stops there (decoding stays total). buf: borrowed.
     */
    public static void decode(ByteBuf buf, int start, int end, Sink sink) {
        for (int at = first(buf, start, end); at >= 0; at = next(buf, at, end)) {
            int olen = OptionIterator.length(buf, at);
            switch (OptionIterator.kind(buf, at)) {
                case MSS -> sink.mss(buf.getUnsignedShort(at + 2));
                case WINDOW_SCALE -> sink.windowScale(buf.getUnsignedByte(at + 2));
                case SACK_PERMITTED -> sink.sackPermitted();
                case TIMESTAMPS -> sink.timestamps(buf.getInt(at + 2), buf.getInt(at + 6));
                case SACK -> sink.sack(buf, at, (olen - 2) / 8);
                default -> sink.unknown(buf, at, olen);
            }
        }
    }

    /**
     * Absolute index of the first option of {@code kind} in {@code [start, end)} (options already checked), or
     * -1. For looking up one option without building a {@link TcpRepr}. buf: borrowed.
     */
    public static int find(ByteBuf buf, int start, int end, int kind) {
        return OptionIterator.find(buf, start, end, kind);
    }

    public static String kindName(int kind) {
        return switch (kind) {
            case END -> "eol";
            case NOP -> "nop";
            case MSS -> "mss";
            case WINDOW_SCALE -> "wscale";
            case SACK_PERMITTED -> "sackOK";
            case SACK -> "sack";
            case TIMESTAMPS -> "TS";
            default -> "opt-" + kind;
        };
    }
}
