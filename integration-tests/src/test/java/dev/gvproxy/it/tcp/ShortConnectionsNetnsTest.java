package dev.gvproxy.it.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Many short connections through the host-connect path at once: 16 loops of HTTP GETs (a new connection each)
 * from one guest. Issue 9 saw about 700 Netty "exceptionCaught ... NotYetConnectedException" warnings in
 * 15 s here; every host-socket error must be handled by the bridge (counted, the guest connection reset),
 * none may reach the end of a pipeline.
 */
class ShortConnectionsNetnsTest extends TcpNetnsBase {
    static final String LOOPS = """
            import http.client, sys, threading, time
            host, port, threads, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
            ok, bad = [0], [0]
            lock = threading.Lock()
            def loop():
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    try:
                        c = http.client.HTTPConnection(host, port, timeout=10)
                        c.request("GET", "/", headers={"Connection": "close"})
                        body = c.getresponse().read()
                        c.close()
                        with lock:
                            if body == b"hello": ok[0] += 1
                            else: bad[0] += 1
                    except Exception as e:
                        with lock: bad[0] += 1
            ts = [threading.Thread(target=loop) for _ in range(threads)]
            [t.start() for t in ts]; [t.join() for t in ts]
            print("ok %d bad %d" % (ok[0], bad[0]))
            """;

    @Test
    void sixteenGetLoopsLeaveNoUnhandledHostErrors() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/python3")), "needs /usr/bin/python3");
        List<LogRecord> warnings = new CopyOnWriteArrayList<>();
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getLevel().intValue() >= Level.WARNING.intValue() && (String.valueOf(r.getMessage())
                        .contains("exceptionCaught") || r.getThrown() != null)) {
                    warnings.add(r);
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Logger netty = Logger.getLogger("io.netty");
        netty.addHandler(h);
        try {
            int port = servers.http("hello");
            NetnsGuest g = guest();
            Path script = dir.resolve("loops.py");
            Files.writeString(script, LOOPS);
            ExecResult r = g.exec(Duration.ofSeconds(120), "/usr/bin/python3", script.toString(), "192.168.127.254",
                    Integer.toString(port), "16", "15");
            System.out.println("16 GET loops for 15 s: " + r.stdout().trim() + "; unhandled host errors logged: "
                    + warnings.size() + "; bridge host errors counted: " + net.internals().counters().get("tcp.bridge.hostError")
                    + ", before attach: " + net.internals().counters().get("tcp.forward.hostErrorUnattached")
                    + ", read events before the connect completed: " + net.internals().counters().get("tcp.forward.readBeforeConnect"));
            assertEquals(0, r.exitCode(), r::toString);
            assertTrue(r.stdout().startsWith("ok ") && r.stdout().contains(" bad 0"), r::toString);
            assertEquals(0, net.internals().counters().get("tcp.forward.connectFailed"), "every host connect succeeded");
            assertTrue(warnings.isEmpty(), () -> warnings.size() + " warnings, first: " + warnings.getFirst().getMessage()
                    + " " + warnings.getFirst().getThrown());
        } finally {
            netty.removeHandler(h);
        }
    }
}
