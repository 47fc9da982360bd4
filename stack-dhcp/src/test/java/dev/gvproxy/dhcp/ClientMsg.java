package dev.gvproxy.dhcp;

import dev.gvproxy.testing.Frames;
import java.io.ByteArrayOutputStream;

/**
 * Hand-built DHCP client messages (independent of the code under test): a BOOTREQUEST with the fields and
 * options given, wrapped in UDP/IPv4/Ethernet as a client would send it.
 */
final class ClientMsg {
    static final long BCAST_MAC = 0xFFFF_FFFF_FFFFL;
    static final int BCAST = 0xFFFF_FFFF;

    int op = 1;
    int htype = 1;
    int hlen = 6;
    int xid = 0x12345678;
    int flags;
    int ciaddr;
    int yiaddr;
    int giaddr;
    long mac;
    int magic = 0x63825363;
    final ByteArrayOutputStream options = new ByteArrayOutputStream();
    byte[] file = new byte[128];
    boolean end = true;
    /** Addressing of the carrying datagram. */
    int srcIp;
    int dstIp = BCAST;
    long dstMac = BCAST_MAC;
    int srcPort = 68;
    int dstPort = 67;
    /** When >= 0, the DHCP payload is cut to this many bytes. */
    int truncateTo = -1;

    static ClientMsg of(int type, long mac) {
        ClientMsg m = new ClientMsg();
        m.mac = mac;
        m.xid = (int) (mac * 31 + type);
        return m.option(53, type);
    }

    static ClientMsg discover(long mac) {
        return of(1, mac);
    }

    /** REQUEST in SELECTING: server id + requested address, broadcast. */
    static ClientMsg select(long mac, int ip, int serverId) {
        return of(3, mac).optionInt(54, serverId).optionInt(50, ip);
    }

    /** REQUEST in INIT-REBOOT: requested address, no server id, broadcast. */
    static ClientMsg initReboot(long mac, int ip) {
        return of(3, mac).optionInt(50, ip);
    }

    /** REQUEST in RENEWING: ciaddr, unicast to the server. */
    static ClientMsg renew(long mac, int ip, int server, long serverMac) {
        ClientMsg m = of(3, mac);
        m.ciaddr = ip;
        m.srcIp = ip;
        m.dstIp = server;
        m.dstMac = serverMac;
        return m;
    }

    /** REQUEST in REBINDING: ciaddr, broadcast. */
    static ClientMsg rebind(long mac, int ip) {
        ClientMsg m = of(3, mac);
        m.ciaddr = ip;
        m.srcIp = ip;
        return m;
    }

    ClientMsg option(int code, int... bytes) {
        options.write(code);
        options.write(bytes.length);
        for (int b : bytes) {
            options.write(b);
        }
        return this;
    }

    ClientMsg optionBytes(int code, byte[] data) {
        options.write(code);
        options.write(data.length);
        options.write(data, 0, data.length);
        return this;
    }

    ClientMsg optionInt(int code, int v) {
        return option(code, (v >>> 24) & 0xFF, (v >>> 16) & 0xFF, (v >>> 8) & 0xFF, v & 0xFF);
    }

    ClientMsg raw(int... bytes) {
        for (int b : bytes) {
            options.write(b);
        }
        return this;
    }

    ClientMsg xid(int xid) {
        this.xid = xid;
        return this;
    }

    ClientMsg broadcastFlag() {
        flags = 0x8000;
        return this;
    }

    ClientMsg noEnd() {
        end = false;
        return this;
    }

    byte[] dhcp() {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(op);
        b.write(htype);
        b.write(hlen);
        b.write(0);
        writeInt(b, xid);
        writeShort(b, 0);
        writeShort(b, flags);
        writeInt(b, ciaddr);
        writeInt(b, yiaddr);
        writeInt(b, 0);
        writeInt(b, giaddr);
        for (int i = 5; i >= 0; i--) {
            b.write((int) (mac >>> (8 * i)));
        }
        b.writeBytes(new byte[10 + 64]);
        b.writeBytes(file);
        writeInt(b, magic);
        b.writeBytes(options.toByteArray());
        if (end) {
            b.write(255);
        }
        byte[] d = b.toByteArray();
        if (truncateTo >= 0) {
            d = java.util.Arrays.copyOf(d, truncateTo);
        }
        return d;
    }

    byte[] frame() {
        byte[] udp = Frames.udp(srcIp, dstIp, srcPort, dstPort, dhcp());
        return Frames.ethernet(dstMac, mac, 0x0800, Frames.ipv4(srcIp, dstIp, 17, 1, 0, 64, udp));
    }

    static void writeInt(ByteArrayOutputStream b, int v) {
        writeShort(b, v >>> 16);
        writeShort(b, v);
    }

    static void writeShort(ByteArrayOutputStream b, int v) {
        b.write((v >>> 8) & 0xFF);
        b.write(v & 0xFF);
    }
}
