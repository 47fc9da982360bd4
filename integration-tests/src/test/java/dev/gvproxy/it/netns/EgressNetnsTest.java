package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.cli.GvproxyMain;
import dev.gvproxy.forwarder.EgressFilter;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
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
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The egress policy with a real guest (issue 12, item 6): rules from the YAML's {@code stack.egress} refuse a test
 * host on "the host's LAN" (a namespace of the test's own in 198.18.0.0/15) for TCP (connection refused at once),
 * UDP and ICMP echo (administratively prohibited), while the host alias (192.168.127.254 -> 127.0.0.1) stays
 * reachable and fast; each rule's count is asserted; the in-VM API cannot see or change the rules; then a runtime
 * replacement through the host API flips them, closing the host-alias connection it now denies.
 */
class EgressNetnsTest {
    private static final Duration DHCP_TIMEOUT = Duration.ofSeconds(60);
    private static final int LAN_TCP = 7001;
    private static final int LAN_UDP = 7002;

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    private GvproxyMain.Running running;
    private CompletableFuture<Integer> exit;
    private HostEcho hostEcho;

    @BeforeEach
    void check() throws Exception {
        NetnsGuest.assumeSupported();
        for (String tool : new String[] {"/usr/bin/curl", "/usr/bin/socat", "/usr/bin/ping"}) {
            Assumptions.assumeTrue(Files.isExecutable(Path.of(tool)), "needs " + tool);
        }
        hostEcho = new HostEcho();
    }

    @AfterEach
    void stop() throws Exception {
        if (running != null) {
            running.stop("test done");
            assertEquals(0, exit.get(60, TimeUnit.SECONDS));
        }
        if (hostEcho != null) {
            hostEcho.close();
        }
    }

    /** A line echo server on 127.0.0.1 (the host alias's target) that notices when a connection ends. */
    static final class HostEcho implements AutoCloseable {
        final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        final AtomicInteger lines = new AtomicInteger();
        final AtomicInteger ended = new AtomicInteger();
        final List<Socket> sockets = new ArrayList<>();

        HostEcho() throws IOException {
            Thread.ofVirtual().start(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket s = server.accept();
                        synchronized (sockets) {
                            sockets.add(s);
                        }
                        Thread.ofVirtual().start(() -> serve(s));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        private void serve(Socket s) {
            try (s; BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8))) {
                OutputStream out = s.getOutputStream();
                for (String l; (l = in.readLine()) != null; ) {
                    lines.incrementAndGet();
                    out.write((l + "\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            } catch (IOException e) {
                // a reset: ended as well
            } finally {
                ended.incrementAndGet();
            }
        }

        int port() {
            return server.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            server.close();
            synchronized (sockets) {
                for (Socket s : sockets) {
                    s.close();
                }
            }
        }
    }

    private String hostApi(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("curl", "-s", "--max-time", "10", "--unix-socket",
                dir.resolve("api.sock").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        return out;
    }

    private long counter(String name) {
        return running.network().stats().getOrDefault(name, 0L);
    }

    private List<Long> ruleHits() {
        return running.network().egressRuleHits().stream().map(EgressFilter.RuleHits::hits).toList();
    }

    /** One line over TCP from the guest: the echo, or the failure (bash's message) and how long it took. */
    record Attempt(String echoed, String error, long millis) {}

    private static Attempt tcp(NetnsGuest g, String ip, int port, String line) throws Exception {
        long t0 = System.nanoTime();
        ExecResult r = g.exec(Duration.ofSeconds(30), "timeout", "10", "bash", "-c", "exec 3<>/dev/tcp/" + ip + "/"
                + port + " && echo " + line + " >&3 && timeout 5 head -1 <&3");
        return new Attempt(r.stdout().trim(), r.stderr().trim(), (System.nanoTime() - t0) / 1_000_000);
    }

    private static ExecResult udp(NetnsGuest g, String ip, int port, String line) throws Exception {
        return g.exec(Duration.ofSeconds(30), "bash", "-c", "echo " + line + " | timeout 5 socat -t 2 - UDP:" + ip + ":"
                + port);
    }

    private static void awaitListening(LanPeer lan, String flag, int port) throws Exception {
        ExecResult r = lan.exec("bash", "-c", "for i in $(seq 200); do ss " + flag + " 'sport = :" + port
                + "' | grep -q . && exit 0; sleep 0.05; done; exit 1");
        assertEquals(0, r.exitCode(), () -> "LAN server on " + port + " did not start: " + r);
    }

    @Test
    void yamlRulesDenyALanHostAndAllowTheHostAliasThenTheHostApiFlipsThem() throws Exception {
        LanPeer lan = guests.track(new LanPeer());
        lan.spawn("socat", "TCP-LISTEN:" + LAN_TCP + ",fork,reuseaddr", "EXEC:cat");
        lan.spawn("socat", "UDP-LISTEN:" + LAN_UDP + ",fork,reuseaddr", "PIPE");
        awaitListening(lan, "-Hltn", LAN_TCP);
        awaitListening(lan, "-Hlun", LAN_UDP);
        // Reachable from the host itself: the guest's refusals below are the policy's.
        assertEquals("direct", call(() -> new String(hostTcp(lan.peerIp, LAN_TCP, "direct"))));

        Path yaml = Files.writeString(dir.resolve("gvproxy.yaml"), """
                stack:
                  egress:
                    - action: allow            # the host alias (-> 127.0.0.1)
                      cidr: 192.168.127.254/32
                    - action: deny             # the test's "LAN" host, TCP
                      cidr: 198.18.0.0/15
                      protocol: tcp
                    - action: deny             # its UDP services
                      cidr: 198.18.0.0/15
                      protocol: udp
                      ports: "7000-7999"
                    - action: deny             # and ping
                      cidr: 198.18.0.0/15
                      protocol: icmp
                """);
        InProcessGvproxy gv = InProcessGvproxy.start(Duration.ofSeconds(60), "-config", yaml.toString(),
                "-listen", "unix://" + dir.resolve("api.sock"), "-pid-file", dir.resolve("gv.pid").toString());
        running = gv.running();
        exit = gv.exit();
        NetnsGuest g = guests.start(NetnsGuest.builder("unix://" + dir.resolve("api.sock")));
        assertNotEquals(null, g.awaitAddress(DHCP_TIMEOUT), g::diagnostics);

        // The host API lists the YAML's rules in the same shape.
        assertEquals("[{\"action\":\"allow\",\"cidr\":\"192.168.127.254/32\",\"protocol\":\"any\"},"
                + "{\"action\":\"deny\",\"cidr\":\"198.18.0.0/15\",\"protocol\":\"tcp\"},"
                + "{\"action\":\"deny\",\"cidr\":\"198.18.0.0/15\",\"protocol\":\"udp\",\"ports\":\"7000-7999\"},"
                + "{\"action\":\"deny\",\"cidr\":\"198.18.0.0/15\",\"protocol\":\"icmp\"}]\n",
                hostApi("http://x/services/egress"));

        // Allowed: the host alias, quickly.
        Attempt alias = tcp(g, "192.168.127.254", hostEcho.port(), "alias");
        assertEquals("alias", alias.echoed(), () -> alias + "\n" + g.diagnostics());
        assertTrue(alias.millis() < 1000, () -> "the allowed connect stays fast: " + alias);

        // Denied: TCP is refused at once (RST), no host connect is made.
        long connectsBefore = counter("tcp.forward.connected");
        Attempt tcpDenied = tcp(g, lan.peerIp, LAN_TCP, "nope");
        assertEquals("", tcpDenied.echoed(), tcpDenied::toString);
        assertTrue(tcpDenied.error().contains("Connection refused"), tcpDenied::toString);
        assertTrue(tcpDenied.millis() < 1000, () -> "refused at once, not timed out: " + tcpDenied);
        assertEquals(connectsBefore, counter("tcp.forward.connected"));

        // UDP: the answer is ICMP administratively prohibited, which the guest's kernel reports on the socket.
        ExecResult u = udp(g, lan.peerIp, LAN_UDP, "nope");
        assertEquals("", u.stdout().trim(), u::toString);
        assertTrue(u.stdout().contains("No route to host") || u.stderr().contains("No route to host"), u::toString);

        // ICMP echo: administratively prohibited ("Packet filtered" in iputils' words). Echo forwarding (and so its
        // policy) needs ping sockets on the epoll transport; under -Dgvproxy.transport=nio echo is not forwarded.
        boolean icmp = dev.gvproxy.platform.SocketTransport.get().isEpoll();
        if (icmp) {
            ExecResult ping = g.exec(Duration.ofSeconds(30), "ping", "-n", "-c", "1", "-W", "3", lan.peerIp);
            assertNotEquals(0, ping.exitCode(), ping::toString);
            assertTrue(ping.stdout().contains("Packet filtered"), ping::toString);
        }
        long icmpHits = icmp ? 1 : 0;

        assertEquals(List.of(1L, 1L, 1L, icmpHits), ruleHits(), "allow alias, deny tcp, deny udp, deny icmp");
        assertEquals(2 + icmpHits, counter("egress.denied"));
        assertEquals(1, counter("egress.denied.tcp"));
        assertEquals(1, counter("egress.denied.udp"));
        assertEquals(icmpHits, counter("egress.denied.icmp"));
        String stats = hostApi("http://x/stats");
        assertTrue(stats.contains("\"rule.0.allowed\":1,\"rule.1.denied\":1,\"rule.2.denied\":1,\"rule.3.denied\":"
                + icmpHits), stats);

        // The in-VM API has no such route: a guest can neither read nor loosen its rules.
        ExecResult inVmGet = g.exec(Duration.ofSeconds(30), "curl", "-s", "--max-time", "10", "-w", "\n%{http_code}",
                "http://192.168.127.1/services/egress");
        assertTrue(inVmGet.stdout().endsWith("\n404"), inVmGet::toString);
        ExecResult inVmPost = g.exec(Duration.ofSeconds(30), "curl", "-s", "--max-time", "10", "-w", "\n%{http_code}",
                "-X", "POST", "-d", "[]", "http://192.168.127.1/services/egress?close=true");
        assertTrue(inVmPost.stdout().endsWith("\n404"), inVmPost::toString);
        assertEquals(4, running.network().egress().rules().size(), "unchanged");

        // A connection to the host alias that the new rules will deny, held open.
        int endedBefore = hostEcho.ended.get();
        Process held = g.spawn("bash", "-c", "exec 3<>/dev/tcp/192.168.127.254/" + hostEcho.port()
                + " && echo hold >&3 && cat <&3");
        int linesBefore = hostEcho.lines.get();
        NetnsGuest.await(Duration.ofSeconds(10), "the held connection", () -> hostEcho.lines.get() > linesBefore,
                g::diagnostics);

        // The runtime flip through the host API: the host alias denied (closing what it denies), the LAN allowed.
        String answer = hostApi("-X", "POST", "-d", "[{\"action\":\"deny\",\"cidr\":\"192.168.127.254/32\","
                + "\"protocol\":\"tcp\"}]", "http://x/services/egress?close=true");
        assertEquals("{\"rules\":1,\"closed\":1}\n", answer);
        assertTrue(held.waitFor(10, TimeUnit.SECONDS), "the guest's held connection was reset");
        NetnsGuest.await(Duration.ofSeconds(10), "the host side of the held connection closed",
                () -> hostEcho.ended.get() > endedBefore, () -> "ended " + hostEcho.ended.get());
        assertEquals(1, counter("egress.flowsClosed"));

        Attempt lanNow = tcp(g, lan.peerIp, LAN_TCP, "lan");
        assertEquals("lan", lanNow.echoed(), () -> lanNow + "\n" + g.diagnostics());
        assertEquals("lan-udp", udp(g, lan.peerIp, LAN_UDP, "lan-udp").stdout().trim());
        Attempt aliasNow = tcp(g, "192.168.127.254", hostEcho.port(), "alias");
        assertTrue(aliasNow.error().contains("Connection refused"), aliasNow::toString);
        assertEquals(List.of(1L), ruleHits(), "the new rules count from zero");
        assertEquals(2, counter("egress.denied.tcp"), "the global counters keep counting");
        assertTrue(hostApi("http://x/stats").contains("\"rule.0.denied\":1"));
        assertEquals("[{\"action\":\"deny\",\"cidr\":\"192.168.127.254/32\",\"protocol\":\"tcp\"}]\n",
                hostApi("http://x/services/egress"));
    }

    /** One line to ip:port from the host, or "" when that fails. */
    private static byte[] hostTcp(String ip, int port, String line) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(ip, port), 5000);
            s.setSoTimeout(5000);
            s.getOutputStream().write((line + "\n").getBytes(StandardCharsets.US_ASCII));
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
            String got = in.readLine();
            return got == null ? new byte[0] : got.getBytes(StandardCharsets.US_ASCII);
        }
    }

    private interface Io<T> {
        T get() throws Exception;
    }

    private static <T> T call(Io<T> io) {
        try {
            return io.get();
        } catch (Exception e) {
            return null;
        }
    }
}
