package dev.gvproxy.transport;

import dev.gvproxy.platform.SocketTransport;

import static dev.gvproxy.transport.TestFrames.GW;
import static dev.gvproxy.transport.TestFrames.await;
import static dev.gvproxy.transport.TestFrames.frame;
import static dev.gvproxy.transport.TestFrames.framed;
import static dev.gvproxy.transport.VsockTransportTest.read;
import static dev.gvproxy.transport.VsockTransportTest.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code -listen-vpnkit} over a real unix socket, with a client written from spec 1.6 byte by byte (not from the
 * server code): init echo, command with the UUID, the 258-byte response, then 2-byte little-endian frames.
 */
class VpnkitSocketTest {
    static EventLoopGroup network;
    static final String KNOWN_UUID = "c3d68012-0208-11ea-9fd7-f2189899ab08";
    static final long KNOWN_MAC = MacAddress.parse("5a:94:ef:e4:0c:ee");

    @TempDir
    Path dir;

    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final TestFrames.RecordingGateway gw = new TestFrames.RecordingGateway();

    @BeforeAll
    static void loops() {
        network = SocketTransport.get().newEventLoopGroup(1);
    }

    @AfterAll
    static void stopLoops() {
        if (network != null) {
            network.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    VpnkitSocketTest() {
        sw.setGateway(gw);
    }

    /** hyperkit's side of the handshake; returns the MAC the server assigned after checking every byte. */
    static long handshake(SocketChannel s, String uuid, int mtu) throws IOException {
        ByteBuffer init = ByteBuffer.allocate(49).order(ByteOrder.LITTLE_ENDIAN);
        init.put("VMN3T".getBytes(StandardCharsets.US_ASCII)).putInt(22);
        init.put("0123456789012345678901234567890123456789".getBytes(StandardCharsets.US_ASCII));
        ByteBuffer cmd = ByteBuffer.allocate(41).order(ByteOrder.LITTLE_ENDIAN);
        cmd.put((byte) 1).put(uuid.getBytes(StandardCharsets.US_ASCII)).putInt(0);
        write(s, init.array());
        assertArrayEquals(init.array(), read(s, 49), "init echoed unchanged");
        write(s, cmd.array());
        ByteBuffer resp = ByteBuffer.wrap(read(s, 258)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1, resp.get(0), "VIF response");
        assertEquals(mtu, Short.toUnsignedInt(resp.getShort(1)), "MTU");
        assertEquals(mtu + 14, Short.toUnsignedInt(resp.getShort(3)), "max packet size");
        long mac = 0;
        for (int i = 5; i < 11; i++) {
            mac = (mac << 8) | (resp.get(i) & 0xff);
        }
        for (int i = 11; i < 258; i++) {
            assertEquals(0, resp.get(i), "zero padding at " + i);
        }
        return mac;
    }

    static SocketChannel connect(Listener l) throws IOException {
        SocketChannel s = SocketChannel.open(StandardProtocolFamily.UNIX);
        s.connect(UnixDomainSocketAddress.of(((DomainSocketAddress) l.localAddress()).path()));
        return s;
    }

    static byte[] readFrame(SocketChannel s) throws IOException {
        byte[] h = read(s, 2);
        return read(s, (h[0] & 0xff) | (h[1] & 0xff) << 8);
    }

    @Test
    void twoVmsHandshakeAndShareTheSwitch() throws Exception {
        NetworkContext ctx = new NetworkContext(null, network.next(), sw, counters);
        try (Listener l = Transports.listenVpnkit("unix://" + dir.resolve("vpnkit.sock"), ctx, 1500,
                Map.of(KNOWN_UUID, KNOWN_MAC)::get);
             SocketChannel a = connect(l); SocketChannel b = connect(l)) {
            long macA = handshake(a, KNOWN_UUID, 1500);
            assertEquals(KNOWN_MAC, macA, "configured MAC for the known UUID");
            long macB = handshake(b, "11111111-2222-3333-4444-555555555555", 1500);
            assertNotEquals(macA, macB);
            assertTrue((macB & 0x0200_0000_0000L) != 0 && !MacAddress.isMulticast(macB), "random local unicast MAC");

            byte[] fa = frame(MacAddress.BROADCAST, macA, 60, 1);
            write(a, framed(Framing.HYPERKIT, fa));
            assertArrayEquals(fa, gw.take());
            assertArrayEquals(fa, readFrame(b), "broadcast reaches the other VM");
            byte[] fb = frame(macA, macB, 1400, 2);
            write(b, framed(Framing.HYPERKIT, fb));
            assertArrayEquals(fb, readFrame(a), "VM to VM through the switch");
            byte[] back = frame(macB, GW, 90, 3);
            ctx.loop().execute(() -> {
                sw.transmitFromGateway(Unpooled.wrappedBuffer(back.clone()));
                sw.flush();
            });
            assertArrayEquals(back, readFrame(b));
        }
    }

    @Test
    void failedHandshakeClosesOnlyThatConnection() throws Exception {
        NetworkContext ctx = new NetworkContext(null, network.next(), sw, counters);
        try (Listener l = Transports.listenVpnkit("unix://" + dir.resolve("vpnkit.sock"), ctx, 1500, null);
             SocketChannel bad = connect(l); SocketChannel good = connect(l)) {
            byte[] junk = new byte[49];
            junk[0] = 'G';
            write(bad, junk);
            ByteBuffer one = ByteBuffer.allocate(1);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            bad.configureBlocking(false);
            int n;
            while ((n = bad.read(one)) == 0 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(-1, n, "closed without a reply");
            await("counted", () -> counters.get("transport.vpnkitBadHandshake") >= 1);
            long mac = handshake(good, "11111111-2222-3333-4444-555555555555", 1500);
            byte[] f = frame(GW, mac, 60, 1);
            write(good, framed(Framing.HYPERKIT, f));
            assertArrayEquals(f, gw.take());
        }
    }
}
