package dev.gvproxy.dhcp;

import io.netty.buffer.ByteBuf;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A DHCP message as a value, for building replies: the fixed BOOTP fields and an ordered option list.
 * {@link #emit} writes the header, the magic cookie, the options in list order (a value longer than 255
 * bytes is split into consecutive instances of the same code, RFC 3396), END, and PAD bytes up to the
 * BOOTP minimum of 300 bytes. {@code sname} and {@code file} are always zero.
 *
 * @param op {@link DhcpPacket#OP_REPLY} for replies
 * @param chaddr the 16-byte client hardware address field, echoed from the request
 * @param options emitted in this order
 */
public record DhcpRepr(
        int op,
        int htype,
        int hlen,
        int xid,
        int flags,
        int ciaddr,
        int yiaddr,
        int siaddr,
        int giaddr,
        byte[] chaddr,
        List<Option> options) {

    /** One option: code and raw data (any length; split on emit when above 255). */
    public record Option(int code, byte[] data) {
        public Option {
            if (code <= DhcpOption.PAD || code >= DhcpOption.END) {
                throw new IllegalArgumentException("not a TLV option code: " + code);
            }
        }

        /** Encoded size, including the split into 255-byte chunks. */
        public int encodedLength() {
            int chunks = Math.max(1, (data.length + 254) / 255);
            return 2 * chunks + data.length;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Option other && other.code == code && Arrays.equals(other.data, data);
        }

        @Override
        public int hashCode() {
            return 31 * code + Arrays.hashCode(data);
        }

        @Override
        public String toString() {
            return code + "=" + java.util.HexFormat.of().formatHex(data);
        }
    }

    public DhcpRepr {
        if (chaddr.length != 16) {
            throw new IllegalArgumentException("chaddr must be 16 bytes");
        }
        chaddr = chaddr.clone();
        options = List.copyOf(options);
    }

    /** The encoded size: header, cookie, options, END, padded to 300. */
    public int bufferLen() {
        int n = DhcpPacket.OPTIONS + 1;
        for (Option o : options) {
            n += o.encodedLength();
        }
        return Math.max(n, DhcpPacket.BOOTP_MIN_LEN);
    }

    /** Appends the message at the writer index. out: borrowed. */
    public void emit(ByteBuf out) {
        int start = out.writerIndex();
        out.writeByte(op);
        out.writeByte(htype);
        out.writeByte(hlen);
        out.writeByte(0); // hops
        out.writeInt(xid);
        out.writeShort(0); // secs
        out.writeShort(flags);
        out.writeInt(ciaddr);
        out.writeInt(yiaddr);
        out.writeInt(siaddr);
        out.writeInt(giaddr);
        out.writeBytes(chaddr);
        out.writeZero(DhcpPacket.SNAME_LEN + DhcpPacket.FILE_LEN);
        out.writeInt(DhcpPacket.MAGIC_COOKIE);
        for (Option o : options) {
            byte[] d = o.data();
            int pos = 0;
            do {
                int n = Math.min(255, d.length - pos);
                out.writeByte(o.code());
                out.writeByte(n);
                out.writeBytes(d, pos, n);
                pos += n;
            } while (pos < d.length);
        }
        out.writeByte(DhcpOption.END);
        int written = out.writerIndex() - start;
        if (written < DhcpPacket.BOOTP_MIN_LEN) {
            out.writeZero(DhcpPacket.BOOTP_MIN_LEN - written);
        }
    }

    /** The data of the first option {@code code}, or null. */
    public byte[] option(int code) {
        for (Option o : options) {
            if (o.code() == code) {
                return o.data();
            }
        }
        return null;
    }

    /** Option 53, or -1. */
    public int messageType() {
        byte[] t = option(DhcpOption.MESSAGE_TYPE);
        return t != null && t.length == 1 ? t[0] & 0xFF : -1;
    }

    /** A reply skeleton: {@code op} BOOTREPLY, header fields to be set, options appended in order. */
    public static Builder reply() {
        return new Builder();
    }

    /** Mutable builder; options keep their insertion order. */
    public static final class Builder {
        private int htype = DhcpPacket.HTYPE_ETHERNET;
        private int hlen = 6;
        private int xid;
        private int flags;
        private int ciaddr;
        private int yiaddr;
        private int siaddr;
        private int giaddr;
        private byte[] chaddr = new byte[16];
        private final List<Option> options = new ArrayList<>();

        public Builder hardware(int htype, int hlen, byte[] chaddr16) {
            this.htype = htype;
            this.hlen = hlen;
            this.chaddr = chaddr16;
            return this;
        }

        public Builder xid(int xid) {
            this.xid = xid;
            return this;
        }

        public Builder flags(int flags) {
            this.flags = flags;
            return this;
        }

        public Builder ciaddr(int ip) {
            this.ciaddr = ip;
            return this;
        }

        public Builder yiaddr(int ip) {
            this.yiaddr = ip;
            return this;
        }

        public Builder siaddr(int ip) {
            this.siaddr = ip;
            return this;
        }

        public Builder giaddr(int ip) {
            this.giaddr = ip;
            return this;
        }

        public Builder option(int code, byte[] data) {
            options.add(new Option(code, data));
            return this;
        }

        public Builder optionByte(int code, int v) {
            return option(code, new byte[] {(byte) v});
        }

        public Builder optionShort(int code, int v) {
            return option(code, new byte[] {(byte) (v >>> 8), (byte) v});
        }

        public Builder optionInt(int code, int v) {
            return option(code, intBytes(v));
        }

        /** A list of IPv4 addresses (options 3, 6). */
        public Builder optionAddresses(int code, List<Integer> ips) {
            byte[] b = new byte[4 * ips.size()];
            for (int i = 0; i < ips.size(); i++) {
                System.arraycopy(intBytes(ips.get(i)), 0, b, 4 * i, 4);
            }
            return option(code, b);
        }

        public boolean has(int code) {
            for (Option o : options) {
                if (o.code() == code) {
                    return true;
                }
            }
            return false;
        }

        /** Removes every instance of {@code code}; true if there was one. */
        public boolean remove(int code) {
            return options.removeIf(o -> o.code() == code);
        }

        public DhcpRepr build() {
            return new DhcpRepr(DhcpPacket.OP_REPLY, htype, hlen, xid, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr,
                    options);
        }
    }

    static byte[] intBytes(int v) {
        return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v};
    }
}
