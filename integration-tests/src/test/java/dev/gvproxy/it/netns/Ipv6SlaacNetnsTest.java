package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.stack.wire.Ipv6Address;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real kernel as the IPv6 guest (issue 11): a namespace whose TAP has IPv6 on, router advertisements accepted
 * and SLAAC on, and no static IPv6 address, configures itself from the gateway's RA (an address in the default
 * prefix {@code fd00:5a94:efe4::/64}, the default route via {@code fe80::1}) and pings the gateway's ULA and
 * link-local addresses. The namespace's only interface besides {@code lo} is the TAP: its IPv6 routes all lead to
 * the virtual gateway, never to the real network.
 */
class Ipv6SlaacNetnsTest {
    static final Ipv6Address PREFIX = Ipv6Address.parse("fd00:5a94:efe4::");

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    @Test
    void kernelGuestGetsASlaacAddressAndPingsTheGateway() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        String url = "unix://" + dir.resolve("gvproxy.sock");
        net.listenApi(url);
        NetnsGuest g = guests.start(NetnsGuest.builder(url).staticAddress("192.168.127.10/24").ipv6Slaac(true));

        String addr = g.awaitIpv6Address(Duration.ofSeconds(30));
        Ipv6Address a = Ipv6Address.parse(addr);
        assertTrue(a.inPrefix(PREFIX, 64), "SLAAC address " + addr + " in the advertised prefix");

        ExecResult routes = g.exec("ip", "-6", "route", "show");
        assertTrue(routes.stdout().contains("default via fe80::1 dev " + g.iface()), routes::toString);
        for (String line : routes.stdout().split("\n")) {
            assertFalse(!line.isBlank() && !line.contains("dev " + g.iface()) && !line.contains("dev lo"),
                    "every IPv6 route goes through the TAP: " + line);
        }

        ExecResult ping = g.exec("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd00:5a94:efe4::1");
        assertEquals(0, ping.exitCode(), () -> ping + "\n" + g.diagnostics());
        assertTrue(ping.stdout().contains(" 0% packet loss"), ping::toString);
        ExecResult ll = g.exec("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fe80::1%" + g.iface());
        assertEquals(0, ll.exitCode(), () -> ll + "\n" + g.diagnostics());
        assertTrue(ll.stdout().contains(" 0% packet loss"), ll::toString);

        ExecResult neigh = g.exec("ip", "-6", "neigh", "show", "fe80::1", "dev", g.iface());
        assertTrue(neigh.stdout().contains("5a:94:ef:e4:0c:dd") && neigh.stdout().contains("router"),
                neigh::toString);
        var counters = net.internals().counters();
        assertTrue(counters.get("icmpv6.out.echoReplies") >= 6, () -> counters.snapshot().toString());
        assertTrue(counters.get("ndp.out.solicitedRa") + counters.get("ndp.out.unsolicitedRa") >= 1);
        assertTrue(counters.get("ndp.out.advertisements") >= 1, "the guest resolved the gateway by NS/NA");
    }
}
