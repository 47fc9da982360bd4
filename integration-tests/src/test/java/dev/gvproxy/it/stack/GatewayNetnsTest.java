package dev.gvproxy.it.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 2's guest-visible L2/L3 behaviour against the whole gvproxy-java network: a namespace guest,
 * pumped by gvforwarder-java over /connect, configured by the gateway's own DHCP server.
 */
class GatewayNetnsTest {
    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    NetnsGuest guest(int mtu) throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().mtu(mtu).build());
        String url = "unix://" + dir.resolve("gv-" + mtu + ".sock");
        net.listenApi(url);
        NetnsGuest g = guests.start(NetnsGuest.builder(url).mac("5a:94:ef:e4:0c:ee"));
        String ip = g.awaitAddress(Duration.ofSeconds(30));
        assertEquals("192.168.127.2", ip, "the static lease of 5a:94:ef:e4:0c:ee");
        return g;
    }

    @Test
    void pingsArpAndFloodAtMtu1500() throws Exception {
        NetnsGuest g = guest(1500);
        ExecResult ping = g.exec("ping", "-c", "20", "-i", "0.01", "-W", "2", "192.168.127.1");
        assertTrue(ping.stdout().contains(" 0% packet loss"), () -> ping + g.diagnostics());
        ExecResult big = g.exec("ping", "-c", "3", "-s", "1472", "-M", "do", "-W", "2", "192.168.127.1");
        assertTrue(big.stdout().contains(" 0% packet loss"), big::toString);
        ExecResult frag = g.exec("ping", "-c", "3", "-s", "4000", "-W", "2", "192.168.127.1");
        assertTrue(frag.stdout().contains(" 0% packet loss"), () -> "fragmented echo: " + frag);
        ExecResult neigh = g.exec("ip", "neigh", "show", "192.168.127.1");
        assertTrue(neigh.stdout().contains("5a:94:ef:e4:0c:dd"), neigh::toString);
        ExecResult flood = g.exec(Duration.ofSeconds(120), "ping", "-f", "-c", "10000", "-W", "2", "192.168.127.1");
        assertTrue(flood.stdout().contains("10000 packets transmitted, 10000 received"), flood::toString);
        ExecResult mtu = g.exec("ip", "link", "show", g.iface());
        assertTrue(mtu.stdout().contains("mtu 1500"), mtu::toString);
    }

    @Test
    void jumboPingAtMtu9000() throws Exception {
        NetnsGuest g = guest(9000);
        ExecResult mtu = g.exec("ip", "link", "show", g.iface());
        assertTrue(mtu.stdout().contains("mtu 9000"), () -> "DHCP option 26 applied: " + mtu);
        ExecResult ping = g.exec("ping", "-c", "3", "-s", "8972", "-M", "do", "-W", "2", "192.168.127.1");
        assertTrue(ping.stdout().contains(" 0% packet loss"), ping::toString);
    }
}
