package dev.gvproxy.transport;

import static dev.gvproxy.transport.TestFrames.A;
import static dev.gvproxy.transport.TestFrames.GW;
import static dev.gvproxy.transport.TestFrames.concat;
import static dev.gvproxy.transport.TestFrames.frame;
import static dev.gvproxy.transport.TestFrames.framed;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class VpnkitHandshakeTest {
    static final String UUID = "c3d68012-0208-11ea-9fd7-f2189899ab08";
    static final long LEGACY_MAC = MacAddress.parse("5a:94:ef:e4:0c:ee");

    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final TestFrames.RecordingGateway gw = new TestFrames.RecordingGateway();
    EmbeddedChannel ch;

    VpnkitHandshakeTest() {
        sw.setGateway(gw);
    }

    @AfterEach
    void tearDown() {
        if (ch != null) {
            ch.finishAndReleaseAll();
        }
    }

    static byte[] init() {
        ByteBuffer b = ByteBuffer.allocate(49).order(ByteOrder.LITTLE_ENDIAN);
        b.put("VMN3T".getBytes(StandardCharsets.US_ASCII)).putInt(22);
        byte[] commit = "0123456789abcdef0123456789abcdef01234567".getBytes(StandardCharsets.US_ASCII);
        b.put(commit);
        return b.array();
    }

    static byte[] command(String uuid) {
        ByteBuffer b = ByteBuffer.allocate(41);
        b.put((byte) 1).put(uuid.getBytes(StandardCharsets.US_ASCII)).putInt(0);
        return b.array();
    }

    byte[] outbound() {
        return FramingTest.outbound(ch);
    }

    @Test
    void handshakeThenFramesInOneWrite() throws Exception {
        ch = new EmbeddedChannel(new VpnkitHandshake(sw, counters, 1500, Map.of(UUID, LEGACY_MAC)::get));
        byte[] f = frame(GW, A, 60, 1);
        ch.writeInbound(Unpooled.wrappedBuffer(concat(init(), command(UUID), framed(Framing.HYPERKIT, f))));
        byte[] out = outbound();
        assertEquals(49 + 258, out.length);
        assertArrayEquals(init(), Arrays.copyOf(out, 49), "init echoed unchanged");
        ByteBuf resp = Unpooled.wrappedBuffer(out, 49, 258);
        assertEquals(1, resp.getByte(0));
        assertEquals(1500, resp.getUnsignedShortLE(1));
        assertEquals(1514, resp.getUnsignedShortLE(3));
        assertEquals(LEGACY_MAC, MacAddress.get(resp, 5));
        for (int i = 11; i < 258; i++) {
            assertEquals(0, resp.getByte(i));
        }
        assertArrayEquals(f, gw.take(), "bytes after the handshake are frames");
        assertNull(ch.pipeline().get(VpnkitHandshake.class));

        byte[] back = frame(A, GW, 40, 2);
        sw.transmitFromGateway(Unpooled.wrappedBuffer(back.clone()));
        sw.flush();
        assertArrayEquals(framed(Framing.HYPERKIT, back), outbound());
    }

    @Test
    void handshakeByteByByteAndRandomMacForUnknownUuid() throws Exception {
        ch = new EmbeddedChannel(new VpnkitHandshake(sw, counters, 65520, u -> null));
        byte[] wire = concat(init(), command("00000000-0000-0000-0000-000000000001"));
        for (byte b : wire) {
            ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {b}));
        }
        byte[] out = outbound();
        assertEquals(49 + 258, out.length);
        ByteBuf resp = Unpooled.wrappedBuffer(out, 49, 258);
        assertEquals(65520, resp.getUnsignedShortLE(1));
        long mac = MacAddress.get(resp, 5);
        assertTrue((mac & 0x0200_0000_0000L) != 0, "locally administered");
        assertTrue(!MacAddress.isMulticast(mac));
        assertNotEquals(0, mac);
        byte[] f = frame(GW, mac, 60, 1);
        ch.writeInbound(Unpooled.wrappedBuffer(framed(Framing.HYPERKIT, f)));
        assertArrayEquals(f, gw.take());
    }
}
