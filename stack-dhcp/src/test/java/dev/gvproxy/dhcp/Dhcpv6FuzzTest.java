package dev.gvproxy.dhcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.udp.UdpDatagram;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.testing.FuzzInput;
import dev.gvproxy.testing.LeakTracking;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.List;

/**
 * Coverage-guided fuzzing of the DHCPv6 server's input (FUZZING.md): a sequence of client messages (the UDP
 * payload) reaches {@link Dhcpv6Server#answer} on a manual clock, from one of two clients. The UDP/IPv6 path
 * in front of it is {@code StackFuzzTest}'s target; this one goes deep into the option walk and the binding
 * state. Properties: no exception escapes; every answer the server builds passes its own checks and parses
 * back ({@link Dhcpv6Packet#check}, {@link Dhcpv6Repr#parse}); no {@code ByteBuf} leaks.
 *
 * <p>Input: {@link FuzzInput#records} of DHCPv6 messages; flags bit 0 = from a second client (another MAC and
 * link-local address) instead of the device MAC, bits 1-7 = advance the clock by that many minutes first. Seeds:
 * messages sent by ISC {@code dhclient -6} ({@code fuzz/make-seeds.py dhcpv6}).
 */
class Dhcpv6FuzzTest {
    static final int LEAK_CHECK_EVERY = 20_000;
    static final long SECOND = 1_000_000_000L;
    static final long OTHER_MAC = 0x02_00_00_00_00_0bL;
    private static int runs;

    @FuzzTest(maxDuration = "60s")
    void clientMessages(byte[] data) {
        StackConfig net = StackConfig.defaults();
        Dhcpv6Server server = new Dhcpv6Server(net.ipv6(), net.gatewayMac(),
                Dhcpv6Config.builder(net).searchDomains(List.of("example.test")).build(), new Counters());
        long now = 1_000 * SECOND;
        for (FuzzInput.Rec r : FuzzInput.records(data)) {
            now += (r.flags() >>> 1) * 60 * SECOND;
            long mac = (r.flags() & 1) != 0 ? OTHER_MAC : StackConfig.DEFAULT_DEVICE_MAC;
            UdpDatagram d = new UdpDatagram(mac, Ipv6Address.linkLocalFromMac(mac), Dhcpv6Server.CLIENT_PORT,
                    Ipv6Address.ALL_DHCP_AGENTS, Dhcpv6Server.SERVER_PORT);
            ByteBuf in = Unpooled.wrappedBuffer(r.bytes());
            Dhcpv6Repr answer;
            try {
                answer = server.answer(d, in, now);
            } finally {
                in.release();
            }
            if (answer != null) {
                ByteBuf out = Unpooled.buffer(answer.bufferLen());
                try {
                    answer.emit(out);
                    assertEquals(answer.bufferLen(), out.readableBytes(), "emitted length");
                    assertNull(Dhcpv6Packet.check(out, 0, out.readableBytes()), "the server's own answer");
                    Dhcpv6Repr.parse(out, 0, out.readableBytes());
                } finally {
                    out.release();
                }
            }
        }
        // Expire every binding and quarantine.
        for (int i = 0; i < 4; i++) {
            now += 24 * 3600 * SECOND;
            server.poll(now);
        }
        server.leases(now);
        server.close();
        if (++runs % LEAK_CHECK_EVERY == 0) {
            List<String> leaks = LeakTracking.collect();
            assertEquals(List.of(), leaks, "ByteBuf leaks during the last " + LEAK_CHECK_EVERY + " inputs");
        }
    }
}
