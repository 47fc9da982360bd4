package dev.gvproxy.stack;

import static dev.gvproxy.stack.Ipv6GatewayTest.GUEST6;
import static dev.gvproxy.stack.Ipv6GatewayTest.GUEST_LL;
import static dev.gvproxy.stack.Ipv6GatewayTest.GW6;
import static dev.gvproxy.stack.Ipv6GatewayTest.GW_LL;
import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.wire.Checksums;
import dev.gvproxy.stack.wire.Icmpv6Packet;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import dev.gvproxy.stack.wire.NdpRepr;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link MalformedFrameTest} for the IPv6 gateway: 100,000 random and mutated IPv6 frames (echo, NDP, UDP,
 * fragments, extension headers) through the switch, its guard and the gateway. No exception may escape, every
 * frame must leave a trace (a counter or an output frame), no buffer may leak (LeakTracking), every IPv6 frame
 * the gateway sends passes the wire checks, and the gateway still answers a ping afterwards.
 */
class Ipv6StackMalformedFrameTest {
    static final int FRAMES = 100_000;

    @Test
    void survivesAHundredThousandBadIpv6Frames() {
        StackHarness h = new StackHarness(StackConfig.defaults());
        h.stack.udp().bind(Ipv6Address.UNSPECIFIED, 547, (d, p, now) -> {});
        SplittableRandom rnd = new SplittableRandom(20261205);
        byte[][] seeds = seeds();
        long traceless = 0;
        for (int i = 0; i < FRAMES; i++) {
            byte[] f = mutate(seeds[rnd.nextInt(seeds.length)], rnd);
            long before = h.counters.sum("");
            h.send(f);
            if (h.counters.sum("") == before && h.out.isEmpty()) {
                if (traceless++ < 5) {
                    System.out.println("traceless: " + io.netty.buffer.ByteBufUtil.hexDump(f));
                }
            }
            for (byte[] o; (o = h.poll()) != null; ) {
                ByteBuf b = Unpooled.wrappedBuffer(o);
                if (b.getUnsignedShort(12) == 0x86DD) {
                    assertEquals(null, Ipv6Packet.check(b, 14, o.length - 14), "the gateway sent a malformed packet");
                }
            }
            if ((i & 1023) == 0) {
                h.advance(1_000_000_000L);
            }
        }
        assertEquals(0, traceless, "frames that were neither answered nor counted: " + h.counters.snapshot());
        h.out.clear();
        h.send(Ipv6GatewayTest.echo(GUEST6, GW6, 77, 1, 32));
        byte[] reply;
        do {
            reply = h.poll();
        } while (reply != null && reply[54] != (byte) Icmpv6Packet.TYPE_ECHO_REPLY);
        assertTrue(reply != null, "the gateway still answers pings: " + h.counters.snapshot());
        assertTrue(h.counters.get("icmpv6.badChecksum") > 0 && h.counters.get("ipv6.truncated") > 0,
                h.counters.snapshot().toString());
        h.stack.close();
    }

    static byte[][] seeds() {
        List<byte[]> s = new ArrayList<>();
        s.add(Ipv6GatewayTest.echo(GUEST6, GW6, 1, 1, 56));
        s.add(Ipv6GatewayTest.echo(GUEST_LL, GW_LL, 1, 1, 1200));
        s.add(Ipv6GatewayTest.ndp(new NdpRepr.NeighborSolicitation(GW6, GUEST_MAC), GUEST_LL, GW6.solicitedNode()));
        s.add(Ipv6GatewayTest.ndp(new NdpRepr.NeighborSolicitation(GW6, NdpRepr.NONE), Ipv6Address.UNSPECIFIED,
                GW6.solicitedNode()));
        s.add(Ipv6GatewayTest.ndp(new NdpRepr.RouterSolicitation(GUEST_MAC), GUEST_LL, Ipv6Address.ALL_ROUTERS));
        s.add(Ipv6GatewayTest.ndp(new NdpRepr.NeighborAdvertisement(false, true, true, GUEST6, GUEST_MAC), GUEST6,
                GW_LL));
        s.add(Ipv6GatewayTest.frame(GUEST_LL, Ipv6Address.ALL_DHCP_AGENTS, IpProtocol.UDP, 1,
                Ipv6GatewayTest.udp(GUEST_LL, Ipv6Address.ALL_DHCP_AGENTS, 546, 547, new byte[40])));
        s.add(Ipv6GatewayTest.frame(GUEST6, GW6, IpProtocol.UDP, 64,
                Ipv6GatewayTest.udp(GUEST6, GW6, 40000, 9999, new byte[8])));
        s.add(Ipv6GatewayTest.frame(GUEST6, GW6, IpProtocol.TCP, 64, new byte[20]));
        byte[] ping = Ipv6GatewayTest.icmp(Icmpv6Packet.TYPE_ECHO_REQUEST, 1, new byte[2000], GUEST6, GW6);
        s.addAll(Ipv6GatewayTest.fragments(GUEST6, GW6, IpProtocol.ICMPV6, 64, ping, 1232));
        byte[] opts = new byte[8 + 16];
        opts[0] = (byte) IpProtocol.ICMPV6;
        opts[2] = 1;
        opts[3] = 4;
        System.arraycopy(Ipv6GatewayTest.icmp(Icmpv6Packet.TYPE_ECHO_REQUEST, 1, new byte[8], GUEST6, GW6), 0, opts,
                8, 16);
        s.add(Ipv6GatewayTest.frame(GUEST6, GW6, Ipv6Packet.NH_HOP_BY_HOP, 64, opts));
        s.add(Ipv6GatewayTest.frame(GUEST6, GW6, Ipv6Packet.NH_ROUTING, 64, new byte[] {58, 0, 0, 1, 0, 0, 0, 0}));
        return s.toArray(new byte[0][]);
    }

