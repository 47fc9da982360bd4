package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.ip.FragmentReassembler;
import dev.gvproxy.testing.FuzzInput;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * The IPv6 counterpart of the 100,000-frame malformed-frame run ({@code dev.gvproxy.stack.MalformedFrameTest}):
 * 100,000 random and mutated IPv6 frames, seeded with the Linux capture and with built frames that carry
 * extension-header chains, fragments, every NDP message and option, TCP and UDP, go through everything the wire
 * layer offers for IPv6: the receive checks (fixed header, the bounded extension-header walk, ICMPv6, NDP, UDP,
 * TCP), the reprs, the reassembler (fragments that pass, on an advancing injected clock) and the {@code -debug}
 * description. No exception may escape; every rejected frame is named by a {@code <layer>.<reason>} counter;
 * every accepted frame re-emits from its reprs into a frame that passes again; no buffer leaks (paranoid
 * LeakTracking). Until IPv6 is wired into the stack this is the guest-facing IPv6 surface.
 */
class Ipv6MalformedFrameTest {
    static final int FRAMES = 100_000;
    static final Ipv6Address GW = Ipv6Address.parse("fe80::1");
    static final Ipv6Address GUEST = Ipv6Address.parse("fe80::5894:efff:fee4:cee");
    static final Ipv6Address ULA_GW = Ipv6Address.parse("fd00::1");
    static final Ipv6Address ULA_GUEST = Ipv6Address.parse("fd00::2");
    static final long GW_MAC = 0x5a94efe40cddL;
    static final long GUEST_MAC = 0x5a94efe40ceeL;

    @Test
    void survivesAHundredThousandBadIpv6Frames() {
        Counters counters = new Counters();
        FragmentReassembler reassembler = FragmentReassembler.forIpv6(PooledByteBufAllocator.DEFAULT, counters,
                30_000_000_000L, 1 << 20);
        SplittableRandom rnd = new SplittableRandom(20261204);
        List<byte[]> seeds = seeds();
        Map<String, Integer> outcomes = new TreeMap<>();
        Ipv6Packet.Chain chain = new Ipv6Packet.Chain();
        long now = 0;
        int accepted = 0;
        int reassembled = 0;
        for (int i = 0; i < FRAMES; i++) {
            byte[] m = mutate(seeds.get(rnd.nextInt(seeds.size())), rnd);
            // A third with repaired checksums, so that mutations reach the layers behind them.
            byte[] f = rnd.nextInt(3) == 0 ? FuzzInput.repairChecksums(m) : m;
            ByteBuf buf = Unpooled.wrappedBuffer(f); // capacity ends with the frame: any read past it throws
            try {
                String err = Frames.check(buf);
                FrameDescription.describe(buf);
                outcomes.merge(err == null ? "accepted" : err, 1, Integer::sum);
                if (err != null) {
                    assertTrue(KernelCapturesTest.COUNTER.matcher(err).matches(), err);
                    continue;
                }
                accepted++;
                ByteBuf again = Frames.reemit(buf);
                try {
                    assertNull(Frames.check(again), () -> "re-emitted frame fails: " + ByteBufUtil.hexDump(f));
                } finally {
                    again.release();
                }
                if (EthernetFrame.etherType(buf, 0) == EtherType.IPV6
                        && Ipv6Packet.walk(buf, 14, Ipv6Packet.DEFAULT_MAX_EXTENSION_HEADERS, chain) == null
                        && chain.isFragment()) {
                    int fh = chain.fragmentHeader();
                    FragmentReassembler.Reassembled r = reassembler.addIpv6(Ipv6Packet.src(buf, 14),
                            Ipv6Packet.dst(buf, 14), Ipv6Packet.fragmentIdentification(buf, fh),
                            Ipv6Packet.fragmentNextHeader(buf, fh), Ipv6Packet.fragmentOffset(buf, fh),
                            Ipv6Packet.moreFragments(buf, fh), buf.slice(chain.payloadOffset(), chain.payloadLength()),
                            now);
                    if (r != null) {
                        reassembled++;
                        ByteBuf p = r.payload();
                        Ipv6Packet.walkPayload(p, p.readerIndex(), p.readableBytes(), r.nextHeader(), false, 8,
                                new Ipv6Packet.Chain());
                        p.release();
                    }
                }
            } finally {
                buf.release();
            }
            if ((i & 1023) == 0) {
                now += 1_000_000_000L; // let reassembly time out now and then
                reassembler.expire(now);
            }
        }
        reassembler.clear();
        System.out.println("IPv6 malformed-frame run: " + FRAMES + " frames, " + accepted + " accepted, "
                + reassembled + " reassembled; outcomes " + outcomes + "; reassembly " + counters.snapshot());
        // The run reached every layer: each of these was seen at least once.
        for (String c : List.of("ipv6.truncated", "ipv6.badVersion", "ipv6.badExtensionLength",
                "ipv6.tooManyExtensionHeaders", "ipv6.unknownOption", "ipv6.badFragment", "icmpv6.badChecksum",
                "ndp.badOptionLength", "ndp.badHopLimit", "udp.badChecksum", "tcp.badChecksum")) {
            assertTrue(outcomes.containsKey(c), c + " never seen: " + outcomes);
        }
        assertTrue(accepted > FRAMES / 20, "too few frames got through: " + outcomes);
        assertTrue(counters.get("ipv6.in.fragments") > 0, counters.snapshot().toString());
        assertEquals(0, reassembler.heldBytes());
    }

