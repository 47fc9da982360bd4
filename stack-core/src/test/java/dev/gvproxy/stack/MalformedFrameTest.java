package dev.gvproxy.stack;

import static dev.gvproxy.testing.Frames.GUEST_IP;
import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_IP;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.testing.Frames;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Throws 100,000 random and mutated frames at the switch and gateway: no exception may escape, every
 * frame must leave a trace (a counter or an output frame), no buffer may leak (LeakTracking), and the
 * gateway must still answer a ping afterwards.
 */
class MalformedFrameTest {
    static final int FRAMES = 100_000;

    @Test
    void survivesAHundredThousandBadFrames() {
        StackHarness h = new StackHarness();
        h.stack.udp().bind(0, 67, (d, p, now) -> {}); // a service, so UDP paths beyond the demux run too
        SplittableRandom rnd = new SplittableRandom(20261122);
        byte[][] seeds = seeds();
        long traceless = 0;
        for (int i = 0; i < FRAMES; i++) {
            byte[] f = mutate(seeds[rnd.nextInt(seeds.length)], rnd);
            long before = h.counters.sum("");
            int outBefore = h.out.size();
            h.send(f);
            if (h.counters.sum("") == before && h.out.size() == outBefore) {
                if (traceless++ < 5) {
                    System.out.println("traceless: " + io.netty.buffer.ByteBufUtil.hexDump(f));
                }
            }
            h.out.clear();
            if ((i & 1023) == 0) {
                h.advance(1_000_000_000L); // let reassembly and ARP timers run now and then
            }
        }
        assertEquals(0, traceless, "frames that were neither answered nor counted: " + h.counters.snapshot());
        h.out.clear();
        h.send(Frames.ping(GW_IP, 77, 1, 32));
        byte[] reply = h.poll();
        assertNotNull(reply, "the gateway still answers pings");
        assertEquals(0, reply[34]);
        assertTrue(h.counters.get("ipv4.badChecksum") > 0 && h.counters.get("switch.runtFrame") > 0,
                h.counters.snapshot().toString());
        h.stack.close();
    }

    static byte[][] seeds() {
        byte[] data = new byte[100];
        return new byte[][] {
            Frames.bytes(Frames.ping(GW_IP, 1, 1, 56)),
            Frames.bytes(Frames.ping(GW_IP, 1, 1, 1472)),
            Frames.ethernet(0xFFFF_FFFF_FFFFL, GUEST_MAC, 0x0806, Frames.arp(1, GUEST_MAC, GUEST_IP, 0, GW_IP)),
            Frames.ethernet(GW_MAC, GUEST_MAC, 0x0806, Frames.arp(2, GUEST_MAC, GUEST_IP, GW_MAC, GW_IP)),
            Frames.ethernet(GW_MAC, GUEST_MAC, 0x0800,
                    Frames.ipv4(GUEST_IP, GW_IP, 17, 9, 0, 64, Frames.udp(GUEST_IP, GW_IP, 68, 67, data))),
            Frames.ethernet(0xFFFF_FFFF_FFFFL, GUEST_MAC, 0x0800, Frames.ipv4(0, -1, 17, 9, 0, 64,
                    Frames.udp(0, -1, 68, 67, new byte[300]))),
            Frames.ethernet(GW_MAC, GUEST_MAC, 0x0800,
                    Frames.ipv4(GUEST_IP, GW_IP, 17, 9, 0x2000, 64, Arrays.copyOf(data, 64))),
            Frames.ethernet(GW_MAC, GUEST_MAC, 0x0800,
                    Frames.ipv4(GUEST_IP, GW_IP, 17, 9, 8, 64, Arrays.copyOf(data, 40))),
            Frames.ethernet(GW_MAC, GUEST_MAC, 0x0800, Frames.ipv4(GUEST_IP, GW_IP, 6, 9, 0x4000, 64, new byte[20])),
            Frames.ethernet(GW_MAC, GUEST_MAC, 0x86dd, new byte[60]),
            Frames.ethernet(GW_MAC, GUEST_MAC, 0x1234, new byte[46]),
        };
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
            case 2 -> { // IHL / version / total length games, checksum left stale
                if (f.length > 18) {
                    f[14] = (byte) rnd.nextInt(256);
                    f[16] = (byte) rnd.nextInt(256);
                    f[17] = (byte) rnd.nextInt(256);
                }
            }
            case 3 -> { // bogus lengths with a *valid* IPv4 header checksum, so deeper layers see them
                if (f.length >= 34 && f[12] == 8 && f[13] == 0) {
                    f[16] = (byte) rnd.nextInt(256);
                    f[17] = (byte) rnd.nextInt(256);
                    f[14 + 10] = 0;
                    f[14 + 11] = 0;
                    int c = Frames.checksum(f, 14, 20, 0);
                    f[24] = (byte) (c >>> 8);
                    f[25] = (byte) c;
                }
            }
            case 4 -> { // random L4 payload bytes behind a valid IP header
                for (int k = 34; k < f.length; k++) {
                    if (rnd.nextInt(4) == 0) {
                        f[k] = (byte) rnd.nextInt(256);
                    }
                }
            }
            case 5 -> { // unknown protocol number, header checksum fixed
                if (f.length >= 34) {
                    f[23] = (byte) rnd.nextInt(256);
                    f[24] = 0;
                    f[25] = 0;
                    int c = Frames.checksum(f, 14, 20, 0);
                    f[24] = (byte) (c >>> 8);
                    f[25] = (byte) c;
                }
            }
            case 6 -> { // completely random frame
                f = new byte[rnd.nextInt(1600)];
                for (int k = 0; k < f.length; k++) {
                    f[k] = (byte) rnd.nextInt(256);
                }
                if (f.length >= 6 && rnd.nextBoolean()) { // aim some at the gateway
                    for (int k = 0; k < 6; k++) {
                        f[k] = (byte) (GW_MAC >>> (40 - 8 * k));
                    }
                }
            }
            default -> { // oversized padding (frame longer than the IPv4 total length)
                f = Arrays.copyOf(f, f.length + rnd.nextInt(200));
            }
        }
        return f;
    }
}
