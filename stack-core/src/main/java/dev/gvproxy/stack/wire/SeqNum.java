package dev.gvproxy.stack.wire;

/**
 * TCP sequence-number arithmetic modulo 2^32 (RFC 9293 section 3.4, RFC 1982 serial numbers), on plain
 * {@code int}s. {@code a} is "before" {@code b} when {@code (int) (a - b) < 0}, as gVisor's
 * {@code seqnum.LessThan}; comparing with {@code <} is always a bug.
 */
public final class SeqNum {
    private SeqNum() {}

    public static boolean lt(int a, int b) {
        return a - b < 0;
    }

    public static boolean le(int a, int b) {
        return a - b <= 0;
    }

    public static boolean gt(int a, int b) {
        return a - b > 0;
    }

    public static boolean ge(int a, int b) {
        return a - b >= 0;
    }

    /** {@code a + n}, wrapping. */
    public static int add(int a, int n) {
        return a + n;
    }

    /** Signed distance {@code a - b}: positive when {@code a} is after {@code b}. */
    public static int sub(int a, int b) {
        return a - b;
    }

    /** The later of two sequence numbers. */
    public static int max(int a, int b) {
        return gt(a, b) ? a : b;
    }

    /** The earlier of two sequence numbers. */
    public static int min(int a, int b) {
        return lt(a, b) ? a : b;
    }

    /**
     * True when {@code start <= seq < start + len} modulo 2^32; {@code len} is treated as unsigned and an empty
     * window contains nothing.
     */
    public static boolean inWindow(int seq, int start, int len) {
        return Integer.compareUnsigned(seq - start, len) < 0;
    }

    /** The unsigned 32-bit value, for printing. */
    public static long unsigned(int seq) {
        return seq & 0xFFFF_FFFFL;
    }
}
