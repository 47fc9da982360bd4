package dev.gvproxy.forwarder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Budgets per guest and per network, and the grace period of a guest that leaves, on a manual clock. */
class GuestFlowsTest {
    static final long MAC_A = 0x02_00_00_00_00_0aL;
    static final long MAC_B = 0x02_00_00_00_00_0bL;
    static final long SECOND = 1_000_000_000L;
    static final int DST = Frames.ip("127.0.0.1");

    long now = 5 * SECOND;
    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(0x5a94efe40cddL, counters, () -> now);
    final List<String> aborted = new ArrayList<>();

    static final LinkEndpoint NULL = new LinkEndpoint() {
        @Override
        public void transmit(ByteBuf frame) {
            frame.release();
        }

        @Override
        public void flush() {}
    };

    GuestFlows flows(GuestFlows.Limits limits) {
        sw.setGateway(NULL);
        return GuestFlows.install(sw, counters, () -> now, limits);
    }

    SwitchPort port(String name, long mac) {
        SwitchPort p = sw.attach(name, NULL);
        sw.deliver(p, Unpooled.wrappedBuffer(Frames.ethernet(0xFFFF_FFFF_FFFFL, mac, 0x0806,
                Frames.arp(1, mac, Frames.GUEST_IP, 0, Frames.GUEST_IP))));
        return p;
    }

    static GuestFlows.Limits limits() {
        return new GuestFlows.Limits(10, 4, 2, 1, 3, 2, 30 * SECOND);
    }

    @Test
    void defaultsLeaveAReserveBelowTheDescriptorLimit() {
        GuestFlows.Limits l = GuestFlows.Limits.forDescriptorLimit(20_000);
        assertEquals(20_000 - 256, l.socketsPerNetwork());
        assertEquals((20_000 - 256) / 4, l.socketsPerGuest());
        assertEquals(30 * SECOND, l.graceNanos());
        GuestFlows.Limits tiny = GuestFlows.Limits.forDescriptorLimit(300);
        assertEquals(64, tiny.socketsPerNetwork());
        assertTrue(GuestFlows.Limits.defaults().socketsPerNetwork() < GuestFlows.descriptorLimit());
    }

    @Test
    void socketsPerGuestStopOneGuestAndNotTheOther() {
        GuestFlows g = flows(limits());
        port("a", MAC_A);
        port("b", MAC_B);
        for (int i = 0; i < 4; i++) {
            assertNotNull(g.open(MAC_A, GuestFlows.Kind.TCP, null));
        }
        assertNull(g.open(MAC_A, GuestFlows.Kind.TCP, null));
        assertTrue(g.socketsExhausted(MAC_A));
        assertEquals(1, counters.get("budget.hostSocketsPerGuest"));
        assertNotNull(g.open(MAC_B, GuestFlows.Kind.TCP, null), "another guest still gets sockets");
        assertEquals(5, g.sockets());
    }

    @Test
    void socketsPerNetworkBoundAllGuests() {
        GuestFlows g = flows(limits().withSockets(5, 4));
        port("a", MAC_A);
        port("b", MAC_B);
        for (int i = 0; i < 4; i++) {
            g.open(MAC_A, GuestFlows.Kind.TCP, null);
        }
        GuestFlows.Flow last = g.open(MAC_B, GuestFlows.Kind.TCP, null);
        assertNotNull(last);
        assertNull(g.open(MAC_B, GuestFlows.Kind.TCP, null));
        assertEquals(1, counters.get("budget.hostSocketsPerNetwork"));
        last.release();
        last.release(); // idempotent
        assertNotNull(g.open(MAC_B, GuestFlows.Kind.TCP, null));
    }

    @Test
    void aGuestOutOfSocketsIsRefusedBeforeItsHalfOpenBudgetIsConsulted() {
        GuestFlows g = flows(limits().withSockets(10, 1));
        port("a", MAC_A);
        assertNotNull(g.openConnect(MAC_A, DST, 80, null));
        assertNull(g.openConnect(MAC_A, DST, 81, null));
        assertTrue(g.socketsExhausted(MAC_A), "the forwarder answers this SYN with a RST");
        assertEquals(1, counters.get("budget.hostSocketsPerGuest"));
        assertEquals(0, counters.get("budget.halfOpenPerGuest"));
    }

