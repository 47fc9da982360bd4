package dev.gvproxy.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.transport.tap.Netns;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent in-process, in a fresh namespace, against {@link FakeGvproxy} (needs root + /dev/net/tun). */
class GvforwarderTest {
    private static final byte[] AGENT_MAC = HexFormat.ofDelimiter(":").parseHex("5a:94:ef:e4:0c:ee");
    private static final byte[] PEER_MAC = HexFormat.ofDelimiter(":").parseHex("02:00:00:00:00:42");

    @TempDir
    Path dir;
    private NetnsFixture ns;
    private FakeGvproxy gvproxy;
    private Gvforwarder agent;

    @BeforeEach
    void setUp() throws Exception {
        ns = NetnsFixture.create();
        gvproxy = new FakeGvproxy(dir);
    }

    @AfterEach
    void tearDown() throws Exception {
        if (agent != null) {
            agent.close();
        }
        if (gvproxy != null) {
            gvproxy.close();
        }
        if (ns != null) {
            ns.close();
        }
    }

    private Options preexisting() {
        return Options.defaults().url(gvproxy.url()).netns(ns.name).preexisting(true)
                .retryDelay(Duration.ofMillis(100));
    }

    /** A persistent TAP configured by hand, as {@code -preexisting} expects. */
    private void createConfiguredTap() throws Exception {
        ns.exec("ip", "tuntap", "add", "dev", "tap0", "mode", "tap");
        ns.exec("ip", "link", "set", "tap0", "address", "5a:94:ef:e4:0c:ee");
        ns.exec("ip", "addr", "add", "198.18.0.1/24", "dev", "tap0");
        ns.exec("ip", "link", "set", "tap0", "up");
    }

    @Test
    void sendsExactPreambleAndPumpsBothWays() throws Exception {
        createConfiguredTap();
        agent = Gvforwarder.start(preexisting());
        assertTrue(agent.awaitRunning(Duration.ofSeconds(10)));
        assertEquals("POST /connect HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 0\r\n\r\n",
                gvproxy.preambles.poll(10, TimeUnit.SECONDS));

        // TAP -> gvproxy: the kernel ARPs for a neighbour we make it ping.
        assertTrue(ns.status("ping", "-c", "1", "-W", "1", "198.18.0.2") != 0); // nobody answers yet
        byte[] arp = awaitFrame(f -> isArp(f, 1));
        assertArrayEquals(AGENT_MAC, java.util.Arrays.copyOfRange(arp, 6, 12));

        // gvproxy -> TAP: an ARP reply lands in the namespace's neighbour table.
        gvproxy.send(arpReply(PEER_MAC, ip(198, 18, 0, 2), AGENT_MAC, ip(198, 18, 0, 1)));
        assertTrue(NetnsFixture.await(10_000, () -> neigh().contains("02:00:00:00:00:42")), this::neigh);
        assertTrue(agent.framesFromGvproxy() >= 1);
        assertTrue(agent.framesToGvproxy() >= 1);
    }

    @Test
    void reconnectsAfterDisconnectAndAfterZeroLength() throws Exception {
        createConfiguredTap();
        agent = Gvforwarder.start(preexisting());
        assertNotNull(gvproxy.awaitConnection(10));
        assertNotNull(gvproxy.preambles.poll(10, TimeUnit.SECONDS));
        gvproxy.disconnect();
        assertNotNull(gvproxy.awaitConnection(10), "no reconnect after EOF");
        assertNotNull(gvproxy.preambles.poll(10, TimeUnit.SECONDS));
        assertTrue(agent.awaitRunning(Duration.ofSeconds(10)));
        gvproxy.sendRaw(0, new byte[0]); // a zero length is an error
        assertNotNull(gvproxy.awaitConnection(10), "no reconnect after a zero-length frame");
        assertTrue(NetnsFixture.await(5_000, () -> agent.lastError() != null
                && agent.lastError().getMessage().contains("length 0")), () -> String.valueOf(agent.lastError()));
        assertTrue(agent.attempts() >= 3);
        // The pre-existing TAP survives reconnects (it is persistent).
        assertTrue(Netns.interfaceExists(ns.name, "tap0"));
    }

    @Test
    void retriesUntilGvproxyAppears() throws Exception {
        createConfiguredTap();
        gvproxy.close();
        Options o = preexisting();
        agent = Gvforwarder.start(o);
        assertTrue(NetnsFixture.await(5_000, () -> agent.attempts() >= 2), "no retries");
        assertFalse(agent.awaitRunning(Duration.ofMillis(1)));
        gvproxy = new FakeGvproxy(dir);
        assertTrue(agent.awaitRunning(Duration.ofSeconds(10)));
        assertNotNull(gvproxy.preambles.poll(10, TimeUnit.SECONDS));
    }

    @Test
    void createsTapSetsMacLinkUpAndRunsDhcpClient() throws Exception {
        Options o = Options.defaults().url(gvproxy.url()).netns(ns.name).retryDelay(Duration.ofMillis(100));
        agent = Gvforwarder.start(o);
        assertTrue(agent.awaitRunning(Duration.ofSeconds(10)));
        String link = ns.exec("ip", "link", "show", "tap0");
        assertTrue(link.contains("link/ether 5a:94:ef:e4:0c:ee"), link);
        assertTrue(link.contains(",UP"), link);
        // The DHCP client runs (inside the namespace) and broadcasts DISCOVERs through the TAP.
        List<Long> pids = agent.childPids();
        assertFalse(pids.isEmpty());
        byte[] discover = awaitFrame(GvforwarderTest::isDhcpDiscover);
        assertArrayEquals(AGENT_MAC, java.util.Arrays.copyOfRange(discover, 6, 12));
        agent.close();
        for (long pid : pids) {
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " survived");
        }
        // The TAP was not persistent: it is gone with the agent.
        assertFalse(Netns.interfaceExists(ns.name, "tap0"));
    }

    private String neigh() {
        try {
            return ns.exec("ip", "neigh", "show", "dev", "tap0");
        } catch (Exception e) {
            return e.toString();
        }
    }

    private byte[] awaitFrame(java.util.function.Predicate<byte[]> match) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (System.nanoTime() < deadline) {
            byte[] f = gvproxy.frames.poll(100, TimeUnit.MILLISECONDS);
            if (f != null && match.test(f)) {
                return f;
            }
        }
        throw new AssertionError("frame not seen");
    }

    static boolean isArp(byte[] f, int op) {
        return f.length >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == op;
    }

    static boolean isDhcpDiscover(byte[] f) {
        // IPv4, UDP, dst port 67
        return f.length > 42 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 17
                && ((f[36] & 0xff) << 8 | (f[37] & 0xff)) == 67;
    }

    static byte[] ip(int a, int b, int c, int d) {
        return new byte[] {(byte) a, (byte) b, (byte) c, (byte) d};
    }

    static byte[] arpReply(byte[] srcMac, byte[] srcIp, byte[] dstMac, byte[] dstIp) {
        ByteBuffer b = ByteBuffer.allocate(42);
        b.put(dstMac).put(srcMac).putShort((short) 0x0806);
        b.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 2);
        b.put(srcMac).put(srcIp).put(dstMac).put(dstIp);
        return b.array();
    }
}
