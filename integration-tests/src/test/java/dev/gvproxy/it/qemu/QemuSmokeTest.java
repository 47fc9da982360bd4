package dev.gvproxy.it.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A real guest pings the gateway over each QEMU socket transport. */
@Timeout(300)
class QemuSmokeTest {
    private static final String PING = "ping -c 5 -i 0.2 -W 5 192.168.127.1";

    @TempDir
    Path tmp;

    @Test
    void guestPingsGatewayOverStreamSocket() throws Exception {
        QemuGuest.assumeAvailable();
        Path sock = tmp.resolve("qemu.sock");
        try (TestResponder responder = TestResponder.stream(sock);
                QemuGuest guest = QemuGuest.builder("smoke-stream-responder")
                        .netdev(QemuGuest.streamUnix(sock))
                        .staticIpv4("192.168.127.2/24", "192.168.127.1").mtu(1500)
                        .command(PING)
                        .start()) {
            QemuGuest.Result r = guest.awaitResult();
            assertEquals(0, r.exitCode(), r.console());
            assertTrue(r.console().contains("5 packets transmitted, 5 packets received"), r.console());
            assertTrue(responder.echoReplies.get() >= 5);
            System.out.printf("stream: net ready %s, done %s%n", r.netReady(), r.total());
        }
    }

    @Test
    void guestPingsGatewayOverDatagramSocket() throws Exception {
        QemuGuest.assumeAvailable();
        Path gv = tmp.resolve("gv.sock");
        Path qemu = tmp.resolve("qemu.sock");
        try (TestResponder responder = TestResponder.datagram(gv);
                QemuGuest guest = QemuGuest.builder("smoke-dgram-responder")
                        .netdev(QemuGuest.dgramUnix(qemu, gv))
                        .staticIpv4("192.168.127.2/24", "192.168.127.1").mtu(1500)
                        .command(PING)
                        .start()) {
            QemuGuest.Result r = guest.awaitResult();
            assertEquals(0, r.exitCode(), r.console());
            assertTrue(r.console().contains("5 packets transmitted, 5 packets received"), r.console());
            assertTrue(responder.echoReplies.get() >= 5);
            System.out.printf("dgram: net ready %s, done %s%n", r.netReady(), r.total());
        }
    }

    @Test
    void bigFramesAtMtu65520OverStreamSocket() throws Exception {
        QemuGuest.assumeAvailable();
        Path sock = tmp.resolve("qemu.sock");
        try (TestResponder responder = TestResponder.stream(sock);
                QemuGuest guest = QemuGuest.builder("smoke-stream-mtu65520")
                        .netdev(QemuGuest.streamUnix(sock))
                        .staticIpv4("192.168.127.2/24", "192.168.127.1").mtu(65520)
                        .command("ping -c 3 -i 0.2 -W 5 -s 65000 192.168.127.1")
                        .start()) {
            QemuGuest.Result r = guest.awaitResult();
            assertEquals(0, r.exitCode(), r.console());
        }
    }
}
