package dev.gvproxy.forwarder;

import static dev.gvproxy.testing.Frames.GUEST_IP;
import static dev.gvproxy.testing.Frames.HOST_IP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpRepr;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The SYN gate's budgets on a real loop: SYNs over the half-open budget wait for a slot; over sockets, RST. */
class TcpForwarderBudgetTest {
    LoopHarness h;
    ServerSocket server;
    TcpForwarder fwd;

    @BeforeEach
    void setUp() throws Exception {
        h = new LoopHarness();
        server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
    }

    @AfterEach
    void tearDown() throws Exception {
        h.close();
        server.close();
    }

    void install(GuestFlows.Limits limits) throws Exception {
        fwd = h.onLoop(() -> {
            TcpForwarder f = TcpForwarder.install(h.stack, h.loop, TcpForwarder.Options.DEFAULTS);
            f.setGuestFlows(GuestFlows.install(h.sw, h.counters, () -> h.now, limits));
            return f;
        });
    }

    static byte[] syn(int srcPort, int dstPort) {
        ByteBuf l4 = Unpooled.buffer();
        TcpRepr.builder().srcPort(srcPort).dstPort(dstPort).seq(1000).flags(TcpFlags.SYN).window(64240).mss(1460)
                .build().emit(l4, GUEST_IP, HOST_IP, Unpooled.EMPTY_BUFFER);
        byte[] tcp = Frames.bytes(l4);
        l4.release();
        return Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x0800,
                Frames.ipv4(GUEST_IP, HOST_IP, IpProtocol.TCP, 1, 0x4000, 64, tcp));
    }

    /** TCP flags of the next IPv4 frame to the guest and its destination port, as {flags, port}. */
    int[] next() throws InterruptedException {
        byte[] f = h.takeIp(5000);
        assertNotNull(f, "a segment to the guest");
        int tcp = 14 + 20;
        return new int[] {Frames.getShort(f, tcp + 12) & 0x3f, Frames.getShort(f, tcp + 2)};
    }

    @Test
    void synsOverTheHalfOpenBudgetWaitForASlotInsteadOfBeingDropped() throws Exception {
        install(GuestFlows.Limits.forDescriptorLimit(20_000).withHalfOpen(1, 1));
        h.run(() -> {
            for (int p = 41000; p < 41004; p++) {
                h.sw.deliver(h.guest, Unpooled.wrappedBuffer(syn(p, server.getLocalPort())));
            }
            h.sw.flush();
        });
        Set<Integer> answered = new HashSet<>();
        for (int i = 0; i < 4; i++) {
            int[] s = next();
            assertEquals(TcpFlags.SYN | TcpFlags.ACK, s[0], "SYN-ACK");
            answered.add(s[1]);
        }
        assertEquals(Set.of(41000, 41001, 41002, 41003), answered);
        assertEquals(3, h.count("tcp.forward.synWaited"));
        assertEquals(3, h.count("budget.halfOpenPerGuest") + h.count("budget.halfOpenPerDestination"),
                "each waiting SYN counted once, not once per retry");
        assertEquals(0, h.count("tcp.forward.budgetDropped"));
        assertEquals(0, (int) h.onLoop(fwd::waiting));
    }

    @Test
    void aGuestOutOfHostSocketsGetsARst() throws Exception {
        install(GuestFlows.Limits.forDescriptorLimit(20_000).withSockets(100, 2));
        for (int p = 42000; p < 42003; p++) {
            h.send(syn(p, server.getLocalPort()));
        }
        int synAcks = 0;
        int resets = 0;
        for (int i = 0; i < 3; i++) {
            int[] s = next();
            if ((s[0] & TcpFlags.RST) != 0) {
                resets++;
            } else {
                synAcks++;
            }
        }
        assertEquals(2, synAcks);
        assertEquals(1, resets);
        assertEquals(1, h.count("tcp.forward.budgetRefused"));
        assertTrue(h.count("budget.hostSocketsPerGuest") >= 1);
    }
}
