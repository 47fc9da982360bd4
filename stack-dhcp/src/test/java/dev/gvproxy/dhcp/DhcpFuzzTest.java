package dev.gvproxy.dhcp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.gvproxy.testing.Frames;
import dev.gvproxy.testing.FuzzInput;
import dev.gvproxy.testing.LeakTracking;
import java.util.List;

/**
 * Coverage-guided fuzzing of the DHCP server's input (FUZZING.md): a sequence of client messages (the UDP
 * payload: BOOTP header and options) arrives from the guest port as real frames, through the switch and the
 * stack, into {@link DhcpServer}, on a manual clock. The frame's source MAC is the message's chaddr (as a real
 * client sends it), so the server's checks on it do not stop every mutation. Properties: no exception escapes,
 * no {@code ByteBuf} leaks (LeakTracking per input in regression mode, every {@value #LEAK_CHECK_EVERY} inputs
 * when fuzzing).
 *
 * <p>Input: {@link FuzzInput#records} of DHCP payloads; flags bit 0 = unicast from the message's ciaddr to the
 * gateway (renewal, release) instead of a broadcast from 0.0.0.0, bits 1-7 = advance the clock by that many
 * minutes first. Seeds: messages sent by busybox udhcpc and ISC dhclient ({@code fuzz/make-seeds.py dhcp}).
 */
class DhcpFuzzTest {
    static final int LEAK_CHECK_EVERY = 20_000;
    private static int runs;

    @FuzzTest(maxDuration = "60s")
    void clientMessages(byte[] data) {
        DhcpHarness h = new DhcpHarness();
        for (FuzzInput.Rec r : FuzzInput.records(data)) {
            h.advance((r.flags() >>> 1) * 60 * DhcpHarness.SECOND);
            byte[] m = r.bytes();
            long mac = m.length >= 34 ? macAt(m, 28) : Frames.GUEST_MAC;
            boolean unicast = (r.flags() & 1) != 0;
            int src = unicast && m.length >= 16 ? Frames.getInt(m, 12) : 0;
            int dst = unicast ? Frames.GW_IP : -1;
            h.sendFrame(Frames.ethernet(unicast ? Frames.GW_MAC : 0xFFFF_FFFF_FFFFL, mac, 0x0800,
                    Frames.ipv4(src, dst, 17, 1, 0, 64, Frames.udp(src, dst, 68, 67, m))));
            h.out.clear();
        }
        // Expire every lease and offer.
        for (int i = 0; i < 4; i++) {
            h.advance(24 * 3600 * DhcpHarness.SECOND);
        }
        h.server.leases();
        h.server.close();
        h.stack.close();
        if (++runs % LEAK_CHECK_EVERY == 0) {
            List<String> leaks = LeakTracking.collect();
            assertEquals(List.of(), leaks, "ByteBuf leaks during the last " + LEAK_CHECK_EVERY + " inputs");
        }
    }

    private static long macAt(byte[] b, int off) {
        long mac = 0;
        for (int i = 0; i < 6; i++) {
            mac = (mac << 8) | (b[off + i] & 0xFF);
        }
        return mac;
    }
}
