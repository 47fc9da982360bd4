package dev.gvproxy.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code GET /metrics}: the Prometheus text exposition of the counters, gauges and JVM metrics (issue 12 item 5). */
class MetricsRouteTest {
    private final Map<String, Long> counters = new TreeMap<>(Map.of("ipv4.badChecksum", 3L, "ipv4.in.datagrams", 7L,
            "tcp.out.resets", 2L, "udp.flow.created", 5L));
    private final NetworkObservation observation = new NetworkObservation(
            List.of(new NetworkObservation.Port(0, "unix:///tmp/qemu.sock \"vm\"", 10, 1000, 12, 1500)),
            Map.of("tcp", Map.of("ESTABLISHED", 2, "TIME-WAIT", 1), "udp", Map.of("open", 4), "icmp", Map.of("open", 0)),
            3, 1);
    private final ApiContext api = ApiContext.builder()
            .stats(() -> 120, () -> 340, () -> counters)
            .leases(() -> Map.of("192.168.127.2", "5a:94:ef:e4:0c:ee", "192.168.127.1", "5a:94:ef:e4:0c:dd"))
            .observation(() -> observation)
            .offload(Runnable::run)
            .build();

    record Resp(int status, String contentType, String body) {}

    private Resp get(ApiHandler.Surface surface, String path) {
        EmbeddedChannel ch = new EmbeddedChannel(false, false);
        ch.pipeline().addLast(new HttpServerCodec(), new ApiHandler(api, surface));
        try {
            ch.register();
            ch.writeInbound(Unpooled.copiedBuffer("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n",
                    StandardCharsets.UTF_8));
            ch.runPendingTasks();
            StringBuilder raw = new StringBuilder();
            for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
                raw.append(b.toString(StandardCharsets.UTF_8));
                b.release();
            }
            String s = raw.toString();
            int end = s.indexOf("\r\n\r\n");
            String head = s.substring(0, end);
            String type = head.lines().filter(l -> l.regionMatches(true, 0, "content-type:", 0, 13))
                    .map(l -> l.substring(13).trim()).findFirst().orElse(null);
            return new Resp(Integer.parseInt(head.split(" ")[1]), type, s.substring(end + 4));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void hostApiServesTheTextExposition() throws Exception {
        for (ApiHandler.Surface surface : List.of(ApiHandler.Surface.FULL, ApiHandler.Surface.SERVICES)) {
            Resp r = get(surface, "/metrics");
            assertEquals(200, r.status(), r.body());
            assertEquals("text/plain; version=0.0.4; charset=utf-8", r.contentType());
            PrometheusText m = PrometheusText.parse(r.body());
            assertEquals(3, m.value("gvproxy_ipv4_bad_checksum_total"));
            assertEquals(7, m.value("gvproxy_ipv4_in_datagrams_total"));
            assertEquals(2, m.value("gvproxy_tcp_out_resets_total"));
            assertEquals("counter", m.types.get("gvproxy_tcp_out_resets_total"));
            // a name ending in a suffix Prometheus reserves gets "_events"
            assertEquals(5, m.value("gvproxy_udp_flow_created_events_total"));
            assertEquals(120, m.value("gvproxy_bytes_sent_total"));
            assertEquals(340, m.value("gvproxy_bytes_received_total"));
            assertEquals(10, m.value("gvproxy_port_frames_total{direction=\"in\",name=\"unix:///tmp/qemu.sock "
                    + "\\\"vm\\\"\",port=\"0\"}"));
            assertEquals(1500, m.value("gvproxy_port_bytes_total{direction=\"out\",name=\"unix:///tmp/qemu.sock "
                    + "\\\"vm\\\"\",port=\"0\"}"));
            assertEquals(2, m.value("gvproxy_flows{protocol=\"tcp\",state=\"ESTABLISHED\"}"));
            assertEquals(1, m.value("gvproxy_flows{protocol=\"tcp\",state=\"TIME-WAIT\"}"));
            assertEquals(4, m.value("gvproxy_flows{protocol=\"udp\",state=\"open\"}"));
            assertEquals(2, m.value("gvproxy_dhcp_leases"));
            assertEquals(3, m.value("gvproxy_cam_entries"));
            assertEquals(1, m.value("gvproxy_tcp_connects_in_flight"));
            assertEquals(1, m.value("gvproxy_switch_ports"));
            // the JVM's own metrics (JvmMetrics): memory and threads
            assertTrue(m.value("jvm_memory_used_bytes{area=\"heap\"}") > 0);
            assertTrue(m.value("jvm_threads_current") > 0);
            String promtool = PrometheusText.promtool(r.body());
            System.out.println(promtool == null
                    ? "promtool not installed (Debian package prometheus): strict in-test parse only"
                    : "promtool check metrics parsed it; lint: " + promtool);
        }
    }

    @Test
    void neverOnTheInVmApi() {
        for (String path : List.of("/metrics", "/services/flows", "/services/flows?protocol=tcp")) {
            Resp r = get(ApiHandler.Surface.IN_VM, path);
            assertEquals(404, r.status(), path);
            assertEquals("404 page not found\n", r.body());
        }
    }

    @Test
    void flowsWithoutANetworkAnswerAnEmptyBoundedTable() {
        Resp r = get(ApiHandler.Surface.SERVICES, "/services/flows?protocol=UDP&limit=5");
        assertEquals(200, r.status(), r.body());
        assertEquals("{\"matched\":0,\"returned\":0,\"limit\":5,\"truncated\":false,\"flows\":[]}\n", r.body());
        assertEquals(400, get(ApiHandler.Surface.SERVICES, "/services/flows?limit=10001").status());
        assertEquals(400, get(ApiHandler.Surface.SERVICES, "/services/flows?guest=::1").status());
    }

    @ParameterizedTest
    @CsvSource({
        "ipv4.badChecksum, gvproxy_ipv4_bad_checksum",
        "tcp.out.resets, gvproxy_tcp_out_resets",
        "switch.macMoveDenied, gvproxy_switch_mac_move_denied",
        "icmp.outTTL, gvproxy_icmp_out_ttl",
        "api.idleClosed, gvproxy_api_idle_closed",
        "x.y-z, gvproxy_x_y_z",
        "tcp.total, gvproxy_tcp_total_events",
    })
    void counterNames(String counter, String name) {
        assertEquals(name, PrometheusMetrics.counterName(counter));
    }

    @Test
    void strictParserRejectsMalformedText() {
        for (String bad : List.of("# TYPE a counter\na_total 1\n", "a 1\n", "# TYPE a gauge\na{b=\"1} 2\n",
                "# TYPE a gauge\na 1\na 2\n", "# TYPE a gauge\na one\n", "# TYPE a gauge\na 1")) {
            try {
                PrometheusText.parse(bad);
                throw new AssertionError("accepted: " + bad);
            } catch (IllegalArgumentException expected) {
                // refused, as it must be
            }
        }
        assertEquals(1, PrometheusText.parse("# TYPE a_total counter\na_total 1\n").value("a_total"));
    }
}
