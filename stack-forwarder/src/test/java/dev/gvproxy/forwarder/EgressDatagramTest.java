package dev.gvproxy.forwarder;

import static dev.gvproxy.testing.Frames.GUEST_IP;
import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static dev.gvproxy.testing.Frames.HOST_IP;
import static dev.gvproxy.testing.Frames.ip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.gvproxy.forwarder.EgressPolicy.Action;
import dev.gvproxy.forwarder.EgressPolicy.Cidr;
import dev.gvproxy.forwarder.EgressPolicy.Protocol;
import dev.gvproxy.forwarder.EgressPolicy.Rule;
import dev.gvproxy.testing.Frames;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The egress policy for UDP and ICMP echo, frame by frame: a denied datagram or echo request is answered with ICMP
 * destination unreachable, code 13 "communication administratively prohibited" (RFC 1812 5.2.7.1), quoting the
 * guest's datagram, and no host socket is opened; a replaced policy with "close" ends the UDP flows it denies.
 * The only real host traffic is UDP to an echo server on 127.0.0.1.
 */
class EgressDatagramTest {
    static final long WAIT = 5000;
    static final int LAN = ip("198.18.0.5");
    LoopHarness h;
    EgressFilter egress;
    UdpForwarder udp;
    GuestFlows flows;

    @BeforeEach
    void setUp() throws Exception {
        h = new LoopHarness();
        egress = new EgressFilter(h.counters, EgressPolicy.of(List.of(
                new Rule(Action.DENY, Cidr.parse("198.18.0.0/15"), Protocol.ANY))));
        flows = h.onLoop(() -> GuestFlows.install(h.sw, h.counters, () -> h.now, GuestFlows.Limits.forDescriptorLimit(20_000)));
        udp = h.onLoop(() -> UdpForwarder.install(h.stack, h.loop, () -> h.now, UdpForwarder.Options.DEFAULTS));
        h.run(() -> {
            udp.setGuestFlows(flows);
            udp.setEgress(egress);
        });
    }

    @AfterEach
    void tearDown() throws Exception {
        h.run(udp::close);
        h.close();
    }

    /**
     * Checks an ICMP "administratively prohibited" to the guest about its datagram to {@code dst} and returns the
     * quoted transport header's first 8 bytes.
     */
    static byte[] assertAdminProhibited(byte[] f, int dst, int proto) {
        assertNotNull(f, "an ICMP error to the guest");
        assertEquals(GUEST_MAC, UdpForwarderTest.mac(f, 0));
        assertEquals(GW_MAC, UdpForwarderTest.mac(f, 6));
        int ip = 14;
        assertEquals(0, Frames.checksum(f, ip, 20, 0), "IPv4 header checksum");
        assertEquals(1, f[ip + 9], "ICMP");
        assertEquals(dst, Frames.getInt(f, ip + 12), "from the refused destination");
        assertEquals(GUEST_IP, Frames.getInt(f, ip + 16));
        int len = Frames.getShort(f, ip + 2) - 20;
        int icmp = ip + 20;
        assertEquals(3, f[icmp], "destination unreachable");
        assertEquals(13, f[icmp + 1], "communication administratively prohibited");
        assertEquals(0, Frames.checksum(f, icmp, len, 0), "ICMP checksum");
        int quoted = icmp + 8;
        assertEquals(0x45, f[quoted] & 0xFF, "the guest's IPv4 header is quoted");
        assertEquals(proto, f[quoted + 9]);
        assertEquals(GUEST_IP, Frames.getInt(f, quoted + 12));
        assertEquals(dst, Frames.getInt(f, quoted + 16));
        return java.util.Arrays.copyOfRange(f, quoted + 20, quoted + 28);
    }

    @Test
    void aDeniedDatagramGetsAdminProhibitedAndOpensNoSocket() throws Exception {
        h.send(LoopHarness.udpFrame(GUEST_IP, 40000, LAN, 53, "query".getBytes(StandardCharsets.US_ASCII)));
        byte[] q = assertAdminProhibited(h.takeIp(WAIT), LAN, 17);
        assertEquals(40000, Frames.getShort(q, 0), "quoted source port");
        assertEquals(53, Frames.getShort(q, 2), "quoted destination port");
        assertEquals(8 + 5, Frames.getShort(q, 4), "quoted UDP length");
        assertEquals(0, (int) h.onLoop(udp::flowCount), "no flow, no host socket");
        assertEquals(0, (int) h.onLoop(flows::sockets));
        assertEquals(1, h.count("egress.denied"));
        assertEquals(1, h.count("egress.denied.udp"));
        assertEquals(1, h.count("icmp.out.destUnreachable"));
        assertEquals(0, h.count("udp.fwd.flowsOpened"));
        // Every datagram of a denied 4-tuple is refused again (there is no flow to remember it by).
        h.send(LoopHarness.udpFrame(GUEST_IP, 40000, LAN, 53, new byte[0]));
        assertAdminProhibited(h.takeIp(WAIT), LAN, 17);
        assertEquals(2, egress.ruleHits().get(0).hits());
    }

