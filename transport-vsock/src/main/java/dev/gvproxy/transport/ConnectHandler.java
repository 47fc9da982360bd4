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
    /**
     * The opt-in of gvforwarder-java: a {@code /connect} request with {@code Upgrade: gvproxy-vnet-v1} gets a
     * {@code 101 Switching Protocols} reply, and then frames carry a virtio-net header and a 4-byte big-endian
     * length ({@link VnetCodec}), so a guest agent whose TAP has offloads can send and take 64 KiB TCP segments.
     * The Go gvforwarder never sends the header: it keeps gvproxy's framing and gets no reply, byte for byte.
     */
    static final String UPGRADE = "gvproxy-vnet-v1";
    private static final byte[] SWITCHING = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + UPGRADE
            + "\r\nConnection: Upgrade\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
    private static final byte[] NOT_FOUND = "404 page not found\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] BAD_REQUEST = "400 Bad Request".getBytes(StandardCharsets.US_ASCII);

    private final VirtualSwitch sw;
    private final Counters counters;
    private final Framing connectFraming;
    private final Supplier<? extends ChannelHandler> fallback;
    private final Counters.Counter notFound;
    private final Counters.Counter badRequest;
    private final Counters.Counter connects;
    private final Counters.Counter vnetConnects;
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
        this.vnetConnects = counters.counter("transport.connectVnet");
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
                boolean vnet = UPGRADE.equalsIgnoreCase(req.headers().get(HttpHeaderNames.UPGRADE));
                ReferenceCountUtil.release(msg);
                switchToFrames(ctx, vnet);
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

    private void switchToFrames(ChannelHandlerContext ctx, boolean vnet) {
        switched = true;
        connects.inc();
        ChannelPipeline p = ctx.pipeline();
        if (p.context(FALLBACK_NAME) != null) {
            p.remove(FALLBACK_NAME);
        }
        String name = "connect:" + ctx.channel().remoteAddress();
        Framing framing = vnet ? Framing.QEMU : connectFraming;
        p.addAfter(ctx.name(), "frameDecoder", framing.newDecoder(counters));
        p.addAfter("frameDecoder", "frameEncoder", framing.newEncoder(counters));
        String last = "frameEncoder";
        if (vnet) {
            vnetConnects.inc();
            p.addAfter(last, "vnet", new VnetCodec(sw.mtu(), counters));
            last = "vnet";
            // The reply goes out before any frame: written from the head, past the HTTP codec.
            p.firstContext().writeAndFlush(Unpooled.wrappedBuffer(SWITCHING));
        }
        p.addAfter(last, "port", new ChannelPort(sw, counters, name, port -> {}, vnet));
        LOG.log(Level.FINE, "{0}: /connect, {1} framing", new Object[] {ctx.channel(), vnet ? UPGRADE : connectFraming});
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
