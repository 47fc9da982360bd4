package dev.gvproxy.dhcp;

import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.ByteBuf;

/**
 * A DHCP message (RFC 2131 section 2, BOOTP layout of RFC 951), a flyweight over {@code (ByteBuf, off)} where
 * {@code off} is the absolute index of the UDP payload and {@code len} its length.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +---------------+---------------+---------------+---------------+
 * |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |
 * +---------------+---------------+---------------+---------------+
 * |                            xid (4)                            |
 * +-------------------------------+-------------------------------+
 * |           secs (2)            |           flags (2)           |
 * +-------------------------------+-------------------------------+
 * |                          ciaddr  (4)                          |
 * |                          yiaddr  (4)                          |
 * |                          siaddr  (4)                          |
 * |                          giaddr  (4)                          |
 * +---------------------------------------------------------------+
 * |                          chaddr  (16)                         |
 * |                          sname   (64)                         |
 * |                          file    (128)                        |
 * +---------------------------------------------------------------+
 * |                 magic cookie 99.130.83.99 (4)                 |
 * +---------------------------------------------------------------+
 * |                          options (variable)                   |
 * +---------------------------------------------------------------+
 * </pre>
 *
 * <p>Options are TLVs ({@code code, len, data}) except PAD (0) and END (255), which are one byte. {@link #check}
 * walks every option once with bounds checks (a code without its length byte, a length running past the
 * region, a region without END, and a bad option-overload value are errors), also walking {@code file} and
 * {@code sname} when option 52 says they carry options. After it returned null, {@link #option} and the
 * accessors cannot throw. Buffers are <b>borrowed</b>.
 */
public final class DhcpPacket {
    public static final int OP_REQUEST = 1;
    public static final int OP_REPLY = 2;
    public static final int HTYPE_ETHERNET = 1;
    public static final int MAGIC_COOKIE = 0x63825363;
    /** Fixed header plus cookie: where options start. */
    public static final int OPTIONS = 240;
    /** BOOTP's minimum message size (RFC 951: 64-byte vendor area); replies are padded to it. */
    public static final int BOOTP_MIN_LEN = 300;
    /** Flags bit 15: the client cannot receive unicast before it is configured (RFC 2131 section 4.1). */
    public static final int FLAG_BROADCAST = 0x8000;

    static final int OP = 0;
    static final int HTYPE = 1;
    static final int HLEN = 2;
    static final int HOPS = 3;
    static final int XID = 4;
    static final int SECS = 8;
    static final int FLAGS = 10;
    static final int CIADDR = 12;
    static final int YIADDR = 16;
    static final int SIADDR = 20;
    static final int GIADDR = 24;
    static final int CHADDR = 28;
    static final int SNAME = 44;
    static final int FILE = 108;
    static final int MAGIC = 236;
    static final int SNAME_LEN = 64;
    static final int FILE_LEN = 128;

    private DhcpPacket() {}

    /** Why a DHCP message was rejected. */
    public enum Error {
        /** Shorter than the fixed header and cookie. */
        TRUNCATED("dhcp.truncated"),
        BAD_MAGIC("dhcp.badMagic"),
        /** An option code at the very end of its region, without a length byte. */
        TRUNCATED_OPTION("dhcp.truncatedOption"),
        /** An option whose length runs past the end of its region. */
        OVERLONG_OPTION("dhcp.overlongOption"),
        /** An option region not terminated by END (255). */
        MISSING_END("dhcp.missingEnd"),
        /** Option 52 with a length other than 1 or a value other than 1, 2, 3. */
        BAD_OVERLOAD("dhcp.badOverload");

        private final String counter;

        Error(String counter) {
            this.counter = counter;
        }

        /** Counter name, {@code <layer>.<reason>}. */
        public String counter() {
            return counter;
        }
    }

    private static final Error[] ERRORS = Error.values();

    /**
     * Null when {@code len} bytes at {@code off} hold a DHCP message with the magic cookie and well-formed
     * options. Never throws. buf: borrowed.
     */
    public static Error check(ByteBuf buf, int off, int len) {
        if (len < OPTIONS || off < 0 || off > buf.capacity() - len) {
            return Error.TRUNCATED;
        }
        if (buf.getInt(off + MAGIC) != MAGIC_COOKIE) {
            return Error.BAD_MAGIC;
        }
        int overload = walk(buf, off + OPTIONS, off + len);
        if (overload < 0) {
            return ERRORS[-overload - 1];
        }
        if (overload > 3) {
            return Error.BAD_OVERLOAD;
        }
        if ((overload & 1) != 0) {
            int r = walk(buf, off + FILE, off + FILE + FILE_LEN);
            if (r < 0) {
                return ERRORS[-r - 1];
            }
        }
        if ((overload & 2) != 0) {
            int r = walk(buf, off + SNAME, off + SNAME + SNAME_LEN);
            if (r < 0) {
                return ERRORS[-r - 1];
            }
        }
        return null;
    }