    static byte[] frame(long dst, long src, ByteBuf l3) {
        ByteBuf b = Unpooled.buffer();
        EthernetFrame.writeHeader(b, dst, src, EtherType.IPV6);
        b.writeBytes(l3);
        l3.release();
        byte[] out = ByteBufUtil.getBytes(b);
        b.release();
        return out;
    }

    static byte[] ndp(Ipv6Address src, Ipv6Address dst, NdpRepr m) {
        ByteBuf b = Unpooled.buffer();
        Ipv6Packet.writeHeader(b, 0, 0, m.bufferLen(), IpProtocol.ICMPV6, 255, src, dst);
        m.emit(b, src, dst);
        return frame(dst.isMulticast() ? dst.multicastMac() : GW_MAC, GUEST_MAC, b);
    }

    /** A packet with {@code ext} (raw extension headers, first named by {@code nh}) before a UDP datagram. */
    static byte[] udpBehind(int nh, String ext) {
        byte[] e = java.util.HexFormat.of().parseHex(ext);
        ByteBuf udp = Unpooled.buffer();
        new UdpRepr(5353, 53).emitIpv6(udp, ULA_GUEST, ULA_GW, Unpooled.wrappedBuffer(new byte[24]));
        ByteBuf b = Unpooled.buffer();
        Ipv6Packet.writeHeader(b, 0, 0, e.length + udp.readableBytes(), nh, 64, ULA_GUEST, ULA_GW);
        b.writeBytes(e).writeBytes(udp);
        udp.release();
        return frame(GW_MAC, GUEST_MAC, b);
    }

    static List<byte[]> seeds() {
        List<byte[]> s = new ArrayList<>(KernelCapturesTest.frames("ipv6"));
        s.add(ndp(GW, Ipv6Address.ALL_NODES, Icmpv6NdpTest.fullRa()));
        s.add(ndp(GUEST, GW.solicitedNode(), new NdpRepr.NeighborSolicitation(GW, GUEST_MAC)));
        s.add(ndp(Ipv6Address.UNSPECIFIED, ULA_GUEST.solicitedNode(),
                new NdpRepr.NeighborSolicitation(ULA_GUEST, NdpRepr.NONE)));
        s.add(ndp(GUEST, Ipv6Address.ALL_ROUTERS, new NdpRepr.RouterSolicitation(GUEST_MAC)));
        s.add(ndp(GW, GUEST, new NdpRepr.NeighborAdvertisement(true, true, true, GW, GW_MAC)));
        s.add(ndp(Ipv6Address.parse("fe80::9"), GUEST, new NdpRepr.Redirect(GW, ULA_GW, GW_MAC)));
        s.add(udpBehind(IpProtocol.UDP, ""));
        s.add(udpBehind(Ipv6Packet.NH_HOP_BY_HOP, "3c00050200000100" + "2b00010400000000"
                + "1100040000000000")); // HBH (router alert), destination options, routing (segments left 0)
        s.add(udpBehind(Ipv6Packet.NH_DEST_OPTIONS, "3c00010400000000".repeat(7)
                + "1100010400000000")); // eight headers: the bound
        s.add(udpBehind(Ipv6Packet.NH_FRAGMENT, "1100000000000007")); // atomic fragment
        s.add(udpBehind(Ipv6Packet.NH_AUTH, "11020000000000010000000100000000")); // AH of 16 bytes
        // A fragmented UDP datagram in two parts.
        for (int k = 0; k < 2; k++) {
            ByteBuf b = Unpooled.buffer();
            Ipv6Packet.writeHeader(b, 0, 0, 8 + 64, Ipv6Packet.NH_FRAGMENT, 64, ULA_GUEST, ULA_GW);
            Ipv6Packet.writeFragmentHeader(b, IpProtocol.UDP, 64 * k, k == 0, 99);
            b.writeZero(64);
            s.add(frame(GW_MAC, GUEST_MAC, b));
        }
        // A TCP SYN.
        ByteBuf tcp = Unpooled.buffer();
        tcp.writeShort(40000).writeShort(80).writeInt(1).writeInt(0).writeByte(5 << 4).writeByte(TcpFlags.SYN)
                .writeShort(65535).writeShort(0).writeShort(0);
        tcp.setShort(16, Checksums.withIpv6PseudoHeader(tcp, 0, 20, ULA_GUEST, ULA_GW, IpProtocol.TCP));
        ByteBuf b = Unpooled.buffer();
        Ipv6Packet.writeHeader(b, 0, 0, 20, IpProtocol.TCP, 64, ULA_GUEST, ULA_GW);
        b.writeBytes(tcp);
        tcp.release();
        s.add(frame(GW_MAC, GUEST_MAC, b));
        return s;
    }

