package dev.gvproxy.it.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.network.VirtualNetwork;
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
            dropRandomly(g, LOSS); // manual runs: whole (GSO) packets, both ways
        }
        return g;
    }

    long counter(String name) {
        return net.internals().counters().get(name);
    }

    @Test
    void guestToHostWithOffloads() throws Exception {
        NetnsGuest g = offloadGuest();
        double secs = guestToHost(g, BULK);
        assertTrue(counter("transport.vnet.gsoIn") > 0, "the guest sent large segments");
        System.out.println(family + " offload guest->host " + rate(BULK, secs) + ", GSO frames in "
                + counter("transport.vnet.gsoIn"));
    }

    @Test
    void hostToGuestWithOffloads() throws Exception {
        NetnsGuest g = offloadGuest();
        double secs = hostToGuest(g, BULK);
        assertTrue(counter("transport.vnet.gsoOut") > 0, "the stack sent large segments");
        System.out.println(family + " offload host->guest " + rate(BULK, secs) + ", GSO frames out "
                + counter("transport.vnet.gsoOut"));
    }
}
