package dev.gvproxy.forwarder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.testing.Frames;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Port forward validation and listeners on a real epoll loop, plus a UDP forward end to end against the
 * harness's in-memory guest port (TCP forwards are exercised with a namespace guest in integration-tests). Keying,
 * duplicates and listing are the registry's: those tests live in the network module
 * ({@code PortForwarderListingTest}), beside the registry and the one JSON writer.
 */
class PortForwarderTest {
    LoopHarness h;
    PortForwarder pf;

    @BeforeEach
    void setUp() throws Exception {
        h = new LoopHarness();
        pf = new PortForwarder(h.stack, h.loop, PortForwarder.Options.DEFAULTS);
    }

    @AfterEach
    void tearDown() throws Exception {
        pf.close();
        h.close();
    }

    static Throwable failure(CompletableFuture<?> f) throws Exception {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
        return e.getCause();
    }

    static int freeTcpPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void remoteMustBeAnIpv4Literal() {
        IllegalArgumentException v6 = assertThrows(IllegalArgumentException.class,
                () -> PortForwarder.parseRemote("[::1]:80"));
        assertTrue(v6.getMessage().contains("IPv6"), v6::getMessage);
        IllegalArgumentException name = assertThrows(IllegalArgumentException.class,
                () -> PortForwarder.parseRemote("foo.example:80"));
        assertTrue(name.getMessage().contains("host names"), name::getMessage);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseRemote("192.168.127.2"))
                .getMessage().contains("missing port"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseRemote("192.168.127.2:x"))
                .getMessage().contains("bad port"));
        assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseRemote("192.168.127.2:70000"));
        assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseRemote(":22"));
        assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseRemote("1.2.3:22"));
        assertEquals("192.168.127.2:22", PortForwarder.parseRemote("192.168.127.2:22").toString());
    }

    @Test
    void localForms() {
        assertEquals(new InetSocketAddress(8080), PortForwarder.parseLocal(":8080"));
        assertEquals(new InetSocketAddress("127.0.0.1", 2222), PortForwarder.parseLocal("127.0.0.1:2222"));
        assertEquals(new InetSocketAddress("::1", 80), PortForwarder.parseLocal("[::1]:80"));
        assertEquals(new InetSocketAddress(InetAddress.getLoopbackAddress(), 80), PortForwarder.parseLocal("localhost:80"));
        assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseLocal("8080"));
        assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseLocal("some.host:80"));
        assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseLocal("::1:80"));
    }

    @Test
    void unixRemoteIsTcpUri() {
        assertEquals("192.168.127.2:8080", PortForwarder.parseUnixRemote("tcp://192.168.127.2:8080").toString());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseUnixRemote("ssh-tunnel://u@192.168.127.2/x"))
                .getMessage().contains("not implemented: ssh-tunnel"));
        assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseUnixRemote("tcp://[::1]:80"));
        assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseLocal("relative/path:1"));
        assertThrows(IllegalArgumentException.class, () -> PortForwarder.parseUnixPath("relative.sock"));
        assertEquals("/tmp/x.sock", PortForwarder.parseUnixPath("unix:///tmp/x.sock"));
    }

    @Test
    void busyHostPortFailsWithGoStyleMessage() throws Exception {
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            String local = "127.0.0.1:" + busy.getLocalPort();
            Throwable t = failure(pf.open(new PortForwarder.Forward(local, "192.168.127.2:22", "tcp")));
            assertInstanceOf(IllegalStateException.class, t);
            assertEquals("listen tcp " + local + ": bind: address already in use", t.getMessage());
        }
        assertEquals(List.of(), pf.live());
    }

    @Test
    void udpForwardRoundTrip() throws Exception {
        int port;
        try (DatagramSocket probe = new DatagramSocket(0, InetAddress.getByName("127.0.0.1"))) {
            port = probe.getLocalPort();
        }
        PortForwarder.Listener listener = pf.open(new PortForwarder.Forward("127.0.0.1:" + port, "192.168.127.2:5353",
                "udp")).get(10, TimeUnit.SECONDS);
        // Let the stack learn the guest's MAC, as a real guest's traffic would.
        h.send(Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x0806,
                Frames.arp(1, Frames.GUEST_MAC, Frames.GUEST_IP, 0, Frames.GW_IP)));
        h.take(2000); // the ARP reply
        try (DatagramSocket client = new DatagramSocket(0, InetAddress.getByName("127.0.0.1"))) {
            client.setSoTimeout(5000);
            byte[] q = "question".getBytes(StandardCharsets.US_ASCII);
            client.send(new DatagramPacket(q, q.length, InetAddress.getByName("127.0.0.1"), port));
            byte[] f = h.takeIp(5000);
            assertNotNull(f, "datagram into the guest");
            int ip = 14;
            assertEquals(17, f[ip + 9]);
            assertEquals(Frames.GW_IP, Frames.getInt(f, ip + 12));
            assertEquals(Frames.GUEST_IP, Frames.getInt(f, ip + 16));
            int udp = ip + 20;
            int srcPort = Frames.getShort(f, udp);
            assertTrue(srcPort >= PortForwarder.EPHEMERAL_FIRST, "ephemeral source port " + srcPort);
            assertEquals(5353, Frames.getShort(f, udp + 2));
            byte[] payload = java.util.Arrays.copyOfRange(f, udp + 8, udp + Frames.getShort(f, udp + 4));
            assertArrayEquals(q, payload);

            byte[] a = "answer".getBytes(StandardCharsets.US_ASCII);
            h.send(LoopHarness.udpFrame(Frames.GUEST_IP, 5353, Frames.GW_IP, srcPort, a));
            DatagramPacket reply = new DatagramPacket(new byte[100], 100);
            client.receive(reply);
            assertEquals("answer", new String(reply.getData(), 0, reply.getLength(), StandardCharsets.US_ASCII));

            // A burst of client datagrams arrives whole and in order, every read through the one read buffer.
            UdpPortForward fwd = (UdpPortForward) listener.active();
            for (int i = 0; i < 3 * DatagramReadBuffer.SLOTS; i++) {
                byte[] d = ("burst " + i).getBytes(StandardCharsets.US_ASCII);
                client.send(new DatagramPacket(d, d.length, InetAddress.getByName("127.0.0.1"), port));
            }
            for (int i = 0; i < 3 * DatagramReadBuffer.SLOTS; i++) {
                byte[] g = h.takeIp(5000);
                assertNotNull(g, "burst datagram " + i);
                assertEquals("burst " + i, new String(g, udp + 8, Frames.getShort(g, udp + 4) - 8,
                        StandardCharsets.US_ASCII));
            }
            if (dev.gvproxy.platform.SocketTransport.get().batchesDatagramReads()) {
                assertEquals(1, (long) h.onLoop(fwd.reads::allocations), "one read buffer for every read");
            }

            // Idle expiry frees the gateway-side port.
            assertEquals(1, (int) h.onLoop(fwd::flowCount));
            h.run(() -> fwd.sweep(h.stack.now() + TimeUnit.SECONDS.toNanos(91)));
            assertEquals(0, (int) h.onLoop(fwd::flowCount));
            h.send(LoopHarness.udpFrame(Frames.GUEST_IP, 5353, Frames.GW_IP, srcPort, a));
            assertThrows(java.net.SocketTimeoutException.class, () -> {
                client.setSoTimeout(300);
                client.receive(new DatagramPacket(new byte[100], 100));
            });
        }
        listener.close().get(10, TimeUnit.SECONDS);
    }

    /** A udp forward to a guest's IPv6 address: datagrams come from the gateway's IPv6 address, replies go back. */
    @Test
    void udpForwardToAGuestIpv6Address() throws Exception {
        LoopHarness h6 = new LoopHarness(dev.gvproxy.stack.StackConfig.builder().build()); // IPv6 on
        PortForwarder pf6 = new PortForwarder(h6.stack, h6.loop, PortForwarder.Options.DEFAULTS);
        try {
            var v6 = h6.config.ipv6();
            var guest = dev.gvproxy.stack.wire.Ipv6Address.parse("fd00:5a94:efe4::2");
            InetAddress lo6 = InetAddress.getByName("::1");
            int port;
            try (DatagramSocket probe = new DatagramSocket(0, lo6)) {
                port = probe.getLocalPort();
            }
            PortForwarder.Listener listener = pf6.open(new PortForwarder.Forward("[::1]:" + port,
                    "[" + guest + "]:5353", "udp")).get(10, TimeUnit.SECONDS);
            // The guest speaks first (an echo to the gateway), so the stack knows its MAC as a real guest's would.
            h6.send(Icmpv6ForwarderTest.echo(v6.gateway(), 1, 1, new byte[8]));
            java.util.function.Predicate<byte[]> udp6 = f -> Frames.getShort(f, 12) == 0x86DD && f[14 + 6] == 17;
            try (DatagramSocket client = new DatagramSocket(0, lo6)) {
                client.setSoTimeout(5000);
                byte[] q = "question6".getBytes(StandardCharsets.US_ASCII);
                client.send(new DatagramPacket(q, q.length, lo6, port));
                byte[] f = h6.takeMatching(5000, udp6);
                assertNotNull(f, "datagram into the guest over IPv6");
                int ip = 14;
                assertEquals(v6.gateway(), Icmpv6ForwarderTest.addr(f, ip + 8), "from the gateway's IPv6 address");
                assertEquals(guest, Icmpv6ForwarderTest.addr(f, ip + 24));
                int udp = ip + 40;
                int srcPort = Frames.getShort(f, udp);
                assertEquals(5353, Frames.getShort(f, udp + 2));
                assertArrayEquals(q, java.util.Arrays.copyOfRange(f, udp + 8, udp + Frames.getShort(f, udp + 4)));

                byte[] a = "answer6".getBytes(StandardCharsets.US_ASCII);
                io.netty.buffer.ByteBuf u = io.netty.buffer.Unpooled.buffer();
                dev.gvproxy.stack.wire.UdpPacket.writeHeader(u, 5353, srcPort, a.length);
                u.writeBytes(a);
                dev.gvproxy.stack.wire.UdpPacket.fillChecksumIpv6(u, 0, u.readableBytes(), guest, v6.gateway());
                io.netty.buffer.ByteBuf p6 = io.netty.buffer.Unpooled.buffer();
                dev.gvproxy.stack.wire.Ipv6Packet.writeHeader(p6, 0, 0, u.readableBytes(), 17, 64, guest, v6.gateway());
                p6.writeBytes(u);
                h6.send(Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x86DD, Frames.bytes(p6)));
                u.release();
                p6.release();
                DatagramPacket reply = new DatagramPacket(new byte[100], 100);
                client.receive(reply);
                assertEquals("answer6", new String(reply.getData(), 0, reply.getLength(), StandardCharsets.US_ASCII));
            }
            listener.close().get(10, TimeUnit.SECONDS);
        } finally {
            pf6.close();
            h6.close();
        }
    }
}
