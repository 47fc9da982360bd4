package dev.gvproxy.it.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.stack.tcp.TcpState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * 1,000 concurrent guest connections, each moving 1 MiB to a host sink that answers with the SHA-256 it
 * computed; a python3 asyncio client in the namespace (the host's interpreter) checks every digest. The
 * count and size come from {@code -Dgvproxy.it.tcp.connections} and {@code -Dgvproxy.it.tcp.perConnection}.
 */
class ManyConnectionsNetnsTest extends TcpNetnsBase {
    static final int CONNECTIONS = Integer.getInteger("gvproxy.it.tcp.connections", 1000);
    static final int PER_CONNECTION = Integer.getInteger("gvproxy.it.tcp.perConnection", 1 << 20);

    /** Opens all connections at once, sends a per-connection rotation of one random MiB, half-closes, checks the reply. */
    static final String CLIENT = """
            import asyncio, hashlib, os, resource, sys, time
            host, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
            resource.setrlimit(resource.RLIMIT_NOFILE, (n + 256, n + 256))
            base = os.urandom(size)
            async def one(i, ok, bad):
                data = base[i % size:] + base[:i % size]
                want = hashlib.sha256(data).hexdigest() + " " + str(size)
                for attempt in range(3):
                    try:
                        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 60)
                        break
                    except (OSError, asyncio.TimeoutError) as e:
                        err = e
                else:
                    bad.append("connect %d: %r" % (i, err)); return
                del data
                view = memoryview(base)
                rot = i % size
                # send base[rot:] + base[:rot] without building it again
                w.write(view[rot:]); w.write(view[:rot])
                await w.drain()
                w.write_eof()
                got = (await asyncio.wait_for(r.read(), 120)).decode().strip()
                w.close()
                if got == want: ok.append(i)
                else: bad.append("conn %d: got %r want %r" % (i, got, want))
            async def main():
                ok, bad = [], []
                t0 = time.monotonic()
                await asyncio.gather(*(one(i, ok, bad) for i in range(n)))
                dt = time.monotonic() - t0
                print("ok %d bad %d seconds %.2f" % (len(ok), len(bad), dt))
                for b in bad[:10]: print(b)
            asyncio.run(main())
            """;

    @Test
    void thousandConcurrentConnectionsOfOneMebibyte() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/python3")), "needs /usr/bin/python3 in the namespace");
        int port = servers.sink();
        NetnsGuest g = guest();
        Path script = dir.resolve("many.py");
        Files.writeString(script, CLIENT);
        int[] peak = new int[1];
        Thread sampler = Thread.ofPlatform().daemon().start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    int open = net.internals().call(() -> (int) net.internals().stack().tcp().connections().stream()
                            .filter(c -> c.state() == TcpState.ESTABLISHED).count());
                    peak[0] = Math.max(peak[0], open);
                    Thread.sleep(100); // sampling period of a monitor thread, not a synchronisation
                } catch (InterruptedException | RuntimeException e) {
                    return;
                }
            }
        });
        long t0 = System.nanoTime();
        ExecResult r;
        try {
            r = g.exec(Duration.ofSeconds(300), "/usr/bin/python3", script.toString(), "192.168.127.254",
                    Integer.toString(port), Integer.toString(CONNECTIONS), Integer.toString(PER_CONNECTION));
        } finally {
            sampler.interrupt();
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        assertTrue(r.stdout().startsWith("ok " + CONNECTIONS + " bad 0"), r::toString);
        long total = (long) CONNECTIONS * PER_CONNECTION;
        System.out.printf("%d connections x %d bytes: %s; wall %.1f s, %.0f Mbit/s aggregate, peak %d established;"
                + " host sink completed %d, failed %d%n", CONNECTIONS, PER_CONNECTION, r.stdout().lines().findFirst()
                .orElse(""), secs, total * 8 / secs / 1e6, peak[0], servers.completed.get(), servers.failed.get());
        NetnsGuest.await(Duration.ofSeconds(30), "the stack's connections to drain",
                () -> net.internals().call(() -> net.internals().stack().tcp().connections().stream()
                        .noneMatch(c -> c.state() == TcpState.ESTABLISHED)), () -> "");
    }
}
