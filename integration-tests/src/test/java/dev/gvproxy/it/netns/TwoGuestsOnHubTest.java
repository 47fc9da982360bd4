package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The harness itself: two namespaces pumped by gvforwarder-java onto a test hub reach each other. */
class TwoGuestsOnHubTest {
    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    @Test
    void guestsPingEachOther() throws Exception {
        TestHub hub = guests.track(new TestHub(dir.resolve("hub.sock")));
        NetnsGuest a = guests.start(NetnsGuest.builder(hub.url()).mac("5a:94:ef:e4:0c:0a")
                .staticAddress("192.168.127.10/24"));
        NetnsGuest b = guests.start(NetnsGuest.builder(hub.url()).mac("5a:94:ef:e4:0c:0b")
                .staticAddress("192.168.127.11/24"));
        NetnsGuest.await(Duration.ofSeconds(10), "both guests attached", () -> hub.clients() == 2, () -> "");

        ExecResult ping = a.exec("ping", "-c", "5", "-i", "0.2", "-W", "2", "192.168.127.11");
        assertEquals(0, ping.exitCode(), () -> ping + "\n" + a.diagnostics() + b.diagnostics());
        assertTrue(ping.stdout().contains(" 0% packet loss"), ping::toString);
        assertTrue(b.exec("ping", "-c", "1", "-W", "2", "192.168.127.10").ok());
        assertTrue(a.forwarder().framesToGvproxy() >= 5);
        assertTrue(b.forwarder().framesFromGvproxy() >= 5);
    }

    @Test
    void teardownRemovesNamespaceAndProcesses() throws Exception {
        TestHub hub = guests.track(new TestHub(dir.resolve("hub.sock")));
        NetnsGuest g = NetnsGuest.builder(hub.url()).staticAddress("192.168.127.10/24").manageResolvConf(true)
                .start();
        String name = g.name();
        Process sleeper = g.spawn("sleep", "600");
        assertTrue(Files.isDirectory(Path.of("/etc/netns", name)));
        assertTrue(Files.exists(Path.of("/var/run/netns", name)));
        g.close();
        assertTrue(sleeper.waitFor(5, java.util.concurrent.TimeUnit.SECONDS), "spawned process survived");
        assertTrue(!Files.exists(Path.of("/var/run/netns", name)), "namespace left behind");
        assertTrue(!Files.exists(Path.of("/etc/netns", name)), "/etc/netns dir left behind");
        g.close(); // idempotent
    }
}
