package dev.gvproxy.forwarder;

import static dev.gvproxy.testing.Frames.GUEST_IP;
import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static dev.gvproxy.testing.Frames.HOST_IP;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.testing.Frames;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The UDP forwarder with real host sockets on 127.0.0.1, reached from an in-memory guest as 192.168.127.254. */
class UdpForwarderTest {
    static final long WAIT = 5000;
    LoopHarness h;
    UdpEchoServer echo;
    UdpForwarder fwd;

    @BeforeEach
    void setUp() throws Exception {
        h = new LoopHarness();
        echo = new UdpEchoServer();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (fwd != null) {
            h.run(fwd::close);
        }
        echo.close();
        h.close();
    }

    void install(UdpForwarder.Options o) throws Exception {
        fwd = h.onLoop(() -> UdpForwarder.install(h.stack, h.loop, () -> h.now, o));
    }

    /** Parsed and checked UDP-in-IPv4 frame sent to the guest. */
    record Udp(int srcIp, int dstIp, int srcPort, int dstPort, byte[] data) {}

    static Udp parseUdp(byte[] f) {
        assertEquals(GUEST_MAC, mac(f, 0), "to the guest's MAC");
        assertEquals(GW_MAC, mac(f, 6), "from the gateway MAC");
        assertEquals(0x0800, Frames.getShort(f, 12));
        int ip = 14;
        assertEquals(0x45, f[ip] & 0xFF);
        assertEquals(0, Frames.checksum(f, ip, 20, 0), "IPv4 header checksum");
        assertEquals(17, f[ip + 9]);
        int total = Frames.getShort(f, ip + 2);
        int src = Frames.getInt(f, ip + 12);
        int dst = Frames.getInt(f, ip + 16);
        byte[] udp = Arrays.copyOfRange(f, ip + 20, ip + total);
        checkUdp(udp, src, dst);
        return new Udp(src, dst, Frames.getShort(udp, 0), Frames.getShort(udp, 2), Arrays.copyOfRange(udp, 8, udp.length));
    }

    static void checkUdp(byte[] udp, int src, int dst) {
        assertEquals(udp.length, Frames.getShort(udp, 4), "UDP length");
        long pseudo = ((src >>> 16) & 0xFFFF) + (src & 0xFFFF) + ((dst >>> 16) & 0xFFFF) + (dst & 0xFFFF) + 17
                + udp.length;
        assertNotEquals(0, Frames.getShort(udp, 6), "checksum present");
        assertEquals(0, Frames.checksum(udp, 0, udp.length, pseudo), "UDP checksum");
    }

    static long mac(byte[] f, int off) {
        long m = 0;
        for (int i = 0; i < 6; i++) {
            m = (m << 8) | (f[off + i] & 0xFF);
        }
        return m;
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void requestReplyThroughNat() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        h.send(LoopHarness.udpFrame(GUEST_IP, 40000, HOST_IP, echo.port(), bytes("hello")));
        InetSocketAddress sender = echo.senders.poll(WAIT, TimeUnit.MILLISECONDS);
        assertNotNull(sender, "the host echo server got the datagram");
        assertEquals(InetAddress.getLoopbackAddress(), sender.getAddress(), "host side comes from loopback");
        Udp r = parseUdp(h.takeIp(WAIT));
        assertEquals(HOST_IP, r.srcIp(), "reply comes from the pre-NAT destination");
        assertEquals(GUEST_IP, r.dstIp());
        assertEquals(echo.port(), r.srcPort());
        assertEquals(40000, r.dstPort());
        assertArrayEquals(bytes("hello"), r.data());
        assertEquals(1, fwd.flowCount());
        assertEquals(sender.getPort(), h.onLoop(() -> fwd.hostLocalPort(GUEST_IP, 40000, HOST_IP, echo.port())));

        // Same 4-tuple: same flow, same host port.
        h.send(LoopHarness.udpFrame(GUEST_IP, 40000, HOST_IP, echo.port(), bytes("again")));
        assertEquals(sender, echo.senders.poll(WAIT, TimeUnit.MILLISECONDS));
        assertArrayEquals(bytes("again"), parseUdp(h.takeIp(WAIT)).data());
        assertEquals(1, h.count("udp.fwd.flowsOpened"));
        assertEquals(2, h.count("udp.fwd.toGuest"));
    }

