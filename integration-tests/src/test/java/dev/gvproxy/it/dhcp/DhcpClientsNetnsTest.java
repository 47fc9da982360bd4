package dev.gvproxy.it.dhcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.agent.Options;
import dev.gvproxy.dhcp.DhcpConfig;
import dev.gvproxy.dhcp.DhcpServer;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import dev.gvproxy.stack.PortSecurity;
import dev.gvproxy.stack.StackConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Real DHCP clients in network namespaces (gvforwarder-java pumping a TAP to {@code /connect}) against
 * stack-dhcp on a {@link VirtualNetwork}: busybox {@code udhcpc} and ISC {@code dhclient} obtain 192.168.127.2
 * for the device MAC and the next free address for another MAC, with router, MTU, DNS and search list applied;
 * renewals keep the address; a lease nobody renews expires and its address goes back to the pool.
 */
class DhcpClientsNetnsTest {
    static final String DEVICE_MAC = "5a:94:ef:e4:0c:ee";
    static final String OTHER_MAC = "5a:94:ef:e4:0c:0b";
    static final String THIRD_MAC = "5a:94:ef:e4:0c:0c";
    static final int MTU = 1400;
    static final Duration DHCP_TIMEOUT = Duration.ofSeconds(40);

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    VirtualNetwork net;
    DhcpServer server;
    String url;

    void startNetwork(long leaseSeconds) throws Exception {
        startNetwork(leaseSeconds, PortSecurity.DEFAULT_MACS_PER_PORT, DhcpConfig.DEFAULT_LEASES_PER_PORT);
    }

    /** With per-port MAC and lease limits (a test standing for many clients behind one port raises them). */
    void startNetwork(long leaseSeconds, int macsPerPort, int leasesPerPort) throws Exception {
        StackConfig cfg = StackConfig.builder().mtu(MTU)
                .portSecurity(PortSecurity.defaults().withMacsPerPort(macsPerPort)).build();
        net = guests.track(VirtualNetwork.builder().config(cfg).dhcp(true, DhcpConfig.builder(cfg)
                .leasesPerPort(leasesPerPort)
                .leaseTimeSeconds(leaseSeconds)
                .domainName("gvj.test")
                .searchDomains(List.of("corp.gvj.test", "gvj.test"))
                .build()).build());
        server = net.internals().dhcp();
        url = "unix://" + dir.resolve("gvproxy.sock");
        net.listenApi(url);
    }

