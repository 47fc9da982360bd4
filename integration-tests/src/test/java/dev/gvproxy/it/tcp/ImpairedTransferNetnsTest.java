package dev.gvproxy.it.tcp;

import dev.gvproxy.network.VirtualNetwork;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.stack.link.Impairment;
import dev.gvproxy.stack.link.LinkImpairment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
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
        dropRandomly(g, 0.03);
        impairStackEgress(STACK_SIDE);
        return g;
    }

    @Test
    void guestToHostUnderImpairment() throws Exception {
        NetnsGuest g = impairedGuest();
        double secs = guestToHost(g, BULK);
        System.out.println("guest drops:\n" + drops(g));
        System.out.println(family + " impaired guest->host " + rate(BULK, secs));
    }

    @Test
    void hostToGuestUnderImpairment() throws Exception {
        NetnsGuest g = impairedGuest();
        double secs = hostToGuest(g, HOST_TO_GUEST);
        System.out.println("guest drops:\n" + drops(g));
        System.out.println(family + " impaired host->guest " + rate(HOST_TO_GUEST, secs));
    }
}
