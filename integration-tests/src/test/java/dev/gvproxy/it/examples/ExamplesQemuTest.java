package dev.gvproxy.it.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.examples.QemuExample;
import dev.gvproxy.it.qemu.QemuGuest;
import dev.gvproxy.network.VirtualNetwork;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Boots the QEMU guest harness (Debian kernel, busybox initramfs, TCG) on QemuExample's network with QemuExample's
 * own QEMU flags; skipped with a clear message where QEMU or the guest assets are missing. Traffic: the gateway and
 * the host alias (a server on 127.0.0.1) only.
 */
class ExamplesQemuTest {
    @TempDir
    Path tmp;

    /**
     * The guest gets the address the example promises by DHCP (192.168.127.2 for the example's MAC), pings the
     * gateway and exchanges a line with a host server through the host alias.
     */
    @Test
    void qemuExampleNetworkServesAGuest() throws Exception {
        QemuGuest.assumeAvailable();
        Path sock = tmp.resolve("net.sock").toAbsolutePath();
        try (ServerSocket host = new ServerSocket(0, 4, InetAddress.getLoopbackAddress());
                VirtualNetwork net = QemuExample.network(sock)) {
            Thread server = Thread.ofVirtual().start(() -> ExamplesNetnsTest.answerOneLine(host));
            QemuGuest guest = QemuGuest.builder("example-qemu")
                    .network(QemuExample.qemuFlags(sock))
                    .dhcp()
                    .command("ip -4 -o addr show dev eth0 | grep -q 'inet 192.168.127.2/24'"
                            + " && ping -c 2 -W 5 192.168.127.1"
                            + " && echo example | nc 192.168.127.254 " + host.getLocalPort() + " | grep -q 'pong example'"
                            + " && echo EXAMPLE-OK")
                    .build();
            QemuGuest.Result r;
            try (QemuGuest running = guest.start()) {
                r = running.awaitResult();
            }
            String counters = "\ncounters: " + net.internals().counters().snapshot();
            assertEquals(0, r.exitCode(), r.console() + counters);
            assertTrue(r.console().contains("EXAMPLE-OK"), r.console());
            server.join(java.time.Duration.ofSeconds(10));
        }
    }
}
