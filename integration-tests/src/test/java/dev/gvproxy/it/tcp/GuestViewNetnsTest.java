package dev.gvproxy.it.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** What the guest sees on its wire: the SYN-ACK's negotiated options (tcpdump), and ping answers from the host alias. */
class GuestViewNetnsTest extends TcpNetnsBase {
    static final Path PING_RANGE = Path.of("/proc/sys/net/ipv4/ping_group_range");

    @Test
    void synAckCarriesWindowScaleSackAndTimestamps() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/tcpdump")), "needs tcpdump");
        int port = servers.sink();
        NetnsGuest g = guest();
        Process dump = g.spawn("tcpdump", "-i", g.iface(), "-c", "2", "-nn", "-v", "-l",
                "tcp[tcpflags] & tcp-syn != 0");
        List<String> lines = new CopyOnWriteArrayList<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(dump.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    lines.add(l);
                }
            } catch (java.io.IOException e) {
                // tcpdump ended
            }
        });
        NetnsGuest.await(Duration.ofSeconds(20), "tcpdump to listen",
                () -> lines.stream().anyMatch(l -> l.contains("listening on")), lines::toString);
        ExecResult r = sh(g, Duration.ofSeconds(30), "echo hello | socat -t 5 - TCP:192.168.127.254:" + port);
        assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
        assertTrue(dump.waitFor(20, TimeUnit.SECONDS), () -> "tcpdump saw two SYNs: " + lines);
        reader.join(5000);
        String text = String.join("\n", lines);
        System.out.println("guest tcpdump:\n" + text);
        // With -v each packet is an IP line followed by the TCP line; find the one from the gateway alias.
        String synAck = lines.stream().filter(l -> l.contains("192.168.127.254." + port + " >"))
                .findFirst().orElseThrow(() -> new AssertionError("no SYN-ACK from 192.168.127.254 in:\n" + text));
        assertTrue(synAck.contains("Flags [S.]"), synAck);
        assertTrue(synAck.contains("wscale "), () -> "window scale in " + synAck);
        assertTrue(synAck.contains("sackOK"), () -> "SACK-permitted in " + synAck);
        assertTrue(synAck.contains("TS val "), () -> "timestamps in " + synAck);
        String syn = lines.stream().filter(l -> l.contains("> 192.168.127.254." + port + ":")).findFirst().orElseThrow();
        System.out.println("guest SYN:     " + syn.strip() + "\nstack SYN-ACK: " + synAck.strip());
    }

    @Test
    void pingOfTheHostAliasIsAnswered() throws Exception {
        Assumptions.assumeTrue(dev.gvproxy.platform.SocketTransport.get().isEpoll(),
                "skipped: ICMP echo forwarding needs the epoll transport; transport is "
                        + dev.gvproxy.platform.SocketTransport.get());
        String before = Files.readString(PING_RANGE).trim();
        boolean allowed = allowsRoot(before);
        if (!allowed) {
            Assumptions.assumeTrue(NetnsGuestRoot.isRoot(), "ping sockets forbidden (net.ipv4.ping_group_range = "
                    + before + ") and not root to allow them");
            Files.writeString(PING_RANGE, "0 2147483647\n");
        }
        try {
            NetnsGuest g = guest(); // the ICMP forwarder checks ping sockets when the network starts
            ExecResult r = g.exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "192.168.127.254");
            System.out.println(r.stdout());
            assertEquals(0, r.exitCode(), () -> r + g.diagnostics());
            assertTrue(r.stdout().contains(" 0% packet loss"), r::toString);
        } finally {
            if (!allowed) {
                Files.writeString(PING_RANGE, before.replaceAll("\\s+", " ") + "\n");
            }
        }
    }

    static boolean allowsRoot(String range) {
        String[] p = range.split("\\s+");
        return Long.parseLong(p[0]) <= 0 && Long.parseLong(p[1]) >= 0;
    }

    /** Root check without depending on package-private helpers. */
    static final class NetnsGuestRoot {
        static boolean isRoot() {
            try {
                return Files.readString(Path.of("/proc/self/status")).lines()
                        .filter(l -> l.startsWith("Uid:")).anyMatch(l -> l.split("\\s+")[2].equals("0"));
            } catch (java.io.IOException e) {
                return false;
            }
        }
    }
}
