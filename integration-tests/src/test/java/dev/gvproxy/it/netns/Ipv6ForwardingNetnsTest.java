package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.forwarder.EgressPolicy;
import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.stack.Counters;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * IPv6 forwarding with a real kernel as the guest (issue 11, deliverable 3): a SLAAC guest reaches host servers
 * on {@code [::1]} through the IPv6 host alias (TCP, byte-exact both ways with half-close, UDP echo), an
 * IPv4-only host in a namespace of the test's own through NAT64 ({@code 64:ff9b::c612:xxxx}), which the egress
 * policy governs as the IPv4 address it is, and an IPv6 host in {@code 2001:2::/64} directly. Every address
 * involved is {@code ::1} or a test namespace's: no route to the real network.
 */
class Ipv6ForwardingNetnsTest {
    static final String HOST_ALIAS = "fd00:5a94:efe4:0:ffff:ffff:ffff:fffe";
    static final int BLOB = 64 << 20;

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    private NetnsGuest guest(VirtualNetwork net) throws Exception {
        String url = "unix://" + dir.resolve("gvproxy.sock");
        net.listenApi(url);
        NetnsGuest g = guests.start(NetnsGuest.builder(url).staticAddress("192.168.127.10/24").ipv6Slaac(true));
        g.awaitIpv6Address(Duration.ofSeconds(30));
        return g;
    }

    @Test
    void hostAliasReachesHostLoopbackOverTcpAndUdpByteExact() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        NetnsGuest g = guest(net);
        InetAddress lo6 = InetAddress.getByName("::1");

        // Source: BLOB deterministic bytes, then close. Sink: reads to EOF (the guest's half-close), answers the
        // SHA-256 of what arrived on the still-open other half, then closes.
        byte[] blob = new byte[BLOB];
        new Random(11).nextBytes(blob);
        String blobSha = sha256(blob);
        Path upload = dir.resolve("upload.bin");
        Files.write(upload, blob);
        ServerSocket source = guests.track(new ServerSocket(0, 50, lo6));
        ServerSocket sink = guests.track(new ServerSocket(0, 50, lo6));
        Thread.ofPlatform().daemon().start(() -> serveSource(source, blob));
        Thread.ofPlatform().daemon().start(() -> serveSink(sink));
        DatagramChannel udp = guests.track(DatagramChannel.open().bind(new InetSocketAddress(lo6, 0)));
        Thread.ofPlatform().daemon().start(() -> echo(udp));

        long t0 = System.nanoTime();
        ExecResult down = g.exec(Duration.ofSeconds(120), "sh", "-c", "socat -u TCP6:[" + HOST_ALIAS + "]:"
                + source.getLocalPort() + " - | sha256sum");
        long t1 = System.nanoTime();
        assertEquals(0, down.exitCode(), () -> down + "\n" + g.diagnostics());
        assertEquals(blobSha, down.stdout().trim().split("\\s+")[0], "guest received the host's bytes exactly");

        ExecResult up = g.exec(Duration.ofSeconds(120), "sh", "-c", "socat -t 30 - TCP6:[" + HOST_ALIAS + "]:"
                + sink.getLocalPort() + " < " + upload);
        long t2 = System.nanoTime();
        assertEquals(0, up.exitCode(), () -> up + "\n" + g.diagnostics());
        assertEquals(blobSha, up.stdout().trim(), "host received the guest's bytes exactly, answered after EOF");
        System.out.printf("IPv6 host alias: %d MiB down in %d ms, up in %d ms%n", BLOB >> 20,
                (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000);

        ExecResult u = g.exec("sh", "-c", "echo udp6-hello | socat -t 3 - UDP6:[" + HOST_ALIAS + "]:"
                + ((InetSocketAddress) udp.getLocalAddress()).getPort());
        assertEquals("udp6-hello", u.stdout().trim(), () -> u + "\n" + g.diagnostics());

        Counters c = net.internals().counters();
        assertTrue(c.get("egress.ipv6.tcp") >= 2, () -> c.snapshot().toString());
        assertTrue(c.get("egress.ipv6.udp") >= 1, () -> c.snapshot().toString());
    }

