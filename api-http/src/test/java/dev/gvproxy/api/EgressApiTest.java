package dev.gvproxy.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.forwarder.EgressFilter;
import dev.gvproxy.forwarder.EgressPolicy;
import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code /services/egress} through Netty's HTTP codec: the list as JSON, replacement with validation and the close
 * flag, per-rule counts in {@code /stats}, and no trace of it on the in-VM surface.
 */
class EgressApiTest {
    /** A network's policy, in memory: records what the API asked. */
    static final class FakeEgress implements ApiContext.Egress {
        final Counters counters = new Counters();
        final EgressFilter filter = new EgressFilter(counters, EgressPolicy.ALLOW_ALL);
        final List<Boolean> closes = new ArrayList<>();
        int closedAnswer;

        @Override
        public EgressPolicy policy() {
            return filter.policy();
        }

        @Override
        public CompletionStage<Integer> replace(EgressPolicy policy, boolean closeDenied) {
            filter.replace(policy);
            closes.add(closeDenied);
            return CompletableFuture.completedFuture(closeDenied ? closedAnswer : 0);
        }

        @Override
        public List<EgressFilter.RuleHits> ruleHits() {
            return filter.ruleHits();
        }
    }

    final FakeEgress egress = new FakeEgress();

    record Resp(int status, String head, String body) {}

