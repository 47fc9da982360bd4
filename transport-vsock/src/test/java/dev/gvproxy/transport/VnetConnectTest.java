package dev.gvproxy.transport;

import static dev.gvproxy.transport.TestFrames.A;
import static dev.gvproxy.transport.TestFrames.GW;
import static dev.gvproxy.transport.TestFrames.concat;
import static dev.gvproxy.transport.TestFrames.frame;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtioNetHeader;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The offload opt-in on {@code /connect}: {@code Upgrade: gvproxy-vnet-v1} gets a {@code 101} and the virtio-net
 * header framing (4-byte big-endian length, 12-byte header, frame); the request gvforwarder sends keeps gvproxy's
 * framing and gets no reply (see {@link ConnectHandlerTest}).
 */
class VnetConnectTest {
    static final byte[] VNET_REQUEST = ("POST /connect HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\n"
            + "Connection: Upgrade\r\nUpgrade: gvproxy-vnet-v1\r\nContent-Length: 0\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII);

    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final TestFrames.RecordingGateway gw = new TestFrames.RecordingGateway();
    final EmbeddedChannel ch = new EmbeddedChannel(new HttpServerCodec(),
            new ConnectHandler(sw, counters, Framing.HYPERKIT, null));

    VnetConnectTest() {
        sw.setGateway(gw);
    }

    @AfterEach
    void tearDown() {
        ch.finishAndReleaseAll();
    }

    /** 4-byte BE length, then a virtio-net header (all zero but the given bytes), then the frame. */
    static byte[] vnetFramed(int flags, int gsoType, byte[] frame) {
        ByteBuf b = Unpooled.buffer();
        b.writeInt(VirtioNetHeader.LENGTH + frame.length);
        b.writeByte(flags).writeByte(gsoType).writeZero(10);
        b.writeBytes(frame);
        byte[] out = new byte[b.readableBytes()];
        b.readBytes(out);
        return out;
    }

    static byte[] drain(EmbeddedChannel c) {
        ByteBuf all = Unpooled.buffer();
        for (ByteBuf b; (b = c.readOutbound()) != null; ) {
            all.writeBytes(b);
            b.release();
        }
        byte[] out = new byte[all.readableBytes()];
        all.readBytes(out);
        return out;
    }

    @Test
    void theUpgradeIsAnsweredAndFramesCarryTheHeaderBothWays() throws Exception {
        byte[] f = frame(GW, A, 40, 1);
        ch.writeInbound(Unpooled.wrappedBuffer(concat(VNET_REQUEST, vnetFramed(0, 0, f))));
        String reply = new String(drain(ch), StandardCharsets.US_ASCII);
        assertTrue(reply.startsWith("HTTP/1.1 101 Switching Protocols\r\n"), reply);
        assertTrue(reply.endsWith("Upgrade: gvproxy-vnet-v1\r\nConnection: Upgrade\r\n\r\n"), reply);
        assertArrayEquals(f, gw.take(), "the frame that came with the request, header stripped");
        assertEquals(1, counters.get("transport.connectVnet"));
        assertTrue(sw.portOf(A).offloads(), "the port takes large segments");
        byte[] back = frame(A, GW, 30, 3);
        sw.transmitFromGateway(Unpooled.wrappedBuffer(back.clone()));
        sw.flush();
        assertArrayEquals(vnetFramed(0, 0, back), drain(ch));
    }

    @Test
    void aBadHeaderIsCountedAndTheFrameDropped() throws Exception {
        ch.writeInbound(Unpooled.wrappedBuffer(VNET_REQUEST));
        drain(ch);
        ch.writeInbound(Unpooled.wrappedBuffer(vnetFramed(0, VirtioNetHeader.GSO_UDP, frame(GW, A, 40, 1))));
        ch.writeInbound(Unpooled.wrappedBuffer(vnetFramed(0x40, 0, frame(GW, A, 40, 2))));
        assertTrue(gw.frames.isEmpty());
        assertEquals(1, counters.get("transport.vnet.unsupportedGso"));
        assertEquals(1, counters.get("transport.vnet.badFlags"));
        byte[] ok = frame(GW, A, 40, 3);
        ch.writeInbound(Unpooled.wrappedBuffer(vnetFramed(0, 0, ok)));
        assertArrayEquals(ok, gw.take(), "the port carries on");
    }

    @Test
    void gvforwardersRequestGetsNoReplyAndTheOldFraming() {
        ch.writeInbound(Unpooled.wrappedBuffer(ConnectHandlerTest.GVFORWARDER_REQUEST));
        assertNull(ch.readOutbound(), "byte for byte what gvproxy does: no reply");
        assertEquals(0, counters.get("transport.connectVnet"));
        assertTrue(!sw.ports().get(0).offloads());
        assertNull(ch.pipeline().get(HttpServerCodec.class));
    }
}
