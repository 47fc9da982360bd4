package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.VirtualNetwork;
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
}
