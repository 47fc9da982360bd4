package dev.gvproxy.forwarder;

import static dev.gvproxy.testing.Frames.GUEST_IP;
import static dev.gvproxy.testing.Frames.HOST_IP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpRepr;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The SYN gate packet by packet: scripted guest segments in, the segments the gateway answers with out, a
 * scripted {@link HostConnector} whose connects the test completes, fails or leaves hanging, and time moved
 * by hand (the stack's clock and the embedded loop's). Nothing sleeps and no socket is opened.
 */
class TcpForwarderGateTest implements LinkEndpoint {
    static final int TIMEOUT_MS = 5_000;
    static final int SEQ = 1000;

    long now = 1_000_000_000L;
    final Counters counters = new Counters();
    final StackConfig config = StackConfig.defaults();
    final VirtualSwitch sw = new VirtualSwitch(config.gatewayMac(), counters, () -> now);
    final NetworkStack stack = new NetworkStack(config, sw, counters, PooledByteBufAllocator.DEFAULT, () -> now);
    final SwitchPort guest = sw.attach("guest", this);
    final ArrayDeque<byte[]> out = new ArrayDeque<>();
    /** Its event loop is the network's: connect timeouts are scheduled there, on a clock the test moves. */
    final EmbeddedChannel loopChannel = new EmbeddedChannel();
    final ArrayDeque<Connect> connects = new ArrayDeque<>();
    TcpForwarder fwd;

    /** One connect the forwarder started: the test settles {@code promise}. */
    record Connect(InetSocketAddress target, EmbeddedChannel host, ChannelPromise promise) {}

    final HostConnector scripted = target -> {
        EmbeddedChannel host = new EmbeddedChannel();
        host.config().setAutoRead(false);
        ChannelPromise p = host.newPromise();
        connects.add(new Connect(target, host, p));
        return p;
    };

    TcpForwarderGateTest() {
        loopChannel.freezeTime();
        // The guest announces itself (gratuitous ARP), so the switch and the ARP cache know it, as after DHCP.
        sw.deliver(guest, Unpooled.wrappedBuffer(Frames.ethernet(0xFFFF_FFFF_FFFFL, Frames.GUEST_MAC, 0x0806,
                Frames.arp(1, Frames.GUEST_MAC, GUEST_IP, 0, GUEST_IP))));
        sw.flush();
    }

    void install(int maxInFlight, GuestFlows.Limits limits) {
        fwd = TcpForwarder.install(stack, loopChannel.eventLoop(),
                new TcpForwarder.Options(TIMEOUT_MS, maxInFlight, false), scripted);
        if (limits != null) {
            fwd.setGuestFlows(GuestFlows.install(sw, counters, () -> now, limits));
        }
    }

    @AfterEach
    void tearDown() {
        for (Connect c : connects) {
            c.host().finishAndReleaseAll();
        }
        stack.close();
        loopChannel.finishAndReleaseAll();
        out.clear();
    }

    // ---- guest side ------------------------------------------------------------------------------------

