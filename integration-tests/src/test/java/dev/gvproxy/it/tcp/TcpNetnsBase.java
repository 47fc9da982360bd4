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
 * SLAAC, for a test that runs over {@link GuestFamily#IPV6}). Public for the guest-to-host tests of other packages
 * ({@code dev.gvproxy.it.stack.TcpForwardingNetnsTest}).
 */
public abstract class TcpNetnsBase {
    /** Bulk transfer size for the impaired transfers (default 256 MiB). */
    static final long BULK = Long.getLong("gvproxy.it.tcp.bulkBytes", 256L << 20);

    @RegisterExtension
    protected final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    protected Path dir;

    protected final TcpServers servers = new TcpServers();
    protected VirtualNetwork net;
    /** The family the guest talks to host servers in; tests parameterised by family set it before starting. */
    protected GuestFamily family = GuestFamily.IPV4;
    LinkImpairment impairment;

    @AfterEach
    protected void stopServersAndReport() {
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

    protected NetnsGuest guest() throws Exception {
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

    protected static ExecResult sh(NetnsGuest g, Duration timeout, String script) throws Exception {
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

    /** {@link BulkTransfer#guestToHost} with this test's servers, family and directory. Returns seconds. */
    double guestToHost(NetnsGuest g, long bytes) throws Exception {
        return BulkTransfer.guestToHost(g, servers, family, dir, bytes, Duration.ofSeconds(900));
    }

    /** {@link BulkTransfer#hostToGuest} with this test's servers and family. Returns seconds. */
    double hostToGuest(NetnsGuest g, long bytes) throws Exception {
        return BulkTransfer.hostToGuest(g, servers, family, bytes, Duration.ofSeconds(900));
    }

    static String rate(long bytes, double secs) {
        return BulkTransfer.rate(bytes, secs);
    }
}
