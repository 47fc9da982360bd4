package dev.gvproxy.it.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.cli.GvproxyMain;
import dev.gvproxy.it.netns.InProcessGvproxy;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The API of a running gvproxy-java (legacy mode, no guest) driven with the real {@code curl --unix-socket}, as
 * podman's client and upstream's tests do (spec 4, 7.1 scenarios that need no guest).
 */
class CurlApiTest {
    static Path dir;
    static Path api;
    static Path services;
    static GvproxyMain.Running running;
    static CompletableFuture<Integer> exit;

    @BeforeAll
    static void start() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "curl is not installed (apt install curl)");
        dir = Files.createTempDirectory("gvj-api");
        api = dir.resolve("api.sock");
        services = dir.resolve("services.sock");
        String[] args = {"-listen", "unix://" + api, "-services", "unix://" + services, "-ssh-port", Integer.toString(freePort())};
        InProcessGvproxy gv = InProcessGvproxy.start(Duration.ofSeconds(30), args);
        running = gv.running();
        exit = gv.exit();
    }

    @AfterAll
    static void stop() throws Exception {
        if (running != null) {
            running.stop("signal caught");
            assertEquals(0, exit.get(30, TimeUnit.SECONDS));
            assertTrue(!Files.exists(api) && !Files.exists(services), "API sockets removed");
        }
        if (dir != null) {
            Files.deleteIfExists(dir);
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    record Reply(int status, String body) {}

    /** {@code curl -s --unix-socket <sock> [-X POST -d body] http://gvproxy<path>}; status from {@code -w}. */
    static Reply curl(Path sock, String method, String path, String body, String... extra) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("curl", "-s", "--max-time", "10", "--unix-socket", sock.toString(),
                "-w", "\n%{http_code}", "-X", method));
        if (body != null) {
            cmd.addAll(List.of("-d", body));
        }
        cmd.addAll(List.of(extra));
        cmd.add("http://gvproxy" + path);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertTrue(p.waitFor(20, TimeUnit.SECONDS));
        int nl = out.lastIndexOf('\n');
        return new Reply(Integer.parseInt(out.substring(nl + 1).trim()), out.substring(0, nl));
    }

    static Reply get(String path) throws Exception {
        return curl(api, "GET", path, null);
    }

    static Reply post(String path, String body) throws Exception {
        return curl(api, "POST", path, body);
    }

    @Test
    void statsCamLeases() throws Exception {
        Reply stats = get("/stats");
        assertEquals(200, stats.status());
        assertTrue(stats.body().startsWith("{\"BytesReceived\":0,\"BytesSent\":0,\"stack\":{"), stats.body());
        assertEquals(new Reply(200, "{}\n"), get("/cam"));
        // upstream DHCP scenario: the gateway and the default guest's reservation are listed
        Reply leases = curl(services, "GET", "/services/dhcp/leases", null);
        assertEquals(200, leases.status());
        assertTrue(leases.body().contains("\"192.168.127.1\":\"5a:94:ef:e4:0c:dd\""), leases.body());
        assertTrue(leases.body().contains("\"192.168.127.2\":\"5a:94:ef:e4:0c:ee\""), leases.body());
        assertEquals(leases, get("/leases"));
    }

    @Test
    void dnsAddAndList() throws Exception {
        Reply all = get("/services/dns/all");
        // Upstream's two records per zone, then the same names' AAAA records (the gateway's and the host alias's
        // IPv6 addresses): additive, the shape is unchanged.
        assertTrue(all.body().startsWith("[{\"Name\":\"containers.internal.\",\"Records\":[{\"Name\":\"gateway\","
                + "\"IP\":\"192.168.127.1\"},{\"Name\":\"host\",\"IP\":\"192.168.127.254\"},"
                + "{\"Name\":\"gateway\",\"IP\":\"fd00:5a94:efe4::1\"},"
                + "{\"Name\":\"host\",\"IP\":\"fd00:5a94:efe4:0:ffff:ffff:ffff:fffe\"}],\"DefaultIP\":\"\"},"
                + "{\"Name\":\"docker.internal.\""), all.body());
        assertEquals(new Reply(200, ""), post("/services/dns/add",
                "{\"Name\":\"dynamic.internal.\",\"Records\":[{\"Name\":\"test\",\"IP\":\"192.168.127.254\"}]}"));
        assertEquals(new Reply(200, ""), post("/services/dns/add",
                "{\"Name\":\"dynamic.internal.\",\"Records\":[{\"Name\":\"test\",\"IP\":\"192.168.127.253\"}]}"));
        String body = get("/services/dns/all").body();
        assertTrue(body.contains("{\"Name\":\"dynamic.internal.\",\"Records\":[{\"Name\":\"test\",\"IP\":\"192.168.127.253\"},"
                + "{\"Name\":\"test\",\"IP\":\"192.168.127.254\"}],\"DefaultIP\":\"\"}"), body);
        assertEquals(new Reply(400, "post only\n"), get("/services/dns/add"));
        assertEquals(new Reply(400, "invalid IP address: x\n"),
                post("/services/dns/add", "{\"Name\":\"bad.\",\"DefaultIP\":\"x\"}"));
    }

    @Test
    void exposeListUnexpose() throws Exception {
        int port = freePort();
        String local = "127.0.0.1:" + port;
        assertEquals(new Reply(200, ""), post("/services/forwarder/expose",
                "{\"local\":\"" + local + "\",\"remote\":\"192.168.127.2:8080\"}"));
        Reply list = get("/services/forwarder/all");
        assertTrue(list.body().contains("{\"local\":\"" + local + "\",\"remote\":\"192.168.127.2:8080\",\"protocol\":\"tcp\"}"),
                list.body());
        // The host listener exists: a client is accepted (and closed, since no guest answers).
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(15000);
            assertEquals(-1, s.getInputStream().read());
        }
        assertEquals(new Reply(500, "proxy already running for tcp on " + local + "\n"), post("/services/forwarder/expose",
                "{\"local\":\"" + local + "\",\"remote\":\"192.168.127.2:8080\"}"));
        assertEquals(new Reply(200, ""), post("/services/forwarder/unexpose", "{\"local\":\"" + local + "\"}"));
        assertThrows(ConnectException.class, () -> new Socket(InetAddress.getLoopbackAddress(), port).close());
        assertEquals(new Reply(500, "proxy not found\n"), post("/services/forwarder/unexpose", "{\"local\":\"" + local + "\"}"));
    }

    @Test
    void exposeOfABusyPortFails() throws Exception {
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            String local = "127.0.0.1:" + busy.getLocalPort();
            assertEquals(new Reply(500, "listen tcp " + local + ": bind: address already in use\n"),
                    post("/services/forwarder/expose", "{\"local\":\"" + local + "\",\"remote\":\"192.168.127.2:80\"}"));
        }
    }

    @Test
    void errorStatusesAndBodies() throws Exception {
        assertEquals(new Reply(404, "404 page not found\n"), get("/nope"));
        assertEquals(new Reply(404, "404 page not found\n"), curl(services, "POST", "/connect", ""));
        assertEquals(new Reply(400, "post only\n"), get("/services/forwarder/expose"));
        assertEquals(new Reply(400, "EOF\n"), post("/services/forwarder/expose", ""));
        assertEquals(new Reply(400, "invalid character 'x' looking for beginning of value\n"),
                post("/services/forwarder/expose", "x"));
        // from a unix-socket caller an empty remote host cannot be filled in
        assertEquals(new Reply(400, "missing port in address\n"),
                post("/services/forwarder/expose", "{\"local\":\":9999\",\"remote\":\":8080\"}"));
        assertEquals(400, post("/services/forwarder/expose", "{\"local\":\":9999\",\"remote\":\"[::1]:8080\"}").status());
        assertEquals(400, post("/services/forwarder/expose", "{\"local\":\":9999\",\"remote\":\"guest.local:8080\"}").status());
        assertEquals(new Reply(500, "unknown protocol sctp\n"),
                post("/services/forwarder/expose", "{\"local\":\":9999\",\"remote\":\"192.168.127.2:1\",\"protocol\":\"sctp\"}"));
        assertEquals(new Reply(500, "ip is mandatory\n"), get("/tunnel"));
        assertEquals(new Reply(500, "strconv.ParseUint: parsing \"x\": invalid syntax\n"), get("/tunnel?ip=192.168.127.2&port=x"));
        assertEquals(301, get("/services").status());
    }

    @Test
    void tunnelAnswersRawOk() throws Exception {
        // No guest and no active open yet: gvproxy's behaviour on a failed dial, "OK" then EOF.
        Reply r = curl(api, "POST", "/tunnel?ip=192.168.127.2&port=22", null, "--http0.9");
        assertEquals("OK", r.body());
    }

    // --- GET /metrics (issue 12 item 5) -------------------------------------------------------------------

    /** {@code curl --unix-socket API http://x/metrics}: the text parses strictly (and with promtool when present). */
    @Test
    void metricsWithCurl() throws Exception {
        assertEquals(400, post("/services/dns/add", "[").status()); // one api.badRequest at least
        Reply stats = get("/stats");
        java.util.regex.Matcher bad = java.util.regex.Pattern.compile("\"api\":\\{[^}]*\"badRequest\":([0-9]+)")
                .matcher(stats.body());
        assertTrue(bad.find(), stats.body());
        for (Path sock : List.of(api, services)) {
            Reply r = curl(sock, "GET", "/metrics", null);
            assertEquals(200, r.status(), r.body());
            dev.gvproxy.api.PrometheusText m = dev.gvproxy.api.PrometheusText.parse(r.body());
            assertEquals(Double.parseDouble(bad.group(1)), m.value("gvproxy_api_bad_request_total"));
            assertEquals(0, m.value("gvproxy_switch_ports"));
            assertEquals(0, m.value("gvproxy_flows{protocol=\"udp\",state=\"open\"}"));
            assertEquals(2, m.value("gvproxy_dhcp_leases")); // the gateway and the default guest's reservation
            assertTrue(m.value("jvm_memory_used_bytes{area=\"heap\"}") > 0);
            assertTrue(m.value("jvm_threads_current") > 0);
            String promtool = dev.gvproxy.api.PrometheusText.promtool(r.body());
            System.out.println(promtool == null ? "promtool not installed: strict in-test parse only"
                    : "promtool check metrics parsed it; lint: " + promtool);
        }
        // -debug's diagnostics routes are not served without -debug (DebugNetnsTest runs with it).
        assertEquals(404, get("/debug/threads").status());
        assertEquals(404, get("/debug/jfr?seconds=1").status());
    }
}
