package dev.gvproxy.stack;

import static dev.gvproxy.testing.Frames.GUEST_IP;
import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_IP;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.wire.Headroom;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.MacAddress;
import dev.gvproxy.stack.wire.NdpRepr;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Every frame the gateway originates (ARP, ICMP and ICMPv6 with NDP, UDP, IPv4 and IPv6 fragments) is one buffer
 * with {@link Headroom#TRANSPORT} bytes of room of its own in front, so a stream transport writes its framing into
 * it (FramingTest in the transport module checks that end). Each exchange runs twice: on an allocator whose buffers
 * are the frame's own (production, where leak detection is off) and on the tests' leak-detecting pooled allocator,
 * whose wrapped buffers are views, refused by {@link Headroom#isOwn}, so the IP outputs take their copy and composite
 * paths: the frames must be byte for byte the same.
 */
class GatewayFrameRoomTest {
    static final ByteBufAllocator UNWRAPPED = new UnpooledByteBufAllocator(true, true);
    static final Ipv6Address GW6 = Ipv6Address.parse("fd00:5a94:efe4::1");
    static final Ipv6Address GUEST6 = Ipv6Address.parse("fd00:5a94:efe4::2");
    static final Ipv6Address GUEST_LL = Ipv6Address.linkLocalFromMac(GUEST_MAC);
    static final int ECHO = 7;
    static final int BIG = 9;
    static final int CLOSED = 5;

    /** Runs every exchange on a stack with {@code alloc}; returns the harness with the frames the gateway sent. */
    static StackHarness exchange(ByteBufAllocator alloc) {
        StackHarness h = new StackHarness(StackConfig.builder().build(), alloc);
        try {
            // Services: an echo, and one answering with a datagram larger than the MTU (fragments).
            for (Ipv6Address gw : new Ipv6Address[] {Ipv6Address.ofIpv4(GW_IP), GW6}) {
                h.stack.udp().bind(gw, ECHO, (d, payload, now) ->
                        h.stack.udp().send(d.dst(), d.dstPort(), d.src(), d.srcPort(), payload.retain(), now));
                h.stack.udp().bind(gw, BIG, (d, payload, now) ->
                        h.stack.udp().send(d.dst(), d.dstPort(), d.src(), d.srcPort(),
                                Unpooled.wrappedBuffer(data(4000)), now));
            }
            // IPv4: ARP reply, UDP (small, near the MTU, fragmented), echo replies (copied and not), port unreachable.
            h.send(Frames.ethernet(MacAddress.BROADCAST, GUEST_MAC, 0x0806,
                    Frames.arp(1, GUEST_MAC, GUEST_IP, 0, GW_IP)));
            for (int n : new int[] {100, 1400}) {
                h.send(udp4(ECHO, n));
            }
            h.send(udp4(BIG, 10));
            h.send(Frames.ping(GW_IP, 1, 1, 56));
            h.send(Frames.ping(GW_IP, 1, 2, 1000));
            h.send(udp4(CLOSED, 20));
            // An ARP request of the gateway's own (broadcast, to the one port), for a neighbour not yet known.
            h.stack.udp().send(GW_IP, ECHO, GUEST_IP + 1, ECHO, Unpooled.wrappedBuffer(data(10)), h.now);
            // IPv6: NA, RA, UDP (small, fragmented), echo replies, port unreachable.
            h.send(ndp(new NdpRepr.NeighborSolicitation(GW6, GUEST_MAC), GUEST6, GW6.solicitedNode()));
            h.send(ndp(new NdpRepr.RouterSolicitation(GUEST_MAC), GUEST_LL, Ipv6Address.ALL_ROUTERS));
            h.send(Ipv6GatewayTest.frame(GUEST6, GW6, IpProtocol.UDP, 64,
                    Ipv6GatewayTest.udp(GUEST6, GW6, 40000, ECHO, data(300))));
            h.send(Ipv6GatewayTest.frame(GUEST6, GW6, IpProtocol.UDP, 64,
                    Ipv6GatewayTest.udp(GUEST6, GW6, 40000, BIG, data(10))));
            h.send(Ipv6GatewayTest.echo(GUEST6, GW6, 1, 1, 56));
            h.send(Ipv6GatewayTest.echo(GUEST6, GW6, 1, 2, 1200));
            h.send(Ipv6GatewayTest.frame(GUEST6, GW6, IpProtocol.UDP, 64,
                    Ipv6GatewayTest.udp(GUEST6, GW6, 40000, CLOSED, data(20))));
        } finally {
            h.stack.close();
        }
        return h;
    }

    static byte[] udp4(int port, int n) {
        return Frames.ethernet(GW_MAC, GUEST_MAC, 0x0800, Frames.ipv4(GUEST_IP, GW_IP, 17, port, 0x4000, 64,
                Frames.udp(GUEST_IP, GW_IP, 40000, port, data(n))));
    }

    static byte[] ndp(NdpRepr m, Ipv6Address src, Ipv6Address dst) {
        return Ipv6GatewayTest.ndp(m, src, dst);
    }

    static byte[] data(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }

    static List<byte[]> frames(StackHarness h) {
        List<byte[]> out = new ArrayList<>();
        for (byte[] f; (f = h.poll()) != null; ) {
            out.add(f);
        }
        return out;
    }

    @Test
    void everyFrameTheGatewayBuildsIsOneBufferWithTheTransportsRoom() {
        StackHarness own = exchange(UNWRAPPED);
        StackHarness wrapped = exchange(PooledByteBufAllocator.DEFAULT);
        List<byte[]> got = frames(own);
        List<byte[]> before = frames(wrapped);
        // ARP 1, UDP 2 + 3 fragments, echo 2, unreachable 1, ARP request 1; NA 1, RA 1, UDP 1 + 3 fragments, echo 2,
        // unreachable 1 (an unsolicited RA may come too: at least these).
        assertTrue(got.size() >= 19, "frames: " + got.size());
        assertEquals(0, own.compositeFrames, "no composite");
        assertEquals(0, own.roomlessFrames, "every frame has the transport's room of its own");
        assertTrue(wrapped.compositeFrames > 0, "the baseline took the composite path for large messages");
        assertEquals(before.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            assertArrayEquals(before.get(i), got.get(i), "frame " + i + " as the copy and composite paths build it");
        }
        assertEquals(3, own.count("ipv4.out.fragments"));
        assertEquals(3, own.count("ipv6.out.fragments"));
        assertEquals(1, own.count("arp.out.requests"));
    }
}
