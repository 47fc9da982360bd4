package dev.gvproxy.api;

import dev.gvproxy.model.InMemoryDnsZones;
import dev.gvproxy.forwarder.TunnelStream;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every route, status and body of the API through Netty's real HTTP codec (EmbeddedChannel). */
class ApiHandlerTest {
    private final FakeForwards fwd = new FakeForwards();
    private final InMemoryDnsZones dns = new InMemoryDnsZones();
    private final Map<String, Long> counters = new TreeMap<>(Map.of("ipv4.badChecksum", 3L, "ipv4.in.datagrams", 7L,
            "tcp.rst", 1L));
    private ApiContext.Builder api = ApiContext.builder()
            .stats(() -> 120, () -> 340, () -> counters)
            .cam(() -> Map.of("5a:94:ef:e4:0c:ee", 0, "5a:94:ef:e4:0c:ef", 1))
            .leases(() -> Map.of("192.168.127.2", "5a:94:ef:e4:0c:ee", "192.168.127.1", "5a:94:ef:e4:0c:dd"))
            .dns(dns)
            .forwards(fwd.registry)
            .offload(Runnable::run);

    /** An embedded channel whose peer has an address (guest or TCP caller). */
    static final class AddressedChannel extends EmbeddedChannel {
        private final SocketAddress remote;

        AddressedChannel(SocketAddress remote) {
            super(false, false);
            this.remote = remote;
        }

        @Override
        protected SocketAddress remoteAddress0() {
            return remote;
        }
    }

    record Resp(int status, Map<String, String> headers, String body, String raw) {}

