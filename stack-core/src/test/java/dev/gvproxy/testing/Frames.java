package dev.gvproxy.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

/**
 * Hand-rolled frame builders for tests, written independently of the {@code wire} package (so tests do
 * not use the code under test to make their input). Checksums use a byte-at-a-time reference.
 */
public final class Frames {
    public static final long GW_MAC = 0x5a94efe40cddL;
    public static final long GUEST_MAC = 0x5a94efe40ceeL;
    public static final int GW_IP = ip("192.168.127.1");
    public static final int GUEST_IP = ip("192.168.127.2");
    public static final int HOST_IP = ip("192.168.127.254");

    private Frames() {}

    public static int ip(String s) {
        String[] p = s.split("\\.");
        return (Integer.parseInt(p[0]) << 24) | (Integer.parseInt(p[1]) << 16) | (Integer.parseInt(p[2]) << 8)
                | Integer.parseInt(p[3]);
    }

    /** Reference Internet checksum, one byte at a time. */
    public static int checksum(byte[] b, int off, int len, long initial) {
        long sum = initial;
        for (int i = 0; i < len; i++) {
            sum += (i & 1) == 0 ? (b[off + i] & 0xFF) << 8 : b[off + i] & 0xFF;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        return (int) (~sum & 0xFFFF);
    }

    static void putShort(byte[] b, int off, int v) {
        b[off] = (byte) (v >>> 8);
        b[off + 1] = (byte) v;
    }

    static void putInt(byte[] b, int off, int v) {
        b[off] = (byte) (v >>> 24);
        b[off + 1] = (byte) (v >>> 16);
        b[off + 2] = (byte) (v >>> 8);
        b[off + 3] = (byte) v;
    }

    static void putMac(byte[] b, int off, long mac) {
        for (int i = 0; i < 6; i++) {
            b[off + i] = (byte) (mac >>> (40 - 8 * i));
        }
    }

    public static byte[] ethernet(long dst, long src, int type, byte[] payload) {
        byte[] f = new byte[14 + payload.length];
        putMac(f, 0, dst);
        putMac(f, 6, src);
        putShort(f, 12, type);
        System.arraycopy(payload, 0, f, 14, payload.length);
        return f;
    }

    public static byte[] arp(int op, long sha, int spa, long tha, int tpa) {
        byte[] a = new byte[28];
        putShort(a, 0, 1);
        putShort(a, 2, 0x0800);
        a[4] = 6;
        a[5] = 4;
        putShort(a, 6, op);
        putMac(a, 8, sha);
        putInt(a, 14, spa);
        putMac(a, 18, tha);
        putInt(a, 24, tpa);
        return a;
    }

    /** An IPv4 datagram with a correct header checksum; flagsFrag = the raw 16-bit flags/offset field. */
    public static byte[] ipv4(int src, int dst, int proto, int id, int flagsFrag, int ttl, byte[] payload) {
        byte[] p = new byte[20 + payload.length];
        p[0] = 0x45;
        putShort(p, 2, p.length);
        putShort(p, 4, id);
        putShort(p, 6, flagsFrag);
        p[8] = (byte) ttl;
        p[9] = (byte) proto;
        putInt(p, 12, src);
        putInt(p, 16, dst);
        putShort(p, 10, checksum(p, 0, 20, 0));
        System.arraycopy(payload, 0, p, 20, payload.length);
        return p;
    }

    public static byte[] icmpEcho(int type, int id, int seq, byte[] data) {
        byte[] m = new byte[8 + data.length];
        m[0] = (byte) type;
        putShort(m, 4, id);
        putShort(m, 6, seq);
        System.arraycopy(data, 0, m, 8, data.length);
        putShort(m, 2, checksum(m, 0, m.length, 0));
        return m;
    }

    public static byte[] udp(int srcIp, int dstIp, int srcPort, int dstPort, byte[] data) {
        byte[] u = new byte[8 + data.length];
        putShort(u, 0, srcPort);
        putShort(u, 2, dstPort);
        putShort(u, 4, u.length);
        System.arraycopy(data, 0, u, 8, data.length);
        long pseudo = ((srcIp >>> 16) & 0xFFFF) + (srcIp & 0xFFFF) + ((dstIp >>> 16) & 0xFFFF) + (dstIp & 0xFFFF)
                + 17 + u.length;
        int c = checksum(u, 0, u.length, pseudo);
        putShort(u, 6, c == 0 ? 0xFFFF : c);
        return u;
    }

    /** A guest -> gateway ICMP echo request frame. */
    public static ByteBuf ping(int dst, int id, int seq, int size) {
        byte[] data = new byte[size];
        for (int i = 0; i < size; i++) {
            data[i] = (byte) i;
        }
        return Unpooled.wrappedBuffer(ethernet(GW_MAC, GUEST_MAC, 0x0800,
                ipv4(GUEST_IP, dst, 1, seq, 0x4000, 64, icmpEcho(8, id, seq, data))));
    }

    /**
     * A guest ICMPv6 message from {@code src} to {@code dst} in a frame to the gateway's MAC (checksum over the
     * IPv6 pseudo-header, hop limit 64), built by hand like the rest of this class.
     */
    public static byte[] icmpv6(dev.gvproxy.stack.wire.Ipv6Address src, dev.gvproxy.stack.wire.Ipv6Address dst,
            int type, int restOfHeader, byte[] data) {
        byte[] s6 = src.toBytes();
        byte[] d6 = dst.toBytes();
        byte[] m = new byte[8 + data.length];
        m[0] = (byte) type;
        putInt(m, 4, restOfHeader);
        System.arraycopy(data, 0, m, 8, data.length);
        long pseudo = m.length + 58;
        for (int i = 0; i < 16; i += 2) {
            pseudo += ((s6[i] & 0xFF) << 8 | (s6[i + 1] & 0xFF)) + ((d6[i] & 0xFF) << 8 | (d6[i + 1] & 0xFF));
        }
        putShort(m, 2, checksum(m, 0, m.length, pseudo));
        byte[] ip = new byte[40 + m.length];
        ip[0] = 0x60;
        putShort(ip, 4, m.length);
        ip[6] = 58;
        ip[7] = 64;
        System.arraycopy(s6, 0, ip, 8, 16);
        System.arraycopy(d6, 0, ip, 24, 16);
        System.arraycopy(m, 0, ip, 40, m.length);
        return ethernet(GW_MAC, GUEST_MAC, 0x86DD, ip);
    }

    /** A guest ICMPv6 echo request frame. */
    public static byte[] ping6(dev.gvproxy.stack.wire.Ipv6Address src, dev.gvproxy.stack.wire.Ipv6Address dst, int id,
            int seq, byte[] data) {
        return icmpv6(src, dst, 128, (id << 16) | seq, data);
    }

    public static byte[] bytes(ByteBuf b) {
        byte[] out = new byte[b.readableBytes()];
        b.getBytes(b.readerIndex(), out);
        return out;
    }

    public static int getShort(byte[] b, int off) {
        return ((b[off] & 0xFF) << 8) | (b[off + 1] & 0xFF);
    }

    public static int getInt(byte[] b, int off) {
        return (getShort(b, off) << 16) | getShort(b, off + 2);
    }
}
