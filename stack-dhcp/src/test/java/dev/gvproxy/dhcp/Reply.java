package dev.gvproxy.dhcp;

import static dev.gvproxy.testing.Frames.checksum;
import static dev.gvproxy.testing.Frames.getInt;
import static dev.gvproxy.testing.Frames.getShort;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A reply frame from the gateway, parsed by hand (not with the code under test): Ethernet, IPv4 and UDP
 * addressing, the BOOTP fields, and the options (values of repeated codes concatenated, RFC 3396).
 */
record Reply(
        long ethDst,
        long ethSrc,
        int ipSrc,
        int ipDst,
        int srcPort,
        int dstPort,
        int dhcpLen,
        int op,
        int xid,
        int flags,
        int ciaddr,
        int yiaddr,
        int siaddr,
        int giaddr,
        long chaddr,
        List<Integer> order,
        Map<Integer, byte[]> options) {

    static Reply parse(byte[] f) {
        if (getShort(f, 12) != 0x0800) {
            throw new AssertionError("not IPv4: " + Integer.toHexString(getShort(f, 12)));
        }
        int ip = 14;
        if (checksum(f, ip, 20, 0) != 0) {
            throw new AssertionError("bad IPv4 checksum");
        }
        if (f[ip + 9] != 17) {
            throw new AssertionError("not UDP");
        }
        int src = getInt(f, ip + 12);
        int dst = getInt(f, ip + 16);
        int udp = ip + 20;
        int udpLen = getShort(f, udp + 4);
        long pseudo = ((src >>> 16) & 0xFFFF) + (src & 0xFFFF) + ((dst >>> 16) & 0xFFFF) + (dst & 0xFFFF) + 17 + udpLen;
        if (checksum(f, udp, udpLen, pseudo) != 0) {
            throw new AssertionError("bad UDP checksum");
        }
        int d = udp + 8;
        int dlen = udpLen - 8;
        if (getInt(f, d + 236) != 0x63825363) {
            throw new AssertionError("no magic cookie");
        }
        Map<Integer, ByteArrayOutputStream> opts = new LinkedHashMap<>();
        List<Integer> order = new ArrayList<>();
        int i = d + 240;
        int endIdx = d + dlen;
        boolean sawEnd = false;
        while (i < endIdx) {
            int code = f[i] & 0xFF;
            if (code == 0) {
                i++;
                continue;
            }
            if (code == 255) {
                sawEnd = true;
                break;
            }
            int l = f[i + 1] & 0xFF;
            if (!opts.containsKey(code)) {
                order.add(code);
            }
            opts.computeIfAbsent(code, k -> new ByteArrayOutputStream()).write(f, i + 2, l);
            i += 2 + l;
        }
        if (!sawEnd) {
            throw new AssertionError("no END option");
        }
        for (int j = i + 1; j < endIdx; j++) {
            if (f[j] != 0) {
                throw new AssertionError("non-zero padding after END");
            }
        }
        Map<Integer, byte[]> values = new LinkedHashMap<>();
        opts.forEach((k, v) -> values.put(k, v.toByteArray()));
        return new Reply(mac(f, 0), mac(f, 6), src, dst, getShort(f, udp), getShort(f, udp + 2), dlen,
                f[d] & 0xFF, getInt(f, d + 4), getShort(f, d + 10), getInt(f, d + 12), getInt(f, d + 16),
                getInt(f, d + 20), getInt(f, d + 24), mac(f, d + 28), order, values);
    }

    static long mac(byte[] f, int off) {
        return ((long) getShort(f, off) << 32) | (getInt(f, off + 2) & 0xFFFF_FFFFL);
    }

    int type() {
        byte[] t = options.get(53);
        return t == null ? -1 : t[0] & 0xFF;
    }

    byte[] option(int code) {
        return options.get(code);
    }

    int intOption(int code) {
        byte[] v = options.get(code);
        if (v == null || v.length != 4) {
            throw new AssertionError("option " + code + " is " + Arrays.toString(v));
        }
        return getInt(v, 0);
    }

    boolean has(int code) {
        return options.containsKey(code);
    }
}
