package dev.gvproxy.forwarder;

import static dev.gvproxy.testing.Frames.GUEST_IP;
import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_IP;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static dev.gvproxy.testing.Frames.HOST_IP;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.testing.Frames;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * ICMP echo forwarding through ping sockets on a real epoll loop. Only 127.0.0.1 is pinged (as
 * 192.168.127.254 through the NAT), either in the host's namespace (when the host allows ping sockets) or
 * inside a namespace the test creates and allows them in.
 */
class IcmpForwarderTest extends IcmpForwarderTestBase {
    @BeforeEach
    void setUp() throws Exception {
        h = new LoopHarness();
    }

    static byte[] data(int size) {
        byte[] d = new byte[size];
        for (int i = 0; i < size; i++) {
            d[i] = (byte) i;
        }
        return d;
    }

    /** Asserts an echo reply from {@code from} to the guest with the guest's id/seq and data. */
    static void assertEchoReply(byte[] f, int from, int id, int seq, byte[] data) {
        assertNotNull(f, "echo reply for seq " + seq);
        assertEquals(GUEST_MAC, UdpForwarderTest.mac(f, 0));
        assertEquals(GW_MAC, UdpForwarderTest.mac(f, 6));
        int ip = 14;
        assertEquals(0, Frames.checksum(f, ip, 20, 0), "IPv4 header checksum");
        assertEquals(1, f[ip + 9], "ICMP");
        assertEquals(from, Frames.getInt(f, ip + 12), "from the pinged address");
        assertEquals(GUEST_IP, Frames.getInt(f, ip + 16));
        int len = Frames.getShort(f, ip + 2) - 20;
        int icmp = ip + 20;
        assertEquals(0, f[icmp], "echo reply");
        assertEquals(0, f[icmp + 1]);
        assertEquals(0, Frames.checksum(f, icmp, len, 0), "ICMP checksum");
        assertEquals(id, Frames.getShort(f, icmp + 4), "the guest's identifier");
        assertEquals(seq, Frames.getShort(f, icmp + 6), "the guest's sequence");
        assertArrayEquals(data, Arrays.copyOfRange(f, icmp + 8, icmp + len));
    }

    void pingAndExpectReplies(PingSocket.Opener opener) throws Exception {
        install(IcmpForwarder.Options.DEFAULTS, opener);
        for (int seq = 1; seq <= 3; seq++) {
            h.send(Frames.bytes(Frames.ping(HOST_IP, 0x4242, seq, 56)));
            assertEchoReply(h.takeIp(WAIT), HOST_IP, 0x4242, seq, data(56));
        }
        assertEquals(1, fwd.flowCount(), "one ping socket for one guest identifier");
        assertEquals(3, h.count("icmp.fwd.replies"));
        // Another identifier (a second ping process) gets its own socket.
        h.send(Frames.bytes(Frames.ping(HOST_IP, 0x0101, 9, 1400)));
        assertEchoReply(h.takeIp(WAIT), HOST_IP, 0x0101, 9, data(1400));
        assertEquals(2, fwd.flowCount());
    }

    @Test
    void pingHostLoopbackThroughNat() throws Exception {
        try {
            PingSocket.open(java.net.InetAddress.getByName("127.0.0.1")).close();
        } catch (PingSocket.PingException e) {
            Assumptions.abort("skipped: the host forbids unprivileged ping sockets (errno " + e.errno()
                    + "; net.ipv4.ping_group_range); pingInTestNamespaceThroughNat covers the same path");
        }
        pingAndExpectReplies(PingSocket::open);
    }

    @Test
    void pingInTestNamespaceThroughNat() throws Exception {
        pingAndExpectReplies(namespaceOpener());
    }

    @Test
    void fragmentedPingIsAnsweredInFragments() throws Exception {
        install(IcmpForwarder.Options.DEFAULTS, namespaceOpener());
        byte[] payload = data(4000);
        byte[] icmp = Frames.icmpEcho(8, 0x7777, 1, payload);
        for (int off = 0; off < icmp.length; off += 1480) {
            int n = Math.min(1480, icmp.length - off);
            boolean more = off + n < icmp.length;
            h.send(Frames.ethernet(GW_MAC, GUEST_MAC, 0x0800, Frames.ipv4(GUEST_IP, HOST_IP, 1, 0x5151,
                    (more ? 0x2000 : 0) | (off >>> 3), 64, Arrays.copyOfRange(icmp, off, off + n))));
        }
        java.io.ByteArrayOutputStream reply = new java.io.ByteArrayOutputStream();
        int expectedOffset = 0;
        boolean more = true;
        while (more) {
            byte[] f = h.takeIp(WAIT);
            assertNotNull(f, "reply fragment at " + expectedOffset);
            assertEquals(HOST_IP, Frames.getInt(f, 14 + 12));
            int ff = Frames.getShort(f, 14 + 6);
            assertEquals(expectedOffset, (ff & 0x1FFF) * 8, "fragments in order");
            int len = Frames.getShort(f, 14 + 2) - 20;
            reply.write(f, 34, len);
            expectedOffset += len;
            more = (ff & 0x2000) != 0;
        }
        byte[] r = reply.toByteArray();
        assertEquals(icmp.length, r.length);
        assertEquals(0, r[0], "echo reply");
        assertEquals(0, Frames.checksum(r, 0, r.length, 0), "ICMP checksum over the reassembled reply");
        assertEquals(0x7777, Frames.getShort(r, 4));
        assertEquals(1, Frames.getShort(r, 6));
        assertArrayEquals(payload, Arrays.copyOfRange(r, 8, r.length));
    }

