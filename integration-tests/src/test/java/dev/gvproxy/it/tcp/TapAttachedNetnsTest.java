package dev.gvproxy.it.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.transport.Listener;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A namespace guest whose TAP the network's event loop reads and writes itself ({@code VirtualNetwork.attachTap}),
 * with no gvforwarder-java: bulk transfers both ways byte-exact (SHA-256 on both ends), over IPv4 and IPv6 (SLAAC
 * from the gateway), without and with offloads (virtio-net header: the guest's kernel hands over and takes 64 KiB
 * segments, {@code transport.vnet.gso*}). Under the NIO transport (the suite's second run) the TAP is watched by
 * the fallback thread instead of the loop's epoll set. Deleting the interface ends the attachment.
 */
@ParameterizedClass(name = "{0} offload={1}")
@CsvSource({"IPV4, false", "IPV4, true", "IPV6, false", "IPV6, true"})
class TapAttachedNetnsTest extends TcpNetnsBase {
    static final long BYTES = Long.getLong("gvproxy.it.tcp.tapBytes", 64L << 20);

    @Parameter(0)
    GuestFamily over;

    @Parameter(1)
    boolean offload;

    Listener tap;

    @BeforeEach
    void family() {
        family = over;
        servers.on(over.loopback());
    }

    NetnsGuest tapGuest() throws Exception {
        NetnsGuest g = guest(VirtualNetwork.builder(), NetnsGuest.builder("unix://" + dir.resolve("gv.sock"))
                .staticAddress("192.168.127.2/24")
                .attachTapDirectly((netns, iface) -> tap = net.attachTap(
                        "tap://" + iface + "?netns=" + netns + (offload ? "&offload=true" : ""))));
        assertEquals(null, g.forwarder(), "no agent");
        return g;
    }

    long counter(String name) {
        return net.internals().counters().get(name);
    }

    @Test
    void bulkBothWaysIsByteExact() throws Exception {
        NetnsGuest g = tapGuest();
        ExecResult ping = g.exec("ping", "-c", "2", "-i", "0.2", "-W", "2", "192.168.127.1");
        assertTrue(ping.ok(), () -> "the gateway answers pings over the TAP: " + ping);
        double up = guestToHost(g, BYTES);
        double down = hostToGuest(g, BYTES);
        System.out.println(family + " offload=" + offload + " TAP attached directly: guest->host " + rate(BYTES, up)
                + ", host->guest " + rate(BYTES, down));
        if (offload) {
            assertTrue(counter("transport.vnet.gsoIn") > 0, "the guest sent large segments");
            assertTrue(counter("transport.vnet.gsoOut") > 0, "the stack sent large segments");
        } else {
            assertEquals(0, counter("transport.vnet.gsoIn") + counter("transport.vnet.gsoOut"), "no virtio-net header");
        }
        assertEquals(0, counter("transport.tap.writeError"), "every frame to the guest was written");
    }

    @Test
    void deletingTheInterfaceEndsTheAttachment() throws Exception {
        NetnsGuest g = tapGuest();
        assertTrue(g.exec("ping", "-c", "1", "-W", "2", "192.168.127.1").ok(), "attached");
        assertTrue(g.exec("ip", "link", "del", g.iface()).ok(), "interface deleted");
        tap.closeFuture().get(10, TimeUnit.SECONDS);
        NetnsGuest.await(Duration.ofSeconds(5), "the switch port detached",
                () -> net.internals().call(() -> net.internals().virtualSwitch().ports().isEmpty()),
                () -> "ports: " + net.internals().call(() -> net.internals().virtualSwitch().ports()));
    }
}