    private EmbeddedChannel channel(ApiHandler.Surface surface, SocketAddress remote) {
        EmbeddedChannel ch = remote == null ? new EmbeddedChannel(false, false) : new AddressedChannel(remote);
        ch.pipeline().addLast(new HttpServerCodec(), new ApiHandler(api.build(), surface));
        try {
            ch.register();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return ch;
    }

    private Resp send(EmbeddedChannel ch, String rawRequest) {
        ch.writeInbound(Unpooled.copiedBuffer(rawRequest, StandardCharsets.UTF_8));
        ch.runPendingTasks();
        StringBuilder raw = new StringBuilder();
        ByteBuf b;
        while ((b = ch.readOutbound()) != null) {
            raw.append(b.toString(StandardCharsets.UTF_8));
            b.release();
        }
        return parse(raw.toString());
    }

    private static Resp parse(String raw) {
        int end = raw.indexOf("\r\n\r\n");
        if (end < 0) {
            return new Resp(-1, Map.of(), raw, raw);
        }
        String[] lines = raw.substring(0, end).split("\r\n");
        int status = Integer.parseInt(lines[0].split(" ")[1]);
        Map<String, String> h = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        for (int i = 1; i < lines.length; i++) {
            int c = lines[i].indexOf(':');
            h.put(lines[i].substring(0, c), lines[i].substring(c + 1).trim());
        }
        return new Resp(status, h, raw.substring(end + 4), raw);
    }

    private Resp get(String path) {
        EmbeddedChannel ch = channel(ApiHandler.Surface.SERVICES, null);
        try {
            return send(ch, "GET " + path + " HTTP/1.1\r\nHost: \r\n\r\n");
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    private Resp post(ApiHandler.Surface surface, SocketAddress remote, String path, String body) {
        EmbeddedChannel ch = channel(surface, remote);
        try {
            return send(ch, postRequest(path, body));
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    private Resp post(String path, String body) {
        return post(ApiHandler.Surface.SERVICES, null, path, body);
    }

    private static String postRequest(String path, String body) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return "POST " + path + " HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: " + b.length
                + "\r\n\r\n" + body;
    }

    private static void assertGoError(Resp r, int status, String message) {
        assertEquals(status, r.status(), r.raw());
        assertEquals(message + "\n", r.body());
        assertEquals("text/plain; charset=utf-8", r.headers().get("Content-Type"));
        assertEquals("nosniff", r.headers().get("X-Content-Type-Options"));
    }

    // --- read-only routes ---------------------------------------------------------------------------------

    @Test
    void statsKeepsByteCountersAndNestsStackCountersByLayer() {
        Resp r = get("/stats");
        assertEquals(200, r.status());
        assertEquals("{\"BytesReceived\":340,\"BytesSent\":120,\"stack\":{\"ipv4\":{\"badChecksum\":3,\"in.datagrams\":7},"
                + "\"tcp\":{\"rst\":1}}}\n", r.body());
        assertEquals("text/plain; charset=utf-8", r.headers().get("Content-Type"));
    }

    @Test
    void camIsMacToPortSorted() {
        assertEquals("{\"5a:94:ef:e4:0c:ee\":0,\"5a:94:ef:e4:0c:ef\":1}\n", get("/cam").body());
    }

    @Test
    void leasesOnBothPathsSortedByIp() {
        String want = "{\"192.168.127.1\":\"5a:94:ef:e4:0c:dd\",\"192.168.127.2\":\"5a:94:ef:e4:0c:ee\"}\n";
        assertEquals(want, get("/leases").body());
        assertEquals(want, get("/services/dhcp/leases").body());
    }

    @Test
    void tunnelTakesIpv4OrAGuestIpv6Address() {
        assertEquals(dev.gvproxy.stack.wire.Ipv6Address.ofIpv4(0xc0a87f02), ApiHandler.tunnelAddress("192.168.127.2"));
        assertEquals(dev.gvproxy.stack.wire.Ipv6Address.parse("fd00:5a94:efe4::2"),
                ApiHandler.tunnelAddress("[fd00:5a94:efe4::2]"));
        assertEquals(dev.gvproxy.stack.wire.Ipv6Address.parse("fd00:5a94:efe4::2"),
                ApiHandler.tunnelAddress("fd00:5a94:efe4::2"));
        for (String bad : new String[] {"guest.local", "::1", "ff02::1", "::", "fd00::zz", "1.2.3"}) {
            assertEquals(null, ApiHandler.tunnelAddress(bad), bad);
        }
    }

    @Test
    void ipv6LeasesAndNeighbours() {
        api.ipv6(() -> Map.of("fd00:5a94:efe4::2", "5a:94:ef:e4:0c:ee"),
                () -> Map.of("fe80::5894:efff:fee4:cee", "5a:94:ef:e4:0c:ee", "fd00:5a94:efe4::2", "5a:94:ef:e4:0c:ee"));
        assertEquals("{\"fd00:5a94:efe4::2\":\"5a:94:ef:e4:0c:ee\"}\n", get("/services/dhcpv6/leases").body());
        assertEquals("{\"fd00:5a94:efe4::2\":\"5a:94:ef:e4:0c:ee\",\"fe80::5894:efff:fee4:cee\":\"5a:94:ef:e4:0c:ee\"}\n",
                get("/services/ndp/neighbors").body());
        api = ApiContext.builder().offload(Runnable::run);
        assertEquals("{}\n", get("/services/dhcpv6/leases").body(), "no DHCPv6 server: an empty object");
    }

    @Test
    void emptyLeasesAndForwards() {
        api = ApiContext.builder().offload(Runnable::run);
        assertEquals("{}\n", get("/leases").body());
        assertEquals("[]\n", get("/services/forwarder/all").body());
        assertEquals("{}\n", get("/cam").body());
        assertEquals("{\"BytesReceived\":0,\"BytesSent\":0,\"stack\":{}}\n", get("/stats").body());
    }

    @ParameterizedTest
    @CsvSource({"/nope", "/stats/", "/services/forwarder/all/x", "/services/", "/services/dns/nope", "/connect"})
    void unknownPathsAre404(String path) {
        assertGoError(get(path), 404, "404 page not found");
    }

    @Test
    void redirects() {
        Resp r = get("/services");
        assertEquals(301, r.status());
        assertEquals("/services/", r.headers().get("Location"));
        assertEquals("<a href=\"/services/\">Moved Permanently</a>.\n\n", r.body());
        assertEquals("/stats", get("//stats").headers().get("Location"));
        assertEquals("/stats?x=1", get("/a/../stats?x=1").headers().get("Location"));
        Resp p = post("/services", "");
        assertEquals(301, p.status());
        assertEquals("", p.body());
    }

    @Test
    void anyMethodOnReadRoutesAndEmptyHostAccepted() {
        Resp r = post("/stats", "");
        assertEquals(200, r.status());
    }

    // --- forwarder ----------------------------------------------------------------------------------------

    @Test
    void exposeListUnexpose() {
        Resp r = post("/services/forwarder/expose", "{\"local\":\"127.0.0.1:9090\",\"remote\":\"192.168.127.2:8080\"}");
        assertEquals(200, r.status(), r.raw());
        assertEquals("", r.body());
        assertEquals("0", r.headers().get("Content-Length"));
        post("/services/forwarder/expose", "{\"Local\":\":1053\",\"REMOTE\":\"192.168.127.2:53\",\"protocol\":\"udp\"}");
        post("/services/forwarder/expose", "{\"local\":\":1053\",\"remote\":\"192.168.127.2:53\"}");
        // sorted by local (string order: '1' < ':'), then protocol
        assertEquals("[{\"local\":\"127.0.0.1:9090\",\"remote\":\"192.168.127.2:8080\",\"protocol\":\"tcp\"},"
                + "{\"local\":\":1053\",\"remote\":\"192.168.127.2:53\",\"protocol\":\"tcp\"},"
                + "{\"local\":\":1053\",\"remote\":\"192.168.127.2:53\",\"protocol\":\"udp\"}]\n",
                get("/services/forwarder/all").body());
        assertGoError(post("/services/forwarder/expose", "{\"local\":\"127.0.0.1:9090\",\"remote\":\"192.168.127.2:81\"}"),
                500, "proxy already running for tcp on 127.0.0.1:9090");
        Resp u = post("/services/forwarder/unexpose", "{\"local\":\"127.0.0.1:9090\",\"remote\":\"ignored\"}");
        assertEquals(200, u.status());
        assertEquals(List.of("tcp/127.0.0.1:9090"), fwd.closed);
        assertGoError(post("/services/forwarder/unexpose", "{\"local\":\"127.0.0.1:9090\"}"), 500, "proxy not found");
        assertGoError(post("/services/forwarder/unexpose", "{\"local\":\"0.0.0.0:1053\",\"protocol\":\"udp\"}"), 500,
                "proxy not found");
        assertEquals(200, post("/services/forwarder/unexpose", "{\"local\":\":1053\",\"protocol\":\"udp\"}").status());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "''|EOF",
        "'   '|EOF",
        "{|unexpected EOF",
        "'{\"local\":'|unexpected EOF",
        "abc|invalid character 'a' looking for beginning of value",
        "{local:1}|invalid character 'l' looking for beginning of object key string",
        "'{\"local\" 1}'|invalid character '1' after object key",
        "'{\"local\":\"a\" \"b\"}'|invalid character '\"' after object key:value pair",
        "'{\"local\":tru}'|invalid character '}' in literal true (expecting 'e')",
        "'{\"local\":1}'|json: cannot unmarshal number into Go struct field ExposeRequest.local of type string",
        "'{\"protocol\":true}'|json: cannot unmarshal bool into Go struct field ExposeRequest.protocol of type types.TransportProtocol",
        "[]|json: cannot unmarshal array into Go value of type types.ExposeRequest",
        "'{\"local\":\"x\",\"remote\":\"nope\"}'|address nope: missing port in address",
        "'{\"local\":\"x\",\"remote\":\"1:2:3\"}'|address 1:2:3: too many colons in address",
        "'{\"local\":\"x\",\"remote\":\":8080\"}'|missing port in address",
        "'{\"local\":\"x\"}'|missing port in address",
        "'{\"local\":\"x\",\"remote\":\"[::1]:80\"}'|remote [::1]:80: not a guest unicast address",
        "'{\"local\":\"x\",\"remote\":\"[fd00::zz]:80\"}'|remote [fd00::zz]:80: not a valid IPv6 address",
        "'{\"local\":\"x\",\"remote\":\"1.2.3:80\"}'|remote 1.2.3:80: not a valid IPv4 address",
        "'{\"local\":\"x\",\"remote\":\"foo:80\"}'|remote foo:80: host names are not supported, the guest must be given as an IPv4 address",
    })
    void exposeBadRequests(String body, String message) {
        assertGoError(post("/services/forwarder/expose", body), 400, message);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "'{\"local\":\"x\",\"remote\":\"192.168.127.2:99999\"}'|strconv.ParseUint: parsing \"99999\": value out of range",
        "'{\"local\":\"x\",\"remote\":\"192.168.127.2:ab\"}'|strconv.ParseUint: parsing \"ab\": invalid syntax",
        "'{\"local\":\"x\",\"remote\":\"192.168.127.2:80\",\"protocol\":\"xyz\"}'|unknown protocol xyz",
        "'{\"local\":\"/tmp/s\",\"remote\":\"http://x\",\"protocol\":\"unix\"}'|remote protocol for unix forwarder is not implemented: http",
        "'{\"local\":\"/tmp/s\",\"remote\":\"ssh-tunnel://root@192.168.127.2:22/run/p.sock\",\"protocol\":\"unix\"}'|key not provided for unix-ssh connection",
        "'{\"local\":\"/tmp/s\",\"remote\":\"ssh-tunnel://root@192.168.127.2:22?key=/k\",\"protocol\":\"unix\"}'|remote uri must contain a path to a socket file",
        "'{\"local\":\"/tmp/s\",\"remote\":\"tcp://1.2.3:80\",\"protocol\":\"unix\"}'|invalid remote addr",
        "'{\"local\":\"127.0.0.1:7\",\"remote\":\"192.168.127.2:80\"}'|listen tcp 127.0.0.1:7: bind: address already in use",
    })
    void exposeServerErrors(String body, String message) {
        fwd.busy.add("127.0.0.1:7");
        assertGoError(post("/services/forwarder/expose", body), 500, message);
    }

    @Test
    void unixToTcpExposeIsAccepted() {
        Resp r = post("/services/forwarder/expose",
                "{\"protocol\":\"unix\",\"local\":\"/tmp/x.sock\",\"remote\":\"tcp://192.168.127.2:8080\"}");
        assertEquals(200, r.status());
        assertTrue(get("/services/forwarder/all").body().contains("\"protocol\":\"unix\""));
    }

    @ParameterizedTest
    @CsvSource({"/services/forwarder/expose", "/services/forwarder/unexpose", "/services/dns/add"})
    void stateChangingRoutesArePostOnly(String path) {
        assertGoError(get(path), 400, "post only");
    }

    @Test
    void callerIpFillsEmptyRemoteHost() {
        Resp r = post(ApiHandler.Surface.IN_VM, new InetSocketAddress("192.168.127.3", 40000),
                "/services/forwarder/expose", "{\"local\":\":9090\",\"remote\":\":8080\"}");
        assertEquals(200, r.status(), r.raw());
        assertEquals("192.168.127.3:8080", fwd.registry.all().get(0).remote());
    }

    // --- in-VM surface ------------------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({"/stats", "/cam", "/leases", "/services/dns/all", "/services/dhcp/leases", "/tunnel?ip=1.2.3.4&port=1"})
    void inVmServesOnlyTheForwarder(String path) {
        EmbeddedChannel ch = channel(ApiHandler.Surface.IN_VM, new InetSocketAddress("192.168.127.2", 1000));
        try {
            assertGoError(send(ch, "GET " + path + " HTTP/1.1\r\nHost: 192.168.127.1\r\n\r\n"), 404, "404 page not found");
            assertEquals(200, send(ch, "GET /services/forwarder/all HTTP/1.1\r\nHost: x\r\n\r\n").status());
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void inVmBearerToken() {
        api.inVmToken("s3cret-token-with-enough-length!!");
        EmbeddedChannel ch = channel(ApiHandler.Surface.IN_VM, new InetSocketAddress("192.168.127.2", 1000));
        try {
            Resp r = send(ch, "GET /services/forwarder/all HTTP/1.1\r\nHost: x\r\n\r\n");
            assertGoError(r, 401, "unauthorized");
            assertTrue(r.headers().get("WWW-Authenticate").startsWith("Bearer"));
            assertEquals(401, send(ch, "GET /services/forwarder/all HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n").status());
            assertEquals(200, send(ch, "GET /services/forwarder/all HTTP/1.1\r\n"
                    + "Authorization: Bearer s3cret-token-with-enough-length!!\r\n\r\n").status());
        } finally {
            ch.finishAndReleaseAll();
        }
        // the host surfaces never ask for it
        assertEquals(200, get("/services/forwarder/all").status());
    }

    /** Issue 12: the in-VM surface can be read-only (listing only) or off; the host surfaces are unaffected. */
    @Test
    void inVmAccessReadOnlyAndOff() {
        dev.gvproxy.stack.Counters c = new dev.gvproxy.stack.Counters();
        api.apiCounters(c).inVmAccess(ApiContext.InVmAccess.READ_ONLY);
        EmbeddedChannel ch = channel(ApiHandler.Surface.IN_VM, new InetSocketAddress("192.168.127.2", 1000));
        try {
            assertEquals(200, send(ch, "GET /services/forwarder/all HTTP/1.1\r\nHost: x\r\n\r\n").status());
            String body = "{\"local\":\"127.0.0.1:9999\",\"remote\":\":80\"}";
            assertGoError(send(ch, "POST /services/forwarder/expose HTTP/1.1\r\nContent-Length: " + body.length()
                    + "\r\n\r\n" + body), 403, "the in-VM API is read-only");
            assertGoError(send(ch, "POST /services/forwarder/unexpose HTTP/1.1\r\nContent-Length: " + body.length()
                    + "\r\n\r\n" + body), 403, "the in-VM API is read-only");
            assertEquals(2, c.get("api.inVmReadOnly"));
        } finally {
            ch.finishAndReleaseAll();
        }

        api.inVmAccess(ApiContext.InVmAccess.OFF);
        EmbeddedChannel off = channel(ApiHandler.Surface.IN_VM, new InetSocketAddress("192.168.127.2", 1000));
        try {
            assertGoError(send(off, "GET /services/forwarder/all HTTP/1.1\r\nHost: x\r\n\r\n"), 404, "404 page not found");
            assertEquals(1, c.get("api.inVmDisabled"));
        } finally {
            off.finishAndReleaseAll();
        }
        assertEquals(200, get("/services/forwarder/all").status(), "the host API still lists");
    }

    // --- dns ----------------------------------------------------------------------------------------------

    @Test
    void dnsAllIsNullWithoutZonesThenListsInOrderWithMerge() {
        assertEquals("null\n", get("/services/dns/all").body());
        assertEquals(200, post("/services/dns/add",
                "{\"Name\":\"dynamic.internal.\",\"Records\":[{\"Name\":\"test\",\"IP\":\"192.168.127.254\"}]}").status());
        assertEquals(200, post("/services/dns/add", "{\"name\":\"dynamic.testing.\",\"defaultIP\":\"192.168.127.2\"}").status());
        assertEquals(200, post("/services/dns/add",
                "{\"Name\":\"dynamic.internal.\",\"Records\":[{\"Name\":\"test\",\"IP\":\"192.168.127.253\"},"
                        + "{\"Regexp\":\"^a.*\",\"IP\":\"192.168.127.9\"}]}").status());
        assertEquals("[{\"Name\":\"dynamic.internal.\",\"Records\":[{\"Name\":\"test\",\"IP\":\"192.168.127.253\"},"
                + "{\"Name\":\"\",\"IP\":\"192.168.127.9\",\"Regexp\":\"^a.*\"},{\"Name\":\"test\",\"IP\":\"192.168.127.254\"}],"
                + "\"DefaultIP\":\"\"},"
                + "{\"Name\":\"dynamic.testing.\",\"Records\":null,\"DefaultIP\":\"192.168.127.2\"}]\n",
                get("/services/dns/all").body());
    }

    @Test
    void dnsAddAcceptsAnIpv6RecordIp() {
        // Go's net.IP takes either family: an IPv6 IP is an AAAA record, listed back in canonical form.
        assertEquals(200, post("/services/dns/add",
                "{\"Name\":\"v6.test.\",\"Records\":[{\"Name\":\"web\",\"IP\":\"FD00:0::80\"}]}").status());
        assertEquals("[{\"Name\":\"v6.test.\",\"Records\":[{\"Name\":\"web\",\"IP\":\"fd00::80\"}],"
                + "\"DefaultIP\":\"\"}]\n", get("/services/dns/all").body());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "''|EOF",
        "'{\"Name\":\"a.\",\"DefaultIP\":\"300.1.1.1\"}'|invalid IP address: 300.1.1.1",
        "'{\"Name\":\"a.\",\"Records\":[{\"Name\":\"x\",\"IP\":\"fd00::1::2\"}]}'|invalid IP address: fd00::1::2",
        "'{\"Name\":\"a.\",\"DefaultIP\":\"fd00::1\"}'|invalid IP address: fd00::1",
        "'{\"Name\":\"a.\",\"Records\":[{\"Name\":\"x\",\"IP\":\"nope\"}]}'|invalid IP address: nope",
        "'{\"Name\":\"a.\",\"Records\":{}}'|json: cannot unmarshal object into Go struct field Zone.Records of type []types.Record",
        "'{\"Name\":5}'|json: cannot unmarshal number into Go struct field Zone.Name of type string",
    })
    void dnsAddBadRequests(String body, String message) {
        assertGoError(post("/services/dns/add", body), 400, message);
        assertEquals("null\n", get("/services/dns/all").body());
    }

    @Test
    void dnsAddBadRegexp() {
        Resp r = post("/services/dns/add", "{\"Name\":\"a.\",\"Records\":[{\"Regexp\":\"(\",\"IP\":\"1.2.3.4\"}]}");
        assertEquals(400, r.status());
        assertTrue(r.body().startsWith("error parsing regexp: "), r.body());
    }

    // --- tunnel -------------------------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "/tunnel|ip is mandatory",
        "/tunnel?ip=&port=22|ip is mandatory",
        "/tunnel?ip=192.168.127.2|strconv.ParseUint: parsing \"\": invalid syntax",
        "/tunnel?ip=192.168.127.2&port=x|strconv.ParseUint: parsing \"x\": invalid syntax",
        "/tunnel?ip=192.168.127.2&port=65536|strconv.ParseUint: parsing \"65536\": value out of range",
        "/tunnel?ip=192.168.127.2&port=-1|strconv.ParseUint: parsing \"-1\": invalid syntax",
    })
    void tunnelValidationErrorsAre500(String path, String message) {
        assertGoError(get(path), 500, message);
    }

    @Test
    void tunnelRejectsWhatCannotBeAGuestAddress() {
        assertGoError(get("/tunnel?ip=::1&port=22"), 400, "ip must be an IPv4 address or a guest's IPv6 address: ::1");
        assertGoError(get("/tunnel?ip=guest.invalid&port=22"), 400,
                "ip must be an IPv4 address or a guest's IPv6 address: guest.invalid");
    }

    /** A guest-side stream that records what the relay does. */
    static final class FakeStream implements TunnelStream {
        Handler handler;
        final StringBuilder sent = new StringBuilder();
        boolean shutdown;
        boolean aborted;
        int consumed;

        @Override
        public void start(Handler h) {
            handler = h;
        }

        @Override
        public int sendSpace() {
            return 65536;
        }

        @Override
        public void send(ByteBuf data) {
            sent.append(data.toString(StandardCharsets.UTF_8));
            data.release();
        }

        @Override
        public void shutdownOutput() {
            shutdown = true;
        }

        @Override
        public void consumed(int n) {
            consumed += n;
        }

        @Override
        public void abort() {
            aborted = true;
        }
    }

    @Test
    void tunnelAnswersRawOkThenRelaysIncludingBytesSentWithTheRequest() {
        FakeStream stream = new FakeStream();
        CompletableFuture<TunnelStream> dial = new CompletableFuture<>();
        List<String> dialed = new ArrayList<>();
        api.tunneler((ip, port) -> {
            dialed.add(Integer.toHexString(ip) + ":" + port);
            return dial;
        });
        EmbeddedChannel ch = channel(ApiHandler.Surface.FULL, null);
        ch.writeInbound(Unpooled.copiedBuffer("POST /tunnel?ip=192.168.127.2&port=22 HTTP/1.1\r\nHost: \r\n"
                + "User-Agent: Go-http-client/1.1\r\nContent-Length: 0\r\n\r\nSSH-2.0-early", StandardCharsets.UTF_8));
        ch.runPendingTasks();
        ByteBuf ok = ch.readOutbound();
        assertEquals("OK", ok.toString(StandardCharsets.UTF_8));
        ok.release();
        assertNull(ch.readOutbound());
        assertEquals(List.of("c0a87f02:22"), dialed);
        dial.complete(stream);
        ch.runPendingTasks();
        assertEquals("SSH-2.0-early", stream.sent.toString());
        ch.writeInbound(Unpooled.copiedBuffer(" more", StandardCharsets.UTF_8));
        assertEquals("SSH-2.0-early more", stream.sent.toString());
        stream.handler.onData(Unpooled.copiedBuffer("SSH-2.0-guest", StandardCharsets.UTF_8));
        ch.runPendingTasks(); // the relay flushes a batch of guest bytes once the loop task ends
        ByteBuf out = ch.readOutbound();
        assertEquals("SSH-2.0-guest", out.toString(StandardCharsets.UTF_8));
        out.release();
        assertEquals(13, stream.consumed);
        stream.handler.onClosed();
        ch.runPendingTasks();
        assertFalse(ch.isOpen());
        ch.finishAndReleaseAll();
    }

    @Test
    void tunnelDialFailureClosesAfterOk() {
        EmbeddedChannel ch = channel(ApiHandler.Surface.SERVICES, null);
        ch.writeInbound(Unpooled.copiedBuffer("GET /tunnel?ip=192.168.127.2&port=22 HTTP/1.1\r\n\r\n", StandardCharsets.UTF_8));
        ch.runPendingTasks();
        ByteBuf ok = ch.readOutbound();
        assertEquals("OK", ok.toString(StandardCharsets.UTF_8));
        ok.release();
        assertFalse(ch.isOpen());
        ch.finishAndReleaseAll();
    }

    @Test
    void keepAliveServesSeveralRequestsOnOneConnection() {
        EmbeddedChannel ch = channel(ApiHandler.Surface.SERVICES, null);
        try {
            assertEquals(200, send(ch, "GET /cam HTTP/1.1\r\n\r\n").status());
            assertEquals(200, send(ch, postRequest("/services/forwarder/expose",
                    "{\"local\":\"127.0.0.1:9090\",\"remote\":\"192.168.127.2:8080\"}")).status());
            assertEquals(404, send(ch, "GET /x HTTP/1.1\r\n\r\n").status());
            assertTrue(ch.isOpen());
            Resp last = send(ch, "GET /cam HTTP/1.1\r\nConnection: close\r\n\r\n");
            assertEquals("close", last.headers().get("Connection"));
            assertFalse(ch.isOpen());
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void oversizedBodyIsRefused() {
        api.maxBody(64);
        Resp r = post("/services/dns/add", "{\"Name\":\"" + "a".repeat(200) + "\"}");
        assertEquals(413, r.status());
    }
}