    static void assumeClient(Options.DhcpClientKind kind) {
        NetnsGuest.assumeSupported();
        if (kind == Options.DhcpClientKind.DHCLIENT) {
            Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/sbin/dhclient"))
                    || Files.isExecutable(Path.of("/sbin/dhclient")), "dhclient (isc-dhcp-client) not installed");
        } else {
            Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/busybox"))
                    || Files.isExecutable(Path.of("/bin/busybox")), "busybox (udhcpc) not installed");
        }
    }

    String diagnostics(NetnsGuest g) {
        return g.diagnostics() + "\nleases: " + net.internals().call(server::leases) + "\ncounters: " + net.internals().counters().snapshot();
    }

    Map<String, String> leases() {
        return net.internals().call(server::leases);
    }

    static boolean execOk(NetnsGuest g, String expected, String... cmd) {
        try {
            ExecResult r = g.exec(cmd);
            return r.ok() && r.stdout().contains(expected);
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @ParameterizedTest
    @EnumSource(value = Options.DhcpClientKind.class, names = {"UDHCPC", "DHCLIENT"})
    void deviceMacGetsDot2AndAnotherMacTheNextFreeAddress(Options.DhcpClientKind kind) throws Exception {
        assumeClient(kind);
        startNetwork(3600);
        NetnsGuest a = guests.start(NetnsGuest.builder(url).mac(DEVICE_MAC).manageResolvConf(true).dhcpClient(kind));
        assertEquals("192.168.127.2", a.awaitAddress(DHCP_TIMEOUT), () -> diagnostics(a));
        NetnsGuest.await(Duration.ofSeconds(10), "default route via the gateway",
                () -> execOk(a, "via 192.168.127.1", "ip", "route", "show", "default"), () -> diagnostics(a));
        NetnsGuest.await(Duration.ofSeconds(10), "MTU " + MTU,
                () -> execOk(a, "mtu " + MTU, "ip", "link", "show", a.iface()), () -> diagnostics(a));
        NetnsGuest.await(Duration.ofSeconds(10), "resolv.conf", () -> Files.exists(a.resolvConf()), () -> diagnostics(a));
        NetnsGuest.await(Duration.ofSeconds(10), "nameserver in resolv.conf", () -> {
            try {
                return Files.readString(a.resolvConf()).contains("nameserver 192.168.127.1");
            } catch (IOException e) {
                return false;
            }
        }, () -> diagnostics(a));
        String resolv = Files.readString(a.resolvConf());
        assertTrue(Pattern.compile("search corp\\.gvj\\.test\\.? gvj\\.test\\.?\\s").matcher(resolv).find(),
                resolv);

        NetnsGuest b = guests.start(NetnsGuest.builder(url).mac(OTHER_MAC).dhcpClient(kind));
        assertEquals("192.168.127.3", b.awaitAddress(DHCP_TIMEOUT), () -> diagnostics(b));
        NetnsGuest.await(Duration.ofSeconds(10), "MTU " + MTU,
                () -> execOk(b, "mtu " + MTU, "ip", "link", "show", b.iface()), () -> diagnostics(b));
        ExecResult ping = b.exec("ping", "-c", "2", "-i", "0.2", "-W", "2", "192.168.127.1");
        assertEquals(0, ping.exitCode(), () -> ping + diagnostics(b));

        Map<String, String> leases = leases();
        assertEquals(DEVICE_MAC, leases.get("192.168.127.2"), leases::toString);
        assertEquals(OTHER_MAC, leases.get("192.168.127.3"), leases::toString);
        assertEquals("5a:94:ef:e4:0c:dd", leases.get("192.168.127.1"));
        assertEquals(0, net.internals().counters().get("dhcp.nak"), () -> diagnostics(b));
    }

    /** dhclient stays running and renews at T1 (half of a 20 s lease) by itself. */
    @Test
    void dhclientRenewsAtT1AndKeepsItsAddress() throws Exception {
        assumeClient(Options.DhcpClientKind.DHCLIENT);
        startNetwork(20);
        NetnsGuest b = guests.start(NetnsGuest.builder(url).mac(OTHER_MAC)
                .dhcpClient(Options.DhcpClientKind.DHCLIENT));
        assertEquals("192.168.127.3", b.awaitAddress(DHCP_TIMEOUT), () -> diagnostics(b));
        NetnsGuest.await(Duration.ofSeconds(40), "a renewal",
                () -> net.internals().counters().get("dhcp.request.renewing") >= 1, () -> diagnostics(b));
        assertEquals("192.168.127.3", b.ipv4Address());
        assertEquals(OTHER_MAC, leases().get("192.168.127.3"));
        assertEquals(0, net.internals().counters().get("dhcp.nak"), () -> diagnostics(b));
    }

    /**
     * udhcpc: a renewal (SIGUSR1 makes a bound udhcpc send a unicast REQUEST with ciaddr) keeps the address;
     * once nobody renews, the 20 s lease expires and the next new client gets that address.
     */
    @Test
    void udhcpcRenewKeepsTheAddressAndAnUnrenewedLeaseReturnsToThePool() throws Exception {
        assumeClient(Options.DhcpClientKind.UDHCPC);
        startNetwork(20);
        NetnsGuest b = guests.start(NetnsGuest.builder(url).mac(OTHER_MAC)
                .dhcpClient(Options.DhcpClientKind.UDHCPC));
        assertEquals("192.168.127.3", b.awaitAddress(DHCP_TIMEOUT), () -> diagnostics(b));

        // The agent's udhcpc ran with -q and is gone; run a long-lived one that only records its events.
        Path events = dir.resolve("events");
        Path hook = dir.resolve("hook.sh");
        Files.writeString(hook, "#!/bin/sh\necho \"$1 ip=$ip lease=$lease\" >> " + events + "\n");
        Files.setPosixFilePermissions(hook, PosixFilePermissions.fromString("rwx------"));
        String busybox = Files.isExecutable(Path.of("/usr/bin/busybox")) ? "/usr/bin/busybox" : "/bin/busybox";
        Process udhcpc = b.spawn(busybox, "udhcpc", "-f", "-i", b.iface(), "-t", "5", "-T", "2", "-s", hook.toString());
        NetnsGuest.await(DHCP_TIMEOUT, "udhcpc bound", () -> contains(events, "bound ip=192.168.127.3"),
                () -> read(events) + diagnostics(b));
        long renewsBefore = net.internals().counters().get("dhcp.request.renewing");
        ExecResult kill = b.exec("kill", "-USR1", Long.toString(udhcpc.pid()));
        assertEquals(0, kill.exitCode(), kill::toString);
        NetnsGuest.await(Duration.ofSeconds(20), "udhcpc renewed", () -> contains(events, "renew ip=192.168.127.3"),
                () -> read(events) + diagnostics(b));
        assertTrue(net.internals().counters().get("dhcp.request.renewing") > renewsBefore, () -> diagnostics(b));
        assertEquals(OTHER_MAC, leases().get("192.168.127.3"));

        // Stop renewing: the lease lapses on its own (real clock), and the address is free again.
        udhcpc.destroy();
        assertTrue(udhcpc.waitFor(5, java.util.concurrent.TimeUnit.SECONDS), "udhcpc stopped");
        b.exec("ip", "-4", "addr", "flush", "dev", b.iface()).check();
        NetnsGuest.await(Duration.ofSeconds(40), "lease expiry", () -> !leases().containsKey("192.168.127.3"),
                () -> diagnostics(b));
        assertTrue(net.internals().counters().get("dhcp.leaseExpired") >= 1);
        NetnsGuest c = guests.start(NetnsGuest.builder(url).mac(THIRD_MAC)
                .dhcpClient(Options.DhcpClientKind.UDHCPC));
        assertEquals("192.168.127.3", c.awaitAddress(DHCP_TIMEOUT), () -> diagnostics(c));
        assertEquals(THIRD_MAC, leases().get("192.168.127.3"));
        assertFalse(leases().containsValue(OTHER_MAC));
    }

    /**
     * 260 MACs, one after the other, on one namespace's TAP (its address changed live between runs of
     * {@code udhcpc -q}): 251 get distinct addresses from .3 to .253, never the gateway, device, host alias,
     * network or broadcast address; the rest get no offer and the server counts the exhaustion.
     */
    @Test
    void manyMacsNeverGetReservedAddressesAndExhaustCleanly() throws Exception {
        assumeClient(Options.DhcpClientKind.UDHCPC);
        // The pool's logic, not port security (SwitchSecurityNetnsTest): one port may hold every MAC and lease.
        startNetwork(3600, 300, 300);
        NetnsGuest g = guests.start(NetnsGuest.builder(url).mac(OTHER_MAC).staticAddress("192.168.127.250/24"));
        g.exec("ip", "-4", "addr", "flush", "dev", g.iface()).check();
        Path results = dir.resolve("results");
        Path hook = dir.resolve("hook.sh");
        Files.writeString(hook, "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" >> " + results + "\nexit 0\n");
        Files.setPosixFilePermissions(hook, PosixFilePermissions.fromString("rwx------"));
        String busybox = Files.isExecutable(Path.of("/usr/bin/busybox")) ? "/usr/bin/busybox" : "/bin/busybox";
        String script = String.join("\n",
                "i=0",
                "while [ $i -lt 260 ]; do",
                "  ip link set dev " + g.iface() + " address $(printf '5a:94:ef:10:%02x:%02x' $((i / 256)) $((i % 256)))",
                // -T 3: an offer delayed past udhcpc's wait on a loaded 2-vCPU CI machine made one MAC give up
                // (its OFFER counted, no REQUEST); the 9 MACs past exhaustion each wait the whole 3 s.
                "  " + busybox + " udhcpc -f -q -n -i " + g.iface() + " -t 1 -T 3 -A 0 -s " + hook + " >/dev/null 2>&1",
                "  i=$((i + 1))",
                "done");
        ExecResult r = g.exec(Duration.ofSeconds(240), "sh", "-c", script);
        assertEquals(0, r.exitCode(), r::toString);
        List<String> got = Files.readAllLines(results);
        assertEquals(251, got.size(), () -> got + diagnostics(g));
        assertEquals(251, got.stream().distinct().count(), "distinct addresses");
        for (String a : got) {
            int last = Integer.parseInt(a.substring(a.lastIndexOf('.') + 1));
            assertTrue(a.startsWith("192.168.127.") && last >= 3 && last <= 253, a);
        }
        assertEquals(9, net.internals().counters().get("dhcp.poolExhausted"), () -> diagnostics(g));
        assertEquals(253, leases().size(), "gateway + device + 251 leases");
    }

    static boolean contains(Path f, String s) {
        return read(f).contains(s);
    }

    static String read(Path f) {
        try {
            return Files.exists(f) ? Files.readString(f) : "";
        } catch (IOException e) {
            return "";
        }
    }
}
