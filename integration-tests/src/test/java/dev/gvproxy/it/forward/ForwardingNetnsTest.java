package dev.gvproxy.it.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.forwarder.IcmpForwarder;
import dev.gvproxy.forwarder.PingSocket;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Linux namespace guest pings and exchanges UDP with the host through 192.168.127.254 (NAT to 127.0.0.1).
 *
 * <p>{@link VirtualNetwork} installs the forwarders; where the host forbids ping sockets, the test replaces the ICMP
 * forwarder with one whose ping sockets live in a second test namespace that allows them, so its 127.0.0.1 answers.
 */
class ForwardingNetnsTest {
    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    private VirtualNetwork net;

    /**
     * Starts a network (which installs the UDP and ICMP forwarders itself). With {@code pingOpener}, the ICMP
     * forwarder is replaced by one whose ping sockets come from that opener (closed before the network).
     */
    private String startNetwork(PingSocket.Opener pingOpener) throws Exception {
        net = guests.track(VirtualNetwork.builder().build());
        if (pingOpener != null) {
            IcmpForwarder icmp = net.internals().call(() -> IcmpForwarder.install(net.internals().stack(), net.internals().eventLoop(), net.internals().stack()::now,
                    IcmpForwarder.Options.DEFAULTS, pingOpener));
            guests.track(() -> net.internals().run(icmp::close));
        }
        String url = "unix://" + dir.resolve("gvproxy.sock");
        net.listenApi(url);
        return url;
    }

    /** ICMP echo forwarding registers ping sockets with the epoll loop; under NIO the network runs without it. */
    private static void assumePingSockets() {
        Assumptions.assumeTrue(dev.gvproxy.platform.SocketTransport.get().isEpoll(),
                "skipped: ICMP echo forwarding needs the epoll transport; transport is "
                        + dev.gvproxy.platform.SocketTransport.get());
    }

    private NetnsGuest guest(String url) throws Exception {
        return guests.start(NetnsGuest.builder(url).staticAddress("192.168.127.10/24").staticGateway("192.168.127.1"));
    }

    @Test
    void pingTheHostThroughNat() throws Exception {
        NetnsGuest.assumeSupported();
        assumePingSockets();
        PingNamespace side = guests.track(PingNamespace.create());
        String url = startNetwork(PingSocket.inNamespace(side.path()));
        NetnsGuest g = guest(url);
        // Generous per-reply wait: these machines are shared and heavily loaded during test runs.
        ExecResult ping = g.exec("ping", "-c", "3", "-i", "0.3", "-W", "5", "192.168.127.254");
        assertEquals(0, ping.exitCode(), () -> ping + "\n" + g.diagnostics() + net.internals().counters().snapshot());
        assertTrue(ping.stdout().contains(" 0% packet loss"), () -> ping + "\n" + net.internals().counters().snapshot());
        assertTrue(ping.stdout().contains("icmp_seq=3"), ping::toString);
        assertTrue(net.internals().counters().get("icmp.fwd.replies") >= 3, () -> net.internals().counters().snapshot().toString());
    }

    @Test
    void pingWithHostPingSockets() throws Exception {
        NetnsGuest.assumeSupported();
        assumePingSockets();
        try {
            PingSocket.open(java.net.InetAddress.getByName("127.0.0.1")).close();
        } catch (PingSocket.PingException e) {
            Assumptions.abort("skipped: the host forbids unprivileged ping sockets (net.ipv4.ping_group_range);"
                    + " pingTheHostThroughNat covers the path with a test namespace");
        }
        String url = startNetwork(null); // the network's own ICMP forwarder uses host ping sockets
        NetnsGuest g = guest(url);
        ExecResult ping = g.exec("ping", "-c", "3", "-i", "0.3", "-W", "5", "192.168.127.254");
        assertEquals(0, ping.exitCode(), () -> ping + "\n" + g.diagnostics() + net.internals().counters().snapshot());
    }

    @Test
    void udpRequestReplyThroughNat() throws Exception {
        NetnsGuest.assumeSupported();
        try (Echo echo = new Echo()) {
            String url = startNetwork(null);
            NetnsGuest g = guest(url);
            ExecResult r = udpExchange(g, "echo hello-from-guest", echo.port());
            assertEquals(0, r.exitCode(), () -> r + "\n" + g.diagnostics() + net.internals().counters().snapshot());
            assertEquals("hello-from-guest", r.stdout().trim(), r::toString);
            InetSocketAddress sender = echo.lastSender;
            assertEquals(InetAddress.getLoopbackAddress(), sender.getAddress(), "the host sees loopback");
        }
    }

