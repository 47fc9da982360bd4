package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * RA guard with real peers: an attacker namespace guest multicasts rogue router advertisements (a raw ICMPv6
 * socket, hop limit 255, a prefix of its own and itself as default router) and a neighbour advertisement claiming
 * the gateway's address; the victim guest, configured by SLAAC from the real gateway, must not take the rogue
 * prefix or route, keeps pinging the gateway fast, and the switch counts what it dropped.
 */
class Ipv6RaGuardNetnsTest {
    static final String PYTHON = "/usr/bin/python3";
    /** Sends argv[2] rogue RAs and one NA for fd00:5a94:efe4::1 out of interface argv[1]. */
    static final String ROGUE = "import socket,struct,sys\n"
            + "ifi=socket.if_nametoindex(sys.argv[1])\n"
            + "s=socket.socket(socket.AF_INET6,socket.SOCK_RAW,socket.IPPROTO_ICMPV6)\n"
            + "s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_MULTICAST_HOPS,255)\n"
            + "s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_MULTICAST_IF,ifi)\n"
            + "pfx=socket.inet_pton(socket.AF_INET6,'fd66:6666:6666:6666::')\n"
            + "pio=struct.pack('!BBBBIII',3,4,64,0xC0,86400,14400,0)+pfx\n"
            + "ra=struct.pack('!BBHBBHII',134,0,0,64,0,1800,0,0)+pio\n"
            + "for i in range(int(sys.argv[2])):\n"
            + "    s.sendto(ra,('ff02::1',0,0,ifi))\n"
            + "tgt=socket.inet_pton(socket.AF_INET6,'fd00:5a94:efe4::1')\n"
            + "na=struct.pack('!BBHI',136,0,0,0x20000000)+tgt\n"
            + "s.sendto(na,('ff02::1',0,0,ifi))\n"
            + "print('sent')\n";

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    @Test
    void rogueAdvertisementsFromAGuestNeverReachTheVictim() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        String url = "unix://" + dir.resolve("gvproxy.sock");
        net.listenApi(url);
        NetnsGuest victim = guests.start(NetnsGuest.builder(url).mac("02:00:00:00:76:06")
                .staticAddress("192.168.127.10/24").ipv6Slaac(true));
        NetnsGuest attacker = guests.start(NetnsGuest.builder(url).mac("02:00:00:00:a7:06")
                .staticAddress("192.168.127.11/24").ipv6Slaac(true));
        victim.awaitIpv6Address(Duration.ofSeconds(30));
        attacker.awaitIpv6Address(Duration.ofSeconds(30)); // its link-local address is ready too

        ExecResult attack = attacker.exec(PYTHON, "-c", ROGUE, attacker.iface(), "20");
        assertEquals(0, attack.exitCode(), attack::toString);

        // The victim keeps working, fast, while and after the attack.
        ExecResult ping = victim.exec("ping", "-6", "-c", "10", "-i", "0.2", "-W", "1", "fd00:5a94:efe4::1");
        assertEquals(0, ping.exitCode(), () -> ping + "\n" + victim.diagnostics());
        assertTrue(ping.stdout().contains(" 0% packet loss"), ping::toString);

        ExecResult addrs = victim.exec("ip", "-6", "addr", "show", "dev", victim.iface());
        assertFalse(addrs.stdout().contains("fd66:6666"), () -> "rogue prefix taken:\n" + addrs);
        ExecResult routes = victim.exec("ip", "-6", "route", "show");
        assertFalse(routes.stdout().contains("fd66:6666"), routes::toString);
        for (String line : routes.stdout().split("\n")) {
            if (line.startsWith("default")) {
                assertTrue(line.contains("via fe80::1 "), () -> "a default route not via the gateway: " + line);
            }
        }
        ExecResult neigh = victim.exec("ip", "-6", "neigh", "show", "fd00:5a94:efe4::1");
        assertFalse(neigh.stdout().contains("02:00:00:00:a7:06"), () -> "gateway address poisoned: " + neigh);

        var counters = net.internals().counters();
        assertEquals(20, counters.get("ndp.raFromGuest"), () -> counters.snapshot().toString());
        assertEquals(1, counters.get("ndp.spoofedTarget"), () -> counters.snapshot().toString());
    }
}
