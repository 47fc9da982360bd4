package dev.gvproxy.forwarder;

import static dev.gvproxy.testing.Frames.GUEST_IP;
import static dev.gvproxy.testing.Frames.HOST_IP;
import static dev.gvproxy.testing.Frames.ip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.forwarder.EgressPolicy.Action;
import dev.gvproxy.forwarder.EgressPolicy.Cidr;
import dev.gvproxy.forwarder.EgressPolicy.Ports;
import dev.gvproxy.forwarder.EgressPolicy.Protocol;
import dev.gvproxy.forwarder.EgressPolicy.Rule;
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
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The egress policy at the SYN gate, segment by segment: a denied SYN gets a RST and starts no host connect; an
 * allowed one is connected as before; a policy replaced with "close" resets the connections it now denies. The
 * host is a scripted {@link HostConnector} of embedded channels, time a hand-moved clock; no socket, no sleep.
 */
class EgressTcpTest implements LinkEndpoint {
    static final int SEQ = 1000;
    static final int LAN = ip("198.18.0.5");

    long now = 1_000_000_000L;
    final Counters counters = new Counters();
    final StackConfig config = StackConfig.defaults();
    final VirtualSwitch sw = new VirtualSwitch(config.gatewayMac(), counters, () -> now);
    final NetworkStack stack = new NetworkStack(config, sw, counters, PooledByteBufAllocator.DEFAULT, () -> now);
    final SwitchPort guest = sw.attach("guest", this);
    final ArrayDeque<byte[]> out = new ArrayDeque<>();
    final EmbeddedChannel loopChannel = new EmbeddedChannel();
    final ArrayDeque<Connect> connects = new ArrayDeque<>();
    final EgressFilter egress = new EgressFilter(counters, EgressPolicy.ALLOW_ALL);
    final GuestFlows flows = GuestFlows.install(sw, counters, () -> now,
            GuestFlows.Limits.forDescriptorLimit(20_000).withHalfOpen(1, 64));
    final TcpForwarder fwd;

    record Connect(InetSocketAddress target, EmbeddedChannel host, ChannelPromise promise) {}

    /** A segment the gateway sent the guest. */
    record Seg(int flags, int srcIp, int dstPort, int seq, int ack) {}

    EgressTcpTest() {
        loopChannel.freezeTime();
        sw.deliver(guest, Unpooled.wrappedBuffer(Frames.ethernet(0xFFFF_FFFF_FFFFL, Frames.GUEST_MAC, 0x0806,
                Frames.arp(1, Frames.GUEST_MAC, GUEST_IP, 0, GUEST_IP))));
        sw.flush();
        HostConnector scripted = target -> {
            EmbeddedChannel host = new EmbeddedChannel();
            host.config().setAutoRead(false);
            ChannelPromise p = host.newPromise();
            connects.add(new Connect(target, host, p));
            return p;
        };
        fwd = TcpForwarder.install(stack, loopChannel.eventLoop(), new TcpForwarder.Options(5_000, 16, false), scripted);
        fwd.setGuestFlows(flows);
        fwd.setEgress(egress);
    }

    @AfterEach
    void tearDown() {
        for (Connect c : connects) {
            c.host().finishAndReleaseAll();
        }
        stack.close();
        loopChannel.finishAndReleaseAll();
    }