    @Test
    void tcpRequestReplyThroughNat() throws Exception {
        NetnsGuest.assumeSupported();
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "needs socat in the guest");
        try (java.net.ServerSocket server = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread echo = Thread.ofPlatform().daemon().start(() -> {
                try (java.net.Socket s = server.accept()) {
                    s.getInputStream().transferTo(s.getOutputStream());
                } catch (IOException e) {
                    // the test's assertion reports it
                }
            });
            String url = startNetwork(null);
            NetnsGuest g = guest(url);
            ExecResult r = g.exec("sh", "-c", "echo hello-over-tcp | socat -t 3 - TCP:192.168.127.254:"
                    + server.getLocalPort());
            assertEquals(0, r.exitCode(), () -> r + "\n" + g.diagnostics() + net.internals().counters().snapshot());
            assertEquals("hello-over-tcp", r.stdout().trim(), r::toString);
            echo.join(5000);
        }
    }

    @Test
    void largeUdpDatagramIsFragmentedBothWays() throws Exception {
        NetnsGuest.assumeSupported();
        try (Echo echo = new Echo()) {
            String url = startNetwork(null);
            NetnsGuest g = guest(url);
            // 8000 bytes in one datagram: the guest kernel fragments it, the stack reassembles; the echo
            // comes back fragmented by the stack and the guest kernel reassembles it.
            // dd hands socat the 8000 bytes in one write: tr writes 4096-byte chunks, and socat sends whatever
            // one read returns as one datagram (this was flaky: sometimes two datagrams, 4096 + 3904).
            ExecResult r = udpExchange(g, "head -c 8000 /dev/zero | tr '\\0' a | dd bs=8000 count=1 iflag=fullblock"
                    + " 2>/dev/null", echo.port(), "| wc -c");
            assertEquals(0, r.exitCode(), () -> r + "\n" + g.diagnostics() + net.internals().counters().snapshot());
            assertEquals("8000", r.stdout().trim(), r::toString);
            assertEquals(8000, echo.lastSize);
            assertTrue(net.internals().counters().get("ipv4.out.fragments") >= 6, () -> net.internals().counters().snapshot().toString());
        }
    }

    @Test
    void closedHostPortFailsFastWithConnectionRefused() throws Exception {
        NetnsGuest.assumeSupported();
        int closedPort;
        try (DatagramChannel tmp = DatagramChannel.open()) {
            tmp.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            closedPort = ((InetSocketAddress) tmp.getLocalAddress()).getPort();
        }
        String url = startNetwork(null);
        NetnsGuest g = guest(url);
        // The stack relays the host's ECONNREFUSED as ICMP port unreachable, so the guest's connected UDP socket
        // sees "Connection refused" instead of waiting for a timeout.
        ExecResult r = g.exec("sh", "-c", "(echo one; sleep 1; echo two) | socat -t 5 - UDP:192.168.127.254:"
                + closedPort);
        assertNotEquals(0, r.exitCode(), r::toString);
        assertTrue(r.stderr().contains("Connection refused"), r::toString);
    }

    /** Sends what {@code producer} prints as one UDP datagram with socat and prints the reply. */
    private static ExecResult udpExchange(NetnsGuest g, String producer, int port, String... filter)
            throws IOException, InterruptedException {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "needs socat in the guest");
        String cmd = producer + " | socat -t 3 -b 65536 - UDP:192.168.127.254:" + port + " " + String.join(" ", filter);
        return g.exec("sh", "-c", cmd);
    }

    /** A UDP echo server on the host's 127.0.0.1. */
    static final class Echo implements AutoCloseable {
        final DatagramChannel ch;
        final Thread thread;
        volatile InetSocketAddress lastSender;
        volatile int lastSize;

        Echo() throws IOException {
            ch = DatagramChannel.open();
            ch.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            thread = Thread.ofPlatform().daemon().name("it-udp-echo").start(this::serve);
        }

        int port() throws IOException {
            return ((InetSocketAddress) ch.getLocalAddress()).getPort();
        }

        private void serve() {
            ByteBuffer buf = ByteBuffer.allocate(65536);
            try {
                while (true) {
                    buf.clear();
                    SocketAddress from = ch.receive(buf);
                    buf.flip();
                    lastSender = (InetSocketAddress) from;
                    lastSize = buf.remaining();
                    ch.send(buf, from);
                }
            } catch (ClosedChannelException e) {
                // closed by the test
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void close() throws Exception {
            ch.close();
            thread.join(5000);
        }
    }

    /** A namespace with only lo up and ping sockets allowed: where the ICMP forwarder's sockets are opened. */
    public record PingNamespace(String name) implements AutoCloseable {
        public static PingNamespace create() throws IOException, InterruptedException {
            String name = "gvj-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xFFFFFFFFFFL);
            run("ip", "netns", "add", name);
            PingNamespace ns = new PingNamespace(name);
            try {
                run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up");
                run("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647");
            } catch (IOException | RuntimeException e) {
                ns.close();
                throw e;
            }
            return ns;
        }

        public Path path() {
            return Path.of("/var/run/netns", name);
        }

        public static void run(String... cmd) throws IOException, InterruptedException {
            Process p = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true).start();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", cmd));
            }
            String out = new String(p.getInputStream().readAllBytes());
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + " exited " + p.exitValue() + ": " + out);
            }
        }

        @Override
        public void close() throws IOException {
            try {
                run("ip", "netns", "delete", name);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
        }
    }
}
