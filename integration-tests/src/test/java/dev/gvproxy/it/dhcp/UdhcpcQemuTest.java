package dev.gvproxy.it.dhcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.dhcp.DhcpConfig;
import dev.gvproxy.dhcp.DhcpServer;
import dev.gvproxy.it.qemu.QemuGuest;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.transport.Listener;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * busybox {@code udhcpc} in a QEMU guest (the qemu harness's {@code gvj.net=dhcp} boot) configures eth0 from the
 * stack-dhcp server: the device MAC gets 192.168.127.2, another MAC the next free address, with router, MTU,
 * DNS and search domains applied; a renewal (SIGUSR1: unicast REQUEST with ciaddr) keeps the address.
 * Skipped when QEMU or a guest kernel is unavailable.
 */
@Timeout(300)
class UdhcpcQemuTest {
    /** udhcpc hook: records each event, then applies it with the harness's own script. */
    static final String HOOK = """
            #!/bin/sh
            echo "$1 ip=$ip mtu=$mtu router=$router lease=$lease serverid=$serverid" >> /tmp/dhcp-events
            exec /etc/udhcpc.script "$@"
            """;

    /** Checks what init's udhcpc configured, then runs a second udhcpc and makes it renew. */
    static String command(String ip, int mtu) {
        return String.join("\n",
                "set -e",
                "ip -4 -o addr show dev eth0",
                "ip -4 -o addr show dev eth0 | grep -q 'inet " + ip + "/24'",
                "ip route | grep -q '^default via 192.168.127.1 dev eth0'",
                "test \"$(cat /sys/class/net/eth0/mtu)\" = " + mtu,
                "cat /etc/resolv.conf",
                "grep -q '^nameserver 192.168.127.1$' /etc/resolv.conf",
                "grep -q '^search corp.gvj.test gvj.test$' /etc/resolv.conf",
                "grep -q '^domain gvj.test$' /etc/resolv.conf",
                "udhcpc -i eth0 -f -t 5 -T 2 -s /etc/gvj/dhcp-hook.sh -O mtu -O search &",
                "pid=$!",
                "i=0; until grep -q '^bound' /tmp/dhcp-events 2>/dev/null; do i=$((i+1)); [ $i -lt 200 ]; sleep 0.1; done",
                "kill -USR1 $pid",
                "i=0; until grep -q '^renew' /tmp/dhcp-events; do i=$((i+1)); [ $i -lt 200 ]; sleep 0.1; done",
                "kill $pid",
                "cat /tmp/dhcp-events",
                "grep -q '^bound ip=" + ip + " mtu=" + mtu + " router=192.168.127.1 ' /tmp/dhcp-events",
                "grep -q '^renew ip=" + ip + " ' /tmp/dhcp-events",
                "ip -4 -o addr show dev eth0 | grep -q 'inet " + ip + "/24'",
                "echo DHCP-OK");
    }

    @TempDir
    Path tmp;

    void run(String name, String mac, String expectedIp) throws Exception {
        QemuGuest.assumeAvailable();
        Path sock = tmp.resolve("qemu.sock");
        int mtu = 1400;
        QemuGuest guest = QemuGuest.builder(name)
                .netdev(QemuGuest.streamUnix(sock))
                .mac(mac)
                .dhcp()
                .file("/etc/gvj/dhcp-hook.sh", HOOK.getBytes(StandardCharsets.UTF_8))
                .command(command(expectedIp, mtu))
                .build();
        StackConfig cfg = StackConfig.builder().mtu(mtu).build();
        DhcpConfig dhcp = DhcpConfig.builder(cfg)
                .domainName("gvj.test")
                .searchDomains(List.of("corp.gvj.test", "gvj.test"))
                .build();
        try (VirtualNetwork net = VirtualNetwork.builder().config(cfg).dhcp(true, dhcp)
                        .pcap(guest.logDir().resolve("net.pcap")).build();
                Listener listener = net.listenQemu("unix://" + sock.toAbsolutePath())) {
            DhcpServer server = net.internals().dhcp();
            QemuGuest.Result r;
            try (QemuGuest running = guest.start()) {
                r = running.awaitResult();
            }
            String counters = "\ncounters: " + net.internals().counters().snapshot();
            assertEquals(0, r.exitCode(), r.console() + counters);
            assertTrue(r.console().contains("DHCP-OK"), r.console());
            Map<String, String> leases = net.internals().call(server::leases);
            assertEquals(mac, leases.get(expectedIp), leases.toString());
            assertTrue(net.internals().counters().get("dhcp.request.renewing") >= 1, counters);
            assertEquals(0, net.internals().counters().get("dhcp.nak"), counters);
        }
    }

    @Test
    void deviceMacGetsItsStaticAddress() throws Exception {
        run("dhcp-udhcpc-device", "5a:94:ef:e4:0c:ee", "192.168.127.2");
    }

    @Test
    void otherMacGetsTheNextFreeAddressAndKeepsItOnRenew() throws Exception {
        run("dhcp-udhcpc-other", "5a:94:ef:e4:0c:01", "192.168.127.3");
    }
}
