package dev.gvproxy.testing;

import java.util.ArrayList;
import java.util.List;

/**
 * Helpers shared by the fuzz tests ({@code *FuzzTest}, see FUZZING.md): how a fuzzer's byte string becomes a
 * sequence of frames or messages, and a checksum repair so mutated frames get past the checksum checks and
 * reach the deeper layers (a coverage-guided fuzzer cannot guess an Internet checksum).
 *
 * <p>Record format of multi-message inputs, chosen so seed files are easy to write from captures (see
 * {@code fuzz/make-seeds.py}): each record is {@code flags(1) length(2, big-endian) bytes(length)};
 * a short last record takes what is left. The flags byte is the test's to interpret (checksum repair, clock
 * steps). Written independently of the {@code wire} package, like {@link Frames}.
 */
public final class FuzzInput {
    /** Bound on records per input, so one input cannot run for seconds. */
    public static final int MAX_RECORDS = 64;

    private FuzzInput() {}

    /** One record of a multi-message input. */
    public record Rec(int flags, byte[] bytes) {}

    /** Splits {@code data} into at most {@link #MAX_RECORDS} records (format in the class comment). */
    public static List<Rec> records(byte[] data) {
        List<Rec> out = new ArrayList<>();
        int i = 0;
        while (i < data.length && out.size() < MAX_RECORDS) {
            int flags = data[i++] & 0xFF;
            int len = 0;
            if (i + 2 <= data.length) {
                len = ((data[i] & 0xFF) << 8) | (data[i + 1] & 0xFF);
                i += 2;
            } else {
                i = data.length;
            }
            len = Math.min(len, data.length - i);
            byte[] b = new byte[len];
            System.arraycopy(data, i, b, 0, len);
            i += len;
            out.add(new Rec(flags, b));
        }
        return out;
    }

    /**
     * A copy of an Ethernet frame with the IPv4 header checksum and the TCP, UDP or ICMP checksum recomputed
     * over the lengths the headers claim (clamped to the bytes present), or for IPv6 the TCP, UDP or ICMPv6
     * checksum behind the extension headers; frames that are neither, or too short for the field, are copied
     * unchanged. Fragments keep their L4 checksum (it spans all fragments).
     */
    public static byte[] repairChecksums(byte[] frame) {
        byte[] f = frame.clone();
        if (f.length >= 14 + 40 && (f[12] & 0xFF) == 0x86 && (f[13] & 0xFF) == 0xDD && (f[14] & 0xF0) == 0x60) {
            repairIpv6(f);
            return f;
        }
        if (f.length < 14 + 20 || (f[12] & 0xFF) != 0x08 || f[13] != 0x00 || (f[14] & 0xF0) != 0x40) {
            return f;
        }
        int ihl = (f[14] & 0x0F) * 4;
        if (ihl < 20 || 14 + ihl > f.length) {
            return f;
        }
        f[24] = 0;
        f[25] = 0;
        Frames.putShort(f, 24, Frames.checksum(f, 14, ihl, 0));
        int total = Frames.getShort(f, 16);
        int end = Math.min(f.length, 14 + Math.max(total, ihl));
        int l4 = 14 + ihl;
        int l4Len = end - l4;
        boolean fragment = (Frames.getShort(f, 20) & 0x3FFF) != 0;
        if (fragment || l4Len <= 0) {
            return f;
        }
        int proto = f[23] & 0xFF;
        long pseudo = ((long) Frames.getShort(f, 26) + Frames.getShort(f, 28) + Frames.getShort(f, 30)
                + Frames.getShort(f, 32) + proto + l4Len);
        int at;
        switch (proto) {
            case 6 -> at = 16;
            case 17 -> at = 6;
            case 1 -> {
                at = 2;
                pseudo = 0;
            }
            default -> {
                return f;
            }
        }
        if (l4Len < at + 2) {
            return f;
        }
        f[l4 + at] = 0;
        f[l4 + at + 1] = 0;
        int c = Frames.checksum(f, l4, l4Len, pseudo);
        if (proto == 17 && c == 0) {
            c = 0xFFFF;
        }
        Frames.putShort(f, l4 + at, c);
        return f;
    }

    /**
     * The IPv6 part of {@link #repairChecksums}: follows up to eight extension headers of the usual layout (hop-by-hop,
     * routing, destination options, AH), stops at a fragment, and recomputes the TCP, UDP or ICMPv6 checksum under
     * the IPv6 pseudo-header over the payload length claimed (clamped to the bytes present).
     */
    private static void repairIpv6(byte[] f) {
        int end = Math.min(f.length, 14 + 40 + Frames.getShort(f, 18));
        int nh = f[20] & 0xFF;
        int at = 14 + 40;
        for (int n = 0; n < 8 && (nh == 0 || nh == 43 || nh == 60 || nh == 51); n++) {
            if (end - at < 2) {
                return;
            }
            int len = nh == 51 ? ((f[at + 1] & 0xFF) + 2) * 4 : ((f[at + 1] & 0xFF) + 1) * 8;
            nh = f[at] & 0xFF;
            at += len;
        }
        int l4Len = end - at;
        int ck;
        switch (nh) {
            case 6 -> ck = 16;
            case 17 -> ck = 6;
            case 58 -> ck = 2;
            default -> {
                return;
            }
        }
        if (l4Len < ck + 2) {
            return;
        }
        long pseudo = nh + l4Len;
        for (int i = 14 + 8; i < 14 + 40; i += 2) {
            pseudo += Frames.getShort(f, i);
        }
        f[at + ck] = 0;
        f[at + ck + 1] = 0;
        int c = Frames.checksum(f, at, l4Len, pseudo);
        if (nh == 17 && c == 0) {
            c = 0xFFFF;
        }
        Frames.putShort(f, at + ck, c);
    }
}
