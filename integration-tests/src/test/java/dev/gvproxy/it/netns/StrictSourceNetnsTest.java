package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.stack.PortSecurity;
import dev.gvproxy.stack.StackConfig;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Strict source validation with real guests: a DHCP guest works as usual; a guest that configured an address
 * by hand (a free one, or the DHCP guest's) is not heard, and the drops are counted.
 */
class StrictSourceNetnsTest {
    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    @Test
    void onlyTheLeasedAddressIsHeard() throws Exception {
        StackConfig cfg = StackConfig.builder().portSecurity(PortSecurity.defaults().withStrictSource(true)).build();
        VirtualNetwork net = guests.track(VirtualNetwork.builder().config(cfg).build());
        String url = "unix://" + dir.resolve("gvproxy.sock");
        net.listenApi(url);
        NetnsGuest leased = guests.start(NetnsGuest.builder(url).mac("02:00:00:00:51:01"));
        String ip = leased.awaitAddress(Duration.ofSeconds(40));
        ExecResult ok = leased.exec("ping", "-c", "5", "-i", "0.1", "-W", "1", "192.168.127.1");
        assertTrue(ok.ok() && ok.stdout().contains(" 0% packet loss"), () -> ok + leased.diagnostics());

        NetnsGuest squatter = guests.start(NetnsGuest.builder(url).mac("02:00:00:00:51:02")
                .staticAddress("192.168.127.10/24"));
        assertFalse(squatter.exec("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.168.127.1").ok());
        // With the gateway's MAC written in by hand it skips ARP: its IPv4 is what gets dropped then.
        squatter.exec("ip", "neigh", "replace", "192.168.127.1", "lladdr", "5a:94:ef:e4:0c:dd", "dev",
                squatter.iface()).check();
        long before = net.internals().counters().get("ipv4.spoofedSource");
        assertFalse(squatter.exec("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.168.127.1").ok());
        NetnsGuest.await(Duration.ofSeconds(5), "IPv4 from an address not leased counted",
                () -> net.internals().counters().get("ipv4.spoofedSource") >= before + 3, () -> net.internals().counters().snapshot().toString());
        squatter.exec("ip", "addr", "flush", "dev", squatter.iface()).check();
        squatter.exec("ip", "addr", "add", ip + "/24", "dev", squatter.iface()).check();
        assertFalse(squatter.exec("ping", "-c", "3", "-i", "0.2", "-W", "1", "192.168.127.1").ok());
        // The squatter's ARP for the gateway is dropped, so it never gets as far as sending IPv4.
        NetnsGuest.await(Duration.ofSeconds(5), "drops counted",
                () -> net.internals().counters().get("ipv4.spoofedSource") + net.internals().counters().get("arp.spoofedSender") >= 4,
                () -> net.internals().counters().snapshot().toString());

        ExecResult still = leased.exec("ping", "-c", "5", "-i", "0.1", "-W", "1", "192.168.127.1");
        assertTrue(still.ok() && still.stdout().contains(" 0% packet loss"), () -> still + leased.diagnostics());
        System.out.println("strict: ipv4.spoofedSource=" + net.internals().counters().get("ipv4.spoofedSource")
                + ", arp.spoofedSender=" + net.internals().counters().get("arp.spoofedSender"));
    }
}
