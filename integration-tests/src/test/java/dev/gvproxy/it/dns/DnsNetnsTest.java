package dev.gvproxy.it.dns;

import dev.gvproxy.dns.FakeUpstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.dns.DnsConfig;
import dev.gvproxy.dns.Zone;
import dev.gvproxy.dns.ZoneRecord;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import dev.gvproxy.stack.StackConfig;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code dig} in a namespace guest against 192.168.127.1:53 (issue 4's "must show" list for DNS). */
class DnsNetnsTest {
    static final String GW = "192.168.127.1";

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;
    FakeUpstream upstream;
    VirtualNetwork net;

    @BeforeEach
    void setUp() throws IOException {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/dig")), "dig (dnsutils) is not installed");
        upstream = FakeUpstream.standard();
    }

    @AfterEach
    void tearDown() {
        if (upstream != null) {
            upstream.close();
        }
    }

    NetnsGuest guest(InetSocketAddress upstreamAddress, Duration timeout) throws Exception {
        StackConfig sc = StackConfig.defaults();
        DnsConfig cfg = DnsConfig.builder()
                .zones(Zone.legacyDefaults(sc.gatewayIp(), sc.hostIp()))
                .resolvConf(Files.writeString(dir.resolve("resolv.conf"), "search corp.test\n"))
                .hostsFile(Files.writeString(dir.resolve("hosts"), "198.18.0.50 myhost.example\n"))
                .upstreams(List.of(upstreamAddress))
                .timeout(timeout).attempts(1)
                .build();
        net = guests.track(VirtualNetwork.builder().dns(true, cfg).build());
        String url = "unix://" + dir.resolve("gv.sock");
        net.listenApi(url);
        return guests.start(NetnsGuest.builder(url).staticAddress("192.168.127.10/24").staticGateway(GW));
    }

    static ExecResult dig(NetnsGuest g, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("dig", "@" + GW, "+time=5", "+tries=1"));
        cmd.addAll(Arrays.asList(args));
        ExecResult r = g.exec(cmd.toArray(String[]::new));
        assertEquals(0, r.exitCode(), () -> String.join(" ", cmd) + "\n" + r + g.diagnostics());
        return r;
    }

    static String answer(NetnsGuest g, String... args) throws Exception {
        List<String> a = new ArrayList<>(Arrays.asList(args));
        a.addAll(List.of("+noall", "+answer"));
        return dig(g, a.toArray(String[]::new)).stdout().strip();
    }

    /** The oracle: the same question asked of the test upstream directly, on the host's loopback. */
    String direct(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("dig", "@127.0.0.1", "-p", Integer.toString(upstream.address().getPort()),
                "+time=5", "+tries=1", "+noall", "+answer"));
        cmd.addAll(Arrays.asList(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        return new String(out, StandardCharsets.UTF_8).strip();
    }

    @Test
    void zonesAnswerOverUdpAndTcp() throws Exception {
        NetnsGuest g = guest(upstream.address(), Duration.ofSeconds(2));
        assertEquals("192.168.127.254", dig(g, "+short", "host.containers.internal").stdout().strip());
        assertEquals("192.168.127.254", dig(g, "+short", "HOST.Containers.Internal").stdout().strip());
        assertEquals("192.168.127.1", dig(g, "+short", "gateway.docker.internal").stdout().strip());
        assertEquals("192.168.127.254", dig(g, "+short", "+tcp", "host.containers.internal").stdout().strip());
        ExecResult aaaa = dig(g, "AAAA", "host.containers.internal");
        assertTrue(aaaa.stdout().contains("status: NOERROR"), aaaa::toString);
        assertTrue(aaaa.stdout().contains("ANSWER: 0"), aaaa::toString);
        ExecResult nx = dig(g, "nothing.containers.internal");
        assertTrue(nx.stdout().contains("status: NXDOMAIN"), nx::toString);

        net.internals().dns().addZone(Zone.withDefault("dynamic.testing.", "192.168.127.2", List.of()));
        net.internals().dns().addZone(Zone.of("testing.", List.of(ZoneRecord.regexp("^web-[0-9]+$", "192.168.127.30"))));
        assertEquals("192.168.127.2", dig(g, "+short", "anything.dynamic.testing").stdout().strip());
        assertEquals("192.168.127.30", dig(g, "+short", "web-42.testing").stdout().strip());
        assertEquals("192.168.127.30", dig(g, "+short", "+tcp", "WEB-1.Testing").stdout().strip());
        assertEquals(0, upstream.queries(), "nothing inside a zone went upstream");
    }

    @Test
    void forwardedTypesComeBackIdentical() throws Exception {
        NetnsGuest g = guest(upstream.address(), Duration.ofSeconds(2));
        String[][] questions = {
            {"AAAA", "a.test"}, {"TXT", "txt.test"}, {"MX", "mx.test"}, {"SRV", "_imaps._tcp.test"},
            {"PTR", "10.0.18.198.in-addr.arpa"}, {"A", "a.test"}, {"CAA", "caa.test"}, {"CNAME", "cname.test"},
        };
        for (String[] q : questions) {
            String want = direct("-t", q[0], q[1]);
            assertFalse(want.isEmpty(), "oracle answers " + q[1]);
            assertEquals(want, answer(g, "-t", q[0], q[1]), q[0] + " " + q[1]);
            assertEquals(want, answer(g, "+tcp", "-t", q[0], q[1]), "over TCP: " + q[0] + " " + q[1]);
        }
        String txt = answer(g, "-t", "TXT", "txt.test");
        assertTrue(txt.contains("x".repeat(255) + "\" \"" + "y".repeat(100)), txt);
        assertEquals("198.18.0.50", dig(g, "+short", "myhost.example").stdout().strip(), "hosts file first");
    }

    @Test
    void tooBigForUdpSetsTcAndTheTcpRetrySucceeds() throws Exception {
        NetnsGuest g = guest(upstream.address(), Duration.ofSeconds(2));
        ExecResult truncated = dig(g, "+noedns", "+ignore", "big.test");
        assertTrue(truncated.stdout().matches("(?s).*flags: qr[a-z ]* tc[ a-z]*;.*"), truncated::toString);
        long tcpBefore = net.internals().counters().get("dns.tcp.queries");
        String full = answer(g, "+noedns", "big.test");
        assertEquals(60, full.lines().count(), full);
        assertEquals(direct("big.test"), full);
        assertTrue(net.internals().counters().get("dns.tcp.queries") > tcpBefore, "dig retried over TCP");
        String edns = answer(g, "+bufsize=4096", "+notcp", "+ignore", "big.test");
        assertEquals(60, edns.lines().count(), "fits a 4096-byte EDNS buffer (fragmented at MTU 1500)");
    }

    @Test
    void deadUpstreamGivesServfailWithinTheTimeout() throws Exception {
        try (DatagramSocket dead = FakeUpstream.deadServer()) {
            NetnsGuest g = guest((InetSocketAddress) dead.getLocalSocketAddress(), Duration.ofSeconds(1));
            long t0 = System.nanoTime();
            ExecResult r = dig(g, "a.test");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(r.stdout().contains("status: SERVFAIL"), r::toString);
            assertTrue(ms < 4000, "answered in " + ms + " ms, within dig's 5 s");
        }
    }
}
