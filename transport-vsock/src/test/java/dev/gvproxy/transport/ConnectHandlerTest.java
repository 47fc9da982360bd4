package dev.gvproxy.transport;

import static dev.gvproxy.transport.TestFrames.A;
import static dev.gvproxy.transport.TestFrames.GW;
import static dev.gvproxy.transport.TestFrames.concat;
import static dev.gvproxy.transport.TestFrames.frame;
import static dev.gvproxy.transport.TestFrames.framed;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@code /connect} on the API surface: codec hand-over, leftover bytes, 404s and the HTTP fallback. */
class ConnectHandlerTest {
    /** Exactly what gvforwarder sends (spec 1.5), with its empty Host header. */
    static final byte[] GVFORWARDER_REQUEST = ("POST /connect HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\n"
            + "Content-Length: 0\r\n\r\n").getBytes(StandardCharsets.US_ASCII);

    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final TestFrames.RecordingGateway gw = new TestFrames.RecordingGateway();
    EmbeddedChannel ch;

    ConnectHandlerTest() {
        sw.setGateway(gw);
    }

    EmbeddedChannel api(Framing connectFraming, Supplier<? extends ChannelHandler> fallback) {
        return new EmbeddedChannel(new HttpServerCodec(), new ConnectHandler(sw, counters, connectFraming, fallback));
    }

    @AfterEach
    void tearDown() {
        if (ch != null) {
            ch.finishAndReleaseAll();
        }
    }

    static String outboundText(EmbeddedChannel c) {
        StringBuilder sb = new StringBuilder();
        for (ByteBuf b; (b = c.readOutbound()) != null; ) {
            sb.append(b.toString(StandardCharsets.US_ASCII));
            b.release();
        }
        return sb.toString();
    }

    @Test
    void requestAndFramesInOneWriteKeepTheFrames() throws Exception {
        ch = api(Framing.HYPERKIT, null);
        byte[] f1 = frame(GW, A, 40, 1);
        byte[] f2 = frame(GW, A, 50, 2);
        ch.writeInbound(Unpooled.wrappedBuffer(concat(GVFORWARDER_REQUEST, framed(Framing.HYPERKIT, f1, f2))));
        assertArrayEquals(f1, gw.take());
        assertArrayEquals(f2, gw.take());
        assertNull(ch.readOutbound(), "no HTTP response on /connect");
        assertNull(ch.pipeline().get(HttpServerCodec.class), "codec removed");
        assertNotNull(sw.portOf(A));
        assertEquals(1, counters.get("transport.connectAttach"));
    }

    @Test
    void partialFrameAfterTheRequestIsCompletedByTheNextRead() throws Exception {
        ch = api(Framing.HYPERKIT, null);
        byte[] f = frame(GW, A, 80, 5);
        byte[] wire = framed(Framing.HYPERKIT, f);
        ch.writeInbound(Unpooled.wrappedBuffer(concat(GVFORWARDER_REQUEST, java.util.Arrays.copyOf(wire, 7))));
        assertTrue(gw.frames.isEmpty());
        ch.writeInbound(Unpooled.wrappedBuffer(java.util.Arrays.copyOfRange(wire, 7, wire.length)));
        assertArrayEquals(f, gw.take());
    }

    @Test
    void framesInLaterWritesAndBothDirections() throws Exception {
        ch = api(Framing.HYPERKIT, null);
        ch.writeInbound(Unpooled.wrappedBuffer(GVFORWARDER_REQUEST));
        assertNull(ch.readOutbound());
        byte[] f = frame(GW, A, 40, 1);
        ch.writeInbound(Unpooled.wrappedBuffer(framed(Framing.HYPERKIT, f)));
        assertArrayEquals(f, gw.take());
        byte[] back = frame(A, GW, 30, 3);
        sw.transmitFromGateway(Unpooled.wrappedBuffer(back.clone()));
        sw.flush();
        assertArrayEquals(framed(Framing.HYPERKIT, back), FramingTest.outbound(ch));
    }

    @Test
    void anyMethodAndQueryAreAccepted() throws Exception {
        ch = api(Framing.HYPERKIT, null);
        byte[] f = frame(GW, A, 40, 1);
        byte[] req = "GET /connect?x=1 HTTP/1.1\r\nHost:\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        ch.writeInbound(Unpooled.wrappedBuffer(concat(req, framed(Framing.HYPERKIT, f))));
        assertArrayEquals(f, gw.take());
    }

