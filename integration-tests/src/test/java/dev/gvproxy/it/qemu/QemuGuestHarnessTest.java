package dev.gvproxy.it.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The harness itself: exit codes, baked-in files, the DHCP path of the guest's init, and that a hung guest is killed.
 * DHCP is exercised against the test responder until the stack has its DHCP server; guests that need no network use
 * QEMU's own slirp with {@code restrict=on} (isolated: no traffic leaves QEMU).
 */
@Timeout(300)
class QemuGuestHarnessTest {
    private static final String ISOLATED = "user,id=n0,restrict=on";

    @TempDir
    Path tmp;

    @Test
    void exitCodeAndBakedInFileReachTheHost() throws Exception {
        QemuGuest.assumeAvailable();
        try (QemuGuest guest = QemuGuest.builder("harness-exit-code")
                .netdev(ISOLATED)
                .staticIpv4("10.0.2.15/24", null)
                .command("echo from-cmdline; test \"$(cat /proc/sys/kernel/hostname)\" = gvj-guest")
                .file("/etc/gvj/test.sh", "echo from-file; exit 7\n".getBytes(StandardCharsets.UTF_8))
                .start()) {
            QemuGuest.Result r = guest.awaitResult();
            assertEquals(7, r.exitCode(), r.console());
            assertTrue(r.console().contains("from-cmdline"), r.console());
            assertTrue(r.console().contains("from-file"), r.console());
            assertTrue(Files.readString(r.log(), StandardCharsets.ISO_8859_1).contains("GVJ-RESULT:"));
        }
    }

    @Test
    void dhcpConfiguresAddressRouteMtuAndResolver() throws Exception {
        QemuGuest.assumeAvailable();
        Path sock = tmp.resolve("qemu.sock");
        try (TestResponder responder = TestResponder.stream(sock);
                QemuGuest guest = QemuGuest.builder("harness-dhcp")
                        .netdev(QemuGuest.streamUnix(sock))
                        .dhcp()
                        .command("ip -4 addr show dev eth0 | grep -q 'inet 192.168.127.2/24'"
                                + " && ip route | grep -q 'default via 192.168.127.1 dev eth0'"
                                + " && test \"$(cat /sys/class/net/eth0/mtu)\" = " + TestResponder.DHCP_MTU
                                + " && grep -q '^nameserver 192.168.127.1' /etc/resolv.conf"
                                + " && grep -q '^domain gvj.test' /etc/resolv.conf"
                                + " && ping -c 1 -W 5 192.168.127.1")
                        .start()) {
            QemuGuest.Result r = guest.awaitResult();
            assertEquals(0, r.exitCode(), r.console());
            assertTrue(r.console().contains("gvj: dhcp bound ip=192.168.127.2/24 router=192.168.127.1 mtu=1400"),
                    r.console());
            assertNotNull(r.netReady());
            assertTrue(responder.dhcpReplies.get() >= 2, "offer and ack");
        }
    }

    @Test
    void guestPingsTestResponderOverStreamAndDatagram() throws Exception {
        QemuGuest.assumeAvailable();
        Path sock = tmp.resolve("stream.sock");
        try (TestResponder responder = TestResponder.stream(sock);
                QemuGuest guest = QemuGuest.builder("harness-responder-stream")
                        .netdev(QemuGuest.streamUnix(sock))
                        .staticIpv4("192.168.127.2/24", "192.168.127.1")
                        .command("ping -c 2 -i 0.2 -W 5 192.168.127.1")
                        .start()) {
            assertEquals(0, guest.awaitResult().exitCode(), guest.console());
            assertTrue(responder.echoReplies.get() >= 2);
        }
        Path gv = tmp.resolve("gv.sock");
        try (TestResponder responder = TestResponder.datagram(gv);
                QemuGuest guest = QemuGuest.builder("harness-responder-dgram")
                        .netdev(QemuGuest.dgramUnix(tmp.resolve("vm.sock"), gv))
                        .staticIpv4("192.168.127.2/24", "192.168.127.1")
                        .command("ping -c 2 -i 0.2 -W 5 192.168.127.1")
                        .start()) {
            assertEquals(0, guest.awaitResult().exitCode(), guest.console());
            assertTrue(responder.echoReplies.get() >= 2);
        }
    }

    @Test
    void hungGuestTimesOutAndIsKilled() throws Exception {
        QemuGuest.assumeAvailable();
        QemuGuest guest = QemuGuest.builder("harness-timeout")
                .netdev(ISOLATED)
                .command("echo hanging; while :; do sleep 1; done")
                .timeout(Duration.ofSeconds(2))
                .start();
        try (guest) {
            AssertionError e = assertThrows(AssertionError.class, guest::awaitResult);
            assertTrue(e.getMessage().contains("no result from guest harness-timeout"), e.getMessage());
        }
        assertFalse(guest.isRunning(), "QEMU must be dead after close()");
    }

    @Test
    void cpioOverlayHasNewcHeadersAndTrailer() {
        byte[] a = new CpioNewc().file("/etc/gvj/x", 0644, new byte[] {1, 2, 3}).finish();
        String s = new String(a, StandardCharsets.ISO_8859_1);
        assertTrue(s.startsWith("070701"));
        assertTrue(s.contains("etc/gvj/x\0"));
        assertTrue(s.contains("TRAILER!!!\0"));
        assertEquals(0, a.length % 4);
    }
}