    void guestSends(int srcPort, int flags, int seq, int ack, byte[] data) {
        ByteBuf l4 = Unpooled.buffer();
        TcpRepr.Builder b = TcpRepr.builder().srcPort(srcPort).dstPort(80).seq(seq).ack(ack).flags(flags).window(64240);
        if ((flags & TcpFlags.SYN) != 0) {
            b.mss(1460);
        }
        b.build().emit(l4, GUEST_IP, HOST_IP, Unpooled.wrappedBuffer(data));
        byte[] tcp = Frames.bytes(l4);
        l4.release();
        sw.deliver(guest, Unpooled.wrappedBuffer(Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x0800,
                Frames.ipv4(GUEST_IP, HOST_IP, IpProtocol.TCP, 1, 0x4000, 64, tcp))));
        sw.flush();
    }

    void syn(int srcPort) {
        guestSends(srcPort, TcpFlags.SYN, SEQ, 0, new byte[0]);
    }

    /** A segment the gateway sent the guest: {flags, dst port, seq, ack}. */
    record Seg(int flags, int dstPort, int seq, int ack) {
        boolean is(int f) {
            return flags == f;
        }
    }

    Seg next() {
        for (byte[] f; (f = out.pollFirst()) != null; ) {
            if (Frames.getShort(f, 12) == 0x0800) {
                int tcp = 14 + 20;
                return new Seg(f[tcp + 13] & 0x3f, Frames.getShort(f, tcp + 2), Frames.getInt(f, tcp + 4),
                        Frames.getInt(f, tcp + 8));
            }
        }
        return null;
    }

    /** Moves both clocks and runs what is due on the loop (connect timeouts). */
    void advanceMillis(long ms) {
        now += TimeUnit.MILLISECONDS.toNanos(ms);
        loopChannel.advanceTimeBy(ms, TimeUnit.MILLISECONDS);
        loopChannel.runScheduledPendingTasks();
    }

    @Override
    public void transmit(ByteBuf frame) {
        out.add(Frames.bytes(frame));
        frame.release();
    }

    @Override
    public void flush() {}

    // ---- the gate ----------------------------------------------------------------------------------------

    @Test
    void theSynAckWaitsForTheHostConnect() {
        install(16, null);
        syn(40000);
        assertNull(next(), "no SYN-ACK before the host connected");
        Connect c = connects.poll();
        assertNotNull(c, "a host connect was started");
        assertEquals(80, c.target().getPort());
        syn(40000); // a retransmission meanwhile starts nothing
        assertTrue(connects.isEmpty());
        assertEquals(1, counters.get("tcp.synWhileConnecting"));

        c.promise().setSuccess();
        Seg synAck = next();
        assertTrue(synAck.is(TcpFlags.SYN | TcpFlags.ACK), "SYN-ACK once connected: " + synAck);
        assertEquals(SEQ + 1, synAck.ack());
        assertEquals(1, counters.get("tcp.forward.connected"));
        assertEquals(0, fwd.inFlight());

        // The handshake completes and the guest's bytes reach the host channel.
        guestSends(40000, TcpFlags.ACK | TcpFlags.PSH, SEQ + 1, synAck.seq() + 1,
                "hello".getBytes(StandardCharsets.US_ASCII));
        c.host().runPendingTasks();
        ByteBuf got = c.host().readOutbound();
        assertEquals("hello", got.toString(StandardCharsets.US_ASCII));
        got.release();
    }

    @Test
    void aRefusedConnectAnswersTheSynWithRstAck() {
        install(16, null);
        syn(40001);
        connects.poll().promise().setFailure(new ConnectException("Connection refused"));
        Seg rst = next();
        assertTrue(rst.is(TcpFlags.RST | TcpFlags.ACK), "RST+ACK: " + rst);
        assertEquals(SEQ + 1, rst.ack());
        assertEquals(40001, rst.dstPort());
        assertEquals(1, counters.get("tcp.forward.connectFailed"));
        assertTrue(stack.tcp().pendingSyns().isEmpty());
        assertEquals(0, stack.tcp().connectionCount());
    }

    @Test
    void aConnectThatDoesNotCompleteWithinTheTimeoutIsAbandonedWithARst() {
        install(16, null);
        syn(40002);
        Connect c = connects.poll();
        advanceMillis(TIMEOUT_MS - 1);
        assertNull(next(), "still waiting for the host");
        advanceMillis(1);
        Seg rst = next();
        assertTrue(rst.is(TcpFlags.RST | TcpFlags.ACK), "RST+ACK after the timeout: " + rst);
        assertFalse(c.host().isOpen(), "the abandoned connect's channel is closed");
        assertEquals(0, fwd.inFlight());
        // The host answering late changes nothing.
        c.promise().trySuccess();
        assertNull(next());
        assertEquals(0, stack.tcp().connectionCount());
    }

    @Test
    void synsOverTheInFlightCapWaitAndStartAsConnectsComplete() {
        install(1, null);
        syn(40010);
        syn(40011);
        assertEquals(1, connects.size(), "one connect in flight");
        assertEquals(1, fwd.waiting());
        assertEquals(1, counters.get("tcp.forward.synWaited"));
        Connect first = connects.poll();
        first.promise().setSuccess();
        assertEquals(40010, next().dstPort());
        Connect second = connects.poll();
        assertNotNull(second, "the waiting SYN got the slot");
        assertEquals(0, fwd.waiting());
        second.promise().setSuccess();
        Seg s = next();
        assertTrue(s.is(TcpFlags.SYN | TcpFlags.ACK));
        assertEquals(40011, s.dstPort());
    }

    @Test
    void aSynThatWaitedLongerThanTheConnectTimeoutIsDroppedNotConnected() {
        install(1, null);
        syn(40020);
        syn(40021);
        now += TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS + 1); // the stack's clock: the waiting SYN is stale
        connects.poll().promise().setSuccess();
        assertEquals(40020, next().dstPort());
        assertNull(next(), "the stale SYN is neither answered nor connected");
        assertTrue(connects.isEmpty());
        assertEquals(1, counters.get("tcp.forward.synWaitExpired"));
        assertTrue(stack.tcp().pendingSyns().isEmpty());
    }

    @Test
    void theHalfOpenBudgetPerGuestHoldsSynsAndTheSocketBudgetRefusesThem() {
        install(16, GuestFlows.Limits.forDescriptorLimit(20_000).withHalfOpen(1, 8).withSockets(100, 2));
        syn(40030);
        syn(40031);
        assertEquals(1, connects.size(), "one half-open connect per guest");
        assertEquals(1, fwd.waiting());
        connects.poll().promise().setSuccess();
        assertEquals(40030, next().dstPort());
        connects.poll().promise().setSuccess();
        assertEquals(40031, next().dstPort());
        // Two host sockets held: a third SYN is refused at once.
        syn(40032);
        assertTrue(connects.isEmpty());
        Seg rst = next();
        assertTrue(rst.is(TcpFlags.RST | TcpFlags.ACK), "RST: " + rst);
        assertEquals(40032, rst.dstPort());
        assertEquals(1, counters.get("tcp.forward.budgetRefused"));
    }
}