    void send(int dst, int srcPort, int dstPort, int flags, int seq, int ack) {
        ByteBuf l4 = Unpooled.buffer();
        TcpRepr.Builder b = TcpRepr.builder().srcPort(srcPort).dstPort(dstPort).seq(seq).ack(ack).flags(flags)
                .window(64240);
        if ((flags & TcpFlags.SYN) != 0) {
            b.mss(1460);
        }
        b.build().emit(l4, GUEST_IP, dst, Unpooled.EMPTY_BUFFER);
        byte[] tcp = Frames.bytes(l4);
        l4.release();
        sw.deliver(guest, Unpooled.wrappedBuffer(Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x0800,
                Frames.ipv4(GUEST_IP, dst, IpProtocol.TCP, 1, 0x4000, 64, tcp))));
        sw.flush();
    }

    void syn(int dst, int srcPort, int dstPort) {
        send(dst, srcPort, dstPort, TcpFlags.SYN, SEQ, 0);
    }

    Seg next() {
        for (byte[] f; (f = out.pollFirst()) != null; ) {
            if (Frames.getShort(f, 12) == 0x0800) {
                int tcp = 14 + 20;
                return new Seg(f[tcp + 13] & 0x3f, Frames.getInt(f, 14 + 12), Frames.getShort(f, tcp + 2),
                        Frames.getInt(f, tcp + 4), Frames.getInt(f, tcp + 8));
            }
        }
        return null;
    }

    void assertRst(Seg s, int from, int port) {
        assertNotNull(s, "an answer to the SYN");
        assertEquals(TcpFlags.RST | TcpFlags.ACK, s.flags(), "RST+ACK: connection refused");
        assertEquals(from, s.srcIp(), "from the address the guest tried");
        assertEquals(port, s.dstPort());
        assertEquals(SEQ + 1, s.ack());
    }

    /** Connects the guest's port to {@code dst:dstPort} through the scripted host; returns the host side. */
    Connect establish(int dst, int srcPort, int dstPort) {
        syn(dst, srcPort, dstPort);
        Connect c = connects.poll();
        assertNotNull(c, "a host connect");
        c.promise().setSuccess();
        Seg synAck = next();
        assertEquals(TcpFlags.SYN | TcpFlags.ACK, synAck.flags());
        send(dst, srcPort, dstPort, TcpFlags.ACK, SEQ + 1, synAck.seq() + 1);
        return c;
    }

    @Override
    public void transmit(ByteBuf frame) {
        out.add(Frames.bytes(frame));
        frame.release();
    }

    @Override
    public void flush() {}

    @Test
    void aDeniedSynIsResetWithoutAHostConnect() {
        egress.replace(EgressPolicy.of(List.of(new Rule(Action.DENY, Cidr.parse("198.18.0.0/15"), Protocol.TCP))));
        syn(LAN, 40000, 80);
        assertRst(next(), LAN, 40000);
        assertTrue(connects.isEmpty(), "no host socket for a denied connection");
        assertTrue(stack.tcp().pendingSyns().isEmpty());
        assertEquals(0, flows.sockets());
        assertEquals(1, counters.get("egress.denied"));
        assertEquals(1, counters.get("egress.denied.tcp"));
        assertEquals(1, egress.ruleHits().get(0).hits());
        assertEquals(0, counters.get("tcp.forward.connectFailed"), "refused by policy, not by the host");
    }

    @Test
    void theFirstMatchingRuleDecidesAndPortsNarrowIt() {
        egress.replace(EgressPolicy.of(List.of(
                new Rule(Action.ALLOW, Cidr.parse("198.18.0.5"), Protocol.TCP, Ports.parse("80")),
                new Rule(Action.DENY, Cidr.parse("198.18.0.0/15"), Protocol.ANY),
                new Rule(Action.DENY, Cidr.parse("0.0.0.0/0"), Protocol.TCP, Ports.parse("22,8000-8999")))));
        syn(LAN, 40001, 80);
        assertNull(next(), "allowed: the SYN waits for the host connect");
        Connect c = connects.poll();
        assertEquals(new InetSocketAddress("198.18.0.5", 80), c.target());
        c.promise().setSuccess(); // frees the guest's one half-open slot
        assertEquals(TcpFlags.SYN | TcpFlags.ACK, next().flags());
        syn(LAN, 40002, 81);
        assertRst(next(), LAN, 40002);
        syn(HOST_IP, 40003, 8080);
        assertRst(next(), HOST_IP, 40003);
        syn(HOST_IP, 40004, 9000);
        assertNull(next());
        assertEquals(new InetSocketAddress("127.0.0.1", 9000), connects.poll().target(),
                "the host alias is matched as the guest addressed it, then translated");
        assertEquals(List.of(1L, 1L, 1L), egress.ruleHits().stream().map(EgressFilter.RuleHits::hits).toList());
        assertEquals(2, counters.get("egress.denied.tcp"));
    }

    @Test
    void aReplacedPolicyWithCloseResetsTheConnectionsItDenies() {
        Connect lan = establish(LAN, 40010, 80);
        Connect host = establish(HOST_IP, 40011, 80);
        assertEquals(2, stack.tcp().connectionCount());
        out.clear();

        egress.replace(EgressPolicy.of(List.of(new Rule(Action.DENY, Cidr.parse("198.18.0.0/15"), Protocol.TCP))));
        assertEquals(2, stack.tcp().connectionCount(), "replacing alone keeps existing connections");
        int closed = egress.closeDenied(flows);
        assertEquals(1, closed);
        Seg rst = next();
        assertNotNull(rst, "the guest's connection is reset");
        assertTrue((rst.flags() & TcpFlags.RST) != 0, "RST: " + rst);
        assertEquals(LAN, rst.srcIp());
        assertEquals(40010, rst.dstPort());
        assertNull(next(), "the allowed connection is untouched");
        lan.host().runPendingTasks();
        assertFalse(lan.host().isOpen(), "the host socket is closed");
        assertTrue(host.host().isOpen());
        assertEquals(1, stack.tcp().connectionCount());
        assertEquals(1, counters.get("egress.flowsClosed"));
        assertEquals(0, counters.get("egress.denied"), "closing is not a denial of a new flow");

        // The guest tries again: refused by the new rule.
        syn(LAN, 40012, 80);
        assertRst(next(), LAN, 40012);
        assertEquals(1, egress.ruleHits().get(0).hits());
    }

    @Test
    void aConnectInFlightOrASynWaitingMeetsTheNewPolicy() {
        syn(LAN, 40020, 80); // in flight
        syn(LAN, 40021, 80); // waits: one half-open connect per guest
        assertEquals(1, connects.size());
        assertEquals(1, fwd.waiting());
        Connect inFlight = connects.poll();

        egress.replace(EgressPolicy.of(List.of(new Rule(Action.DENY, Cidr.parse("198.18.0.5"), Protocol.ANY))));
        assertEquals(1, egress.closeDenied(flows), "the connect in flight is abandoned");
        assertFalse(inFlight.host().isOpen());
        // Its slot freed: the waiting SYN is checked again and refused, with no connect of its own.
        assertRst(next(), LAN, 40021);
        assertNull(next(), "the abandoned SYN is dropped: the guest's retransmission meets the new rules");
        assertTrue(connects.isEmpty(), "no connect for the waiting SYN");
        assertEquals(0, fwd.inFlight());
        assertEquals(0, fwd.waiting());
        assertEquals(1, counters.get("egress.denied.tcp"));
        syn(LAN, 40020, 80); // the retransmission
        assertRst(next(), LAN, 40020);
    }
}