    @Test
    void broadcastsAreNotAnsweredWithErrors() throws Exception {
        h.run(() -> egress.replace(EgressPolicy.of(List.of(new Rule(Action.DENY, Cidr.parse("0.0.0.0/0"), Protocol.UDP)))));
        h.send(LoopHarness.udpFrame(GUEST_IP, 40000, 0xFFFF_FFFF, 9, new byte[1]));
        h.send(LoopHarness.udpFrame(GUEST_IP, 40000, ip("224.0.0.251"), 5353, new byte[1]));
        assertNull(h.takeIp(100), "no ICMP error about a broadcast or multicast (RFC 1122 3.2.2)");
        assertEquals(0, h.count("egress.denied"));
    }

    @Test
    void aReplacedPolicyWithCloseEndsTheUdpFlowsItDenies() throws Exception {
        try (UdpEchoServer echo = new UdpEchoServer()) {
            h.send(LoopHarness.udpFrame(GUEST_IP, 40001, HOST_IP, echo.port(), "a".getBytes(StandardCharsets.US_ASCII)));
            assertNotNull(echo.senders.poll(WAIT, TimeUnit.MILLISECONDS), "the allowed flow reaches the host");
            assertNotNull(h.takeIp(WAIT), "and its echo the guest");
            assertEquals(1, (int) h.onLoop(udp::flowCount));

            int closed = h.onLoop(() -> {
                egress.replace(EgressPolicy.of(List.of(new Rule(Action.DENY, Cidr.parse("192.168.127.254"),
                        Protocol.UDP))));
                return egress.closeDenied(flows);
            });
            assertEquals(1, closed);
            assertEquals(0, (int) h.onLoop(udp::flowCount), "the flow and its host socket are gone");
            assertEquals(0, (int) h.onLoop(flows::sockets));
            assertEquals(1, h.count("egress.flowsClosed"));

            h.send(LoopHarness.udpFrame(GUEST_IP, 40001, HOST_IP, echo.port(), "b".getBytes(StandardCharsets.US_ASCII)));
            assertAdminProhibited(h.takeIp(WAIT), HOST_IP, 17);
            assertNull(echo.senders.poll(100, TimeUnit.MILLISECONDS), "nothing more reaches the host");
        }
    }

    @Test
    void aDeniedEchoRequestGetsAdminProhibitedAndOpensNoPingSocket() throws Exception {
        Assumptions.assumeTrue(dev.gvproxy.platform.SocketTransport.get().isEpoll(),
                "skipped: the ICMP forwarder needs the epoll transport; transport is "
                        + dev.gvproxy.platform.SocketTransport.get());
        int[] opened = {0};
        IcmpForwarder icmp = h.onLoop(() -> IcmpForwarder.install(h.stack, h.loop, () -> h.now,
                IcmpForwarder.Options.DEFAULTS, dst -> {
                    opened[0]++;
                    throw new PingSocket.PingException("no ping sockets in this test", 24); // EMFILE
                }));
        try {
            h.run(() -> {
                icmp.setGuestFlows(flows);
                icmp.setEgress(egress);
            });
            h.send(Frames.bytes(Frames.ping(LAN, 0x4242, 1, 56)));
            byte[] q = assertAdminProhibited(h.takeIp(WAIT), LAN, 1);
            assertEquals(8, q[0], "the quoted echo request");
            assertEquals(0x4242, Frames.getShort(q, 4), "its identifier");
            assertEquals(0, opened[0], "no ping socket for a denied echo");
            assertEquals(1, h.count("egress.denied.icmp"));
            // An allowed destination still reaches the forwarder (whose socket the test refuses).
            h.send(Frames.bytes(Frames.ping(HOST_IP, 0x4242, 2, 56)));
            assertEquals(1, (int) h.onLoop(() -> opened[0]));
        } finally {
            h.run(icmp::close);
        }
    }
}