    static byte[] mutate(byte[] seed, SplittableRandom rnd) {
        byte[] f = seed.clone();
        switch (rnd.nextInt(9)) {
            case 0 -> f = Arrays.copyOf(f, rnd.nextInt(f.length)); // truncated anywhere
            case 1 -> { // random byte flips
                for (int k = 0, n = 1 + rnd.nextInt(4); k < n; k++) {
                    f[rnd.nextInt(f.length)] ^= (byte) (1 + rnd.nextInt(255));
                }
            }
            case 2 -> { // version, payload length and next header games
                if (f.length > 21) {
                    switch (rnd.nextInt(3)) {
                        case 0 -> f[14] = (byte) rnd.nextInt(256);
                        case 1 -> {
                            f[18] = (byte) rnd.nextInt(256);
                            f[19] = (byte) rnd.nextInt(256);
                        }
                        default -> f[20] = (byte) new int[] {0, 43, 44, 50, 51, 59, 60, 135, 6, 17, 58,
                            rnd.nextInt(256)}[rnd.nextInt(12)];
                    }
                }
            }
            case 3 -> { // a length byte somewhere behind the fixed header: extension headers, options, NDP options
                if (f.length > 56) {
                    int at = 54 + rnd.nextInt(f.length - 54);
                    f[at] = (byte) (rnd.nextInt(4) == 0 ? 0 : rnd.nextInt(256));
                }
            }
            case 4 -> { // random upper-layer bytes behind a valid fixed header
                for (int k = 54; k < f.length; k++) {
                    if (rnd.nextInt(4) == 0) {
                        f[k] = (byte) rnd.nextInt(256);
                    }
                }
            }
            case 5 -> { // hop limit and addresses (NDP rules)
                if (f.length >= 54) {
                    f[21] = (byte) (rnd.nextBoolean() ? 255 : rnd.nextInt(256));
                    if (rnd.nextBoolean()) {
                        Arrays.fill(f, 22, 38, (byte) 0); // from ::
                    } else {
                        f[22 + rnd.nextInt(32)] = (byte) rnd.nextInt(256);
                    }
                }
            }
            case 6 -> { // completely random frame, IPv6 EtherType and version
                f = new byte[rnd.nextInt(1600)];
                for (int k = 0; k < f.length; k++) {
                    f[k] = (byte) rnd.nextInt(256);
                }
                if (f.length >= 15) {
                    f[12] = (byte) 0x86;
                    f[13] = (byte) 0xdd;
                    f[14] = (byte) (0x60 | (f[14] & 0x0F));
                }
            }
            case 7 -> { // a chain of random extension headers inserted after the fixed header
                if (f.length >= 54) {
                    int n = 1 + rnd.nextInt(12);
                    byte[] ext = new byte[n * 8];
                    int[] kinds = {0, 43, 44, 51, 60, 135, 139, 140};
                    int first = kinds[rnd.nextInt(kinds.length)];
                    for (int k = 0; k < n; k++) {
                        ext[k * 8] = (byte) (k == n - 1 ? f[20] : kinds[rnd.nextInt(kinds.length)]);
                        ext[k * 8 + 1] = 0;
                        ext[k * 8 + 2] = (byte) (rnd.nextInt(3) == 0 ? rnd.nextInt(256) : 1);
                        ext[k * 8 + 3] = (byte) (rnd.nextInt(3) == 0 ? rnd.nextInt(256) : 4);
                    }
                    byte[] g = new byte[f.length + ext.length];
                    System.arraycopy(f, 0, g, 0, 54);
                    System.arraycopy(ext, 0, g, 54, ext.length);
                    System.arraycopy(f, 54, g, 54 + ext.length, f.length - 54);
                    g[20] = (byte) first;
                    int pl = ((g[18] & 0xFF) << 8 | (g[19] & 0xFF)) + ext.length;
                    g[18] = (byte) (pl >>> 8);
                    g[19] = (byte) pl;
                    f = g;
                }
            }
            default -> f = Arrays.copyOf(f, f.length + rnd.nextInt(200)); // padding beyond the payload length
        }
        return f;
    }
}