    @Test
    void qemuConnectFramingOption() throws Exception {
        ch = api(Framing.QEMU, null);
        byte[] f = frame(GW, A, 40, 1);
        ch.writeInbound(Unpooled.wrappedBuffer(concat(GVFORWARDER_REQUEST, framed(Framing.QEMU, f))));
        assertArrayEquals(f, gw.take());
    }

    @Test
    void otherPathsGet404WithoutFallbackAndStayOpen() {
        ch = api(Framing.HYPERKIT, null);
        ch.writeInbound(Unpooled.wrappedBuffer("GET /stats HTTP/1.1\r\nHost: \r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
        String resp = outboundText(ch);
        assertTrue(resp.startsWith("HTTP/1.1 404 Not Found\r\n"), resp);
        assertTrue(resp.contains("content-type: text/plain; charset=utf-8"), resp);
        assertTrue(resp.contains("x-content-type-options: nosniff") || resp.contains("X-Content-Type-Options: nosniff"), resp);
        assertTrue(resp.endsWith("\r\n\r\n404 page not found\n"), resp);
        assertTrue(ch.isOpen(), "keep-alive");
        assertTrue(sw.ports().isEmpty());
        // a /connect after a 404 on the same connection still attaches
        byte[] f = frame(GW, A, 40, 1);
        ch.writeInbound(Unpooled.wrappedBuffer(concat(GVFORWARDER_REQUEST, framed(Framing.HYPERKIT, f))));
        assertEquals(1, sw.ports().size());
    }

    @Test
    void servicesSurfaceHasNoConnect() {
        ch = api(null, null);
        ch.writeInbound(Unpooled.wrappedBuffer(GVFORWARDER_REQUEST));
        assertTrue(outboundText(ch).startsWith("HTTP/1.1 404 "));
        assertTrue(sw.ports().isEmpty());
    }

    @Test
    void connectionCloseRequestGets404ThenClose() {
        ch = api(Framing.HYPERKIT, null);
        ch.writeInbound(Unpooled.wrappedBuffer(
                "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
        assertTrue(outboundText(ch).startsWith("HTTP/1.1 404 "));
        assertFalse(ch.isOpen());
    }

    @Test
    void otherPathsGoToTheFallback() throws Exception {
        List<String> seen = new ArrayList<>();
        ch = api(Framing.HYPERKIT, () -> new SimpleChannelInboundHandler<HttpObject>() {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
                if (msg instanceof HttpRequest r) {
                    seen.add(r.method() + " " + r.uri() + " host=[" + r.headers().get(HttpHeaderNames.HOST) + "]");
                }
                if (msg instanceof LastHttpContent) {
                    var resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
                    resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
                    ctx.writeAndFlush(resp);
                }
            }
        });
        ch.writeInbound(Unpooled.wrappedBuffer(
                "POST /services/forwarder/expose HTTP/1.1\r\nHost: \r\nContent-Length: 2\r\n\r\n{}"
                        .getBytes(StandardCharsets.US_ASCII)));
        assertEquals(List.of("POST /services/forwarder/expose host=[]"), seen);
        assertTrue(outboundText(ch).startsWith("HTTP/1.1 200 OK"));
        // then /connect on the same connection: the fallback leaves, frames flow
        byte[] f = frame(GW, A, 40, 1);
        ch.writeInbound(Unpooled.wrappedBuffer(concat(GVFORWARDER_REQUEST, framed(Framing.HYPERKIT, f))));
        assertArrayEquals(f, gw.take());
        assertNull(ch.pipeline().get(ConnectHandler.FALLBACK_NAME));
    }

    @Test
    void malformedRequestGets400AndClose() {
        ch = api(Framing.HYPERKIT, null);
        ch.writeInbound(Unpooled.wrappedBuffer("GARBAGE\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
        String resp = outboundText(ch);
        assertTrue(resp.startsWith("HTTP/1.1 400 "), resp);
        assertFalse(ch.isOpen());
    }

    @Test
    void pathExtraction() {
        assertEquals("/connect", ConnectHandler.path("/connect"));
        assertEquals("/connect", ConnectHandler.path("/connect?a=b"));
        assertEquals("/connect", ConnectHandler.path("http://host:80/connect?a"));
        assertEquals("/", ConnectHandler.path("http://host"));
        assertEquals("/connect/", ConnectHandler.path("/connect/"));
    }
}
