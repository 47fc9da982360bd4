package dev.gvproxy.it.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.transport.Listener;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real guest pings gvproxy-java's gateway over each QEMU socket transport: {@code -netdev stream} against
 * {@link VirtualNetwork#listenQemu} and {@code -netdev dgram} against {@link VirtualNetwork#listenDatagram}. Each run
 * leaves the console log and a pcap of the switch in {@code target/qemu-logs/<guest>/}.
 */
@Timeout(300)
class QemuSmokeTest {
    private static final String PING = "ping -c 5 -i 0.2 -W 5 192.168.127.1";

    @TempDir
    Path tmp;

    @Test
    void guestPingsGatewayOverStreamSocket() throws Exception {
        QemuGuest.assumeAvailable();
        Path sock = tmp.resolve("qemu.sock");
        QemuGuest guest = QemuGuest.builder("smoke-stream")
                .netdev(QemuGuest.streamUnix(sock))
                .staticIpv4("192.168.127.2/24", "192.168.127.1").mtu(1500)
                .command(PING)
                .build();
        try (VirtualNetwork net = VirtualNetwork.builder().pcap(guest.logDir().resolve("net.pcap")).build();
                Listener listener = net.listenQemu("unix://" + sock.toAbsolutePath());
                QemuGuest running = guest.start()) {
            QemuGuest.Result r = running.awaitResult();
            assertEquals(0, r.exitCode(), r.console() + "\ncounters: " + net.internals().counters().snapshot());
            assertTrue(r.console().contains("5 packets transmitted, 5 packets received"), r.console());
            assertEquals(5, net.internals().counters().get("icmp.out.echoReplies"));
            System.out.printf("stream: net ready %s, done %s%n", r.netReady(), r.total());
        }
    }

    @Test
    void guestPingsGatewayOverDatagramSocket() throws Exception {
        QemuGuest.assumeAvailable();
        Path gv = tmp.resolve("gv.sock");
        QemuGuest guest = QemuGuest.builder("smoke-dgram")
                .netdev(QemuGuest.dgramUnix(tmp.resolve("vm.sock"), gv))
                .staticIpv4("192.168.127.2/24", "192.168.127.1").mtu(1500)
                .command(PING)
                .build();
        try (VirtualNetwork net = VirtualNetwork.builder().pcap(guest.logDir().resolve("net.pcap")).build();
                Listener listener = net.listenDatagram("unixgram://" + gv.toAbsolutePath());
                QemuGuest running = guest.start()) {
            QemuGuest.Result r = running.awaitResult();
            assertEquals(0, r.exitCode(), r.console() + "\ncounters: " + net.internals().counters().snapshot());
            assertTrue(r.console().contains("5 packets transmitted, 5 packets received"), r.console());
            assertEquals(5, net.internals().counters().get("icmp.out.echoReplies"));
            System.out.printf("dgram: net ready %s, done %s%n", r.netReady(), r.total());
        }
    }

    @Test
    void bigFramesAtMtu65520OverStreamSocket() throws Exception {
        QemuGuest.assumeAvailable();
        Path sock = tmp.resolve("qemu.sock");
        try (VirtualNetwork net = VirtualNetwork.builder().mtu(65520).build();
                Listener listener = net.listenQemu("unix://" + sock.toAbsolutePath());
                QemuGuest guest = QemuGuest.builder("smoke-stream-mtu65520")
                        .netdev(QemuGuest.streamUnix(sock))
                        .staticIpv4("192.168.127.2/24", "192.168.127.1").mtu(65520)
                        // 65000 bytes of payload: one 65042-byte frame each way, no fragmentation.
                        .command("ping -c 3 -i 0.2 -W 5 -s 65000 192.168.127.1")
                        .start()) {
            QemuGuest.Result r = guest.awaitResult();
            assertEquals(0, r.exitCode(), r.console() + "\ncounters: " + net.internals().counters().snapshot());
            assertEquals(0, net.internals().counters().get("ipv4.out.fragments"));
        }
    }

    @Test
    void twoGuestsOnDifferentTransportsPingEachOtherThroughTheSwitch() throws Exception {
        QemuGuest.assumeAvailable();
        Path stream = tmp.resolve("qemu.sock");
        Path gv = tmp.resolve("gv.sock");
        try (VirtualNetwork net = VirtualNetwork.builder().build();
                Listener qemuListener = net.listenQemu("unix://" + stream.toAbsolutePath());
                Listener dgramListener = net.listenDatagram("unixgram://" + gv.toAbsolutePath());
                // A waits for B's "done" over TCP (guest to guest, switched at L2); B waits until A answers, then pings
                // A and the gateway, then tells A. No timing assumptions between the two boots.
                QemuGuest a = QemuGuest.builder("switch-a-stream")
                        .netdev(QemuGuest.streamUnix(stream))
                        .staticIpv4("192.168.127.2/24", "192.168.127.1")
                        .command("nc -l -p 5000 | grep -q done")
                        .start();
                QemuGuest b = QemuGuest.builder("switch-b-dgram")
                        .netdev(QemuGuest.dgramUnix(tmp.resolve("vm-b.sock"), gv))
                        .mac("5a:94:ef:e4:0c:ef")
                        .staticIpv4("192.168.127.3/24", "192.168.127.1")
                        .command("i=0; until ping -c 1 -W 1 192.168.127.2 >/dev/null; do"
                                + " i=$((i+1)); [ $i -lt 60 ] || exit 9; done;"
                                + " ping -c 3 -i 0.2 -W 5 192.168.127.2 && ping -c 1 -W 5 192.168.127.1"
                                + " && echo done | nc 192.168.127.2 5000")
                        .start()) {
            QemuGuest.Result rb = b.awaitResult();
            QemuGuest.Result ra = a.awaitResult();
            String counters = "\ncounters: " + net.internals().counters().snapshot();
            assertEquals(0, rb.exitCode(), rb.console() + counters);
            assertEquals(0, ra.exitCode(), ra.console() + counters);
            // (No CAM assertion here: A's port detached, and its MAC was forgotten, when A powered off.)
        }
    }
}
