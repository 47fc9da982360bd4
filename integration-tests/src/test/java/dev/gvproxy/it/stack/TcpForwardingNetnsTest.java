package dev.gvproxy.it.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.tcp.BulkTransfer;
import dev.gvproxy.it.tcp.GuestFamily;
import dev.gvproxy.it.tcp.TcpNetnsBase;
import dev.gvproxy.it.tcp.TcpServers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Guest -> host forwarding through the gateway (issue 3), with a namespace guest configured by DHCP and
 * host servers on 127.0.0.1 reached as 192.168.127.254; the gigabyte transfers also run over IPv6 (issue 11: a
 * SLAAC guest, servers on {@code ::1} reached as the ULA host alias). Transfers are checked with SHA-256 on both ends;
 * the throughput printed is information, never asserted.
 */
class TcpForwardingNetnsTest extends TcpNetnsBase {
    static final long GIB = Long.getLong("gvproxy.it.bulkBytes", 1L << 30);

    /** A guest configured by DHCP (and SLAAC over IPv6); the test's servers listen on the family's loopback. */
    NetnsGuest guest(GuestFamily over) throws Exception {
        family = over;
        servers.on(over.loopback());
        return guest();
    }

    @Test
    void curlReachesAHostHttpServer() throws Exception {
        int port = servers.http("hello from the host\n");
        NetnsGuest g = guest();
        ExecResult r = g.exec("curl", "-sS", "--max-time", "10", "http://192.168.127.254:" + port + "/");
        assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        assertEquals("hello from the host\n", r.stdout());
    }

    @Test
    void closedHostPortIsRefusedImmediately() throws Exception {
        int port = TcpServers.closedPort();
        NetnsGuest g = guest();
        long t0 = System.nanoTime();
        ExecResult r = sh(g, Duration.ofSeconds(20), "exec 3<>/dev/tcp/192.168.127.254/" + port);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertNotEquals(0, r.exitCode());
        assertTrue(r.stderr().contains("Connection refused"), r::toString);
        assertTrue(ms < 5000, "refused at once, not after a timeout: " + ms + " ms");
    }

    @ParameterizedTest
    @EnumSource(GuestFamily.class)
    void gigabyteGuestToHostWithHalfClose(GuestFamily family) throws Exception {
        NetnsGuest g = guest(family);
        double secs = BulkTransfer.guestToHost(g, servers, family, dir, GIB, Duration.ofSeconds(300));
        System.out.println(family + " guest->host " + BulkTransfer.rate(GIB, secs)
                + " (incl. urandom and sha256 in the guest)");
    }

    @ParameterizedTest
    @EnumSource(GuestFamily.class)
    void gigabyteHostToGuest(GuestFamily family) throws Exception {
        NetnsGuest g = guest(family);
        double secs = BulkTransfer.hostToGuest(g, servers, family, GIB, Duration.ofSeconds(300));
        System.out.println(family + " host->guest " + BulkTransfer.rate(GIB, secs) + " (incl. sha256 on both ends)");
    }

    @Test
    void udpRequestReplyThroughTheHostAlias() throws Exception {
        int port = servers.udpEcho();
        NetnsGuest g = guest();
        ExecResult r = sh(g, Duration.ofSeconds(20), "echo datagram-42 | socat -t 3 - UDP:192.168.127.254:" + port);
        assertEquals(0, r.exitCode(), r::toString);
        assertEquals("datagram-42\n", r.stdout());
    }

    @Test
    void pingOfTheHostAlias() throws Exception {
        String range = new String(Files.readAllBytes(Path.of("/proc/sys/net/ipv4/ping_group_range"))).trim();
        String[] p = range.split("\\s+");
        Assumptions.assumeTrue(Long.parseLong(p[0]) <= 0 && Long.parseLong(p[1]) >= 0,
                "the host forbids ping sockets for gid 0 (net.ipv4.ping_group_range = " + range
                        + "); enable with sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"");
        NetnsGuest g = guest();
        ExecResult r = g.exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "192.168.127.254");
        assertTrue(r.stdout().contains(" 0% packet loss"), () -> r + g.diagnostics());
    }

    @Test
    void dnsFromTheGuest() throws Exception {
        NetnsGuest g = guest();
        ExecResult r = g.exec("dig", "+short", "+time=2", "+tries=1", "@192.168.127.1", "HOST.Containers.Internal");
        assertEquals("192.168.127.254", r.stdout().trim(), r::toString);
        ExecResult t = g.exec("dig", "+short", "+tcp", "+time=2", "+tries=1", "@192.168.127.1", "gateway.docker.internal");
        assertEquals("192.168.127.1", t.stdout().trim(), t::toString);
    }
}
