package dev.gvproxy.forwarder;

import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.gvproxy.forwarder.EgressPolicy.Action;
import dev.gvproxy.forwarder.EgressPolicy.Cidr;
import dev.gvproxy.forwarder.EgressPolicy.Protocol;
import dev.gvproxy.forwarder.EgressPolicy.Rule;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Icmpv6Packet;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * ICMPv6 echo forwarding (issue 11, deliverable 3) through real ping sockets on a real epoll loop, inside a
 * namespace the test creates (ping sockets allowed there, {@code 2001:2::99} on its {@code lo}): the IPv6 host
 * alias reaches {@code ::1}, a NAT64 address an IPv4 ping socket to the embedded address, a global address an
 * ICMPv6 ping socket; replies come back as ICMPv6 echo replies from the address the guest pinged, with its
 * identifier and sequence. Refusals and the egress policy as for IPv4.
 */
class Icmpv6ForwarderTest extends IcmpForwarderTestBase {
    static final Ipv6Address GUEST6 = Ipv6Address.parse("fd00:5a94:efe4::2");
    static final Ipv6Address TEST_HOST6 = Ipv6Address.parse("2001:2::99");

    @BeforeEach
    void setUp() throws Exception {
        h = new LoopHarness(StackConfig.builder().build()); // IPv6 on: the default ULA prefix
        PingSocket.Opener opener = namespaceOpener();
        TestNetns.run("ip", "-n", ns.name, "addr", "add", TEST_HOST6 + "/128", "dev", "lo");
        install(IcmpForwarder.Options.DEFAULTS, opener);
    }

    static byte[] data(int size) {
        byte[] d = new byte[size];
        for (int i = 0; i < size; i++) {
            d[i] = (byte) (i * 7);
        }
        return d;
    }

    static byte[] icmpv6(Ipv6Address dst, int type, int rest, byte[] data) {
        return Frames.icmpv6(GUEST6, dst, type, rest, data);
    }

    static byte[] echo(Ipv6Address dst, int id, int seq, byte[] data) {
        return Frames.ping6(GUEST6, dst, id, seq, data);
    }

    /** The next ICMPv6 frame to the guest that is not NDP or a router advertisement. */
    byte[] takeIcmpv6() throws InterruptedException {
        return h.takeMatching(WAIT, f -> Frames.getShort(f, 12) == 0x86DD && (f[14 + 6] & 0xFF) == IpProtocol.ICMPV6
                && (f[14 + 40] & 0xFF) < Icmpv6Packet.TYPE_ROUTER_SOLICITATION);
    }

    static Ipv6Address addr(byte[] f, int off) {
        ByteBuf b = Unpooled.wrappedBuffer(f);
        return new Ipv6Address(b.getLong(off), b.getLong(off + 8));
    }

    /** Asserts an ICMPv6 message from {@code from} to the guest with a valid checksum; returns its bytes. */
    static byte[] assertIcmpv6(byte[] f, Ipv6Address from, int type, int code) {
        assertNotNull(f, "an ICMPv6 message to the guest");
        assertEquals(GUEST_MAC, UdpForwarderTest.mac(f, 0));
        int ip = 14;
        assertEquals(from, addr(f, ip + 8), "from the pinged address");
        assertEquals(GUEST6, addr(f, ip + 24));
        int len = Frames.getShort(f, ip + 4);
        byte[] m = Arrays.copyOfRange(f, ip + 40, ip + 40 + len);
        assertEquals(type, m[0] & 0xFF, "type");
        assertEquals(code, m[1] & 0xFF, "code");
        ByteBuf b = Unpooled.wrappedBuffer(m);
        assertEquals(null, Icmpv6Packet.check(b, 0, m.length, from, GUEST6), "checksum and length");
        return m;
    }

    void pingAndExpectReplies(Ipv6Address dst) throws Exception {
        for (int seq = 1; seq <= 3; seq++) {
            h.send(echo(dst, 0x6006, seq, data(56)));
            byte[] m = assertIcmpv6(takeIcmpv6(), dst, Icmpv6Packet.TYPE_ECHO_REPLY, 0);
            assertEquals(0x6006, Frames.getShort(m, 4), "the guest's identifier");
            assertEquals(seq, Frames.getShort(m, 6), "the guest's sequence");
            assertArrayEquals(data(56), Arrays.copyOfRange(m, 8, m.length));
        }
        assertEquals(1, fwd.flowCount(), "one ping socket for one guest identifier");
        assertEquals(3, h.count("icmp.fwd.replies"));
    }