    private Resp send(ApiHandler.Surface surface, boolean withEgress, String raw) {
        ApiContext.Builder b = ApiContext.builder().offload(Runnable::run)
                .stats(() -> 0, () -> 0, egress.counters::snapshot);
        if (withEgress) {
            b.egress(egress);
        }
        EmbeddedChannel ch = new EmbeddedChannel(false, false);
        ch.pipeline().addLast(new HttpServerCodec(), new ApiHandler(b.build(), surface));
        try {
            ch.register();
            ch.writeInbound(Unpooled.copiedBuffer(raw, StandardCharsets.UTF_8));
            ch.runPendingTasks();
            StringBuilder out = new StringBuilder();
            ByteBuf buf;
            while ((buf = ch.readOutbound()) != null) {
                out.append(buf.toString(StandardCharsets.UTF_8));
                buf.release();
            }
            String s = out.toString();
            int end = s.indexOf("\r\n\r\n");
            return new Resp(Integer.parseInt(s.substring(0, end).split(" ")[1]), s.substring(0, end), s.substring(end + 4));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    private Resp get(ApiHandler.Surface surface, String path) {
        return send(surface, true, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    private Resp post(ApiHandler.Surface surface, String path, String body) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return send(surface, true, "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + b.length + "\r\n\r\n"
                + body);
    }

    static final String RULES = "[{\"action\":\"allow\",\"cidr\":\"192.168.127.254\"},"
            + "{\"action\":\"deny\",\"cidr\":\"10.0.0.0/8\",\"protocol\":\"TCP\",\"ports\":\"22, 8000-8999\"},"
            + "{\"action\":\"deny\",\"cidr\":\"198.18.0.0/15\",\"protocol\":\"udp\",\"ports\":53}]";

    @Test
    void theListIsReadAndReplacedInTheYamlShape() {
        Resp empty = get(ApiHandler.Surface.FULL, "/services/egress");
        assertEquals(200, empty.status());
        assertEquals("[]\n", empty.body());

        Resp r = post(ApiHandler.Surface.SERVICES, "/services/egress", RULES);
        assertEquals(200, r.status(), r.body());
        assertEquals("{\"rules\":3,\"closed\":0}\n", r.body());
        assertEquals(List.of(false), egress.closes, "existing flows are kept unless asked");

        String canonical = "[{\"action\":\"allow\",\"cidr\":\"192.168.127.254/32\",\"protocol\":\"any\"},"
                + "{\"action\":\"deny\",\"cidr\":\"10.0.0.0/8\",\"protocol\":\"tcp\",\"ports\":\"22,8000-8999\"},"
                + "{\"action\":\"deny\",\"cidr\":\"198.18.0.0/15\",\"protocol\":\"udp\",\"ports\":\"53\"}]";
        assertEquals(canonical + "\n", get(ApiHandler.Surface.FULL, "/services/egress").body());

        // What GET answers, POST reads back; ?close=true closes what the new rules deny.
        EgressPolicy before = egress.policy();
        egress.closedAnswer = 2;
        assertEquals("{\"rules\":3,\"closed\":2}\n",
                post(ApiHandler.Surface.FULL, "/services/egress?close=true", canonical).body());
        assertEquals(before, egress.policy());
        assertEquals(List.of(false, true), egress.closes);

        assertEquals("{\"rules\":0,\"closed\":0}\n", post(ApiHandler.Surface.FULL, "/services/egress", "[]").body());
        assertSame(EgressPolicy.ALLOW_ALL, egress.policy());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "[{\"action\":\"deny\",\"cidr\":\"10.0.0.0/33\"}] | egress[0].cidr: \"10.0.0.0/33\": prefix length 33 is not between 0 and 32",
        "[{\"action\":\"deny\",\"cidr\":\"10.0.0.0/8\",\"protocol\":\"sctp\"}] | egress[0].protocol: \"sctp\": must be tcp, udp, icmp or any",
        "[{\"action\":\"deny\",\"cidr\":\"10.0.0.0/8\",\"ports\":\"99999\"}] | egress[0].ports: \"99999\": port 99999 is not between 1 and 65535",
        "[{\"action\":\"drop\",\"cidr\":\"10.0.0.0/8\"}] | egress[0].action: \"drop\": must be allow or deny",
        "[{\"action\":\"deny\",\"cidr\":\"10.0.0.0/8\",\"port\":22}] | egress[0]: unknown field \"port\" (a rule has action, cidr, protocol and ports)",
        "{\"action\":\"deny\",\"cidr\":\"10.0.0.0/8\"} | egress: expected a JSON array of rules ([{\"action\":\"deny\",\"cidr\":\"10.0.0.0/8\"}], [] for none), got object",
        "null | egress: expected a JSON array of rules ([{\"action\":\"deny\",\"cidr\":\"10.0.0.0/8\"}], [] for none), got null",
        "[ | unexpected EOF",
    })
    void badRulesAre400WithTheFieldAtFaultAndChangeNothing(String body, String message) {
        Resp r = post(ApiHandler.Surface.FULL, "/services/egress?close=true", body);
        assertEquals(400, r.status(), r.body());
        assertEquals(message + "\n", r.body());
        assertSame(EgressPolicy.ALLOW_ALL, egress.policy());
        assertTrue(egress.closes.isEmpty());
    }

    @Test
    void theCloseFlagAndTheMethodAreChecked() {
        Resp r = post(ApiHandler.Surface.FULL, "/services/egress?close=yes", "[]");
        assertEquals(400, r.status());
        assertEquals("close must be true or false, got \"yes\"\n", r.body());
        Resp put = send(ApiHandler.Surface.FULL, true, "PUT /services/egress HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]");
        assertEquals(405, put.status());
        assertTrue(put.head().contains("Allow: GET, HEAD, POST"), put.head());
        assertTrue(egress.closes.isEmpty());
    }

    @Test
    void statsShowEachRulesCount() {
        post(ApiHandler.Surface.FULL, "/services/egress", RULES);
        egress.filter.deniesIpv4(EgressPolicy.Protocol.TCP, dev.gvproxy.testing.Frames.ip("10.1.1.1"), 22);
        egress.filter.deniesIpv4(EgressPolicy.Protocol.TCP, dev.gvproxy.testing.Frames.ip("192.168.127.254"), 22);
        String stats = get(ApiHandler.Surface.FULL, "/stats").body();
        assertTrue(stats.contains("\"egress\":{\"denied\":1,\"denied.icmp\":0,\"denied.ipv6\":0,\"denied.tcp\":1,\"denied.udp\":0,"
                + "\"flowsClosed\":0,\"policyReplaced\":1,\"rule.0.allowed\":1,\"rule.1.denied\":1,\"rule.2.denied\":0}"),
                stats);
    }

    /** A guest can neither read nor change the policy that confines it (issue 12: host API only). */
    @Test
    void theInVmSurfaceHasNoEgressRoute() {
        post(ApiHandler.Surface.FULL, "/services/egress", RULES);
        EgressPolicy set = egress.policy();
        Resp read = get(ApiHandler.Surface.IN_VM, "/services/egress");
        assertEquals(404, read.status());
        assertEquals("404 page not found\n", read.body());
        Resp loosen = post(ApiHandler.Surface.IN_VM, "/services/egress?close=true", "[]");
        assertEquals(404, loosen.status());
        assertSame(set, egress.policy(), "unchanged");
        assertEquals(List.of(false), egress.closes);
        assertEquals(404, get(ApiHandler.Surface.IN_VM, "/stats").status(), "nor the counts that would reveal it");
    }

    @Test
    void withoutAPolicyTheRouteDoesNotExist() {
        Resp r = send(ApiHandler.Surface.FULL, false, "GET /services/egress HTTP/1.1\r\nHost: x\r\n\r\n");
        assertEquals(404, r.status());
    }
}
