package dev.gvproxy.it.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.cli.GvproxyMain;
import dev.gvproxy.it.netns.InProcessGvproxy;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * gvproxy-java {@code -debug} with a real namespace guest (issue 12 item 3): the 5 s traffic summary shows the
 * guest's port and its DHCP traffic, and the host API serves {@code /debug/threads} and {@code /debug/jfr}
 * (without {@code -debug} they are 404: {@code CurlApiTest}).
 */
class DebugNetnsTest {
    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    @Test
    void trafficSummaryAndDiagnosticsRoutes() throws Exception {
        NetnsGuest.assumeSupported();
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "needs curl (apt install curl)");
        List<String> summaries = new CopyOnWriteArrayList<>();
        Logger traffic = Logger.getLogger("gvproxy.traffic");
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                summaries.add(r.getMessage());
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        traffic.addHandler(capture);
        Path api = dir.resolve("api.sock");
        InProcessGvproxy gv = InProcessGvproxy.start(Duration.ofSeconds(60), "-debug", "-listen", "unix://" + api,
                "-ssh-port", Integer.toString(CurlApiTest.freePort()));
        GvproxyMain.Running running = gv.running();
        CompletableFuture<Integer> exit = gv.exit();
        try {
            NetnsGuest g = guests.start(NetnsGuest.builder("unix://" + api));
            g.awaitAddress(Duration.ofSeconds(60));
            // The first summary after the guest's DHCP exchange names its port and the counters that moved.
            NetnsGuest.await(Duration.ofSeconds(20), "a traffic summary with the guest's port and its DHCP",
                    () -> summaries.stream().anyMatch(s -> s.startsWith("traffic in the last 5.0 s: port 0 (")
                            && s.contains(" dhcp.ack +")),
                    () -> summaries + "\n" + g.diagnostics());
            String line = summaries.stream().filter(s -> s.contains(" dhcp.ack +")).findFirst().orElseThrow();
            assertTrue(line.matches(".*port 0 \\([^)]*\\) in [1-9][0-9]* frames [1-9][0-9]* B.*"), line);
            assertTrue(line.contains(" Flows tcp +"), line);

            CurlApiTest.Reply threads = CurlApiTest.curl(api, "GET", "/debug/threads", null);
            assertEquals(200, threads.status());
            assertTrue(threads.body().contains("\"main\""), threads.body());
            Path jfr = dir.resolve("rec.jfr");
            CurlApiTest.Reply rec = CurlApiTest.curl(api, "GET", "/debug/jfr?seconds=1", null, "-o", jfr.toString());
            assertEquals(200, rec.status());
            byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(jfr), 4);
            assertEquals("FLR", new String(head, 0, 3, java.nio.charset.StandardCharsets.US_ASCII));
        } finally {
            traffic.removeHandler(capture);
            running.stop("test done");
            assertEquals(0, exit.get(60, TimeUnit.SECONDS));
        }
    }
}
