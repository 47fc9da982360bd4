package dev.gvproxy.api;

import dev.gvproxy.model.DnsRecord;
import dev.gvproxy.model.DnsZone;
import dev.gvproxy.model.GoJson;
import dev.gvproxy.model.LeaseSource;
import dev.gvproxy.model.GoNet;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.model.PortForwards;
import dev.gvproxy.forwarder.TcpBridge;
import dev.gvproxy.forwarder.TunnelStream;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.DateFormatter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * gvproxy's HTTP API routes (spec 4) for one connection. Sits after an {@link HttpServerCodec} (and, on
 * {@code -listen} endpoints, the transport's {@code ConnectHandler}); it adds an {@link HttpObjectAggregator}
 * in front of itself when there is none, and removes it again when it is removed (e.g. on {@code /connect}).
 *
 * <p>Status codes, bodies and JSON shapes follow Go's {@code net/http} and gvproxy: errors are
 * {@code text/plain; charset=utf-8} with {@code X-Content-Type-Options: nosniff} and a body ending in a newline;
 * JSON bodies end in a newline; unknown paths get {@code 404 page not found}; {@code /services} and other subtree
 * roots redirect (301) to their slash form, non-canonical paths to their clean form. Routes that change state
 * only accept POST ({@code 400 post only}); the others accept any method.
 *
 * <p>Requests never run on the network's event loop beyond copying them: the loop copies a complete request
 * (bounded by the aggregator's body limit and the codec's header limits), and an offload executor
 * ({@link ApiContext.Builder#offload}, virtual threads by default) checks the token, routes and decodes the JSON
 * (itself bounded: {@link GoJson#MAX_DEPTH}, {@link GoJson#MAX_NUMBER_CHARS}); only the resulting action
 * (reading a snapshot, exposing a forward) hops back to the loop, and large answers ({@code /cam}) are
 * formatted off the loop again ({@code /tunnel} on the host API is routed on the loop, so the connection is taken
 * over within the read that carried the request). Requests of one connection are answered in order, one at a time (at most
 * {@link #MAX_PIPELINED} queued, more close the connection).
 *
 * <p>Idle connections are closed ({@code api.idleClosed}): {@link ApiContext#requestTimeoutMillis} without a
 * complete first request, {@link ApiContext#keepAliveIdleMillis} between keep-alive requests (Go's
 * {@code ReadHeaderTimeout}/{@code IdleTimeout}).
 *
 * <p>Differences from gvproxy (fixes): a host name or IPv6 literal in an expose {@code remote}, and a non-IPv4
 * {@code ip} on {@code /tunnel}, get a 400 with a clear message (gvproxy crashes the handler or answers 500
 * {@code invalid remote addr}); the in-VM surface can require a bearer token; the in-VM surface manages only
 * guest-created forwards ({@link PortForwards.Origin#GUEST}, 403 otherwise) and can be made read-only or turned
 * off ({@link ApiContext.InVmAccess}); an expose of port 0 answers the
 * bound forward as JSON (gvproxy: empty body, and lists {@code :0}).
 */
public final class ApiHandler extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = Logger.getLogger(ApiHandler.class.getName());
    static final String AGGREGATOR = "apiAggregator";
    private static final String TEXT = "text/plain; charset=utf-8";
    /** Requests of one connection queued behind the one being answered. */
    static final int MAX_PIPELINED = 8;

    /** Which routes a listener serves (spec 4.1). */
    public enum Surface {
        /** {@code -listen}: everything ({@code /connect} is taken before this handler). */
        FULL,
        /** {@code -services}: everything but {@code /connect}. */
        SERVICES,
        /** gateway:80 inside the network: only {@code /services/forwarder/{all,expose,unexpose}}. */
        IN_VM
    }

    /** A request copied off Netty's buffers, safe to hand to another thread. */
    private record Request(HttpMethod method, String uri, String authorization, byte[] body, boolean keepAlive,
                           SocketAddress caller, boolean malformed) {}

    /** What the loop does for a routed request: a response (stage), or null when the connection was taken over. */
    @FunctionalInterface
    private interface Step {
        CompletionStage<Response> run(ChannelHandlerContext ctx);
    }

    private final ApiContext api;
    private final Surface surface;
    private final PortForwards.Origin origin;
    private final ArrayDeque<Request> queue = new ArrayDeque<>();
    private boolean addedAggregator;
    private boolean busy;
    private ScheduledFuture<?> idleTimer;

    public ApiHandler(ApiContext api, Surface surface) {
        this.api = api;
        this.surface = surface;
        this.origin = surface == Surface.IN_VM ? PortForwards.Origin.GUEST : PortForwards.Origin.HOST;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        ChannelPipeline p = ctx.pipeline();
        if (p.get(HttpObjectAggregator.class) == null) {
            p.addBefore(ctx.name(), AGGREGATOR, aggregator(api));
            addedAggregator = true;
        }
        armIdle(ctx, api.requestTimeoutMillis);
    }

    /** Go's body limit role: bodies above {@link ApiContext#maxBody} get 413, counted {@code api.bodyTooLarge}. */
    static HttpObjectAggregator aggregator(ApiContext api) {
        return new HttpObjectAggregator(api.maxBody) {
            @Override
            protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) throws Exception {
                api.bodyTooLarge.inc();
                super.handleOversizedMessage(ctx, oversized);
            }

            @Override
            protected Object newContinueResponse(HttpMessage start, int maxContentLength,
                                                 io.netty.channel.ChannelPipeline pipeline) {
                // "Expect: 100-continue" with a Content-Length above the limit is refused here, before any body.
                Object r = super.newContinueResponse(start, maxContentLength, pipeline);
                if (r instanceof io.netty.handler.codec.http.HttpResponse resp
                        && resp.status().code() == HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE.code()) {
                    api.bodyTooLarge.inc();
                }
                return r;
            }
        };
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancelIdle();
        if (addedAggregator && ctx.pipeline().context(AGGREGATOR) != null) {
            ctx.pipeline().remove(AGGREGATOR);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelIdle();
        queue.clear();
        ctx.fireChannelInactive();
    }

    private void armIdle(ChannelHandlerContext ctx, long millis) {
        cancelIdle();
        if (millis <= 0) {
            return;
        }
        idleTimer = ctx.executor().schedule(() -> {
            idleTimer = null;
            if (!busy && ctx.channel().isOpen()) {
                api.idleClosed.inc();
                LOG.log(Level.FINE, "{0}: closing idle API connection", ctx.channel());
                ctx.close();
            }
        }, millis, TimeUnit.MILLISECONDS);
    }

    private void cancelIdle() {
        if (idleTimer != null) {
            idleTimer.cancel(false);
            idleTimer = null;
        }
    }

    /** @param msg <b>taken</b> */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Request r;
        if (msg instanceof FullHttpRequest req) {
            try {
                String auth = req.headers().get(HttpHeaderNames.AUTHORIZATION);
                r = new Request(req.method(), req.uri(), auth, ByteBufUtil.getBytes(req.content()),
                        HttpUtil.isKeepAlive(req), ctx.channel().remoteAddress(), !req.decoderResult().isSuccess());
            } finally {
                req.release();
            }
        } else if (msg instanceof HttpRequest req && !req.decoderResult().isSuccess()) {
            ReferenceCountUtil.release(msg);
            r = new Request(HttpMethod.GET, "/", null, new byte[0], false, null, true);
        } else {
            ctx.fireChannelRead(msg);
            return;
        }
        cancelIdle();
        if (surface != Surface.IN_VM && !busy && queue.isEmpty() && !r.malformed()
                && new QueryStringDecoder(r.uri()).path().equals("/tunnel")) {
            // Routed here, on the loop (a query string of at most the codec's line limit, no JSON): the hijack
            // must remove the codec inside this read, so the bytes that came with the request reach the relay
            // instead of being decoded as further requests. Host API only.
            busy = true;
            ctx.channel().config().setAutoRead(false);
            run(ctx, r, prepare(r));
            return;
        }
        if (queue.size() >= MAX_PIPELINED) {
            api.pipelineLimit.inc();
            ctx.close();
            return;
        }
        queue.add(r);
        ctx.channel().config().setAutoRead(false);
        if (!busy) {
            next(ctx);
        }
    }

    /** Starts the next queued request, or waits for one (re-arming the keep-alive idle timer). Loop only. */
    private void next(ChannelHandlerContext ctx) {
        Request r = queue.poll();
        if (r == null) {
            busy = false;
            if (!ctx.isRemoved() && ctx.channel().isOpen()) {
                ctx.channel().config().setAutoRead(true);
                armIdle(ctx, api.keepAliveIdleMillis);
            }
            return;
        }
        busy = true;
        Runnable work = () -> {
            Step step;
            try {
                step = prepare(r);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "API request failed", e);
                step = c -> done(Response.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal error", false));
            }
            Step s = step;
            onLoop(ctx, () -> run(ctx, r, s));
        };
        try {
            api.offload.execute(work);
        } catch (RejectedExecutionException e) {
            ctx.close();
        }
    }

    private static void onLoop(ChannelHandlerContext ctx, Runnable task) {
        if (ctx.executor().inEventLoop()) {
            task.run();
        } else {
            try {
                ctx.executor().execute(task);
            } catch (RejectedExecutionException e) {
                LOG.log(Level.FINE, "API answer dropped: the network is closing");
            }
        }
    }

    private void run(ChannelHandlerContext ctx, Request r, Step step) {
        if (ctx.isRemoved() || !ctx.channel().isOpen()) {
            return;
        }
        CompletionStage<Response> stage;
        try {
            stage = step.run(ctx);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "API request failed", e);
            stage = done(Response.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal error", false));
        }
        if (stage == null) {
            return; // the connection was taken over (/tunnel)
        }
        stage.whenComplete((resp, err) -> onLoop(ctx, () -> {
            if (ctx.isRemoved()) {
                return;
            }
            Response out = resp;
            if (err != null) {
                Throwable c = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
                out = Response.text(c instanceof PortForwards.Forbidden ? HttpResponseStatus.FORBIDDEN
                        : HttpResponseStatus.INTERNAL_SERVER_ERROR, String.valueOf(c.getMessage()), r.keepAlive());
            }
            out.send(ctx);
            if (out.keepAlive) {
                next(ctx);
            } else {
                queue.clear();
            }
        }));
    }

    private static CompletionStage<Response> done(Response r) {
        return CompletableFuture.completedFuture(r);
    }

    /** Routes one request; runs on the offload executor (no network state is touched here). */
    private Step prepare(Request req) {
        boolean keepAlive = req.keepAlive();
        if (req.malformed()) {
            // Also a request line or headers beyond the codec's limits.
            Response r = Response.text(HttpResponseStatus.BAD_REQUEST, "400 Bad Request", false);
            return c -> {
                api.badRequest.inc();
                return done(r);
            };
        }
        QueryStringDecoder q = new QueryStringDecoder(req.uri());
        String path = q.path();
        if (path.isEmpty() || path.charAt(0) != '/') {
            path = "/" + path;
        }
        if (!req.method().equals(HttpMethod.CONNECT)) {
            String clean = cleanPath(path);
            if (!clean.equals(path)) {
                Response r = redirect(req, clean, q.rawQuery());
                return c -> done(r);
            }
        }
        if (surface == Surface.IN_VM && api.inVmToken != null && !authorized(req)) {
            Response r = Response.text(HttpResponseStatus.UNAUTHORIZED, "unauthorized", keepAlive);
            r.headers.put("WWW-Authenticate", "Bearer realm=\"gvproxy\"");
            return c -> {
                api.unauthorized.inc();
                return done(r);
            };
        }
        boolean full = surface != Surface.IN_VM;
        if (!full && api.inVmAccess != ApiContext.InVmAccess.FULL) {
            if (api.inVmAccess == ApiContext.InVmAccess.OFF) {
                Response r = notFound(keepAlive);
                return c -> {
                    api.inVmDisabled.inc();
                    return done(r);
                };
            }
            if (path.equals("/services/forwarder/expose") || path.equals("/services/forwarder/unexpose")) {
                Response r = Response.text(HttpResponseStatus.FORBIDDEN, "the in-VM API is read-only", keepAlive);
                return c -> {
                    api.inVmReadOnly.inc();
                    return done(r);
                };
            }
        }
        switch (path) {
            case "/services/forwarder/all":
                return c -> done(json(forwardsJson(), keepAlive));
            case "/services/forwarder/expose":
                return expose(req);
            case "/services/forwarder/unexpose":
                return unexpose(req);
            case "/services/forwarder": {
                Response r = redirect(req, "/services/forwarder/", q.rawQuery());
                return c -> done(r);
            }
            default:
                break;
        }
        if (!full) {
            return c -> done(notFound(keepAlive));
        }
        switch (path) {
            case "/stats":
                return c -> done(json(statsJson(), keepAlive));
            case "/cam": {
                // The snapshot is taken on the loop; sorting and formatting (large on a busy switch) happen here.
                return c -> {
                    Map<String, Integer> cam = api.cam.get();
                    return CompletableFuture.supplyAsync(() -> json(camJson(cam), keepAlive), api.offload);
                };
            }
            case "/metrics": {
                // Host API only (this block). Counters and gauges are read on the loop, the text is written off it.
                return c -> {
                    Map<String, Long> counters = api.counters.get();
                    long sent = api.bytesSent.getAsLong();
                    long received = api.bytesReceived.getAsLong();
                    int leases = api.leases.leases().size();
                    NetworkObservation net = api.observation.get();
                    return CompletableFuture.supplyAsync(() -> new Response(HttpResponseStatus.OK,
                            PrometheusMetrics.CONTENT_TYPE, api.metrics().format(counters, sent, received, leases, net),
                            keepAlive), api.offload);
                };
            }
            case "/services/flows": {
                // Host API only. Filtered and bounded on the loop (the tables are loop-only), JSON written off it.
                FlowTable.Query fq;
                try {
                    fq = FlowTable.Query.parse(q.parameters());
                } catch (IllegalArgumentException e) {
                    return badRequest(e.getMessage(), keepAlive);
                }
                return c -> {
                    FlowTable.Snapshot snap = api.flows.apply(fq);
                    return CompletableFuture.supplyAsync(() -> json(FlowTable.json(snap), keepAlive), api.offload);
                };
            }
            case "/debug/threads":
            case "/debug/jfr":
                return debug(path, q, keepAlive);
            case "/leases":
            case "/services/dhcp/leases":
                return c -> done(json(leasesJson(api.leases), keepAlive));
            case "/services/dhcpv6/leases":
                return c -> done(json(leasesJson(api.leases6), keepAlive));
            case "/services/ndp/neighbors":
                return c -> done(json(leasesJson(api.neighbors6), keepAlive));
            case "/services/dns/all":
                return c -> done(json(dnsJson(), keepAlive));
            case "/services/dns/add":
                return dnsAdd(req);
            case "/tunnel":
                return tunnel(q, keepAlive);
            case "/services/egress":
                // Host API only: a guest must not read or loosen the policy that confines it.
                if (api.egress == null) {
                    return c -> done(notFound(keepAlive));
                }
                return egress(req, q);
            case "/services":
            case "/services/dhcp":
            case "/services/dns": {
                Response r = redirect(req, path + "/", q.rawQuery());
                return c -> done(r);
            }
            default:
                return c -> done(notFound(keepAlive));
        }
    }

    /**
     * {@code -debug}'s JVM diagnostics (host API only, 404 without {@code -debug}). Called on the offload thread,
     * which does the blocking work (a JFR recording waits out its length there); the loop only sends the answer.
     */
    private Step debug(String path, QueryStringDecoder q, boolean keepAlive) {
        DebugRoutes d = api.debug;
        if (d == null) {
            return c -> done(notFound(keepAlive));
        }
        Response r;
        try {
            if (path.equals("/debug/threads")) {
                r = Response.of(HttpResponseStatus.OK, TEXT, d.threadDump(), keepAlive);
            } else {
                String s = first(q, "seconds");
                int seconds;
                try {
                    seconds = s.isEmpty() ? DebugRoutes.DEFAULT_JFR_SECONDS : Integer.parseInt(s);
                } catch (NumberFormatException e) {
                    seconds = -1;
                }
                if (seconds < 1 || seconds > DebugRoutes.MAX_JFR_SECONDS) {
                    return badRequest("seconds must be 1 to " + DebugRoutes.MAX_JFR_SECONDS + ": " + s, keepAlive);
                }
                r = new Response(HttpResponseStatus.OK, "application/octet-stream",
                        d.record(java.time.Duration.ofSeconds(seconds)), keepAlive);
                r.headers.put("Content-Disposition", "attachment; filename=\"gvproxy-java.jfr\"");
            }
        } catch (DebugRoutes.Busy e) {
            r = Response.text(HttpResponseStatus.CONFLICT, e.getMessage(), keepAlive);
        } catch (DebugRoutes.NoJfr e) {
            r = Response.text(HttpResponseStatus.NOT_IMPLEMENTED, e.getMessage(), keepAlive);
        } catch (java.io.IOException | RuntimeException e) {
            LOG.log(Level.WARNING, "debug route " + path + " failed", e);
            r = Response.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, String.valueOf(e.getMessage()), keepAlive);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            r = Response.text(HttpResponseStatus.SERVICE_UNAVAILABLE, "interrupted", keepAlive);
        }
        Response out = r;
        return c -> done(out);
    }

    private boolean authorized(Request req) {
        String h = req.authorization();
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        byte[] given = h.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(given, api.inVmToken.getBytes(StandardCharsets.UTF_8));
    }

    // --- JSON documents -----------------------------------------------------------------------------------

    String statsJson() {
        // Counters "<layer>.<reason>" nested by layer; Go sorts map keys, so do we.
        TreeMap<String, TreeMap<String, Long>> layers = new TreeMap<>();
        for (Map.Entry<String, Long> e : api.counters.get().entrySet()) {
            String name = e.getKey();
            int dot = name.indexOf('.');
            String layer = dot < 0 ? "misc" : name.substring(0, dot);
            String reason = dot < 0 ? name : name.substring(dot + 1);
            layers.computeIfAbsent(layer, k -> new TreeMap<>()).put(reason, e.getValue());
        }
        if (api.egress != null) {
            // Per-rule counts of the egress policy in force (they restart with each new policy, so they are not
            // Counters): egress.rule.<index>.denied or .allowed.
            for (dev.gvproxy.forwarder.EgressFilter.RuleHits h : api.egress.ruleHits()) {
                layers.computeIfAbsent("egress", k -> new TreeMap<>()).put("rule." + h.index() + "."
                        + (h.rule().action() == dev.gvproxy.forwarder.EgressPolicy.Action.DENY ? "denied" : "allowed"),
                        h.hits());
            }
        }
        StringBuilder b = new StringBuilder("{\"BytesReceived\":").append(Long.toUnsignedString(api.bytesReceived.getAsLong()))
                .append(",\"BytesSent\":").append(Long.toUnsignedString(api.bytesSent.getAsLong()))
                .append(",\"stack\":{");
        boolean firstLayer = true;
        for (Map.Entry<String, TreeMap<String, Long>> l : layers.entrySet()) {
            if (!firstLayer) {
                b.append(',');
            }
            firstLayer = false;
            b.append(GoJson.string(l.getKey())).append(":{");
            boolean first = true;
            for (Map.Entry<String, Long> c : l.getValue().entrySet()) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                b.append(GoJson.string(c.getKey())).append(':').append(Long.toUnsignedString(c.getValue()));
            }
            b.append('}');
        }
        return b.append("}}").toString();
    }

    String camJson() {
        return camJson(api.cam.get());
    }

    static String camJson(Map<String, Integer> cam) {
        StringBuilder b = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<String, Integer> e : new TreeMap<>(cam).entrySet()) {
            if (!first) {
                b.append(',');
            }
            first = false;
            b.append(GoJson.string(e.getKey())).append(':').append(e.getValue());
        }
        return b.append('}').toString();
    }

    /** An address -> MAC object, keys sorted as strings (gvproxy's {@code /leases} shape). */
    static String leasesJson(LeaseSource source) {
        StringBuilder b = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<String, String> e : new TreeMap<>(source.leases()).entrySet()) {
            if (!first) {
                b.append(',');
            }
            first = false;
            b.append(GoJson.string(e.getKey())).append(':').append(GoJson.string(e.getValue()));
        }
        return b.append('}').toString();
    }

    /** The forwards this surface may see (a guest: only guest-created ones). */
    String forwardsJson() {
        List<PortForward> all = new ArrayList<>(api.forwards.all(origin));
        all.sort(Comparator.comparing(PortForward::local).thenComparing(PortForward::protocol));
        return GoJson.forwards(all);
    }

    String dnsJson() {
        List<DnsZone> zones = api.dns.zones();
        if (zones == null || zones.isEmpty()) {
            return "null";
        }
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < zones.size(); i++) {
            if (i > 0) {
                b.append(',');
            }
            b.append(zoneJson(zones.get(i)));
        }
        return b.append(']').toString();
    }

    /** One zone as gvproxy's {@code types.Zone} JSON ({@link #decodeZone} reads it back). */
    static String zoneJson(DnsZone z) {
        StringBuilder b = new StringBuilder();
        b.append("{\"Name\":").append(GoJson.string(z.name())).append(",\"Records\":");
        if (z.records() == null) {
            b.append("null");
        } else {
            b.append('[');
            for (int j = 0; j < z.records().size(); j++) {
                DnsRecord r = z.records().get(j);
                if (j > 0) {
                    b.append(',');
                }
                b.append("{\"Name\":").append(GoJson.string(r.name())).append(",\"IP\":").append(GoJson.string(r.ip()));
                if (r.regexp() != null) {
                    b.append(",\"Regexp\":").append(GoJson.string(r.regexp()));
                }
                b.append('}');
            }
            b.append(']');
        }
        return b.append(",\"DefaultIP\":").append(GoJson.string(z.defaultIp())).append('}').toString();
    }

    // --- state-changing routes ----------------------------------------------------------------------------

    /** Decodes the body as Go would into a struct; null (JSON {@code null}) means "all fields zero". */
    private static Map<String, Object> decodeObject(Request req, String goType) throws GoJson.JsonException {
        Object v = GoJson.decode(new String(req.body(), StandardCharsets.UTF_8));
        if (v == null) {
            return Map.of();
        }
        if (!(v instanceof Map<?, ?>)) {
            throw new GoJson.JsonException("json: cannot unmarshal " + GoJson.kind(v) + " into Go value of type " + goType);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) v;
        return m;
    }

    private Step badRequest(String message, boolean keepAlive) {
        Response r = Response.text(HttpResponseStatus.BAD_REQUEST, message, keepAlive);
        return c -> {
            api.badRequest.inc();
            return done(r);
        };
    }

    private Step expose(Request req) {
        boolean keepAlive = req.keepAlive();
        if (!req.method().equals(HttpMethod.POST)) {
            return badRequest("post only", keepAlive);
        }
        PortForward f;
        try {
            Map<String, Object> m = decodeObject(req, "types.ExposeRequest");
            String local = GoJson.stringField(m, "local", "", "ExposeRequest.local", "string");
            String remote = GoJson.stringField(m, "remote", "", "ExposeRequest.remote", "string");
            String protocol = GoJson.stringField(m, "protocol", "", "ExposeRequest.protocol", "types.TransportProtocol");
            if (protocol.isEmpty()) {
                protocol = "tcp";
            }
            if (protocol.equals("tcp") || protocol.equals("udp")) {
                remote = normaliseRemote(remote, req.caller(), protocol.equals("tcp") || protocol.equals("udp"));
            }
            f = new PortForward(local, remote, protocol);
        } catch (GoJson.JsonException | GoNet.GoError e) {
            return badRequest(e.getMessage(), keepAlive);
        }
        boolean anyPort = f.local().endsWith(":0") && !f.protocol().equals("unix");
        return c -> api.forwards.expose(f, origin).thenApply(listed -> anyPort
                // Port 0: say which port was bound (gvproxy answers an empty body and lists ":0").
                ? json(GoJson.forward(listed), keepAlive) : Response.empty(keepAlive));
    }

    /**
     * gvproxy's remote normalisation for tcp/udp: {@code host:port}, an empty host replaced by the caller's IP
     * (the in-VM API's use: a guest exposes its own port). Then, unlike gvproxy, the host must be an IPv4 literal,
     * or for tcp and udp ({@code ipv6}) also an IPv6 literal, a guest's IPv6 address ({@code [fd00:..::2]:80}); a host
     * name is a 400 with a clear message (gvproxy crashes the handler, spec Appendix A item 12).
     */
    static String normaliseRemote(String remote, SocketAddress caller) throws GoNet.GoError {
        return normaliseRemote(remote, caller, false);
    }

    static String normaliseRemote(String remote, SocketAddress caller, boolean ipv6) throws GoNet.GoError {
        String[] hp = GoNet.splitHostPort(remote);
        String host = hp[0];
        if (host.isEmpty()) {
            String callerAddr = caller instanceof InetSocketAddress isa && isa.getAddress() != null
                    ? GoNet.joinHostPort(isa.getAddress().getHostAddress(), Integer.toString(isa.getPort())) : "";
            host = GoNet.splitHostPort(callerAddr)[0];
        }
        if (GoNet.parseIpv4(host) == null) {
            if (GoNet.looksLikeIpv6(host) && ipv6) {
                dev.gvproxy.stack.wire.Ipv6Address a;
                try {
                    a = dev.gvproxy.stack.wire.Ipv6Address.parse(host);
                } catch (IllegalArgumentException e) {
                    throw new GoNet.GoError("remote " + GoNet.joinHostPort(host, hp[1]) + ": not a valid IPv6 address");
                }
                if (a.isLoopback() || a.isMulticast() || a.isUnspecified()) {
                    throw new GoNet.GoError("remote " + GoNet.joinHostPort(host, hp[1])
                            + ": not a guest unicast address");
                }
                return GoNet.joinHostPort(host, hp[1]);
            }
            if (GoNet.looksLikeIpv6(host)) {
                throw new GoNet.GoError("remote " + GoNet.joinHostPort(host, hp[1])
                        + ": IPv6 guest addresses are supported for tcp and udp forwards only");
            }
            if (host.chars().allMatch(ch -> ch == '.' || (ch >= '0' && ch <= '9'))) {
                throw new GoNet.GoError("remote " + host + ":" + hp[1] + ": not a valid IPv4 address");
            }
            throw new GoNet.GoError("remote " + GoNet.joinHostPort(host, hp[1])
                    + ": host names are not supported, the guest must be given as an IPv4 address");
        }
        return host + ":" + hp[1];
    }

    private Step unexpose(Request req) {
        boolean keepAlive = req.keepAlive();
        if (!req.method().equals(HttpMethod.POST)) {
            return badRequest("post only", keepAlive);
        }
        String local;
        String protocol;
        try {
            Map<String, Object> m = decodeObject(req, "types.UnexposeRequest");
            local = GoJson.stringField(m, "local", "", "UnexposeRequest.local", "string");
            protocol = GoJson.stringField(m, "protocol", "", "UnexposeRequest.protocol", "types.TransportProtocol");
        } catch (GoJson.JsonException e) {
            return badRequest(e.getMessage(), keepAlive);
        }
        String proto = protocol.isEmpty() ? "tcp" : protocol;
        return c -> api.forwards.unexpose(proto, local, origin).thenApply(v -> Response.empty(keepAlive));
    }

    private Step dnsAdd(Request req) {
        boolean keepAlive = req.keepAlive();
        if (!req.method().equals(HttpMethod.POST)) {
            return badRequest("post only", keepAlive);
        }
        DnsZone zone;
        try {
            zone = decodeZone(decodeObject(req, "types.Zone"));
        } catch (GoJson.JsonException e) {
            return badRequest(e.getMessage(), keepAlive);
        }
        return c -> {
            try {
                api.dns.add(zone);
            } catch (RuntimeException e) {
                return done(Response.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, String.valueOf(e.getMessage()),
                        keepAlive));
            }
            return done(Response.empty(keepAlive));
        };
    }

    /** gvproxy's {@code types.Zone} decoding (capitalised names, any case accepted), with IP and regexp checks. */
    static DnsZone decodeZone(Map<String, Object> m) throws GoJson.JsonException {
        String name = GoJson.stringField(m, "Name", "", "Zone.Name", "string");
        String defaultIp = ipField(m, "DefaultIP", "Zone.DefaultIP");
        Object recs = GoJson.field(m, "Records", null);
        List<DnsRecord> records = null;
        if (recs != null) {
            if (!(recs instanceof List<?> list)) {
                throw new GoJson.JsonException("json: cannot unmarshal " + GoJson.kind(recs)
                        + " into Go struct field Zone.Records of type []types.Record");
            }
            records = new ArrayList<>();
            for (Object o : list) {
                if (o == null) {
                    records.add(new DnsRecord("", "", null));
                    continue;
                }
                if (!(o instanceof Map<?, ?>)) {
                    throw new GoJson.JsonException("json: cannot unmarshal " + GoJson.kind(o)
                            + " into Go struct field Zone.Records of type types.Record");
                }
                @SuppressWarnings("unchecked")
                Map<String, Object> r = (Map<String, Object>) o;
                String rname = GoJson.stringField(r, "Name", "", "Zone.Records.Name", "string");
                String ip = ipField(r, "IP", "Zone.Records.IP", true);
                String regexp = GoJson.stringField(r, "Regexp", null, "Zone.Records.Regexp", "*regexp.Regexp");
                if (regexp != null) {
                    try {
                        Pattern.compile(regexp);
                    } catch (PatternSyntaxException e) {
                        throw new GoJson.JsonException("error parsing regexp: " + e.getDescription() + ": `"
                                + regexp + "`");
                    }
                }
                records.add(new DnsRecord(rname, ip, regexp));
            }
        }
        return new DnsZone(name, records, defaultIp);
    }

    /** A {@code net.IP} field: text unmarshalled, empty means unset; IPv4 only (a zone's DefaultIP). */
    private static String ipField(Map<String, Object> m, String name, String where) throws GoJson.JsonException {
        return ipField(m, name, where, false);
    }

    /**
     * A {@code net.IP} field; with {@code ipv6} also an IPv6 literal (a record's IP: Go's {@code net.IP} takes
     * either family, and the DNS server answers AAAA from an IPv6 record), returned in canonical form.
     */
    private static String ipField(Map<String, Object> m, String name, String where, boolean ipv6)
            throws GoJson.JsonException {
        String s = GoJson.stringField(m, name, "", where, "net.IP");
        if (s.isEmpty()) {
            return "";
        }
        if (GoNet.parseIpv4(s) != null) {
            return s;
        }
        if (ipv6 && s.indexOf(':') >= 0) {
            try {
                return dev.gvproxy.stack.wire.Ipv6Address.parse(s).toString();
            } catch (IllegalArgumentException e) {
                // fall through: Go's text for any unparsable IP
            }
        }
        throw new GoJson.JsonException("invalid IP address: " + s);
    }

    // --- /services/egress ----------------------------------------------------------------------------------

    /**
     * {@code GET} lists the egress rules as JSON, the YAML's field names ({@code action}, {@code cidr},
     * {@code protocol}, {@code ports} when set); {@code POST} replaces them with such a list (validated here, off
     * the loop; 400 naming the field at fault) and answers {@code {"rules":N,"closed":M}}. {@code ?close=true}
     * also closes the existing flows the new rules deny (TCP reset towards the guest, host sockets closed).
     */
    private Step egress(Request req, QueryStringDecoder q) {
        boolean keepAlive = req.keepAlive();
        HttpMethod m = req.method();
        if (m.equals(HttpMethod.GET) || m.equals(HttpMethod.HEAD)) {
            return c -> done(json(egressJson(api.egress.policy()), keepAlive));
        }
        if (!m.equals(HttpMethod.POST)) {
            Response r = Response.text(HttpResponseStatus.METHOD_NOT_ALLOWED, "method not allowed", keepAlive);
            r.headers.put("Allow", "GET, HEAD, POST");
            return c -> done(r);
        }
        boolean close;
        switch (first(q, "close")) {
            case "", "false", "0" -> close = false;
            case "true", "1" -> close = true;
            default -> {
                return badRequest("close must be true or false, got \"" + first(q, "close") + "\"", keepAlive);
            }
        }
        dev.gvproxy.forwarder.EgressPolicy policy;
        try {
            Object v = GoJson.decode(new String(req.body(), StandardCharsets.UTF_8));
            if (!(v instanceof List<?> list)) {
                return badRequest("egress: expected a JSON array of rules ([{\"action\":\"deny\",\"cidr\":"
                        + "\"10.0.0.0/8\"}], [] for none), got " + GoJson.kind(v), keepAlive);
            }
            policy = dev.gvproxy.forwarder.EgressPolicy.fromMaps(list, "egress");
        } catch (GoJson.JsonException | IllegalArgumentException e) {
            return badRequest(e.getMessage(), keepAlive);
        }
        int rules = policy.rules().size();
        boolean closeDenied = close;
        return c -> api.egress.replace(policy, closeDenied).thenApply(closed -> json("{\"rules\":" + rules
                + ",\"closed\":" + closed + "}", keepAlive));
    }

    /** The rules as {@code GET /services/egress} lists them ({@code POST} reads the same shape back). */
    static String egressJson(dev.gvproxy.forwarder.EgressPolicy policy) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < policy.rules().size(); i++) {
            dev.gvproxy.forwarder.EgressPolicy.Rule r = policy.rules().get(i);
            if (i > 0) {
                b.append(',');
            }
            b.append("{\"action\":").append(GoJson.string(r.action().text()))
                    .append(",\"cidr\":").append(GoJson.string(r.cidr().toString()))
                    .append(",\"protocol\":").append(GoJson.string(r.protocol().text()));
            if (!r.ports().isAll()) {
                b.append(",\"ports\":").append(GoJson.string(r.ports().toString()));
            }
            b.append('}');
        }
        return b.append(']').toString();
    }

    // --- /tunnel ------------------------------------------------------------------------------------------

    private Step tunnel(QueryStringDecoder q, boolean keepAlive) {
        String ip = first(q, "ip");
        if (ip.isEmpty()) {
            Response r = Response.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "ip is mandatory", keepAlive);
            return c -> done(r);
        }
        int port;
        try {
            port = (int) GoNet.parseUint(first(q, "port"), 16);
        } catch (GoNet.GoError e) {
            Response r = Response.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, e.getMessage(), keepAlive);
            return c -> done(r);
        }
        // gvproxy takes an IPv4 address; an IPv6 literal (bare or in brackets) reaches a guest's IPv6 address.
        dev.gvproxy.stack.wire.Ipv6Address addr = tunnelAddress(ip);
        if (addr == null) {
            return badRequest("ip must be an IPv4 address or a guest's IPv6 address: " + ip, keepAlive);
        }
        return c -> {
            hijackForTunnel(c, addr, port, GoNet.joinHostPort(ip.replace("[", "").replace("]", ""),
                    Integer.toString(port)));
            return null;
        };
    }

    /** The /tunnel target: an IPv4 address (IPv4-mapped), or a unicast IPv6 literal; null when neither. */
    static dev.gvproxy.stack.wire.Ipv6Address tunnelAddress(String ip) {
        Integer v4 = GoNet.parseIpv4(ip);
        if (v4 != null) {
            return dev.gvproxy.stack.wire.Ipv6Address.ofIpv4(v4);
        }
        String s = ip.startsWith("[") && ip.endsWith("]") ? ip.substring(1, ip.length() - 1) : ip;
        if (!GoNet.looksLikeIpv6(s)) {
            return null;
        }
        try {
            dev.gvproxy.stack.wire.Ipv6Address a = dev.gvproxy.stack.wire.Ipv6Address.parse(s);
            return a.isMulticast() || a.isUnspecified() || a.isLoopback() || a.isIpv4Mapped() ? null : a;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static String first(QueryStringDecoder q, String key) {
        List<String> v = q.parameters().get(key);
        return v == null || v.isEmpty() ? "" : v.get(0);
    }

    /**
     * Takes the connection over: HTTP handlers leave the pipeline (bytes the codec had buffered past the request
     * flow into the relay), the raw bytes {@code OK} are written (no status line, as gvproxy), then the relay runs.
     */
    private void hijackForTunnel(ChannelHandlerContext ctx, dev.gvproxy.stack.wire.Ipv6Address ip, int port,
            String target) {
        Channel ch = ctx.channel();
        ChannelPipeline p = ctx.pipeline();
        // The relay goes last; then everything HTTP leaves, and the codec hands the bytes it had buffered past
        // the request to the relay (they are tunnel payload, queued until the stream is connected).
        TcpBridge relay = TcpBridge.attach(api.apiCounters, ch);
        if (p.context(AGGREGATOR) != null) {
            p.remove(AGGREGATOR);
        }
        p.remove(this);
        if (p.get(HttpServerCodec.class) != null) {
            p.remove(HttpServerCodec.class);
        }
        ch.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {'O', 'K'}));
        CompletionStage<TunnelStream> connect;
        try {
            connect = api.tunneler.connect(ip, port);
        } catch (RuntimeException e) {
            connect = java.util.concurrent.CompletableFuture.failedFuture(e);
        }
        connect.whenComplete((s, err) -> {
            if (err != null) {
                LOG.log(Level.INFO, "tunnel to {0}: {1}", new Object[] {target, err.getMessage()});
            }
        });
        relay.connect(connect);
        LOG.log(Level.FINE, "{0}: tunnel to {1}", new Object[] {ch, target});
    }

    // --- responses ----------------------------------------------------------------------------------------

    private static Response json(String json, boolean keepAlive) {
        // Go writes JSON without a Content-Type and then sniffs "text/plain; charset=utf-8".
        return Response.of(HttpResponseStatus.OK, TEXT, json + "\n", keepAlive);
    }

    private static Response notFound(boolean keepAlive) {
        return Response.text(HttpResponseStatus.NOT_FOUND, "404 page not found", keepAlive);
    }

    /** Go's {@code http.Redirect} with 301, as ServeMux does for subtree roots and unclean paths. */
    private static Response redirect(Request req, String path, String rawQuery) {
        boolean keepAlive = req.keepAlive();
        String location = rawQuery.isEmpty() ? path : path + "?" + rawQuery;
        boolean getOrHead = req.method().equals(HttpMethod.GET) || req.method().equals(HttpMethod.HEAD);
        Response r = getOrHead
                ? Response.of(HttpResponseStatus.MOVED_PERMANENTLY, "text/html; charset=utf-8",
                        "<a href=\"" + htmlEscape(location) + "\">Moved Permanently</a>.\n\n", keepAlive)
                : Response.of(HttpResponseStatus.MOVED_PERMANENTLY, null, "", keepAlive);
        r.headers.put("Location", location);
        return r;
    }

    private static String htmlEscape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&#34;")
                .replace("'", "&#39;");
    }

    /** Go's {@code cleanPath}: {@code path.Clean}, keeping a trailing slash. */
    static String cleanPath(String p) {
        if (p.isEmpty()) {
            return "/";
        }
        if (p.charAt(0) != '/') {
            p = "/" + p;
        }
        String np = goClean(p);
        if (p.endsWith("/") && !np.equals("/")) {
            np = np + "/";
        }
        return np;
    }

    private static String goClean(String p) {
        List<String> out = new ArrayList<>();
        for (String seg : p.split("/")) {
            if (seg.isEmpty() || seg.equals(".")) {
                continue;
            }
            if (seg.equals("..")) {
                if (!out.isEmpty()) {
                    out.remove(out.size() - 1);
                }
                continue;
            }
            out.add(seg);
        }
        return "/" + String.join("/", out);
    }

    /** One buffered response. */
    static final class Response {
        final HttpResponseStatus status;
        final String contentType;
        final byte[] body;
        final boolean keepAlive;
        final Map<String, String> headers = new TreeMap<>();

        private Response(HttpResponseStatus status, String contentType, byte[] body, boolean keepAlive) {
            this.status = status;
            this.contentType = contentType;
            this.body = body;
            this.keepAlive = keepAlive;
        }

        static Response of(HttpResponseStatus status, String contentType, String body, boolean keepAlive) {
            return new Response(status, contentType, body.getBytes(StandardCharsets.UTF_8), keepAlive);
        }

        /** Go's {@code http.Error}: the message plus a newline, plain text, no sniffing. */
        static Response text(HttpResponseStatus status, String message, boolean keepAlive) {
            Response r = of(status, TEXT, message + "\n", keepAlive);
            r.headers.put("X-Content-Type-Options", "nosniff");
            return r;
        }

        static Response empty(boolean keepAlive) {
            return new Response(HttpResponseStatus.OK, null, new byte[0], keepAlive);
        }

        void send(ChannelHandlerContext ctx) {
            ByteBuf content = Unpooled.wrappedBuffer(body);
            FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, content);
            if (contentType != null) {
                resp.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
            }
            headers.forEach((k, v) -> resp.headers().set(k, v));
            resp.headers().set(HttpHeaderNames.DATE, DateFormatter.format(new Date()));
            resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
            if (!keepAlive) {
                resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            }
            var f = ctx.writeAndFlush(resp);
            if (!keepAlive) {
                f.addListener(ChannelFutureListener.CLOSE);
            }
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.log(Level.FINE, "API connection failed", cause);
        ctx.close();
    }

    boolean busy() {
        return busy;
    }
}
