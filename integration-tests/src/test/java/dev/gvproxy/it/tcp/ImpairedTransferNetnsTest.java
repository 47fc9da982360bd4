package dev.gvproxy.it.tcp;

import dev.gvproxy.network.VirtualNetwork;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.stack.link.Impairment;
import dev.gvproxy.stack.link.LinkImpairment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Bulk transfers over a bad link, byte-exact (SHA-256 on both ends). The kernels here have no netem, so the
 * impairment is split: random loss by iptables in the guest namespace (3% of tap0's input and output), and
 * reorder 25%, duplicate 1%, delay 5 ms by {@link LinkImpairment} on every frame the stack sends. Sizes
 * come from {@code -Dgvproxy.it.tcp.bulkBytes} (default 256 MiB); throughput is printed, never asserted.
 */
@org.junit.jupiter.params.ParameterizedClass(name = "{0}")
@org.junit.jupiter.params.provider.EnumSource(GuestFamily.class)
class ImpairedTransferNetnsTest extends TcpNetnsBase {
    /** Both families: the same transfers over IPv4 and over IPv6 (SLAAC guest, host alias to {@code ::1}). */
    @org.junit.jupiter.params.Parameter
    GuestFamily over;

    @org.junit.jupiter.api.BeforeEach
    void family() {
        family = over;
        servers.on(over.loopback());
    }

    /**
     * Host -> guest under impairment is slow (a few Mbit/s: the stack's sender still loses time to timeouts
     * under 25% reordering plus 3% loss), so CI moves 32 MiB that way; {@code -Dgvproxy.it.tcp.impairedBytes}
     * sets more.
     */
    static final long HOST_TO_GUEST = Long.getLong("gvproxy.it.tcp.impairedBytes", 32L << 20);

    /** 25% of the guest's frames held back 5 ms (netem's reorder: the other 75% skip the delay), 1% duplicated. */
    static final Impairment GUEST_SIDE = Impairment.none().withSeed(0x6e57).withDelay(Duration.ofMillis(5))
            .withReorder(0.75).withDuplicate(0.01);

    /** 75% of the stack's frames held back 5 ms, 25% sent at once (reordered ahead of them), 1% duplicated. */
    static final Impairment STACK_SIDE = Impairment.none().withSeed(0x5eed).withDelay(Duration.ofMillis(5))
            .withReorder(0.25).withDuplicate(0.01);

    NetnsGuest impairedGuest() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/sbin/" + family.iptables())), "needs " + family.iptables());
        // The guest's own egress gets the netem-like reorder and duplication in gvforwarder-java's pump (this
        // kernel has no netem): 25% of the guest's frames held back 5 ms, 1% duplicated.
        NetnsGuest g = guest(VirtualNetwork.builder(), NetnsGuest.builder("unix://" + dir.resolve("gv.sock"))
                .impair(GUEST_SIDE, Impairment.none()));
        // Without this the guest hands tap0 up to 64 KiB GSO packets and iptables drops them whole: 3% of
        // packets would be far fewer than 3% of frames.
        g.exec("ethtool", "-K", g.iface(), "tso", "off", "gso", "off", "gro", "off");
        for (String chain : new String[] {"INPUT -i", "OUTPUT -o"}) {
            String[] c = chain.split(" ");
            ExecResult r = g.exec(family.iptables(), "-A", c[0], c[1], g.iface(), "-m", "statistic", "--mode", "random",
                    "--probability", "0.03", "-j", "DROP");
            Assumptions.assumeTrue(r.ok(), () -> "iptables statistic match unavailable: " + r);
        }
        impairStackEgress(STACK_SIDE);
        return g;
    }

    void printDrops(NetnsGuest g) throws Exception {
        System.out.println("guest iptables drops:\n" + g.exec(family.iptables(), "-nvxL").stdout());
    }

    @Test
    void guestToHostUnderImpairment() throws Exception {
        int port = servers.sink();
        NetnsGuest g = impairedGuest();
        Path sent = dir.resolve("sent.sha");
        long t0 = System.nanoTime();
        ExecResult r = sh(g, Duration.ofSeconds(900), "head -c " + BULK + " /dev/urandom | tee >(sha256sum | cut -d' ' -f1 > "
                + sent + ") | socat -t 60 - " + family.socatTarget(port));
        double secs = (System.nanoTime() - t0) / 1e9;
        printDrops(g);
        assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        String[] reply = r.stdout().trim().split(" ");
        NetnsGuest.await(Duration.ofSeconds(10), sent + " written", () -> {
            try {
                return Files.readString(sent).trim().length() == 64;
            } catch (java.io.IOException e) {
                return false;
            }
        }, () -> "");
        assertEquals(Files.readString(sent).trim(), reply[0], "SHA-256 of what the host received");
        assertEquals(Long.toString(BULK), reply[1]);
        System.out.printf(family + " impaired guest->host %d bytes: %.1f s, %.1f Mbit/s%n", BULK, secs, BULK * 8 / secs / 1e6);
    }

    @Test
    void hostToGuestUnderImpairment() throws Exception {
        CompletableFuture<String> digest = new CompletableFuture<>();
        int port = servers.source(HOST_TO_GUEST, digest);
        NetnsGuest g = impairedGuest();
        long t0 = System.nanoTime();
        ExecResult r = sh(g, Duration.ofSeconds(900), "socat -u " + family.socatTarget(port) + " - | sha256sum");
        double secs = (System.nanoTime() - t0) / 1e9;
        printDrops(g);
        assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        assertEquals(digest.get(10, TimeUnit.SECONDS), r.stdout().trim().split(" ")[0], "SHA-256 the guest received");
        System.out.printf(family + " impaired host->guest %d bytes: %.1f s, %.1f Mbit/s%n", HOST_TO_GUEST, secs,
                HOST_TO_GUEST * 8 / secs / 1e6);
    }
}