    @Test
    void idlePingSocketsExpireWithInjectedClock() throws Exception {
        PingSocket.Opener opener = namespaceOpener();
        install(new IcmpForwarder.Options(TimeUnit.SECONDS.toNanos(60), 16), opener);
        long t0 = h.now;
        h.send(Frames.bytes(Frames.ping(HOST_IP, 7, 1, 8)));
        assertEchoReply(h.takeIp(WAIT), HOST_IP, 7, 1, data(8));
        assertEquals(1, fwd.flowCount());
        h.now = t0 + TimeUnit.SECONDS.toNanos(59);
        h.run(() -> fwd.poll(h.now));
        assertEquals(1, fwd.flowCount());
        h.now = t0 + TimeUnit.SECONDS.toNanos(60);
        h.run(() -> fwd.poll(h.now));
        assertEquals(0, fwd.flowCount());
        assertEquals(1, h.count("icmp.fwd.flowsExpired"));
        // A later ping opens a new socket and is still answered.
        h.send(Frames.bytes(Frames.ping(HOST_IP, 7, 2, 8)));
        assertEchoReply(h.takeIp(WAIT), HOST_IP, 7, 2, data(8));
    }

    @Test
    void flowLimitIsCounted() throws Exception {
        install(new IcmpForwarder.Options(TimeUnit.SECONDS.toNanos(60), 1), namespaceOpener());
        h.send(Frames.bytes(Frames.ping(HOST_IP, 1, 1, 8)));
        assertNotNull(h.takeIp(WAIT));
        h.send(Frames.bytes(Frames.ping(HOST_IP, 2, 1, 8)));
        assertEquals(1, h.count("icmp.fwd.flowLimit"));
        assertNull(h.takeIp(200));
    }

    @Test
    void forbiddenPingSocketsAreCountedAndUnanswered() throws Exception {
        install(IcmpForwarder.Options.DEFAULTS, dst -> {
            throw new PingSocket.PingException("socket", PingSocket.EACCES);
        });
        h.send(Frames.bytes(Frames.ping(HOST_IP, 5, 1, 8)));
        h.send(Frames.bytes(Frames.ping(HOST_IP, 5, 2, 8)));
        assertEquals(2, h.count("icmp.fwd.pingForbidden"));
        assertEquals(0, fwd.flowCount());
        assertNull(h.takeIp(200));
    }

    @Test
    void gatewayPingIsAnsweredByTheStackNotForwarded() throws Exception {
        install(IcmpForwarder.Options.DEFAULTS, dst -> {
            throw new AssertionError("must not open a ping socket for the gateway");
        });
        h.send(Frames.bytes(Frames.ping(GW_IP, 3, 1, 16)));
        assertEchoReply(h.takeIp(WAIT), GW_IP, 3, 1, data(16));
        assertEquals(0, h.count("icmp.fwd.requests"));
    }

    @Test
    void loopbackAndBroadcastDestinationsAreIgnored() throws Exception {
        install(IcmpForwarder.Options.DEFAULTS, dst -> {
            throw new AssertionError("must not open a ping socket");
        });
        h.send(Frames.bytes(Frames.ping(Frames.ip("127.0.0.1"), 3, 1, 16)));
        h.send(Frames.bytes(Frames.ping(Frames.ip("255.255.255.255"), 3, 2, 16)));
        assertNull(h.takeIp(200));
        assertEquals(0, fwd.flowCount());
    }

    @Test
    void nonEchoMessagesAreNotRelayed() throws Exception {
        install(IcmpForwarder.Options.DEFAULTS, dst -> {
            throw new AssertionError("must not open a ping socket");
        });
        // A guest's "port unreachable" about some datagram, addressed to the outside.
        byte[] m = new byte[8 + 28];
        m[0] = 3;
        m[1] = 3;
        int c = Frames.checksum(m, 0, m.length, 0);
        m[2] = (byte) (c >>> 8);
        m[3] = (byte) c;
        h.send(Frames.ethernet(GW_MAC, GUEST_MAC, 0x0800, Frames.ipv4(GUEST_IP, HOST_IP, 1, 9, 0, 64, m)));
        assertEquals(1, h.count("icmp.fwd.notEcho"));
        assertTrue(fwd.flowCount() == 0);
    }
}
