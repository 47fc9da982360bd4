package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.agent.Options;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * gvforwarder-java's DHCP path (client + our lease script) against busybox {@code udhcpd} in another namespace on
 * the test hub: the lease's address, default route and MTU are applied, and the nameservers land in
 * {@code /etc/netns/NAME/resolv.conf}, never in the host's file.
 */
class DhcpClientOnHubTest {
    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(value = Options.DhcpClientKind.class, names = {"UDHCPC", "DHCLIENT"})
    void leaseIsAppliedInsideTheNamespace(Options.DhcpClientKind client) throws Exception {
        Assumptions.assumeTrue(client != Options.DhcpClientKind.DHCLIENT
                || Files.isExecutable(Path.of("/usr/sbin/dhclient")) || Files.isExecutable(Path.of("/sbin/dhclient")),
                "dhclient (isc-dhcp-client) not installed");
        Path busybox = Path.of("/usr/bin/busybox");
        Assumptions.assumeTrue(Files.isExecutable(busybox), "needs busybox (udhcpd) to serve DHCP");
        String hostResolv = Files.exists(Path.of("/etc/resolv.conf")) ? Files.readString(Path.of("/etc/resolv.conf"))
                : null;
        TestHub hub = guests.track(new TestHub(dir.resolve("hub.sock")));
        NetnsGuest server = guests.start(NetnsGuest.builder(hub.url()).mac("5a:94:ef:e4:0c:dd")
                .staticAddress("192.168.127.1/24"));
        Path conf = dir.resolve("udhcpd.conf");
        Files.writeString(conf, """
                start 192.168.127.50
                end 192.168.127.60
                interface tap0
                lease_file %s
                pidfile %s
                static_lease 5a:94:ef:e4:0c:ee 192.168.127.2
                option subnet 255.255.255.0
                option router 192.168.127.1
                option dns 192.168.127.1
                option domain dns.internal
                option mtu 1400
                option lease 3600
                """.formatted(dir.resolve("udhcpd.leases"), dir.resolve("udhcpd.pid")));
        Files.createFile(dir.resolve("udhcpd.leases"));
        server.spawn(busybox.toString(), "udhcpd", "-f", conf.toString());

        NetnsGuest guest = guests.start(NetnsGuest.builder(hub.url()).manageResolvConf(true)
                .dhcpClient(client));
        assertEquals("192.168.127.2", guest.awaitAddress(Duration.ofSeconds(30)));
        NetnsGuest.await(Duration.ofSeconds(10), "default route", () -> {
            try {
                return guest.exec("ip", "route", "show", "default").stdout().contains("via 192.168.127.1");
            } catch (Exception e) {
                return false;
            }
        }, guest::diagnostics);
        assertTrue(guest.exec("ip", "link", "show", "tap0").stdout().contains("mtu 1400"), guest::diagnostics);
        NetnsGuest.await(Duration.ofSeconds(10), "resolv.conf", () -> Files.exists(guest.resolvConf()), () -> "");
        String resolv = Files.readString(guest.resolvConf());
        assertTrue(resolv.contains("nameserver 192.168.127.1"), resolv);
        assertTrue(resolv.contains("search dns.internal"), resolv);
        // Inside the namespace, /etc/resolv.conf is the namespace's file (ip netns exec bind-mounts it).
        assertTrue(guest.exec("cat", "/etc/resolv.conf").stdout().contains("nameserver 192.168.127.1"));
        if (hostResolv != null) {
            assertEquals(hostResolv, Files.readString(Path.of("/etc/resolv.conf")), "host resolv.conf changed");
        }
        ExecResult ping = guest.exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "192.168.127.1");
        assertEquals(0, ping.exitCode(), ping::toString);
    }
}
