package dev.gvproxy.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.tcp.TcpConfig;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.wire.EtherType;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.testing.FuzzInput;
import dev.gvproxy.testing.LeakTracking;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;

/**
 * Coverage-guided fuzzing of the whole input path (FUZZING.md): a sequence of guest frames goes through
 * {@link VirtualSwitch#deliver} into the gateway's {@link NetworkStack} (ARP, IPv4 with fragments and options,
 * IPv6 with extension headers, fragments and NDP, ICMP and ICMPv6, UDP of both families to an echo port, TCP to a listener that accepts every SYN but to port 9 and echoes what it
 * reads), on a manual
 * clock that each record may advance. Properties: no exception escapes, every frame handed in is released,
 * every IPv4 frame the stack sends passes the stack's own header check, and no {@code ByteBuf} leaks (per input
 * through the LeakTracking extension in regression mode; in fuzzing mode, where one JUnit invocation runs
 * millions of inputs, every {@value #LEAK_CHECK_EVERY} inputs).
 *
 * <p>Input: {@link FuzzInput#records} of frames; flags bit 0 = repair the frame's checksums first, bits 1-7 =
 * advance the clock by that many 50 ms steps before delivering. Seeds: the Linux captures under
 * {@code src/test/resources/pcap}, re-addressed to guest and gateway ({@code fuzz/make-seeds.py}).
 */
class StackFuzzTest {
    static final int LEAK_CHECK_EVERY = 20_000;
    static final long MS = 1_000_000L;
    private static int runs;

    @FuzzTest(maxDuration = "60s")
    void guestFrames(byte[] data) {
        Harness h = new Harness();
        List<ByteBuf> handedIn = new ArrayList<>();
        for (FuzzInput.Rec r : FuzzInput.records(data)) {
            h.advance((r.flags() >>> 1) * 50 * MS);
            byte[] f = (r.flags() & 1) != 0 ? FuzzInput.repairChecksums(r.bytes()) : r.bytes();
            // Not wrappedBuffer: for an empty array it returns the shared EMPTY_BUFFER, which never reaches refCnt 0.
            ByteBuf b = Unpooled.buffer(f.length).writeBytes(f);
            handedIn.add(b);
            h.sw.deliver(h.guest, b);
            h.sw.flush();
        }
        // Let every timer run: retransmissions, TIME_WAIT, reassembly and ARP expiry.
        for (long step : new long[] {MS, 200 * MS, 1_000 * MS, 10_000 * MS, 60_000 * MS, 300_000 * MS}) {
            h.advance(step);
        }
        h.stack.close();
        for (ByteBuf b : handedIn) {
            assertEquals(0, b.refCnt(), "a frame handed to the switch was not released");
        }
        if (++runs % LEAK_CHECK_EVERY == 0) {
            List<String> leaks = LeakTracking.collect();
            assertEquals(List.of(), leaks, "ByteBuf leaks during the last " + LEAK_CHECK_EVERY + " inputs");
        }
    }

    /** A switch, the gateway stack and one guest port; an echo service on TCP and a sink on UDP. */
    static final class Harness implements LinkEndpoint {
        long now = 1_000_000_000L;
        final Counters counters = new Counters();
        final VirtualSwitch sw;
        final NetworkStack stack;
        final SwitchPort guest;

        Harness() {
            StackConfig config = StackConfig.defaults();
            sw = new VirtualSwitch(config.gatewayMac(), counters, () -> now);
            stack = new NetworkStack(config, sw, counters, PooledByteBufAllocator.DEFAULT, () -> now,
                    TcpConfig.forMtu(config.mtu()), () -> 0x1000_0000);
            guest = sw.attach("guest", this);
            stack.udp().bind(0, 67, (d, p, t) -> { });
            dev.gvproxy.stack.udp.UdpHandler udpEcho = (d, p, t) -> stack.udp().send(d.dst(), d.dstPort(), d.src(),
                    d.srcPort(), p.retainedDuplicate(), t);
            stack.udp().bind(0, 7777, udpEcho);
            stack.udp().bind(dev.gvproxy.stack.wire.Ipv6Address.UNSPECIFIED, 7777, udpEcho);
            TcpConnection.Handler echo = new TcpConnection.Handler() {
                @Override
                public void onData(TcpConnection c, ByteBuf data) {
                    int n = data.readableBytes();
                    c.send(data, now);
                    c.consumed(n, now);
                }

                @Override
                public void onFin(TcpConnection c) {
                    c.shutdownOutput(now);
                }
            };
            stack.tcp().setSynHandler((layer, req, t) -> {
                if (req.dstPort() == 9) { // "closed", as in the tcp-rst capture
                    layer.reject(req, t);
                } else {
                    layer.accept(req, echo, t);
                }
            });
        }

        void advance(long nanos) {
            if (nanos > 0) {
                now += nanos;
                stack.poll(now);
                sw.flush();
            }
        }

        /** @param frame taken */
        @Override
        public void transmit(ByteBuf frame) {
            try {
                int off = frame.readerIndex();
                int len = frame.readableBytes();
                assertNull(EthernetFrame.check(frame, off, len));
                if (EthernetFrame.etherType(frame, off) == EtherType.IPV4) {
                    assertNull(Ipv4Packet.check(frame, off + EthernetFrame.HEADER_LEN, len - EthernetFrame.HEADER_LEN),
                            () -> "the stack sent a malformed IPv4 frame: " + ByteBufUtil.hexDump(frame));
                } else if (EthernetFrame.etherType(frame, off) == EtherType.IPV6) {
                    assertNull(dev.gvproxy.stack.wire.Ipv6Packet.check(frame, off + EthernetFrame.HEADER_LEN,
                            len - EthernetFrame.HEADER_LEN),
                            () -> "the stack sent a malformed IPv6 frame: " + ByteBufUtil.hexDump(frame));
                }
            } finally {
                frame.release();
            }
        }

        @Override
        public void flush() {}
    }
}