    /**
     * Walks the options in {@code [start, end)}: returns the option-overload value found (0 if none), or
     * {@code -(error.ordinal() + 1)}.
     */
    private static int walk(ByteBuf buf, int start, int end) {
        int overload = 0;
        int i = start;
        while (i < end) {
            int code = buf.getUnsignedByte(i);
            if (code == DhcpOption.PAD) {
                i++;
                continue;
            }
            if (code == DhcpOption.END) {
                return overload;
            }
            if (i + 1 >= end) {
                return -(Error.TRUNCATED_OPTION.ordinal() + 1);
            }
            int l = buf.getUnsignedByte(i + 1);
            if (i + 2 + l > end) {
                return -(Error.OVERLONG_OPTION.ordinal() + 1);
            }
            if (code == DhcpOption.OVERLOAD) {
                if (l != 1) {
                    return -(Error.BAD_OVERLOAD.ordinal() + 1);
                }
                overload = buf.getUnsignedByte(i + 2);
                if (overload < 1) {
                    return -(Error.BAD_OVERLOAD.ordinal() + 1);
                }
            }
            i += 2 + l;
        }
        return -(Error.MISSING_END.ordinal() + 1);
    }

    /**
     * The absolute index of the first option {@code code} (its code byte), or -1: the options field first,
     * then {@code file} and {@code sname} if overloaded (RFC 2131 section 4.1 order). Safe on any input.
     */
    public static int option(ByteBuf buf, int off, int len, int code) {
        if (len < OPTIONS || off < 0 || off > buf.capacity() - len) {
            return -1;
        }
        int found = find(buf, off + OPTIONS, off + len, code);
        if (found >= 0 || code == DhcpOption.OVERLOAD) {
            return found;
        }
        int ov = find(buf, off + OPTIONS, off + len, DhcpOption.OVERLOAD);
        int overload = ov >= 0 ? buf.getUnsignedByte(ov + 2) : 0;
        if ((overload & 1) != 0) {
            found = find(buf, off + FILE, off + FILE + FILE_LEN, code);
            if (found >= 0) {
                return found;
            }
        }
        if ((overload & 2) != 0) {
            found = find(buf, off + SNAME, off + SNAME + SNAME_LEN, code);
        }
        return found;
    }

    private static int find(ByteBuf buf, int start, int end, int code) {
        int i = start;
        while (i < end) {
            int c = buf.getUnsignedByte(i);
            if (c == DhcpOption.PAD) {
                i++;
                continue;
            }
            if (c == DhcpOption.END || i + 1 >= end) {
                return -1;
            }
            int l = buf.getUnsignedByte(i + 1);
            if (i + 2 + l > end) {
                return -1;
            }
            if (c == code) {
                return i;
            }
            i += 2 + l;
        }
        return -1;
    }

    /** Length of the option whose code byte is at absolute index {@code idx} (from {@link #option}). */
    public static int optionLength(ByteBuf buf, int idx) {
        return buf.getUnsignedByte(idx + 1);
    }

    /** Absolute index of the data of the option at {@code idx}. */
    public static int optionData(int idx) {
        return idx + 2;
    }

    /** Option 53's value, or -1 when it is absent or not one byte long. */
    public static int messageType(ByteBuf buf, int off, int len) {
        int o = option(buf, off, len, DhcpOption.MESSAGE_TYPE);
        if (o < 0 || optionLength(buf, o) != 1) {
            return -1;
        }
        return buf.getUnsignedByte(o + 2);
    }

    /** A 4-byte address option's value, or 0 when it is absent or not four bytes long. */
    public static int addressOption(ByteBuf buf, int off, int len, int code) {
        int o = option(buf, off, len, code);
        if (o < 0 || optionLength(buf, o) != 4) {
            return 0;
        }
        return buf.getInt(o + 2);
    }

    /** A 2-byte option's value (e.g. 57, max message size), or -1 when absent or of another length. */
    public static int shortOption(ByteBuf buf, int off, int len, int code) {
        int o = option(buf, off, len, code);
        if (o < 0 || optionLength(buf, o) != 2) {
            return -1;
        }
        return buf.getUnsignedShort(o + 2);
    }

    /** The data of option {@code code} as a new array, or null when absent. */
    public static byte[] optionBytes(ByteBuf buf, int off, int len, int code) {
        int o = option(buf, off, len, code);
        if (o < 0) {
            return null;
        }
        byte[] b = new byte[optionLength(buf, o)];
        buf.getBytes(o + 2, b);
        return b;
    }

    public static int op(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + OP);
    }

    public static int htype(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + HTYPE);
    }

    public static int hlen(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + HLEN);
    }

    public static int hops(ByteBuf buf, int off) {
        return buf.getUnsignedByte(off + HOPS);
    }

    public static int xid(ByteBuf buf, int off) {
        return buf.getInt(off + XID);
    }

    public static int secs(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + SECS);
    }

    public static int flags(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + FLAGS);
    }

    public static int ciaddr(ByteBuf buf, int off) {
        return buf.getInt(off + CIADDR);
    }

    public static int yiaddr(ByteBuf buf, int off) {
        return buf.getInt(off + YIADDR);
    }

    public static int siaddr(ByteBuf buf, int off) {
        return buf.getInt(off + SIADDR);
    }

    public static int giaddr(ByteBuf buf, int off) {
        return buf.getInt(off + GIADDR);
    }

    /** The first six bytes of {@code chaddr}: the client's MAC for htype 1, hlen 6. */
    public static long chaddrMac(ByteBuf buf, int off) {
        return MacAddress.get(buf, off + CHADDR);
    }

    /** All 16 bytes of {@code chaddr}, echoed in replies. */
    public static byte[] chaddr(ByteBuf buf, int off) {
        byte[] b = new byte[16];
        buf.getBytes(off + CHADDR, b);
        return b;
    }
}
