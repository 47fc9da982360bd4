package dev.gvproxy.dhcp;

import io.netty.buffer.ByteBuf;

/**
 * A DHCPv6 client/server message (RFC 8415 section 8), a checked view over {@code (ByteBuf, off, len)} where
 * {@code off} is the absolute index of the UDP payload.
 *
 * <pre>
 * +---------------+-----------------------------------------------+
 * | msg-type (1)  |              transaction-id (3)               |
 * +---------------+-----------------------------------------------+
 * |  options: option-code (2), option-len (2), option-data ...    |
 * +---------------------------------------------------------------+
 * </pre>
 *
 * <p>{@link #check} walks every option once, and the options nested in each IA_NA and IAADDR, with bounds:
 * an option header or data running past its region, more than {@link #MAX_OPTIONS} options, more than
 * {@link #MAX_IA} IA_NAs or {@link #MAX_ADDRESSES} addresses in one IA, a short IA_NA/IAADDR, a client or server
 * identifier outside 2..130 octets, a duplicated identifier and an odd-length option request are errors, each
 * counted as {@code dhcpv6.<reason>}. After it returned null, {@link Dhcpv6Repr#parse} cannot throw. Relay
 * messages are not checked here (there are no relays on a virtual link; the server counts and drops them).
 * Buffers are <b>borrowed</b>.
 */
public final class Dhcpv6Packet {
    private Dhcpv6Packet() {}

    public static final int HEADER_LEN = 4;
    static final int OPTION_HEADER = 4;
    static final int IA_NA_FIXED = 12;
    static final int IAADDR_FIXED = 24;
    /** Options per message (top level plus nested) walked at most. */
    public static final int MAX_OPTIONS = 64;
    /** IA_NA options per message honoured at most. */
    public static final int MAX_IA = 8;
    /** IAADDR options per IA_NA at most. */
    public static final int MAX_ADDRESSES = 8;

    /** Why a message was dropped; {@link #counter()} is its counter name. */
    public enum Error {
        RUNT("dhcpv6.runt"),
        OPTION_OVERRUN("dhcpv6.optionOverrun"),
        TOO_MANY_OPTIONS("dhcpv6.tooManyOptions"),
        TOO_MANY_IAS("dhcpv6.tooManyIas"),
        TOO_MANY_ADDRESSES("dhcpv6.tooManyAddresses"),
        BAD_IA("dhcpv6.badIa"),
        BAD_DUID("dhcpv6.badDuid"),
        DUPLICATE_ID("dhcpv6.duplicateId"),
        BAD_ORO("dhcpv6.badOro");

        private final String counter;

        Error(String counter) {
            this.counter = counter;
        }

        public String counter() {
            return counter;
        }
    }

    public static int msgType(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off);
    }

    public static int transactionId(ByteBuf buf, int off) {
        return buf.getUnsignedMedium(off + 1);
    }

    /** Validates a client/server message; null when {@link Dhcpv6Repr#parse} may read it. */
    public static Error check(ByteBuf buf, int off, int len) {
        if (len < HEADER_LEN || off < 0 || off + len > buf.writerIndex()) {
            return Error.RUNT;
        }
        int[] budget = {MAX_OPTIONS};
        int end = off + len;
        int p = off + HEADER_LEN;
        int ias = 0;
        boolean client = false;
        boolean server = false;
        while (p < end) {
            if (--budget[0] < 0) {
                return Error.TOO_MANY_OPTIONS;
            }
            if (end - p < OPTION_HEADER) {
                return Error.OPTION_OVERRUN;
            }
            int code = buf.getUnsignedShort(p);
            int olen = buf.getUnsignedShort(p + 2);
            int data = p + OPTION_HEADER;
            if (olen > end - data) {
                return Error.OPTION_OVERRUN;
            }
            switch (code) {
                case Dhcpv6Option.CLIENTID, Dhcpv6Option.SERVERID -> {
                    if (olen < 2 || olen > Dhcpv6Option.MAX_DUID_LEN) {
                        return Error.BAD_DUID;
                    }
                    boolean seen = code == Dhcpv6Option.CLIENTID ? client : server;
                    if (seen) {
                        return Error.DUPLICATE_ID;
                    }
                    if (code == Dhcpv6Option.CLIENTID) {
                        client = true;
                    } else {
                        server = true;
                    }
                }
                case Dhcpv6Option.IA_NA -> {
                    if (++ias > MAX_IA) {
                        return Error.TOO_MANY_IAS;
                    }
                    Error e = checkIa(buf, data, olen, budget);
                    if (e != null) {
                        return e;
                    }
                }
                case Dhcpv6Option.ORO -> {
                    if ((olen & 1) != 0) {
                        return Error.BAD_ORO;
                    }
                }
                default -> { }
            }
            p = data + olen;
        }
        return null;
    }

    private static Error checkIa(ByteBuf buf, int off, int len, int[] budget) {
        if (len < IA_NA_FIXED) {
            return Error.BAD_IA;
        }
        int end = off + len;
        int p = off + IA_NA_FIXED;
        int addrs = 0;
        while (p < end) {
            if (--budget[0] < 0) {
                return Error.TOO_MANY_OPTIONS;
            }
            if (end - p < OPTION_HEADER) {
                return Error.OPTION_OVERRUN;
            }
            int code = buf.getUnsignedShort(p);
            int olen = buf.getUnsignedShort(p + 2);
            int data = p + OPTION_HEADER;
            if (olen > end - data) {
                return Error.OPTION_OVERRUN;
            }
            if (code == Dhcpv6Option.IAADDR) {
                if (olen < IAADDR_FIXED) {
                    return Error.BAD_IA;
                }
                if (++addrs > MAX_ADDRESSES) {
                    return Error.TOO_MANY_ADDRESSES;
                }
                // Options inside an IAADDR (a status code) are bounded by its length; nothing in them is read.
            }
            p = data + olen;
        }
        return null;
    }
}