    @Test
    void nat64ReachesAnIpv4OnlyHostUnderTheEgressPolicyAndIpv6HostsDirectly() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        NetnsGuest g = guest(net);
        LanPeer peer = guests.track(new LanPeer());
        String peerVeth = peer.hostVeth.replace("gvjh", "gvjp");
        // The IPv6 test host: 2001:2::/64 (benchmarking prefix) on the same veth pair, on-link for the host.
        sh("ip", "addr", "add", "2001:2::1/64", "dev", peer.hostVeth, "nodad");
        sh("ip", "-n", peer.ns, "addr", "add", "2001:2::2/64", "dev", peerVeth, "nodad");
        int port4 = 7401;
        int port6 = 7402;
        peer.spawn("socat", "TCP4-LISTEN:" + port4 + ",reuseaddr,fork", "SYSTEM:echo nat64-ok");
        peer.spawn("socat", "TCP6-LISTEN:" + port6 + ",reuseaddr,fork", "SYSTEM:echo ipv6-ok");
        peer.awaitListening("-tln", port4);
        peer.awaitListening("-tln", port6);

        String[] o = peer.peerIp.split("\\.");
        String nat64 = String.format("64:ff9b::%02x%02x:%02x%02x", Integer.parseInt(o[0]), Integer.parseInt(o[1]),
                Integer.parseInt(o[2]), Integer.parseInt(o[3]));
        ExecResult r4 = g.exec("socat", "-t", "5", "-", "TCP6:[" + nat64 + "]:" + port4);
        assertEquals("nat64-ok", r4.stdout().trim(), () -> r4 + "\n" + g.diagnostics());

        ExecResult r6 = g.exec("socat", "-t", "5", "-", "TCP6:[2001:2::2]:" + port6);
        assertEquals("ipv6-ok", r6.stdout().trim(), () -> r6 + "\n" + g.diagnostics());

        Counters c = net.internals().counters();
        assertEquals(1, c.get("egress.nat64.tcp"), () -> c.snapshot().toString());
        assertTrue(c.get("egress.ipv6.tcp") >= 1, () -> c.snapshot().toString());

        // The egress policy judges the NAT64 destination as the IPv4 address it embeds.
        net.setEgress(EgressPolicy.of(List.of(new EgressPolicy.Rule(EgressPolicy.Action.DENY,
                EgressPolicy.Cidr.parse("198.18.0.0/15"), EgressPolicy.Protocol.TCP))), true).get();
        long denied = c.get("egress.denied.tcp");
        ExecResult d4 = g.exec("socat", "-t", "5", "-", "TCP6:[" + nat64 + "]:" + port4);
        assertNotEquals(0, d4.exitCode(), d4::toString);
        assertTrue(d4.stderr().contains("refused"), d4::toString);
        assertEquals(denied + 1, c.get("egress.denied.tcp"), () -> c.snapshot().toString());
        assertEquals(1, c.get("egress.nat64.tcp"), "no host connection for the denied NAT64 destination");

