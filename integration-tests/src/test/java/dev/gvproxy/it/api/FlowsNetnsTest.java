package dev.gvproxy.it.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.api.PrometheusText;
import dev.gvproxy.cli.GvproxyMain;
import dev.gvproxy.it.netns.InProcessGvproxy;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import dev.gvproxy.model.GoJson;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The live flow table ({@code GET /services/flows}, issue 12 item 4) with a real namespace guest: a TCP transfer
 * from the guest to a server on the host's 127.0.0.1 shows as one flow whose byte counts grow, the
 * {@code gvproxy-java flows} subcommand prints it, {@code /metrics} counts it, and after the close it is gone
 * (through TIME-WAIT when the host closed first).
 */
class FlowsNetnsTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    private Path api;
    private GvproxyMain.Running running;
    private CompletableFuture<Integer> exit;

    @BeforeEach
    void start() throws Exception {
        NetnsGuest.assumeSupported();
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "needs curl (apt install curl)");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "needs socat (apt install socat)");
        api = dir.resolve("api.sock");
        String[] args = {"-listen", "unix://" + api, "-ssh-port", Integer.toString(CurlApiTest.freePort())};
        InProcessGvproxy gv = InProcessGvproxy.start(Duration.ofSeconds(60), args);
        running = gv.running();
        exit = gv.exit();
    }

    @AfterEach
    void stop() throws Exception {
        if (running != null) {
            running.stop("test done");
            assertEquals(0, exit.get(60, TimeUnit.SECONDS));
        }
    }

    /** The matching flows from {@code /services/flows?<query>}. */
    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> flows(String query) throws Exception {
        CurlApiTest.Reply r = CurlApiTest.curl(api, "GET", "/services/flows?" + query, null);
        assertEquals(200, r.status(), r.body());
        Map<String, Object> doc = (Map<String, Object>) GoJson.decode(r.body());
        assertEquals(Boolean.FALSE, doc.get("truncated"), r.body());
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object o : (List<Object>) doc.get("flows")) {
            out.add((Map<String, Object>) o);
        }
        return out;
    }

    private static long num(Map<String, Object> flow, String key) {
        return ((BigDecimal) flow.get(key)).longValueExact();
    }

    @Test
    void transferShowsGrowingCountsThenLeavesTheTable() throws Exception {
        NetnsGuest g = guests.start(NetnsGuest.builder("unix://" + api));
        String guestIp = g.awaitAddress(Duration.ofSeconds(60));
        try (ServerSocket server = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
            int port = server.getLocalPort();
            String guestQuery = "guest=" + guestIp + "&protocol=tcp";
            // The guest's client: what the test writes to socat's stdin goes to the host server.
            Process client = g.spawn("socat", "-u", "STDIN", "TCP:192.168.127.254:" + port);
            server.setSoTimeout(30_000);
            AtomicLong received = new AtomicLong();
            CompletableFuture<Void> reader;
            Socket accepted = server.accept();
            reader = CompletableFuture.runAsync(() -> {
                byte[] buf = new byte[65536];
                try (InputStream in = accepted.getInputStream()) {
                    for (int n; (n = in.read(buf)) >= 0; ) {
                        received.addAndGet(n);
                    }
                } catch (java.io.IOException e) {
                    // the test's asserts say what went wrong
                }
            });
            OutputStream guestStdin = client.getOutputStream(); // socat sends it from the guest
            byte[] chunk = new byte[100_000];

            guestStdin.write(chunk);
            guestStdin.flush();
            NetnsGuest.await(WAIT, "100 kB at the host server", () -> received.get() >= 100_000, g::diagnostics);
            List<Map<String, Object>> first = flows(guestQuery);
            assertEquals(1, first.size(), first::toString);
            Map<String, Object> f = first.get(0);
            assertEquals("tcp", f.get("protocol"));
            assertEquals("ESTABLISHED", f.get("state"));
            assertEquals("192.168.127.254:" + port, f.get("destination"));
            assertTrue(((String) f.get("guest")).startsWith(guestIp + ":"), f::toString);
            assertEquals("127.0.0.1:" + port, f.get("hostRemote"));
            assertEquals("127.0.0.1:" + accepted.getPort(), f.get("hostLocal"));
            assertEquals(g.mac(), f.get("mac"));
            assertNotNull(f.get("switchPort"), f::toString);
            long bytes1 = num(f, "bytesFromGuest");
            assertTrue(bytes1 >= 100_000, f::toString);
            assertTrue(num(f, "packetsFromGuest") > 2 && num(f, "packetsToGuest") > 1, f::toString);

            guestStdin.write(chunk);
            guestStdin.flush();
            NetnsGuest.await(WAIT, "200 kB at the host server", () -> received.get() >= 200_000, g::diagnostics);
            Map<String, Object> second = flows(guestQuery).get(0);
            assertEquals(f.get("guest"), second.get("guest"));
            assertTrue(num(second, "bytesFromGuest") >= bytes1 + 100_000, () -> first + " then " + second);
            assertTrue(num(second, "ageMillis") >= num(f, "ageMillis"), second::toString);

            // Filters: the state matches case-insensitively; other protocols and states match nothing here.
            assertEquals(1, flows(guestQuery + "&state=established").size());
            assertEquals(0, flows(guestQuery + "&state=TIME-WAIT").size());
            assertEquals(0, flows("guest=198.18.0.9").size());
            assertEquals(400, CurlApiTest.curl(api, "GET", "/services/flows?limit=0", null).status());
            assertEquals(400, CurlApiTest.curl(api, "GET", "/services/flows?protocol=sctp", null).status());

            // The subcommand prints the flow as a table.
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int status = GvproxyMain.run(new String[] {"flows", "--api", "unix://" + api, "--protocol", "tcp"},
                    new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
            String table = out.toString(StandardCharsets.UTF_8);
            assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
            System.out.print(table);
            assertTrue(table.startsWith("Proto  State"), table);
            assertTrue(table.lines().anyMatch(l -> l.startsWith("tcp ") && l.contains("ESTABLISHED")
                    && l.contains("192.168.127.254:" + port) && l.contains("127.0.0.1:" + port)), table);

            // /metrics counts it among the established TCP flows, and the guest's port carried the frames.
            PrometheusText m = PrometheusText.parse(CurlApiTest.curl(api, "GET", "/metrics", null).body());
            assertTrue(m.value("gvproxy_flows{protocol=\"tcp\",state=\"ESTABLISHED\"}") >= 1);
            assertTrue(m.value("gvproxy_switch_ports") >= 1);

            // The guest closes first: the gateway passes through LAST-ACK to CLOSED (the guest keeps TIME-WAIT).
            guestStdin.close();
            reader.get(30, TimeUnit.SECONDS);
            accepted.close();
            NetnsGuest.await(WAIT, "the flow to leave the table", () -> {
                try {
                    return flows(guestQuery).isEmpty();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, g::diagnostics);
            assertTrue(client.waitFor(30, TimeUnit.SECONDS));

            // The host closes first: the gateway holds TIME-WAIT (2 s in this stack), listed as such, then drops it.
            Process second2 = g.spawn("socat", "-u", "TCP:192.168.127.254:" + port, "STDOUT");
            try (Socket s = server.accept()) {
                s.getOutputStream().write("bye".getBytes(StandardCharsets.US_ASCII));
            }
            NetnsGuest.await(WAIT, "the closed flow in TIME-WAIT", () -> {
                try {
                    return flows(guestQuery + "&state=time-wait").size() == 1;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, g::diagnostics);
            NetnsGuest.await(WAIT, "TIME-WAIT to end", () -> {
                try {
                    return flows(guestQuery).isEmpty();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, g::diagnostics);
            assertTrue(second2.waitFor(30, TimeUnit.SECONDS));
        }
    }
}
