package dev.gvproxy.stack.wire;

/**
 * TCP control bits as they sit in the low 12 bits of header bytes 12-13 (RFC 9293 section 3.1, RFC 3168 for
 * ECE/CWR, RFC 9768 / RFC 3540 for AE, formerly NS). The three reserved bits above AE are kept as they are so
 * that parse-then-emit is lossless.
 */
public final class TcpFlags {
    public static final int FIN = 0x001;
    public static final int SYN = 0x002;
    public static final int RST = 0x004;
    public static final int PSH = 0x008;
    public static final int ACK = 0x010;
    public static final int URG = 0x020;
    public static final int ECE = 0x040;
    public static final int CWR = 0x080;
    public static final int AE = 0x100;
    /** Every bit that {@link TcpPacket#flags} can return. */
    public static final int MASK = 0xFFF;

    private TcpFlags() {}

    public static boolean has(int flags, int bit) {
        return (flags & bit) != 0;
    }

    /** tcpdump-style letters: {@code S}, {@code S.}, {@code P.}, {@code F.}, {@code R}, ... ({@code .} is ACK). */
    public static String toString(int flags) {
        StringBuilder sb = new StringBuilder(8);
        if ((flags & SYN) != 0) {
            sb.append('S');
        }
        if ((flags & FIN) != 0) {
            sb.append('F');
        }
        if ((flags & RST) != 0) {
            sb.append('R');
        }
        if ((flags & PSH) != 0) {
            sb.append('P');
        }
        if ((flags & URG) != 0) {
            sb.append('U');
        }
        if ((flags & ECE) != 0) {
            sb.append('E');
        }
        if ((flags & CWR) != 0) {
            sb.append('W');
        }
        if ((flags & AE) != 0) {
            sb.append('A');
        }
        if ((flags & ACK) != 0) {
            sb.append('.');
        }
        if ((flags & 0xE00) != 0) {
            sb.append("[res=").append((flags >>> 9) & 7).append(']');
        }
        return sb.isEmpty() ? "none" : sb.toString();
    }
}
