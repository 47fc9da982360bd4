package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.transport.Listener;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Namespace guests on the real stack: {@link VirtualNetwork} serving {@code /connect} on a unix socket. */
class RealStackNetnsTest {
    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    private String startNetwork() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        String url = "unix://" + dir.resolve("gvproxy.sock");
        net.listenApi(url);
        return url;
    }

    @Test
    void twoGuestsPingEachOtherThroughTheSwitch() throws Exception {
        String url = startNetwork();
        NetnsGuest a = guests.start(NetnsGuest.builder(url).mac("5a:94:ef:e4:0c:0a")
                .staticAddress("192.168.127.10/24"));
        NetnsGuest b = guests.start(NetnsGuest.builder(url).mac("5a:94:ef:e4:0c:0b")
                .staticAddress("192.168.127.11/24"));
        ExecResult ping = a.exec("ping", "-c", "5", "-i", "0.2", "-W", "2", "192.168.127.11");
        assertEquals(0, ping.exitCode(), () -> ping + "\n" + a.diagnostics() + b.diagnostics());
        assertTrue(ping.stdout().contains(" 0% packet loss"), ping::toString);
    }

    @Test
    void guestPingsTheGateway() throws Exception {
        String url = startNetwork();
        NetnsGuest g = guests.start(NetnsGuest.builder(url).staticAddress("192.168.127.10/24")
                .staticGateway("192.168.127.1"));
        ExecResult ping = g.exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "192.168.127.1");
        assertEquals(0, ping.exitCode(), () -> ping + "\n" + g.diagnostics());
        assertTrue(ping.stdout().contains(" 0% packet loss"), ping::toString);
        ExecResult neigh = g.exec("ip", "neigh", "show", "192.168.127.1");
        assertTrue(neigh.stdout().contains("5a:94:ef:e4:0c:dd"), neigh::toString); // gvproxy's gateway MAC
    }

    @Test
    void agentDialsTcpEndpoints() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        Listener l = net.listenApi("tcp://127.0.0.1:0");
        int port = ((InetSocketAddress) l.localAddress()).getPort();
        NetnsGuest g = guests.start(NetnsGuest.builder("tcp://127.0.0.1:" + port)
                .staticAddress("192.168.127.10/24"));
        ExecResult ping = g.exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "192.168.127.1");
        assertEquals(0, ping.exitCode(), () -> ping + "\n" + g.diagnostics());
    }

    /** Spec 2.4: the agent redoes everything when gvproxy goes away, and the guest works again after a restart. */
    @Test
    void guestRecoversWhenGvproxyRestarts() throws Exception {
        Path sock = dir.resolve("gvproxy.sock");
        String url = "unix://" + sock;
        VirtualNetwork first = VirtualNetwork.builder().build();
        try {
            first.listenApi(url);
            NetnsGuest g = guests.start(NetnsGuest.builder(url).staticAddress("192.168.127.10/24"));
            assertTrue(g.exec("ping", "-c", "1", "-W", "2", "192.168.127.1").ok(), g::diagnostics);
            long attemptsBefore = g.forwarder().attempts();
            first.close();
            NetnsGuest.await(Duration.ofSeconds(10), "agent noticing gvproxy is gone",
                    () -> g.forwarder().attempts() > attemptsBefore, g::diagnostics);

            VirtualNetwork second = guests.track(VirtualNetwork.builder().build());
            second.listenApi(url);
            NetnsGuest.await(Duration.ofSeconds(20), "gateway reachable after the restart", () -> {
                try {
                    return g.exec("ping", "-c", "1", "-W", "1", "192.168.127.1").ok();
                } catch (Exception e) {
                    return false;
                }
            }, g::diagnostics);
        } finally {
            first.close();
        }
    }

    /** The full gvforwarder flow: the agent creates the TAP, and udhcpc gets gvproxy's static lease for its MAC. */
    @Test
    void dhcpGivesTheDefaultMacItsStaticLease() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        String url = "unix://" + dir.resolve("gvproxy.sock");
        net.listenApi(url);
        NetnsGuest g = guests.start(NetnsGuest.builder(url).manageResolvConf(true));
        assertEquals("192.168.127.2", g.awaitAddress(Duration.ofSeconds(30)), g::diagnostics);
        NetnsGuest.await(Duration.ofSeconds(10), "default route via the gateway", () -> {
            try {
                return g.exec("ip", "route", "show", "default").stdout().contains("via 192.168.127.1");
            } catch (Exception e) {
                return false;
            }
        }, g::diagnostics);
        assertTrue(g.exec("ip", "link", "show", "tap0").stdout().contains("mtu 1500"), g::diagnostics);
        NetnsGuest.await(Duration.ofSeconds(10), "resolv.conf", () -> Files.exists(g.resolvConf()), g::diagnostics);
        assertTrue(Files.readString(g.resolvConf()).contains("nameserver 192.168.127.1"),
                () -> g.resolvConf() + " has no gateway nameserver");
        ExecResult ping = g.exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "192.168.127.1");
        assertEquals(0, ping.exitCode(), () -> ping + "\n" + g.diagnostics());
    }
}