    @Test
    void theIpv6HostAliasReachesTheHostLoopback() throws Exception {
        Ipv6Address alias = h.config.ipv6().hostAlias();
        pingAndExpectReplies(alias);
        // ::1 when the host has it, else 127.0.0.1: counted by the family the host socket speaks.
        assertEquals(1, h.count(HostRoutes.hostHasIpv6Loopback() ? "egress.ipv6.icmp" : "egress.ipv4.icmp"));
    }

    @Test
    void nat64GoesOutAsIpv4EchoAndComesBackAsIpv6() throws Exception {
        pingAndExpectReplies(Ipv6Address.parse("64:ff9b::7f00:1")); // 127.0.0.1 in the test's namespace
        assertEquals(1, h.count("egress.nat64.icmp"));
    }

    @Test
    void aGlobalAddressGoesOutThroughAnIcmpv6PingSocket() throws Exception {
        pingAndExpectReplies(TEST_HOST6);
        assertEquals(1, h.count("egress.ipv6.icmp"));
    }

    @Test
    void linkLocalAndOnLinkDestinationsAreNotForwarded() throws Exception {
        h.send(echo(Ipv6Address.parse("fe80::5"), 1, 1, data(8)));
        h.send(echo(Ipv6Address.parse("fd00:5a94:efe4::7"), 1, 2, data(8))); // another guest: over the switch
        h.send(echo(Ipv6Address.parse("::1"), 1, 3, data(8)));
        assertEquals(3, h.count("icmp.fwd.badDestination"));
        assertEquals(0, fwd.flowCount());
    }

    @Test
    void nonEchoMessagesAreNotRelayed() throws Exception {
        h.send(icmpv6(TEST_HOST6, Icmpv6Packet.TYPE_DEST_UNREACHABLE, 0, new byte[48]));
        h.send(icmpv6(TEST_HOST6, Icmpv6Packet.TYPE_ECHO_REPLY, (1 << 16) | 1, data(8)));
        assertEquals(2, h.count("icmp.fwd.notEcho"));
        assertEquals(0, fwd.flowCount());
        assertNull(h.takeMatching(200, f -> Frames.getShort(f, 12) == 0x86DD && (f[14 + 40] & 0xFF) < 133));
    }

    @Test
    void theEgressPolicyRefusesNativeIpv6WhileItDeniesAnything() throws Exception {
        EgressFilter egress = new EgressFilter(h.counters, EgressPolicy.of(List.of(
                new Rule(Action.DENY, Cidr.parse("198.18.0.0/15"), Protocol.ANY))));
        h.run(() -> fwd.setEgress(egress));
        h.send(echo(TEST_HOST6, 2, 1, data(8)));
        byte[] m = assertIcmpv6(takeIcmpv6(), TEST_HOST6, Icmpv6Packet.TYPE_DEST_UNREACHABLE,
                Icmpv6Packet.CODE_ADMIN_PROHIBITED);
        assertEquals(Icmpv6Packet.TYPE_ECHO_REQUEST, m[8 + 40] & 0xFF, "quotes the guest's echo request");
        assertEquals(1, h.count("egress.denied.ipv6"));
        assertEquals(0, fwd.flowCount());
        // NAT64 is judged as the IPv4 address it embeds: 198.18.0.1 is denied, 127.0.0.1 is not.
        h.send(echo(Ipv6Address.parse("64:ff9b::c612:1"), 3, 1, data(8)));
        assertIcmpv6(takeIcmpv6(), Ipv6Address.parse("64:ff9b::c612:1"), Icmpv6Packet.TYPE_DEST_UNREACHABLE,
                Icmpv6Packet.CODE_ADMIN_PROHIBITED);
        h.send(echo(Ipv6Address.parse("64:ff9b::7f00:1"), 4, 1, data(8)));
        assertIcmpv6(takeIcmpv6(), Ipv6Address.parse("64:ff9b::7f00:1"), Icmpv6Packet.TYPE_ECHO_REPLY, 0);
    }
}