        // IPv6 rules: the IPv6 test host is refused by its prefix; with an IPv4 deny rule only, native IPv6 is
        // refused by default, and "allow ::/0" lets it through again.
        EgressPolicy.Rule denyNat = new EgressPolicy.Rule(EgressPolicy.Action.DENY,
                EgressPolicy.Cidr.parse("198.18.0.0/15"), EgressPolicy.Protocol.TCP);
        net.setEgress(EgressPolicy.of(List.of(new EgressPolicy.Rule(EgressPolicy.Action.DENY,
                EgressPolicy.Cidr.parse("2001:2::/48"), EgressPolicy.Protocol.TCP))), true).get();
        ExecResult d6 = g.exec("socat", "-t", "5", "-", "TCP6:[2001:2::2]:" + port6);
        assertTrue(d6.stderr().contains("refused"), d6::toString);
        net.setEgress(EgressPolicy.of(List.of(denyNat)), true).get();
        ExecResult d6b = g.exec("socat", "-t", "5", "-", "TCP6:[2001:2::2]:" + port6);
        assertTrue(d6b.stderr().contains("refused"), d6b::toString);
        net.setEgress(EgressPolicy.of(List.of(denyNat, new EgressPolicy.Rule(EgressPolicy.Action.ALLOW,
                EgressPolicy.Cidr.parse("::/0"), EgressPolicy.Protocol.ANY))), true).get();
        ExecResult ok6 = g.exec("socat", "-t", "5", "-", "TCP6:[2001:2::2]:" + port6);
        assertEquals("ipv6-ok", ok6.stdout().trim(), () -> ok6 + "\n" + c.snapshot());
        assertEquals(2, c.get("egress.denied.ipv6"), () -> c.snapshot().toString());
    }

    /**
     * A host client on {@code [::1]:PORT}, exposed through the network's forwards (the API's {@code expose}),
     * reaches a server on the guest's SLAAC address: it sends, half-closes, and reads the server's SHA-256 of
     * exactly what it received, sent after the EOF on the other half.
     */
    @Test
    void exposedIpv6LoopbackReachesAGuestIpv6ServerWithHalfClose() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        NetnsGuest g = guest(net);
        String addr = g.ipv6GlobalAddress();
        int guestPort = 7500;
        g.spawn("socat", "TCP6-LISTEN:" + guestPort + ",bind=[" + addr + "],reuseaddr", "SYSTEM:sha256sum");
        NetnsGuest.await(Duration.ofSeconds(10), "guest server listening", () -> {
            try {
                return g.exec("ss", "-tln").stdout().contains(":" + guestPort);
            } catch (Exception e) {
                return false;
            }
        }, g::diagnostics);
        int local;
        try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getByName("::1"))) {
            local = free.getLocalPort();
        }
        net.expose(new dev.gvproxy.model.PortForward("[::1]:" + local, "[" + addr + "]:" + guestPort, "tcp"))
                .get(10, java.util.concurrent.TimeUnit.SECONDS);
        byte[] data = new byte[8 << 20];
        new Random(12).nextBytes(data);
        try (Socket c = new Socket(InetAddress.getByName("::1"), local)) {
            c.setSoTimeout(30_000);
            Thread writer = Thread.ofPlatform().start(() -> {
                try {
                    c.getOutputStream().write(data);
                    c.shutdownOutput();
                } catch (Exception e) {
                    // the read below reports it
                }
            });
            String answer = new String(c.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            writer.join(30_000);
            assertEquals(sha256(data), answer.trim().split("\\s+")[0], () -> answer + "\n" + g.diagnostics());
        }
    }

    /** A udp expose on {@code [::1]:PORT} reaches a UDP echo server on the guest's SLAAC address and back. */
    @Test
    void exposedIpv6UdpReachesAGuestIpv6EchoServer() throws Exception {
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        NetnsGuest g = guest(net);
        String addr = g.ipv6GlobalAddress();
        int guestPort = 7501;
        g.spawn("socat", "UDP6-RECVFROM:" + guestPort + ",bind=[" + addr + "],fork", "SYSTEM:cat");
        NetnsGuest.await(Duration.ofSeconds(10), "guest UDP server bound", () -> {
            try {
                return g.exec("ss", "-uln").stdout().contains(":" + guestPort);
            } catch (Exception e) {
                return false;
            }
        }, g::diagnostics);
        InetAddress lo6 = InetAddress.getByName("::1");
        int local;
        try (DatagramChannel free = DatagramChannel.open().bind(new InetSocketAddress(lo6, 0))) {
            local = ((InetSocketAddress) free.getLocalAddress()).getPort();
        }
        net.expose(new dev.gvproxy.model.PortForward("[::1]:" + local, "[" + addr + "]:" + guestPort, "udp"))
                .get(10, java.util.concurrent.TimeUnit.SECONDS);
        try (java.net.DatagramSocket c = new java.net.DatagramSocket(new InetSocketAddress(lo6, 0))) {
            c.setSoTimeout(2000);
            byte[] q = "udp6-expose".getBytes(StandardCharsets.US_ASCII);
            String got = null;
            for (int i = 0; i < 5 && got == null; i++) { // UDP: the first datagram may race the guest's NDP
                c.send(new java.net.DatagramPacket(q, q.length, lo6, local));
                java.net.DatagramPacket r = new java.net.DatagramPacket(new byte[100], 100);
                try {
                    c.receive(r);
                    got = new String(r.getData(), 0, r.getLength(), StandardCharsets.US_ASCII);
                } catch (java.net.SocketTimeoutException e) {
                    // send again
                }
            }
            assertEquals("udp6-expose", got, () -> g.diagnostics() + net.internals().counters().snapshot());
        }
        assertTrue(net.internals().counters().get("udp.portfwd.toHost") >= 1);
    }

    private static void serveSource(ServerSocket s, byte[] blob) {
        try (Socket c = s.accept(); OutputStream out = c.getOutputStream()) {
            out.write(blob);
        } catch (Exception e) {
            // the test's assertion reports it
        }
    }

    private static void serveSink(ServerSocket s) {
        try (Socket c = s.accept()) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            InputStream in = c.getInputStream();
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) >= 0; ) {
                md.update(buf, 0, n);
            }
            c.getOutputStream().write((HexFormat.of().formatHex(md.digest()) + "\n")
                    .getBytes(StandardCharsets.US_ASCII));
        } catch (Exception e) {
            // the test's assertion reports it
        }
    }

    private static void echo(DatagramChannel ch) {
        ByteBuffer b = ByteBuffer.allocate(2048);
        try {
            while (true) {
                b.clear();
                var from = ch.receive(b);
                b.flip();
                ch.send(b, from);
            }
        } catch (Exception e) {
            // closed at the end of the test
        }
    }

    private static void sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + ": " + out);
        }
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }
}
