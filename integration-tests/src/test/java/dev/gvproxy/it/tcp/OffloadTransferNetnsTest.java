package dev.gvproxy.it.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.network.VirtualNetwork;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A real guest (network namespace) whose gvforwarder-java TAP has checksum and TSO offloads and talks the
 * virtio-net header framing to the stack, at MTU 1500: bulk transfers both ways are byte-exact (SHA-256 on both
 * ends) while the guest's kernel hands over and takes 64 KiB segments ({@code transport.vnet.gso*} counters).
 * Size: {@code -Dgvproxy.it.tcp.bulkBytes} (default 256 MiB); throughput is printed, never asserted. Loss:
 * {@code -Dgvproxy.it.tcp.offloadLoss} (iptables in the guest, manual runs).
 */
@org.junit.jupiter.params.ParameterizedClass(name = "{0}")
@org.junit.jupiter.params.provider.EnumSource(GuestFamily.class)
class OffloadTransferNetnsTest extends TcpNetnsBase {
    /** Both families: the same transfers over IPv4 and over IPv6 (SLAAC guest, host alias to {@code ::1}). */
    @org.junit.jupiter.params.Parameter
    GuestFamily over;

    @org.junit.jupiter.api.BeforeEach
    void family() {
        family = over;
        servers.on(over.loopback());
    }

    /** {@code -Dgvproxy.it.tcp.offloadLoss=0.03}: random loss by iptables in the guest (default none). */
    static final double LOSS = Double.parseDouble(System.getProperty("gvproxy.it.tcp.offloadLoss", "0"));

    NetnsGuest offloadGuest() throws Exception {
        NetnsGuest g = guest(VirtualNetwork.builder(), NetnsGuest.builder("unix://" + dir.resolve("gv.sock"))
                .offload(true));
        ExecResult link = g.exec("ip", "link", "show", g.iface());
        assertTrue(link.stdout().contains("mtu 1500"), () -> "the guest runs at MTU 1500: " + link);
        assertEquals(1, net.internals().counters().get("transport.connectVnet"), "the offload framing was negotiated");
        if (LOSS > 0) {
            // Manual runs: random loss of whole (GSO) packets in the guest, both ways, as ImpairedTransferNetnsTest.
            for (String[] c : new String[][] {{"INPUT", "-i"}, {"OUTPUT", "-o"}}) {
                ExecResult r = g.exec(family.iptables(), "-A", c[0], c[1], g.iface(), "-m", "statistic", "--mode", "random",
                        "--probability", Double.toString(LOSS), "-j", "DROP");
                org.junit.jupiter.api.Assumptions.assumeTrue(r.ok(), () -> "iptables statistic unavailable: " + r);
            }
        }
        return g;
    }

    long counter(String name) {
        return net.internals().counters().get(name);
    }

    @Test
    void guestToHostWithOffloads() throws Exception {
        int port = servers.sink();
        NetnsGuest g = offloadGuest();
        Path sent = dir.resolve("sent.sha");
        long t0 = System.nanoTime();
        ExecResult r = sh(g, Duration.ofSeconds(900), "head -c " + BULK + " /dev/urandom | tee >(sha256sum | cut -d' ' -f1 > "
                + sent + ") | socat -t 60 - " + family.socatTarget(port));
        double secs = (System.nanoTime() - t0) / 1e9;
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
        assertTrue(counter("transport.vnet.gsoIn") > 0, "the guest sent large segments");
        System.out.printf(family + " offload guest->host %d bytes: %.1f s, %.1f Mbit/s, %d GSO frames in%n", BULK, secs,
                BULK * 8 / secs / 1e6, counter("transport.vnet.gsoIn"));
    }

    @Test
    void hostToGuestWithOffloads() throws Exception {
        CompletableFuture<String> digest = new CompletableFuture<>();
        int port = servers.source(BULK, digest);
        NetnsGuest g = offloadGuest();
        long t0 = System.nanoTime();
        ExecResult r = sh(g, Duration.ofSeconds(900), "socat -u " + family.socatTarget(port) + " - | sha256sum");
        double secs = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        assertEquals(digest.get(10, TimeUnit.SECONDS), r.stdout().trim().split(" ")[0], "SHA-256 the guest received");
        assertTrue(counter("transport.vnet.gsoOut") > 0, "the stack sent large segments");
        System.out.printf(family + " offload host->guest %d bytes: %.1f s, %.1f Mbit/s, %d GSO frames out%n", BULK, secs,
                BULK * 8 / secs / 1e6, counter("transport.vnet.gsoOut"));
    }
}