    @Test
    void udpAndIcmpFlowsPerGuest() {
        GuestFlows g = flows(limits());
        port("a", MAC_A);
        assertNotNull(g.open(MAC_A, GuestFlows.Kind.UDP, null));
        assertNotNull(g.open(MAC_A, GuestFlows.Kind.UDP, null));
        assertNull(g.open(MAC_A, GuestFlows.Kind.UDP, null));
        assertEquals(1, counters.get("budget.udpFlowsPerGuest"));
        GuestFlows.Flow ping = g.open(MAC_A, GuestFlows.Kind.ICMP, null);
        assertNotNull(ping);
        assertNull(g.open(MAC_A, GuestFlows.Kind.ICMP, null));
        assertEquals(1, counters.get("budget.icmpFlowsPerGuest"));
        ping.release();
        assertNotNull(g.open(MAC_A, GuestFlows.Kind.ICMP, null));
    }

    @Test
    void halfOpenPerDestinationAndPerGuest() {
        GuestFlows g = flows(limits().withSockets(20, 10));
        port("a", MAC_A);
        port("b", MAC_B);
        GuestFlows.Flow c1 = g.openConnect(MAC_A, DST, 9, null);
        assertNotNull(c1);
        assertNotNull(g.openConnect(MAC_B, DST, 9, null));
        assertNull(g.openConnect(MAC_B, DST, 9, null), "the black-holed destination is full");
        assertEquals(1, counters.get("budget.halfOpenPerDestination"));
        assertNotNull(g.openConnect(MAC_B, DST, 80, null), "other destinations are not affected");
        c1.connected(); // connect done: the socket stays charged, the half-open slot is free
        assertNotNull(g.openConnect(MAC_A, DST, 9, null));
        assertNotNull(g.openConnect(MAC_A, DST, 81, null));
        assertNotNull(g.openConnect(MAC_A, DST, 82, null));
        assertNull(g.openConnect(MAC_A, DST, 83, null), "three in flight for guest a");
        assertEquals(1, counters.get("budget.halfOpenPerGuest"));
        assertEquals(4, g.socketsOfGuest(MAC_A));
    }

    @Test
    void flowsOfAGuestThatLeftAreAbortedAfterTheGracePeriod() {
        GuestFlows g = flows(limits());
        SwitchPort a = port("a", MAC_A);
        port("b", MAC_B);
        for (int i = 0; i < 3; i++) {
            int n = i;
            GuestFlows.Flow f = g.open(MAC_A, GuestFlows.Kind.TCP, null);
            f.onAbort(() -> {
                aborted.add("a" + n);
                f.release();
            });
        }
        g.open(MAC_B, GuestFlows.Kind.TCP, () -> aborted.add("b"));
        sw.detach(a);
        assertEquals(now + 30 * SECOND, g.nextDeadline());
        now += 30 * SECOND - 1;
        g.poll(now);
        assertTrue(aborted.isEmpty(), "still within the grace period");
        now += 1;
        g.poll(now);
        assertEquals(List.of("a0", "a1", "a2"), aborted);
        assertEquals(3, counters.get("budget.flowsAbortedOnLeave"));
        assertEquals(0, g.flowsOf(MAC_A));
        assertEquals(1, g.sockets(), "guest b keeps its flow");
        assertEquals(Long.MAX_VALUE, g.nextDeadline());
    }

    @Test
    void aGuestBackWithinTheGracePeriodKeepsItsFlows() {
        GuestFlows g = flows(limits());
        SwitchPort a = port("a", MAC_A);
        g.open(MAC_A, GuestFlows.Kind.TCP, () -> aborted.add("a"));
        sw.detach(a);
        now += 10 * SECOND;
        port("a-again", MAC_A); // the agent restarted: a new port, the same MAC
        assertEquals(1, counters.get("budget.guestReturned"));
        assertEquals(1, g.socketsOfGuest(MAC_A), "the kept flow is charged to the new port: no fresh budget");
        now += 60 * SECOND;
        g.poll(now);
        assertTrue(aborted.isEmpty());
        assertEquals(1, g.flowsOf(MAC_A));
    }
}
