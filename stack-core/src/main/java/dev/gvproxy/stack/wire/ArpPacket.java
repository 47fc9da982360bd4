package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;

/**
 * ARP for IPv4 over Ethernet (RFC 826), a flyweight over {@code (ByteBuf, off)} where {@code off} is the
 * absolute index of the ARP header (just after the Ethernet header).
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     hardware type (1)         |     protocol type (0x0800)    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   hlen (6)    |   plen (4)    |          operation            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         sender hardware address (6) ...  sender IP (4)        |
 * |         target hardware address (6) ...  target IP (4)        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * <p>Only the Ethernet/IPv4 form is accepted by {@link #check}; after it returns null no accessor can throw.
 * Operations are an open set (plain ints). Buffers are <b>borrowed</b>.
 */
public final class ArpPacket {
    public static final int LEN = 28;
    public static final int HTYPE_ETHERNET = 1;
    public static final int OP_REQUEST = 1;
    public static final int OP_REPLY = 2;

    private static final int HTYPE = 0;
    private static final int PTYPE = 2;
    private static final int HLEN = 4;
    private static final int PLEN = 5;
    private static final int OPER = 6;
    private static final int SHA = 8;
    private static final int SPA = 14;
    private static final int THA = 18;
    private static final int TPA = 24;

    private ArpPacket() {}

    /** Why an ARP packet was rejected. */
    public enum Error {
        TRUNCATED("arp.truncated"),
        BAD_HARDWARE_TYPE("arp.badHardwareType"),
        BAD_PROTOCOL_TYPE("arp.badProtocolType"),
        BAD_ADDRESS_LENGTH("arp.badAddressLength");

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
     * Null when {@code len} bytes at {@code off} hold an Ethernet/IPv4 ARP packet (trailing padding allowed).
     * Never throws. buf: borrowed.
     */
    public static Error check(ByteBuf buf, int off, int len) {
        if (len < LEN || off < 0 || off > buf.capacity() - len) {
            return Error.TRUNCATED;
        }
        if (buf.getUnsignedShort(off + HTYPE) != HTYPE_ETHERNET) {
            return Error.BAD_HARDWARE_TYPE;
        }
        if (buf.getUnsignedShort(off + PTYPE) != EtherType.IPV4) {
            return Error.BAD_PROTOCOL_TYPE;
        }
        if (buf.getUnsignedByte(off + HLEN) != 6 || buf.getUnsignedByte(off + PLEN) != 4) {
            return Error.BAD_ADDRESS_LENGTH;
        }
        return null;
    }

    public static int hardwareType(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + HTYPE);
    }

    public static int protocolType(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + PTYPE);
    }

    public static int operation(ByteBuf buf, int off) {
        return buf.getUnsignedShort(off + OPER);
    }

    public static long senderHardwareAddress(ByteBuf buf, int off) {
        return MacAddress.get(buf, off + SHA);
    }

    public static int senderProtocolAddress(ByteBuf buf, int off) {
        return buf.getInt(off + SPA);
    }

    public static long targetHardwareAddress(ByteBuf buf, int off) {
        return MacAddress.get(buf, off + THA);
    }

    public static int targetProtocolAddress(ByteBuf buf, int off) {
        return buf.getInt(off + TPA);
    }

    /** Appends a 28-byte Ethernet/IPv4 ARP packet at the writer index. out: borrowed. */
    public static void write(ByteBuf out, int op, long sha, int spa, long tha, int tpa) {
        out.writeShort(HTYPE_ETHERNET);
        out.writeShort(EtherType.IPV4);
        out.writeByte(6);
        out.writeByte(4);
        out.writeShort(op);
        MacAddress.write(out, sha);
        out.writeInt(spa);
        MacAddress.write(out, tha);
        out.writeInt(tpa);
    }

    /** Value form of an Ethernet/IPv4 ARP packet. */
    public record Repr(int operation, long senderHardwareAddress, int senderProtocolAddress,
            long targetHardwareAddress, int targetProtocolAddress) {

        /** Reads a packet that passed {@link ArpPacket#check}. buf: borrowed. */
        public static Repr parse(ByteBuf buf, int off) {
            return new Repr(ArpPacket.operation(buf, off), ArpPacket.senderHardwareAddress(buf, off),
                    ArpPacket.senderProtocolAddress(buf, off), ArpPacket.targetHardwareAddress(buf, off),
                    ArpPacket.targetProtocolAddress(buf, off));
        }

        public int bufferLen() {
            return LEN;
        }

        /** Appends the packet at the writer index. out: borrowed. */
        public void emit(ByteBuf out) {
            write(out, operation, senderHardwareAddress, senderProtocolAddress, targetHardwareAddress,
                    targetProtocolAddress);
        }
    }
}
