package dev.gvproxy.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** {@code -debug}'s JVM diagnostics routes: a thread dump and a JFR recording, 404 without -debug (issue 12 item 3). */
class DebugRoutesTest {
    record Resp(int status, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    private static Resp get(boolean debug, ApiHandler.Surface surface, String path) {
        ApiContext api = ApiContext.builder().debug(debug).offload(Runnable::run).build();
        EmbeddedChannel server = new EmbeddedChannel(false, false);
        server.pipeline().addLast(new HttpServerCodec(), new ApiHandler(api, surface));
        // The answer is decoded by Netty's client codec (binary bodies included).
        EmbeddedChannel client = new EmbeddedChannel(new HttpClientCodec(), new HttpObjectAggregator(64 << 20));
        try {
            server.register();
            client.writeOutbound(new io.netty.handler.codec.http.DefaultFullHttpRequest(
                    io.netty.handler.codec.http.HttpVersion.HTTP_1_1, io.netty.handler.codec.http.HttpMethod.GET, path));
            for (ByteBuf b; (b = client.readOutbound()) != null; ) {
                server.writeInbound(b);
            }
            server.runPendingTasks();
            for (ByteBuf b; (b = server.readOutbound()) != null; ) {
                client.writeInbound(b);
            }
            FullHttpResponse r = client.readInbound();
            try {
                return new Resp(r.status().code(), ByteBufUtil.getBytes(r.content()));
            } finally {
                r.release();
            }
        } catch (Exception e) {
            throw new IllegalStateException(e);
        } finally {
            server.finishAndReleaseAll();
            client.finishAndReleaseAll();
        }
    }

    @Test
    void notServedWithoutDebug() {
        for (String path : new String[] {"/debug/threads", "/debug/jfr?seconds=1"}) {
            assertEquals(404, get(false, ApiHandler.Surface.FULL, path).status(), path);
            // and never on the in-VM API, -debug or not
            assertEquals(404, get(true, ApiHandler.Surface.IN_VM, path).status(), path);
        }
    }

    @Test
    void threadDumpUnderDebug() {
        Resp r = get(true, ApiHandler.Surface.SERVICES, "/debug/threads");
        assertEquals(200, r.status(), r.text());
        assertTrue(r.text().contains("\"main\""), r.text());
    }

    @Test
    void jfrRecordingUnderDebugIsBounded() {
        Resp r = get(true, ApiHandler.Surface.FULL, "/debug/jfr?seconds=1");
        assertEquals(200, r.status(), r.text());
        // A JFR file: magic "FLR\0".
        assertArrayEquals(new byte[] {'F', 'L', 'R', 0}, Arrays.copyOf(r.body(), 4));
        assertTrue(r.body().length > 1000, "recording of " + r.body().length + " bytes");
        assertEquals(400, get(true, ApiHandler.Surface.FULL, "/debug/jfr?seconds=0").status());
        assertEquals(400, get(true, ApiHandler.Surface.FULL, "/debug/jfr?seconds=" + (DebugRoutes.MAX_JFR_SECONDS + 1))
                .status());
        assertEquals(400, get(true, ApiHandler.Surface.FULL, "/debug/jfr?seconds=x").status());
    }
}
