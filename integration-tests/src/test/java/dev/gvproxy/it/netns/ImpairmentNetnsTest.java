package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.link.Impairment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The agent's impairment stage, observed by real kernels: loss, duplication and delay as ping sees them. */
class ImpairmentNetnsTest {
    private static final Pattern LOSS = Pattern.compile("(\\d+(?:\\.\\d+)?)% packet loss");
    private static final Pattern RTT_MIN = Pattern.compile("= (\\d+\\.\\d+)/");

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    private NetnsGuest[] pair(Impairment out, Impairment in) throws Exception {
        TestHub hub = guests.track(new TestHub(dir.resolve("hub.sock")));
        NetnsGuest a = guests.start(NetnsGuest.builder(hub.url()).mac("5a:94:ef:e4:0c:0a")
                .staticAddress("192.168.127.10/24").impair(out, in));
        NetnsGuest b = guests.start(NetnsGuest.builder(hub.url()).mac("5a:94:ef:e4:0c:0b")
                .staticAddress("192.168.127.11/24"));
        // Static neighbours: ARP is not what these tests measure.
        a.exec("ip", "neigh", "replace", "192.168.127.11", "lladdr", b.mac(), "dev", "tap0").check();
        b.exec("ip", "neigh", "replace", "192.168.127.10", "lladdr", a.mac(), "dev", "tap0").check();
        return new NetnsGuest[] {a, b};
    }

    @Test
    void lossDropsAShareOfPings() throws Exception {
        NetnsGuest[] g = pair(Impairment.none().withSeed(11).withLoss(0.3), null);
        ExecResult ping = g[0].exec("ping", "-c", "60", "-i", "0.02", "-W", "1", "192.168.127.11");
        Matcher m = LOSS.matcher(ping.stdout());
        assertTrue(m.find(), ping::toString);
        double loss = Double.parseDouble(m.group(1));
        assertTrue(loss >= 10 && loss <= 60, "loss " + loss + "%\n" + ping);
        assertTrue(g[0].forwarder().framesDroppedByImpairment() > 0);
    }

    @Test
    void duplicatesShowUpAsDup() throws Exception {
        NetnsGuest[] g = pair(null, Impairment.none().withDuplicate(1.0));
        ExecResult ping = g[0].exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "192.168.127.11");
        assertTrue(ping.stdout().contains("DUP!"), ping::toString);
    }

    @Test
    void delayAddsToTheRoundTrip() throws Exception {
        NetnsGuest[] g = pair(Impairment.none().withDelay(Duration.ofMillis(40), Duration.ZERO),
                Impairment.none().withDelay(Duration.ofMillis(40), Duration.ZERO));
        ExecResult ping = g[0].exec("ping", "-c", "4", "-i", "0.2", "-W", "2", "192.168.127.11");
        Matcher m = RTT_MIN.matcher(ping.stdout());
        assertTrue(ping.ok() && m.find(), ping::toString);
        assertTrue(Double.parseDouble(m.group(1)) >= 80, ping::toString);
    }
}
