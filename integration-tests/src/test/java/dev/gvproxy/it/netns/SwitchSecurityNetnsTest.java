package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.stack.PortSecurity;
import dev.gvproxy.stack.link.VirtualSwitch;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The guest is untrusted, at layer 2 and for DHCP: an attacker namespace guest (raw frames on its TAP, written
 * by {@code l2attack.py}) against gvproxy-java's switch, while a victim guest keeps pinging the gateway and
 * connecting to a host server. Each attack must fail or stay bounded, with the counter that recorded it, and
 * the victim's pings must not be lost and its connects stay under a second.
 */
class SwitchSecurityNetnsTest {
    static final String GATEWAY_MAC = "5a:94:ef:e4:0c:dd";
    static final String VICTIM_MAC = "02:00:00:00:76:01";
    static final String ATTACKER_MAC = "02:00:00:00:a7:01";
    static final Duration DHCP_TIMEOUT = Duration.ofSeconds(40);
    static final String PYTHON = "/usr/bin/python3";
    /** Prints the milliseconds one TCP connect took. */
    static final String CONNECT = "import socket,sys,time\n"
            + "t=time.monotonic(); s=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\n"
            + "print(int((time.monotonic()-t)*1000)); s.close()\n";

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    VirtualNetwork net;
    String url;
    Path script;
    ServerSocket server;
    final AtomicInteger accepted = new AtomicInteger();
    int victimConnects;
    NetnsGuest victim;
    String victimIp;
    NetnsGuest attacker;
    String attackerIp;

