package dev.gvproxy.it.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.stack.Counters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gateway's IPv6 services against a real kernel guest (issue 11): a namespace configured by SLAAC from the
 * gateway's RA resolves {@code host.containers.internal} AAAA over IPv6 (UDP and TCP, to the gateway's ULA and
 * to {@code fe80::1}), and ISC {@code dhclient -6} gets the DNS server and search list from a stateless
 * Information-Request and its fixed address (the device MAC's {@code prefix::2}) from a stateful exchange.
 * dhclient runs with a hook of the test's own that only records what it was told, so nothing on the host
 * (its resolv.conf) is touched. Names are under {@code containers.internal}; no real resolver is asked.
 */
class Ipv6ServicesNetnsTest {
    static final String GW6 = "fd00:5a94:efe4::1";
    static final String HOST6 = "fd00:5a94:efe4:0:ffff:ffff:ffff:fffe";

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    VirtualNetwork net;

    NetnsGuest slaacGuest() throws Exception {
        net = guests.track(VirtualNetwork.builder().build());
        String url = "unix://" + dir.resolve("gv.sock");
        net.listenApi(url);
        NetnsGuest g = guests.start(NetnsGuest.builder(url).staticAddress("192.168.127.10/24").ipv6Slaac(true));
        g.awaitIpv6Address(Duration.ofSeconds(30));
        return g;
    }

    @Test
    void resolvesHostAliasAaaaOverIpv6() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/dig")), "dig (dnsutils) is not installed");
        NetnsGuest g = slaacGuest();
        for (String server : new String[] {GW6, "fe80::1%" + g.iface()}) {
            for (String transport : new String[] {"+notcp", "+tcp"}) {
                ExecResult r = g.exec("dig", "-6", "@" + server, transport, "+time=5", "+tries=1", "+short", "AAAA",
                        "host.containers.internal");
                assertEquals(0, r.exitCode(), () -> r + "\n" + g.diagnostics());
                assertEquals(HOST6, r.stdout().strip(), () -> server + " " + transport + ": " + r);
            }
        }
        ExecResult gw = g.exec("dig", "-6", "@" + GW6, "+time=5", "+tries=1", "+short", "AAAA",
                "gateway.containers.internal");
        assertEquals(GW6, gw.stdout().strip(), gw::toString);
        ExecResult a = g.exec("dig", "-6", "@" + GW6, "+time=5", "+tries=1", "+short", "A", "host.containers.internal");
        assertEquals("192.168.127.254", a.stdout().strip(), a::toString);
        Counters c = net.internals().counters();
        assertTrue(c.get("dns.tcp.queries") >= 2, () -> c.snapshot().toString());
    }

    /** A dhclient hook that records the environment dhclient hands it (and configures nothing). */
    Path hook(Path events) throws Exception {
        Path h = dir.resolve("hook.sh");
        Files.writeString(h, "#!/bin/sh\n{ echo \"reason=$reason\"; echo \"dns=$new_dhcp6_name_servers\";"
                + " echo \"search=$new_dhcp6_domain_search\"; echo \"addr=$new_ip6_address\"; } >> " + events + "\n");
        Files.setPosixFilePermissions(h, PosixFilePermissions.fromString("rwxr-xr-x"));
        return h;
    }

    @Test
    void dhclientGetsDnsStatelessAndItsAddressStateful() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/sbin/dhclient")), "dhclient (isc-dhcp-client) is not installed");
        NetnsGuest g = slaacGuest();
        Path events = dir.resolve("events");
        Path hook = hook(events);
        Counters c = net.internals().counters();

        // Stateless (-S): Information-Request -> Reply with DNS (option 23) and the search list (option 24).
        g.spawn("dhclient", "-6", "-S", "-d", "-v", "-sf", hook.toString(), "-lf", dir.resolve("l1").toString(),
                "-pf", dir.resolve("p1").toString(), g.iface());
        NetnsGuest.await(Duration.ofSeconds(30), "dhclient -S reported DNS",
                () -> read(events).contains("dns=" + GW6), () -> read(events) + c.snapshot() + g.diagnostics());
        assertTrue(c.get("dhcpv6.informationRequest") >= 1, () -> c.snapshot().toString());

        // Stateful: Solicit/Advertise/Request/Reply; the guest's MAC is the device MAC, whose fixed address is ::2.
        g.spawn("dhclient", "-6", "-d", "-v", "-sf", hook.toString(), "-lf", dir.resolve("l2").toString(),
                "-pf", dir.resolve("p2").toString(), g.iface());
        NetnsGuest.await(Duration.ofSeconds(30), "dhclient got an address",
                () -> read(events).contains("addr=fd00:5a94:efe4::2"), () -> read(events) + c.snapshot()
                        + g.diagnostics());
        assertTrue(c.get("dhcpv6.request") + c.get("dhcpv6.rapidCommit") >= 1, () -> c.snapshot().toString());
        assertEquals(0, c.get("dhcpv6.runt") + c.get("dhcpv6.optionOverrun"), () -> c.snapshot().toString());
    }

    static String read(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "";
        } catch (java.io.IOException e) {
            return "";
        }
    }
}
