package dev.gvproxy.it.tcp;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import dev.gvproxy.stack.link.Impairment;
import dev.gvproxy.stack.link.LinkImpairment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Shared set-up: a virtual network with the API on a unix socket and one namespace guest configured by DHCP (and
 * SLAAC, for a test that runs over {@link GuestFamily#IPV6}).
 */
abstract class TcpNetnsBase {
    /** Bulk transfer size for the impaired transfers (default 256 MiB). */
    static final long BULK = Long.getLong("gvproxy.it.tcp.bulkBytes", 256L << 20);

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    final TcpServers servers = new TcpServers();
    VirtualNetwork net;
    /** The family the guest talks to host servers in; tests parameterised by family set it before starting. */
    GuestFamily family = GuestFamily.IPV4;
    LinkImpairment impairment;

    @AfterEach
    void stopServersAndReport() {
        servers.close();
        if (net != null) {
            if (impairment != null) {
                LinkImpairment i = impairment;
                System.out.println("stack egress impairment: " + net.internals().call(i::toString));
                net.internals().run(i::close);
            }
            System.out.println("counters: " + net.internals().counters().snapshot().entrySet().stream()
                    .filter(e -> e.getValue() != 0).map(Object::toString).toList());
        }
    }

    NetnsGuest guest() throws Exception {
        return guest(VirtualNetwork.builder(), NetnsGuest.builder("unix://" + dir.resolve("gv.sock")));
    }

    NetnsGuest guest(VirtualNetwork.Builder nb, NetnsGuest.Builder gb) throws Exception {
        net = guests.track(nb.build());
        net.listenApi("unix://" + dir.resolve("gv.sock"));
        NetnsGuest g = guests.start(family.configure(gb));
        g.awaitAddress(Duration.ofSeconds(30));
        family.awaitAddress(g);
        return g;
    }

    /** Impairs every frame the stack sends towards the ports, on the network's event loop. */
    LinkImpairment impairStackEgress(Impairment spec) {
        LinkImpairment i = new LinkImpairment(spec, System::nanoTime,
                (task, delay) -> net.internals().eventLoop().schedule(task, delay, TimeUnit.NANOSECONDS),
                net.internals().virtualSwitch()::flush, 1 << 16);
        net.internals().run(() -> net.internals().virtualSwitch().setGatewayEgress(i));
        impairment = i;
        return i;
    }

    static ExecResult sh(NetnsGuest g, Duration timeout, String script) throws Exception {
        return g.exec(timeout, "bash", "-c", script);
    }

    /**
     * Random loss of {@code probability} of the guest's TAP packets both ways, by the family's netfilter
     * (statistic match); skips the test where the match is unavailable.
     */
    void dropRandomly(NetnsGuest g, double probability) throws Exception {
        for (String[] c : new String[][] {{"INPUT", "-i"}, {"OUTPUT", "-o"}}) {
            ExecResult r = g.exec(family.iptables(), "-A", c[0], c[1], g.iface(), "-m", "statistic", "--mode",
                    "random", "--probability", Double.toString(probability), "-j", "DROP");
            org.junit.jupiter.api.Assumptions.assumeTrue(r.ok(), () -> family.iptables() + " statistic match unavailable: " + r);
        }
    }

    /** What the guest's netfilter dropped (after a lossy run). */
    String drops(NetnsGuest g) throws Exception {
        return g.exec(family.iptables(), "-nvxL").stdout();
    }

    /**
     * {@code bytes} random bytes from the guest to a host sink through the family's host alias, half-closed: the
     * sink's SHA-256 and count must equal the guest's. Returns the seconds it took.
     */
    double guestToHost(NetnsGuest g, long bytes) throws Exception {
        int port = servers.sink();
        Path sent = dir.resolve("sent.sha");
        long t0 = System.nanoTime();
        ExecResult r = sh(g, Duration.ofSeconds(900), "head -c " + bytes + " /dev/urandom | tee >(sha256sum | cut -d' ' -f1 > "
                + sent + ") | socat -t 60 - " + family.socatTarget(port));
        double secs = (System.nanoTime() - t0) / 1e9;
        org.junit.jupiter.api.Assertions.assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        String[] reply = r.stdout().trim().split(" ");
        NetnsGuest.await(Duration.ofSeconds(10), sent + " written", () -> {
            try {
                return java.nio.file.Files.readString(sent).trim().length() == 64;
            } catch (java.io.IOException e) {
                return false;
            }
        }, () -> "");
        org.junit.jupiter.api.Assertions.assertEquals(java.nio.file.Files.readString(sent).trim(), reply[0],
                "SHA-256 of what the host received");
        org.junit.jupiter.api.Assertions.assertEquals(Long.toString(bytes), reply[1]);
        return secs;
    }

    /** {@code bytes} seeded bytes from a host source to the guest: the SHA-256 must match. Returns seconds. */
    double hostToGuest(NetnsGuest g, long bytes) throws Exception {
        java.util.concurrent.CompletableFuture<String> digest = new java.util.concurrent.CompletableFuture<>();
        int port = servers.source(bytes, digest);
        long t0 = System.nanoTime();
        ExecResult r = sh(g, Duration.ofSeconds(900), "socat -u " + family.socatTarget(port) + " - | sha256sum");
        double secs = (System.nanoTime() - t0) / 1e9;
        org.junit.jupiter.api.Assertions.assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        org.junit.jupiter.api.Assertions.assertEquals(digest.get(10, TimeUnit.SECONDS), r.stdout().trim().split(" ")[0],
                "SHA-256 the guest received");
        return secs;
    }

    static String rate(long bytes, double secs) {
        return String.format("%d bytes: %.1f s, %.1f Mbit/s", bytes, secs, bytes * 8 / secs / 1e6);
    }
}