    @Test
    void flowsPerGuestAreBoundedAndLeaveWithTheGuest() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        GuestFlows guests = h.onLoop(() -> GuestFlows.install(h.sw, h.counters, () -> h.now,
                GuestFlows.Limits.forDescriptorLimit(20_000).withFlows(2, 1).withGraceNanos(1_000_000_000L)));
        h.run(() -> fwd.setGuestFlows(guests));
        for (int port = 40100; port < 40103; port++) {
            h.send(LoopHarness.udpFrame(GUEST_IP, port, HOST_IP, echo.port(), bytes("x")));
        }
        assertNotNull(h.takeIp(WAIT));
        assertNotNull(h.takeIp(WAIT));
        assertEquals(2, (int) h.onLoop(fwd::flowCount), "the third flow is over the guest's budget");
        assertEquals(1, h.count("budget.udpFlowsPerGuest"));
        assertEquals(2, (int) h.onLoop(guests::sockets));

        // The guest's port goes away and does not come back: its flows are closed after the grace period.
        h.run(() -> h.sw.detach(h.guest));
        h.now += 999_999_999L;
        h.run(() -> guests.poll(h.now));
        assertEquals(2, (int) h.onLoop(fwd::flowCount));
        h.now += 1;
        h.run(() -> guests.poll(h.now));
        assertEquals(0, (int) h.onLoop(fwd::flowCount));
        assertEquals(0, (int) h.onLoop(guests::sockets));
        assertEquals(2, h.count("budget.flowsAbortedOnLeave"));
    }

    @Test
    void configuredNatEntryOutsideTheSubnet() throws Exception {
        // A second network whose NAT also maps 10.1.2.3 (reached through the guest's default route) to loopback.
        h.close();
        int virtual = Frames.ip("10.1.2.3");
        h = new LoopHarness(dev.gvproxy.stack.StackConfig.builder()
                .nat(java.util.Map.of(HOST_IP, Frames.ip("127.0.0.1"), virtual, Frames.ip("127.0.0.1"))).build());
        install(UdpForwarder.Options.DEFAULTS);
        h.send(LoopHarness.udpFrame(GUEST_IP, 40011, virtual, echo.port(), bytes("nat")));
        Udp r = parseUdp(h.takeIp(WAIT));
        assertEquals(virtual, r.srcIp(), "reply from the virtual address the guest used");
        assertEquals(echo.port(), r.srcPort());
        assertArrayEquals(bytes("nat"), r.data());
    }

    @Test
    void emptyDatagramReachesTheHost() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        h.send(LoopHarness.udpFrame(GUEST_IP, 40001, HOST_IP, echo.port(), new byte[0]));
        if (dev.gvproxy.platform.SocketTransport.get().kind() == dev.gvproxy.platform.SocketTransport.Kind.NIO) {
            // The JDK's connected datagram channel cannot send an empty datagram: refused and counted.
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT);
            while (h.counters.get("udp.fwd.hostError") == 0 && System.nanoTime() < end) {
                h.onLoop(() -> null); // a bounded wait for the loop to run the connect and the write
            }
            assertEquals(1, h.counters.get("udp.fwd.hostError"), "empty datagram refused under NIO and counted");
        } else {
            assertNotNull(echo.senders.poll(WAIT, TimeUnit.MILLISECONDS), "the empty datagram reached the host");
        }
        Udp r;
        if (dev.gvproxy.platform.SocketTransport.get().batchesDatagramReads()) {
            // recvmmsg hands an empty datagram up like any other: the empty echo reaches the guest.
            r = parseUdp(h.takeIp(WAIT));
            assertEquals(0, r.data().length, "the empty echo, relayed");
            assertEquals(40001, r.dstPort());
        }
        // Elsewhere Netty discards a zero-length read, so the empty echo is not relayed (gvproxy even ends the
        // flow on one). Either way the flow keeps working.
        h.send(LoopHarness.udpFrame(GUEST_IP, 40001, HOST_IP, echo.port(), bytes("after")));
        r = parseUdp(h.takeIp(WAIT));
        if (r.data().length == 0) {
            r = parseUdp(h.takeIp(WAIT));
        }
        assertArrayEquals(bytes("after"), r.data());
        assertEquals(40001, r.dstPort());
    }

    @Test
    void repliesOnlyFromTheConnectedPeer() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        h.send(LoopHarness.udpFrame(GUEST_IP, 40002, HOST_IP, echo.port(), bytes("one")));
        assertArrayEquals(bytes("one"), parseUdp(h.takeIp(WAIT)).data());
        int hostPort = h.onLoop(() -> fwd.hostLocalPort(GUEST_IP, 40002, HOST_IP, echo.port()));
        // A stranger writes to the flow's host port: the connected socket must not deliver it.
        try (DatagramChannel stranger = DatagramChannel.open()) {
            stranger.send(ByteBuffer.wrap(bytes("spoof")),
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), hostPort));
        }
        h.send(LoopHarness.udpFrame(GUEST_IP, 40002, HOST_IP, echo.port(), bytes("two")));
        assertArrayEquals(bytes("two"), parseUdp(h.takeIp(WAIT)).data(), "the next reply is the echo, not the spoof");
    }

    @ParameterizedTest(name = "{0} bytes")
    @ValueSource(ints = {8192, 65000})
    void largeDatagramFragmentsInAndOut(int size) throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        byte[] data = new byte[size];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 31 + 7);
        }
        byte[] udp = Frames.udp(GUEST_IP, HOST_IP, 40003, echo.port(), data);
        int chunk = 1480;
        for (int off = 0; off < udp.length; off += chunk) {
            int n = Math.min(chunk, udp.length - off);
            boolean more = off + n < udp.length;
            byte[] frag = Arrays.copyOfRange(udp, off, off + n);
            h.send(Frames.ethernet(GW_MAC, GUEST_MAC, 0x0800,
                    Frames.ipv4(GUEST_IP, HOST_IP, 17, 0x1234, (more ? 0x2000 : 0) | (off >>> 3), 64, frag)));
        }
        // The reply leaves as fragments no larger than the MTU; reassemble them here.
        TreeMap<Integer, byte[]> parts = new TreeMap<>();
        int id = -1;
        boolean sawLast = false;
        int frames = 0;
        while (!sawLast || contiguous(parts) < 0) {
            byte[] f = h.takeIp(WAIT);
            assertNotNull(f, "fragment " + frames + " of the reply");
            frames++;
            assertTrue(f.length - 14 <= 1500, "fragment fits the MTU");
            int ip = 14;
            assertEquals(0, Frames.checksum(f, ip, 20, 0), "fragment header checksum");
            assertEquals(HOST_IP, Frames.getInt(f, ip + 12));
            assertEquals(GUEST_IP, Frames.getInt(f, ip + 16));
            int fid = Frames.getShort(f, ip + 4);
            if (id < 0) {
                id = fid;
            }
            assertEquals(id, fid, "one datagram id");
            int ff = Frames.getShort(f, ip + 6);
            int total = Frames.getShort(f, ip + 2);
            parts.put((ff & 0x1FFF) * 8, Arrays.copyOfRange(f, ip + 20, ip + total));
            if ((ff & 0x2000) == 0) {
                sawLast = true;
            }
        }
        assertEquals((size + 8 + 1479) / 1480, frames, "fragments of at most 1480 payload bytes");
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        parts.values().forEach(all::writeBytes);
        byte[] reply = all.toByteArray();
        checkUdp(reply, HOST_IP, GUEST_IP);
        assertEquals(echo.port(), Frames.getShort(reply, 0));
        assertEquals(40003, Frames.getShort(reply, 2));
        assertArrayEquals(data, Arrays.copyOfRange(reply, 8, reply.length));
    }

    @Test
    void hostSocketBuffersAreEnlarged() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        h.send(LoopHarness.udpFrame(GUEST_IP, 40010, HOST_IP, echo.port(), bytes("x")));
        assertArrayEquals(bytes("x"), parseUdp(h.takeIp(WAIT)).data());
        io.netty.channel.socket.DatagramChannelConfig cfg =
                h.onLoop(() -> fwd.flow(GUEST_IP, 40010, HOST_IP, echo.port()).channel.config());
        // The kernel caps the request at the sysctl maximum (and reports twice what it granted).
        int rcv = Math.min(UdpForwarder.SOCKET_BUFFER, sysctl("net/core/rmem_max"));
        int snd = Math.min(UdpForwarder.SOCKET_BUFFER, sysctl("net/core/wmem_max"));
        assertTrue(h.onLoop(cfg::getReceiveBufferSize) >= rcv, "SO_RCVBUF at least " + rcv);
        assertTrue(h.onLoop(cfg::getSendBufferSize) >= snd, "SO_SNDBUF at least " + snd);
    }

    static int sysctl(String name) throws java.io.IOException {
        return Integer.parseInt(java.nio.file.Files.readString(java.nio.file.Path.of("/proc/sys", name)).trim());
    }

    @Test
    void aBurstFromTheHostReachesTheGuestWholeInOrderThroughOneReadBuffer() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        try (DatagramChannel peer = DatagramChannel.open()) {
            peer.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            int peerPort = ((InetSocketAddress) peer.getLocalAddress()).getPort();
            h.send(LoopHarness.udpFrame(GUEST_IP, 40011, HOST_IP, peerPort, bytes("open")));
            ByteBuffer in = ByteBuffer.allocate(100);
            java.net.SocketAddress flowAddress = peer.receive(in);
            // More datagrams than one batched read takes, of many sizes up to a full frame, sent back to back.
            int n = 5 * DatagramReadBuffer.SLOTS + 3;
            byte[][] sent = new byte[n][];
            for (int i = 0; i < n; i++) {
                sent[i] = new byte[1 + i * 331 % 1472];
                Arrays.fill(sent[i], (byte) i);
                peer.send(ByteBuffer.wrap(sent[i]), flowAddress);
            }
            for (int i = 0; i < n; i++) {
                Udp r = parseUdp(h.takeIp(WAIT));
                assertEquals(peerPort, r.srcPort());
                assertEquals(40011, r.dstPort());
                assertArrayEquals(sent[i], r.data(), "datagram " + i);
            }
        }
        if (dev.gvproxy.platform.SocketTransport.get().batchesDatagramReads()) {
            assertEquals(1, h.onLoop(fwd::readBufferAllocations), "every read reused the one buffer");
        }
    }

    @Test
    void datagramsOfOneGuestBatchLeaveInOneFlush() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        h.send(LoopHarness.udpFrame(GUEST_IP, 40012, HOST_IP, echo.port(), bytes("open")));
        assertArrayEquals(bytes("open"), parseUdp(h.takeIp(WAIT)).data()); // connected
        long flushes = h.count("udp.fwd.hostFlushes");
        int n = 20;
        int port = echo.port();
        h.run(() -> {
            for (int i = 0; i < n; i++) {
                h.sw.deliver(h.guest, io.netty.buffer.Unpooled.wrappedBuffer(
                        LoopHarness.udpFrame(GUEST_IP, 40012, HOST_IP, port, bytes("m" + i))));
            }
        });
        for (int i = 0; i < n; i++) {
            assertArrayEquals(bytes("m" + i), parseUdp(h.takeIp(WAIT)).data(), "echo " + i + " in order");
        }
        assertEquals(flushes + 1, h.count("udp.fwd.hostFlushes"), "one flush (one sendmmsg) for the batch");
        assertEquals(n + 1, h.count("udp.fwd.toHost"));
    }

    @Test
    void runsOfEqualSizeDatagramsReachTheHostOneByOneAsSent() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        h.send(LoopHarness.udpFrame(GUEST_IP, 40013, HOST_IP, echo.port(), bytes("open")));
        assertArrayEquals(bytes("open"), parseUdp(h.takeIp(WAIT)).data()); // connected
        // Runs as a bulk sender makes them (full-size datagrams, a short one at the end of a burst), a longer one
        // that starts a new run, and more datagrams than one write may carry.
        int[] sizes = new int[70];
        for (int i = 0; i < sizes.length; i++) {
            sizes[i] = i == 20 ? 333 : i < 40 ? 1000 : 1200;
        }
        byte[][] sent = new byte[sizes.length][];
        for (int i = 0; i < sizes.length; i++) {
            sent[i] = new byte[sizes[i]];
            Arrays.fill(sent[i], (byte) i);
            sent[i][0] = (byte) (sizes[i] >> 8);
        }
        int port = echo.port();
        long gso = h.count("udp.fwd.gsoWrites");
        h.run(() -> {
            for (byte[] d : sent) {
                h.sw.deliver(h.guest, io.netty.buffer.Unpooled.wrappedBuffer(
                        LoopHarness.udpFrame(GUEST_IP, 40013, HOST_IP, port, d)));
            }
        });
        for (int i = 0; i < sent.length; i++) {
            assertArrayEquals(sent[i], parseUdp(h.takeIp(WAIT)).data(), "datagram " + i + " whole and in order");
        }
        if (dev.gvproxy.platform.SocketTransport.get().segmentsDatagrams()) {
            // [1000 x 20, 333], [1000 x 19], [1200 x 30]: three GSO writes
            assertEquals(gso + 3, h.count("udp.fwd.gsoWrites"));
        }
    }

    /** Total length if the parts cover [0, end) without holes, else -1. */
    static int contiguous(TreeMap<Integer, byte[]> parts) {
        int next = 0;
        for (var e : parts.entrySet()) {
            if (e.getKey() != next) {
                return -1;
            }
            next += e.getValue().length;
        }
        return next;
    }

    @Test
    void idleFlowExpiresWithInjectedClock() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        long t0 = h.now;
        h.send(LoopHarness.udpFrame(GUEST_IP, 40004, HOST_IP, echo.port(), bytes("a")));
        assertNotNull(h.takeIp(WAIT));
        assertEquals(1, fwd.flowCount());
        // The reply refreshed the flow at the same injected time; the deadline is 90 s after that.
        assertEquals(t0 + TimeUnit.SECONDS.toNanos(90), (long) h.onLoop(fwd::nextDeadline));

        h.now = t0 + TimeUnit.SECONDS.toNanos(89);
        h.run(() -> fwd.poll(h.now));
        assertEquals(1, fwd.flowCount(), "not idle long enough");

        h.now = t0 + TimeUnit.SECONDS.toNanos(90);
        h.run(() -> fwd.poll(h.now));
        assertEquals(0, fwd.flowCount(), "expired at 90 s");
        assertEquals(1, h.count("udp.fwd.flowsExpired"));
        assertEquals(Long.MAX_VALUE, (long) h.onLoop(fwd::nextDeadline));

        // The next datagram opens a fresh flow.
        h.send(LoopHarness.udpFrame(GUEST_IP, 40004, HOST_IP, echo.port(), bytes("b")));
        assertArrayEquals(bytes("b"), parseUdp(h.takeIp(WAIT)).data());
        assertEquals(2, h.count("udp.fwd.flowsOpened"));
    }

    /**
     * Re-pointed (issue 10): install() used to start a once-a-second sweeper of its own; the forwarder is now one
     * of the stack's deadline sources, which the network's one timer serves (NetworkDriverTest covers the timer).
     */
    @Test
    void installedForwarderExpiresIdleFlowsThroughTheStacksDeadlines() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        h.send(LoopHarness.udpFrame(GUEST_IP, 40010, HOST_IP, echo.port(), bytes("s")));
        assertNotNull(h.takeIp(WAIT));
        assertEquals(1, (int) h.onLoop(fwd::flowCount));
        assertEquals((long) h.onLoop(fwd::nextDeadline), (long) h.onLoop(h.stack::nextDeadline),
                "the flow's expiry is the stack's next deadline");
        // Jump the injected clock past the timeout; the stack's poll (run by the network's timer) must expire it.
        h.now += TimeUnit.SECONDS.toNanos(91);
        h.run(() -> h.stack.poll(h.now));
        assertEquals(0, (int) h.onLoop(fwd::flowCount), "swept within ~1 s");
    }

    @Test
    void activityKeepsAFlowAlive() throws Exception {
        install(UdpForwarder.Options.DEFAULTS.withIdleTimeoutNanos(TimeUnit.SECONDS.toNanos(10)));
        long t0 = h.now;
        for (int i = 0; i < 5; i++) {
            h.now = t0 + TimeUnit.SECONDS.toNanos(6) * i;
            h.run(() -> fwd.poll(h.now));
            h.send(LoopHarness.udpFrame(GUEST_IP, 40005, HOST_IP, echo.port(), bytes("k" + i)));
            assertArrayEquals(bytes("k" + i), parseUdp(h.takeIp(WAIT)).data());
        }
        assertEquals(1, h.count("udp.fwd.flowsOpened"), "one flow kept alive by traffic every 6 s");
    }

    @Test
    void flowLimitIsEnforcedAndCounted() throws Exception {
        install(UdpForwarder.Options.DEFAULTS.withMaxFlows(2));
        for (int port = 41000; port < 41003; port++) {
            h.send(LoopHarness.udpFrame(GUEST_IP, port, HOST_IP, echo.port(), bytes("p" + port)));
        }
        assertEquals(2, fwd.flowCount());
        assertEquals(1, h.count("udp.flowLimit"));
        int replies = 0;
        while (h.takeIp(replies < 2 ? WAIT : 300) != null) {
            replies++;
        }
        assertEquals(2, replies, "only the two admitted flows are answered");
    }

    @Test
    void linkLocalIsDroppedAndCounted() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        h.send(LoopHarness.udpFrame(GUEST_IP, 40006, Frames.ip("169.254.169.254"), 80, bytes("imds?")));
        assertEquals(1, h.count("udp.linkLocalDrop"));
        assertEquals(0, fwd.flowCount());
        assertNull(h.takeIp(200));
    }

    @Test
    void multicastAndBroadcastAreNotForwarded() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        h.send(LoopHarness.udpFrame(GUEST_IP, 40007, Frames.ip("239.255.255.250"), 1900, bytes("M-SEARCH")));
        assertEquals(0, fwd.flowCount());
        // Multicast is dropped by the stack's IPv4 input already, or here; either way nothing is forwarded.
        assertEquals(0, h.count("udp.fwd.flowsOpened"));
    }

    @Test
    void closedHostPortAnswersIcmpPortUnreachable() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        int closedPort;
        try (DatagramChannel tmp = DatagramChannel.open()) {
            tmp.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            closedPort = ((InetSocketAddress) tmp.getLocalAddress()).getPort();
        }
        h.send(LoopHarness.udpFrame(GUEST_IP, 40008, HOST_IP, closedPort, bytes("anyone?")));
        byte[] f = h.takeIp(WAIT);
        assertNotNull(f, "an ICMP error reaches the guest");
        int ip = 14;
        assertEquals(1, f[ip + 9], "ICMP");
        assertEquals(HOST_IP, Frames.getInt(f, ip + 12), "from the address the guest used");
        assertEquals(GUEST_IP, Frames.getInt(f, ip + 16));
        int icmp = ip + 20;
        int icmpLen = Frames.getShort(f, ip + 2) - 20;
        assertEquals(3, f[icmp], "destination unreachable");
        assertEquals(3, f[icmp + 1], "port unreachable");
        assertEquals(0, Frames.checksum(f, icmp, icmpLen, 0), "ICMP checksum");
        int quotedIp = icmp + 8;
        assertEquals(GUEST_IP, Frames.getInt(f, quotedIp + 12));
        assertEquals(HOST_IP, Frames.getInt(f, quotedIp + 16));
        assertEquals(17, f[quotedIp + 9]);
        assertEquals(40008, Frames.getShort(f, quotedIp + 20));
        assertEquals(closedPort, Frames.getShort(f, quotedIp + 22));
        assertEquals(1, h.count("udp.fwd.portUnreachable"));
    }

    @Test
    void portUnreachableRelayCanBeTurnedOff() throws Exception {
        install(UdpForwarder.Options.DEFAULTS.withRelayPortUnreachable(false));
        int closedPort;
        try (DatagramChannel tmp = DatagramChannel.open()) {
            tmp.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            closedPort = ((InetSocketAddress) tmp.getLocalAddress()).getPort();
        }
        h.send(LoopHarness.udpFrame(GUEST_IP, 40009, HOST_IP, closedPort, bytes("anyone?")));
        // Wait for the refusal to be seen, then make sure nothing was sent.
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT);
        while (h.count("udp.fwd.portUnreachable") == 0 && System.nanoTime() < deadline) {
            h.run(() -> {}); // a round trip through the loop
            Thread.onSpinWait();
        }
        assertEquals(1, h.count("udp.fwd.portUnreachable"));
        assertNull(h.takeIp(200));
    }

    @Test
    void closeReleasesEverything() throws Exception {
        install(UdpForwarder.Options.DEFAULTS);
        for (int port = 42000; port < 42010; port++) {
            h.send(LoopHarness.udpFrame(GUEST_IP, port, HOST_IP, echo.port(), bytes("x")));
        }
        assertEquals(10, fwd.flowCount());
        h.run(fwd::close);
        assertEquals(0, fwd.flowCount());
        // After close, the stack has no forwarder: datagrams are counted as unforwarded.
        h.send(LoopHarness.udpFrame(GUEST_IP, 42000, HOST_IP, echo.port(), bytes("x")));
        assertEquals(1, h.count("udp.noForwarder"));
        fwd = null;
    }
}