    static byte[] mutate(byte[] seed, SplittableRandom rnd) {
        byte[] f = seed.clone();
        switch (rnd.nextInt(8)) {
            case 0 -> f = Arrays.copyOf(f, rnd.nextInt(f.length)); // truncated anywhere
            case 1 -> { // random byte flips
                for (int k = 0, n = 1 + rnd.nextInt(4); k < n; k++) {
                    f[rnd.nextInt(f.length)] ^= (byte) (1 + rnd.nextInt(255));
                }
            }
            case 2 -> { // version, payload length, next header, hop limit games
                f[14 + rnd.nextInt(8)] = (byte) rnd.nextInt(256);
            }
            case 3 -> { // random bytes behind the fixed header, the upper-layer checksum repaired
                for (int k = 54; k < f.length; k++) {
                    if (rnd.nextInt(4) == 0) {
                        f[k] = (byte) rnd.nextInt(256);
                    }
                }
                repair(f);
            }
            case 4 -> { // an NDP option of random type and length, checksum repaired
                if (f.length > 64 && f[20] == IpProtocol.ICMPV6) {
                    f[f.length - 8] = (byte) rnd.nextInt(256);
                    f[f.length - 7] = (byte) rnd.nextInt(4);
                    repair(f);
                }
            }
            case 5 -> { // a random next header in front of a repaired payload
                f[20] = (byte) rnd.nextInt(256);
            }
            case 6 -> { // completely random, aimed at the gateway, with the IPv6 EtherType
                f = new byte[14 + rnd.nextInt(1500)];
                for (int k = 0; k < f.length; k++) {
                    f[k] = (byte) rnd.nextInt(256);
                }
                for (int k = 0; k < 6; k++) {
                    f[k] = (byte) (GW_MAC >>> (40 - 8 * k));
                    f[6 + k] = (byte) (GUEST_MAC >>> (40 - 8 * k));
                }
                f[12] = (byte) 0x86;
                f[13] = (byte) 0xDD;
                if (f.length > 14) {
                    f[14] = (byte) (0x60 | (f[14] & 0x0F));
                }
            }
            default -> f = Arrays.copyOf(f, f.length + rnd.nextInt(200)); // padding beyond the payload length
        }
        return f;
    }

    /** Recomputes the ICMPv6 or UDP checksum of an unfragmented packet without extension headers. */
    static void repair(byte[] f) {
        if (f.length < 54 + 8) {
            return;
        }
        ByteBuf b = Unpooled.wrappedBuffer(f);
        int nh = b.getUnsignedByte(20);
        int len = Math.min(b.getUnsignedShort(18), f.length - 54);
        int ck = nh == IpProtocol.ICMPV6 ? 2 : nh == IpProtocol.UDP ? 6 : -1;
        if (ck < 0) {
            return;
        }
        b.setShort(54 + ck, 0);
        int sum = Checksums.finish(Checksums.ipv6PseudoHeader(b, 14, nh, len) + Checksums.partial(b, 54, len, 0));
        b.setShort(54 + ck, sum);
    }
}