    @BeforeEach
    void start() throws Exception {
        NetnsGuest.assumeSupported();
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of(PYTHON)), "needs " + PYTHON);
        net = guests.track(VirtualNetwork.builder().build());
        url = "unix://" + dir.resolve("gvproxy.sock");
        net.listenApi(url);
        script = dir.resolve("l2attack.py");
        try (InputStream in = getClass().getResourceAsStream("l2attack.py")) {
            Files.write(script, in.readAllBytes());
        }
        server = guests.track(new ServerSocket(0, 1000, InetAddress.getLoopbackAddress()));
        Thread.ofVirtual().start(() -> {
            while (!server.isClosed()) {
                try (Socket s = server.accept()) {
                    accepted.incrementAndGet();
                } catch (IOException e) {
                    return;
                }
            }
        });
        victim = guests.start(NetnsGuest.builder(url).mac(VICTIM_MAC));
        victimIp = victim.awaitAddress(DHCP_TIMEOUT);
        attacker = guests.start(NetnsGuest.builder(url).mac(ATTACKER_MAC));
        attackerIp = attacker.awaitAddress(DHCP_TIMEOUT);
        assertNotEquals(victimIp, attackerIp);
        victimWorks("before the attack");
    }

    @AfterEach
    void loopAnswersAndCountersAreReported(org.junit.jupiter.api.TestInfo info) {
        if (net == null) {
            return;
        }
        // The event loop answers at once after every attack.
        long t = System.nanoTime();
        net.internals().call(() -> net.internals().virtualSwitch().camSize());
        long micros = (System.nanoTime() - t) / 1000;
        StringBuilder b = new StringBuilder(info.getDisplayName()).append(": loop answered in ").append(micros)
                .append(" us, victim connects ").append(victimConnects).append(", host accepts ").append(accepted);
        net.internals().counters().snapshot().forEach((k, v) -> {
            if (v > 0 && (k.startsWith("switch.") || k.contains("spoofed") || k.startsWith("dhcp.chaddr")
                    || k.startsWith("dhcp.portLease") || k.startsWith("dhcp.clientId") || k.equals("dhcp.ack")
                    || k.equals("dhcp.nak") || k.equals("arp.senderMacMismatch"))) {
                b.append(", ").append(k).append('=').append(v);
            }
        });
        System.out.println(b);
        assertTrue(micros < 1_000_000, "event loop stalled");
    }

    String diagnostics() {
        return victim.diagnostics() + attacker.diagnostics() + "\ncounters: " + net.internals().counters().snapshot()
                + "\ncam: " + net.internals().virtualSwitch().cam() + "\nleases: " + net.internals().call(() -> net.internals().dhcp().leases());
    }

    long counter(String name) {
        return net.internals().counters().get(name);
    }

    /** Waits until the event loop counted at least {@code min} (the attack's frames may still be in flight). */
    void awaitCounter(String name, long min) {
        NetnsGuest.await(Duration.ofSeconds(10), name + " >= " + min, () -> counter(name) >= min, this::diagnostics);
    }

    Process attack(String... args) throws IOException {
        String[] cmd = new String[args.length + 3];
        cmd[0] = PYTHON;
        cmd[1] = script.toString();
        cmd[2] = args[0];
        cmd[3] = attacker.iface();
        System.arraycopy(args, 1, cmd, 4, args.length - 1);
        return attacker.spawn(cmd);
    }

    static String finish(Process p) throws Exception {
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "attack did not finish");
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.exitValue(), out);
        return out.strip();
    }

    /** The victim's pings to the gateway lose nothing, its connects to the host are fast, its gateway is the gateway. */
    void victimWorks(String phase) throws Exception {
        ExecResult ping = victim.exec("ping", "-c", "20", "-i", "0.05", "-W", "1", "192.168.127.1");
        assertTrue(ping.ok() && ping.stdout().contains(" 0% packet loss"), () -> phase + ": " + ping + diagnostics());
        for (int i = 0; i < 3; i++) {
            ExecResult c = victim.exec(PYTHON, "-c", CONNECT, "192.168.127.254", Integer.toString(server.getLocalPort()));
            assertTrue(c.ok(), () -> phase + ": " + c + diagnostics());
            victimConnects++;
            long ms = Long.parseLong(c.stdout().strip());
            assertTrue(ms < 1000, () -> phase + ": control connect took " + ms + " ms");
        }
        ExecResult neigh = victim.exec("ip", "neigh", "show", "192.168.127.1");
        assertTrue(neigh.stdout().contains(GATEWAY_MAC), () -> phase + ": victim's gateway entry " + neigh);
    }

    @Test
    void gratuitousArpForTheGatewayDoesNotMoveTheVictimsNeighbourEntry() throws Exception {
        Process p = attack("garp", ATTACKER_MAC, "192.168.127.1", "200");
        victimWorks("during gratuitous ARP for the gateway");
        finish(p);
        finish(attack("garp", ATTACKER_MAC, "192.168.127.254", "20"));
        finish(attack("garp", ATTACKER_MAC, victimIp, "20"));
        victimWorks("after gratuitous ARP");
        awaitCounter("arp.spoofedSender", 2 * (200 + 20 + 20) * 9 / 10);
    }

    @Test
    void attackerUsingTheVictimsMacDoesNotTakeItsFrames() throws Exception {
        Integer victimPort = net.internals().virtualSwitch().cam().get(VICTIM_MAC);
        Process p = attack("spoofmac", VICTIM_MAC, victimIp, "400");
        victimWorks("while the attacker sends as the victim's MAC");
        finish(p);
        awaitCounter("switch.macMoveDenied", 400);
        // Also the kernel way: the attacker's TAP takes the victim's MAC and pings.
        attacker.exec("ip", "link", "set", "dev", attacker.iface(), "address", VICTIM_MAC).check();
        long before = counter("switch.macMoveDenied");
        attacker.exec("ping", "-c", "5", "-i", "0.1", "-W", "1", "192.168.127.1");
        victimWorks("after the attacker took the victim's MAC");
        awaitCounter("switch.macMoveDenied", before + 1);
        assertEquals(victimPort, net.internals().virtualSwitch().cam().get(VICTIM_MAC), "the victim's MAC moved");
    }

    @Test
    void releaseWithTheVictimsChaddrKeepsItsLease() throws Exception {
        finish(attack("release", ATTACKER_MAC, attackerIp, VICTIM_MAC, victimIp));
        awaitCounter("dhcp.chaddrMismatch", 3);
        assertEquals(VICTIM_MAC, net.internals().call(() -> net.internals().dhcp().leases()).get(victimIp), this::diagnostics);
        // And the attacker is not given the victim's address.
        String reply = finish(attack("reboot", ATTACKER_MAC, victimIp));
        assertTrue(reply.startsWith("NAK") || reply.equals("none"), reply);
        assertEquals(VICTIM_MAC, net.internals().call(() -> net.internals().dhcp().leases()).get(victimIp), this::diagnostics);
        victimWorks("after DHCPRELEASE with the victim's chaddr");
        // The victim renews and keeps its address.
        ExecResult renew = victim.exec("ip", "-4", "addr", "show", "dev", victim.iface());
        assertTrue(renew.stdout().contains(victimIp), renew::toString);
    }

    @Test
    void oneGuestWith300MacsGetsAtMostThePortsLeasesAndANewGuestStillGetsAnAddress() throws Exception {
        Process p = attack("dhcpflood", "300");
        victimWorks("during the DHCP flood");
        String out = finish(p);
        // The attacker's own lease counts too: its port holds at most 16 offers and leases in all.
        String[] f = out.split("\\s+");
        int acks = Integer.parseInt(f[3]);
        assertTrue(acks <= 15, () -> out + diagnostics());
        awaitCounter("switch.portMacLimit", 1);
        awaitCounter("dhcp.portLeaseLimit", 1);
        NetnsGuest newcomer = guests.start(NetnsGuest.builder(url).mac("02:00:00:00:4e:01"));
        String ip = newcomer.awaitAddress(DHCP_TIMEOUT);
        assertTrue(ip.startsWith("192.168.127."), ip);
        assertTrue(net.internals().virtualSwitch().cam().size() <= PortSecurity.DEFAULT_MACS_PER_PORT + 3,
                () -> "cam " + net.internals().virtualSwitch().cam());
    }

    @Test
    void spoofedSourceSynFloodOpensNoHostSocket() throws Exception {
        int before = accepted.get();
        int connectsBefore = victimConnects;
        Process p = attack("synflood", ATTACKER_MAC, "192.168.127.254", Integer.toString(server.getLocalPort()),
                "3000");
        victimWorks("during the spoofed SYN flood");
        finish(p);
        victimWorks("after the spoofed SYN flood");
        awaitCounter("ipv4.spoofedSource", 2700);
        NetnsGuest.await(Duration.ofSeconds(5), "victim connects accepted",
                () -> accepted.get() - before == victimConnects - connectsBefore, this::diagnostics);
        assertEquals(victimConnects - connectsBefore, accepted.get() - before, "host sockets opened by the flood");
    }

    static long rssKiB() throws IOException {
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith("VmRSS:")) {
                return Long.parseLong(l.replaceAll("\\D", ""));
            }
        }
        throw new IOException("no VmRSS");
    }

    /** Writes {@code count} frames with distinct source MACs into a QEMU-stream port of the switch. */
    static void flood(SocketChannel ch, long firstMac, int count) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(64 * 1024);
        byte[] frame = new byte[60];
        frame[0] = (byte) 0xff; // broadcast ARP-sized frames: they would reach every port if learned
        frame[1] = (byte) 0xff;
        frame[2] = (byte) 0xff;
        frame[3] = (byte) 0xff;
        frame[4] = (byte) 0xff;
        frame[5] = (byte) 0xff;
        frame[12] = 0x08;
        frame[13] = 0x06;
        for (int i = 0; i < count; i++) {
            long mac = firstMac + i;
            for (int k = 0; k < 6; k++) {
                frame[6 + k] = (byte) (mac >>> (8 * (5 - k)));
            }
            if (buf.remaining() < 4 + frame.length) {
                buf.flip();
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                buf.clear();
            }
            buf.putInt(frame.length).put(frame);
        }
        buf.flip();
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    @Test
    void macFloodOfAMillionSourcesStaysWithinTheCamBound() throws Exception {
        Path qemu = dir.resolve("qemu.sock");
        net.listenQemu("unix://" + qemu);
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(qemu));
            flood(ch, 0x02_00_00_00_00_00L + (1L << 32), 200_000); // warm-up: buffers, JIT, heap sizing
            NetnsGuest.await(Duration.ofSeconds(30), "warm-up switched",
                    () -> counter("switch.portMacLimit") >= 200_000 - PortSecurity.DEFAULT_MACS_PER_PORT,
                    this::diagnostics);
            long rssBefore = rssKiB();
            long limitBefore = counter("switch.portMacLimit");
            Thread victimLoad = Thread.ofVirtual().start(() -> {
                try {
                    victimWorks("during the MAC flood");
                } catch (Throwable e) {
                    throw new AssertionError(e);
                }
            });
            long t0 = System.nanoTime();
            flood(ch, 0x02_00_00_00_00_00L + (2L << 32), 1_000_000);
            NetnsGuest.await(Duration.ofSeconds(60), "flood switched",
                    () -> counter("switch.portMacLimit") - limitBefore >= 1_000_000, this::diagnostics);
            double secs = (System.nanoTime() - t0) / 1e9;
            long camStart = System.nanoTime();
            Map<String, Integer> cam = net.internals().virtualSwitch().cam();
            long camMicros = (System.nanoTime() - camStart) / 1000;
            long loopStart = System.nanoTime();
            int size = net.internals().call(() -> net.internals().virtualSwitch().camSize());
            long loopMicros = (System.nanoTime() - loopStart) / 1000;
            long rssAfter = rssKiB();
            victimLoad.join(60_000);
            System.out.printf("MAC flood: 1,000,000 frames in %.2f s, CAM %d entries (%d via /cam in %d us, loop"
                    + " answered in %d us), RSS %d -> %d KiB (%+d KiB)%n", secs, size, cam.size(), camMicros,
                    loopMicros, rssBefore, rssAfter, rssAfter - rssBefore);
            assertTrue(size <= PortSecurity.DEFAULT_MACS_PER_PORT + 2, "CAM " + size);
            assertTrue(camMicros < 100_000, "/cam took " + camMicros + " us");
            assertTrue(rssAfter - rssBefore < 50 * 1024, "RSS grew " + (rssAfter - rssBefore) + " KiB");
        }
        NetnsGuest.await(Duration.ofSeconds(10), "flooding port detached",
                () -> net.internals().call(() -> net.internals().virtualSwitch().ports().size()) == 2, this::diagnostics);
        victimWorks("after the MAC flood");
        VirtualSwitch sw = net.internals().virtualSwitch();
        assertFalse(sw.cam().size() > 3, () -> "cam " + sw.cam());
    }
}
