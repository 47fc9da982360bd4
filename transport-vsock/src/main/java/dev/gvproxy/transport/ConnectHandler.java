package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Routes requests on an API connection (spec 1.5, 4.1): a request for {@code /connect} (any method, any
 * {@code Host}, query ignored) turns the connection into a switch port; everything else goes to the HTTP
 * fallback handler, or gets gvproxy's 404 when there is none.
 *
 * <p>Pipeline: {@code HttpServerCodec, ConnectHandler[, fallback]}. On {@code /connect} no response is
 * written; the frame decoder, encoder and {@link ChannelPort} are added after this handler and the codec is
 * removed, which makes the codec's decoder forward the bytes it had buffered past the request (frames the
 * guest sent in the same segment as the request; gvproxy loses them). This handler then stays as a filter
 * that drops the request's trailing {@code HttpContent}s.
 */
final class ConnectHandler extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = Logger.getLogger(ConnectHandler.class.getName());
    static final String FALLBACK_NAME = "httpFallback";
    private static final byte[] NOT_FOUND = "404 page not found\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] BAD_REQUEST = "400 Bad Request".getBytes(StandardCharsets.US_ASCII);

    private final VirtualSwitch sw;
    private final Counters counters;
    private final Framing connectFraming;
    private final Supplier<? extends ChannelHandler> fallback;
    private final Counters.Counter notFound;
    private final Counters.Counter badRequest;
    private final Counters.Counter connects;
    private boolean switched;
    private boolean delegating;

    /**
     * @param connectFraming framing after {@code /connect}; null disables {@code /connect} (services API)
     * @param fallback makes the handler for every other request, or null for 404s
     */
    ConnectHandler(VirtualSwitch sw, Counters counters, Framing connectFraming,
                   Supplier<? extends ChannelHandler> fallback) {
        this.sw = sw;
        this.counters = counters;
        this.connectFraming = connectFraming;
        this.fallback = fallback;
        this.notFound = counters.counter("transport.httpNotFound");
        this.badRequest = counters.counter("transport.httpBadRequest");
        this.connects = counters.counter("transport.connectAttach");
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        if (fallback != null) {
            ctx.pipeline().addAfter(ctx.name(), FALLBACK_NAME, fallback.get());
        }
    }

    /** @param msg <b>taken</b> */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (switched) {
            if (msg instanceof HttpObject) {
                ReferenceCountUtil.release(msg);
            } else {
                ctx.fireChannelRead(msg);
            }
            return;
        }
        if (msg instanceof HttpRequest req) {
            if (!req.decoderResult().isSuccess()) {
                ReferenceCountUtil.release(msg);
                badRequest.inc();
                respond(ctx, HttpResponseStatus.BAD_REQUEST, BAD_REQUEST, false);
                return;
            }
            if (connectFraming != null && "/connect".equals(path(req.uri()))) {
                ReferenceCountUtil.release(msg);
                switchToFrames(ctx);
                return;
            }
            delegating = fallback != null;
            if (delegating) {
                ctx.fireChannelRead(msg);
            } else {
                boolean keepAlive = HttpUtil.isKeepAlive(req);
                ReferenceCountUtil.release(msg);
                notFound.inc();
                respond(ctx, HttpResponseStatus.NOT_FOUND, NOT_FOUND, keepAlive);
            }
            return;
        }
        if (msg instanceof HttpContent && !delegating) {
            ReferenceCountUtil.release(msg); // body of a request we answered with 404
            return;
        }
        ctx.fireChannelRead(msg);
    }

    private void switchToFrames(ChannelHandlerContext ctx) {
        switched = true;
        connects.inc();
        ChannelPipeline p = ctx.pipeline();
        if (p.context(FALLBACK_NAME) != null) {
            p.remove(FALLBACK_NAME);
        }
        String name = "connect:" + ctx.channel().remoteAddress();
        p.addAfter(ctx.name(), "frameDecoder", connectFraming.newDecoder(counters));
        p.addAfter("frameDecoder", "frameEncoder", connectFraming.newEncoder(counters));
        p.addAfter("frameEncoder", "port", new ChannelPort(sw, counters, name));
        LOG.log(Level.FINE, "{0}: /connect, {1} framing", new Object[] {ctx.channel(), connectFraming});
        // Removing the codec hands its buffered bytes (the first frames) to the frame decoder.
        p.remove(HttpServerCodec.class);
    }

    private static void respond(ChannelHandlerContext ctx, HttpResponseStatus status, byte[] body, boolean keepAlive) {
        FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
        resp.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                .set("X-Content-Type-Options", "nosniff")
                .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        if (!keepAlive) {
            resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        var f = ctx.writeAndFlush(resp);
        if (!keepAlive) {
            f.addListener(ChannelFutureListener.CLOSE);
        }
    }

    /** Path of an origin-form or absolute-form request target, without query or fragment. */
    static String path(String uri) {
        int end = uri.length();
        int q = uri.indexOf('?');
        if (q >= 0) {
            end = q;
        }
        int h = uri.indexOf('#');
        if (h >= 0 && h < end) {
            end = h;
        }
        String p = uri.substring(0, end);
        int scheme = p.indexOf("://");
        if (scheme > 0 && !p.startsWith("/")) {
            int slash = p.indexOf('/', scheme + 3);
            p = slash < 0 ? "/" : p.substring(slash);
        }
        return p;
    }
}
