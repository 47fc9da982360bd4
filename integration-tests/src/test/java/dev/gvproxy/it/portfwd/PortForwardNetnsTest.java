package dev.gvproxy.it.portfwd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.forwarder.PortForwarder;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Host -> guest port forwards (spec 5.6) and the {@code /tunnel} relay with a namespace guest configured by
 * DHCP: guest servers are socat processes inside the namespace, host clients are plain JDK sockets on
 * 127.0.0.1 (or a unix socket). Bulk transfers are checked with SHA-256 on both ends.
 */
class PortForwardNetnsTest {
    static final long BULK = Long.getLong("gvproxy.it.portfwdBytes", 256L << 20);
    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    VirtualNetwork net;
    PortForwarder pf;
    /** The one registry (keys, duplicates, listing) over {@link #pf}, as the API uses it. */
    dev.gvproxy.model.PortForwardRegistry forwards;
    String guestIp;

    @AfterEach
    void counters() {
        if (net != null) {
            System.out.println("counters: " + net.internals().counters().snapshot().entrySet().stream()
                    .filter(e -> e.getValue() != 0 && (e.getKey().contains("portfwd") || e.getKey().contains("bridge")))
                    .map(Object::toString).toList());
        }
    }

    NetnsGuest guest() throws Exception {
        return guest(PortForwarder.Options.DEFAULTS);
    }

    NetnsGuest guest(PortForwarder.Options options) throws Exception {
        net = guests.track(VirtualNetwork.builder().build());
        String url = "unix://" + dir.resolve("gv.sock");
        net.listenApi(url);
        NetnsGuest g = guests.start(NetnsGuest.builder(url));
        guestIp = g.awaitAddress(Duration.ofSeconds(30));
        pf = guests.track(new PortForwarder(net.internals().stack(), net.internals().eventLoop(), options));
        forwards = new dev.gvproxy.model.PortForwardRegistry(new dev.gvproxy.model.PortForwarderOpener(pf));
        return g;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
            return s.getLocalPort();
        }
    }

    /** Starts a long-running guest server and waits until it listens on {@code port}. */
    static void serve(NetnsGuest g, String proto, int port, String... cmd) throws Exception {
        g.spawn(cmd);
        String flag = proto.equals("udp") ? "-Hlun" : "-Hltn";
        ExecResult r = g.exec(Duration.ofSeconds(30), "bash", "-c", "for i in $(seq 200); do ss " + flag
                + " 'sport = :" + port + "' | grep -q . && exit 0; sleep 0.05; done; exit 1");
        assertEquals(0, r.exitCode(), () -> "guest server on " + proto + "/" + port + " did not start: " + r);
    }

    static void echoServer(NetnsGuest g, int port) throws Exception {
        serve(g, "tcp", port, "socat", "TCP-LISTEN:" + port + ",fork,reuseaddr", "EXEC:cat");
    }

    Path script(String name, String body) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, "#!/bin/bash\n" + body + "\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        return p;
    }

    /** Runs a registry operation on the loop, as the API does. */
    <T> java.util.concurrent.CompletableFuture<T> onLoop(
            java.util.function.Supplier<java.util.concurrent.CompletionStage<T>> op) {
        return java.util.concurrent.CompletableFuture.supplyAsync(op, net.internals().eventLoop()).thenCompose(s -> s);
    }

    /** The registry's forwards. */
    java.util.List<dev.gvproxy.model.PortForward> list() {
        return onLoop(() -> java.util.concurrent.CompletableFuture.completedFuture(forwards.all())).join();
    }

    /** The forwards as gvproxy's {@code /services/forwarder/all} writes them. */
    String listJson() {
        return dev.gvproxy.model.GoJson.forwards(list());
    }

    void expose(String local, String remote, String protocol) throws Exception {
        String proto = new PortForwarder.Forward(local, remote, protocol).protocol();
        onLoop(() -> forwards.expose(new dev.gvproxy.model.PortForward(local, remote, proto),
                dev.gvproxy.model.PortForwards.Origin.HOST)).get(20, TimeUnit.SECONDS);
    }

    void unexpose(String local, String protocol) throws Exception {
        onLoop(() -> forwards.unexpose(protocol, local)).get(10, TimeUnit.SECONDS);
    }

    static Socket connect(int port) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress(LOOPBACK, port), 10_000);
        s.setSoTimeout(60_000);
        return s;
    }

    /** Sends {@code msg}, half-closes, and returns everything the peer sent back until EOF. */
    static String halfCloseExchange(Socket s, String msg) throws IOException {
        s.getOutputStream().write(msg.getBytes(StandardCharsets.UTF_8));
        s.shutdownOutput();
        return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }

    static String readLine(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int c; (c = in.read()) != -1 && c != '\n'; ) {
            sb.append((char) c);
        }
        return sb.toString();
    }

    @Test
    void tcpEchoWithHalfCloseAndSeveralClients() throws Exception {
        NetnsGuest g = guest();
        echoServer(g, 8080);
        int port = freePort();
        expose("127.0.0.1:" + port, guestIp + ":8080", "tcp");
        assertEquals("[{\"local\":\"127.0.0.1:" + port + "\",\"remote\":\"" + guestIp + ":8080\",\"protocol\":\"tcp\"}]",
                listJson());
        try (Socket a = connect(port); Socket b = connect(port)) {
            // Two clients at once: distinct gateway source ports.
            a.getOutputStream().write("one\n".getBytes(StandardCharsets.UTF_8));
            b.getOutputStream().write("two\n".getBytes(StandardCharsets.UTF_8));
            assertEquals("one", readLine(a.getInputStream()));
            assertEquals("two", readLine(b.getInputStream()));
            // Half-close: the guest still answers after our FIN, then closes.
            assertEquals("last words\n", halfCloseExchange(a, "last words\n"));
            assertEquals("bye\n", halfCloseExchange(b, "bye\n"));
        }
    }

    @Test
    void bulkHostToGuestWithSha256() throws Exception {
        NetnsGuest g = guest();
        Path sink = script("sink.sh", "exec sha256sum | cut -c1-64");
        serve(g, "tcp", 8081, "socat", "TCP-LISTEN:8081,reuseaddr", "EXEC:" + sink);
        int port = freePort();
        expose("127.0.0.1:" + port, guestIp + ":8081", "tcp");
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        SplittableRandom rnd = new SplittableRandom(42);
        byte[] buf = new byte[256 * 1024];
        long t0 = System.nanoTime();
        try (Socket s = connect(port)) {
            OutputStream out = s.getOutputStream();
            for (long left = BULK; left > 0; ) {
                int n = (int) Math.min(buf.length, left);
                rnd.nextBytes(buf);
                md.update(buf, 0, n);
                out.write(buf, 0, n);
                left -= n;
            }
            s.shutdownOutput();
            String reply = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            assertEquals(HexFormat.of().formatHex(md.digest()), reply, () -> "guest's digest; " + g.diagnostics());
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        System.out.printf("host->guest via port forward %d bytes: %.1f s, %.0f Mbit/s%n", BULK, secs, BULK * 8 / secs / 1e6);
    }

    @Test
    void bulkGuestToHostWithSha256() throws Exception {
        NetnsGuest g = guest();
        Path sent = dir.resolve("sent.sha");
        Path source = script("source.sh", "head -c " + BULK + " /dev/urandom | tee >(sha256sum | cut -c1-64 > " + sent + ")");
        serve(g, "tcp", 8082, "socat", "TCP-LISTEN:8082,reuseaddr", "EXEC:" + source);
        int port = freePort();
        expose("127.0.0.1:" + port, guestIp + ":8082", "tcp");
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        long total = 0;
        long t0 = System.nanoTime();
        try (Socket s = connect(port)) {
            InputStream in = s.getInputStream();
            byte[] buf = new byte[256 * 1024];
            for (int n; (n = in.read(buf)) != -1; ) {
                md.update(buf, 0, n);
                total += n;
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        assertEquals(BULK, total);
        NetnsGuest.await(Duration.ofSeconds(30), sent + " written", () -> {
            try {
                return Files.exists(sent) && Files.readString(sent).trim().length() == 64;
            } catch (IOException e) {
                return false;
            }
        }, () -> "");
        assertEquals(Files.readString(sent).trim(), HexFormat.of().formatHex(md.digest()));
        System.out.printf("guest->host via port forward %d bytes: %.1f s, %.0f Mbit/s (incl. urandom in the guest)%n",
                BULK, secs, BULK * 8 / secs / 1e6);
    }

    @Test
    void udpForwardToAGuestEcho() throws Exception {
        NetnsGuest g = guest();
        serve(g, "udp", 5353, "socat", "-T", "5", "UDP-RECVFROM:5353,fork,reuseaddr", "EXEC:cat");
        int port;
        try (DatagramSocket probe = new DatagramSocket(0, LOOPBACK)) {
            port = probe.getLocalPort();
        }
        expose("127.0.0.1:" + port, guestIp + ":5353", "udp");
        try (DatagramSocket a = new DatagramSocket(0, LOOPBACK); DatagramSocket b = new DatagramSocket(0, LOOPBACK)) {
            a.setSoTimeout(10_000);
            b.setSoTimeout(10_000);
            for (int i = 0; i < 3; i++) {
                assertEquals("from-a-" + i, udpExchange(a, port, "from-a-" + i));
                assertEquals("from-b-" + i, udpExchange(b, port, "from-b-" + i));
            }
        }
        unexpose("127.0.0.1:" + port, "udp");
        assertEquals("[]", listJson());
    }

    @Test
    void udpAndTcpThroughTheApiRegistry() throws Exception {
        NetnsGuest g = guest();
        serve(g, "udp", 5353, "socat", "-T", "5", "UDP-RECVFROM:5353,fork,reuseaddr", "EXEC:cat");
        echoServer(g, 8080);
        dev.gvproxy.model.PortForwardRegistry registry = forwards;
        int port = freePort();
        for (String proto : new String[] {"udp", "tcp"}) {
            String remote = guestIp + (proto.equals("udp") ? ":5353" : ":8080");
            net.internals().eventLoop().submit(() -> registry.expose(new dev.gvproxy.model.PortForward("127.0.0.1:" + port, remote, proto))
                    .toCompletableFuture()).get(10, TimeUnit.SECONDS).get(20, TimeUnit.SECONDS);
        }
        try (DatagramSocket a = new DatagramSocket(0, LOOPBACK)) {
            a.setSoTimeout(10_000);
            assertEquals("via-registry", udpExchange(a, port, "via-registry"));
        }
        try (Socket s = connect(port)) {
            assertEquals("tcp too\n", halfCloseExchange(s, "tcp too\n"));
        }
        net.internals().eventLoop().submit(() -> registry.unexpose("udp", "127.0.0.1:" + port).toCompletableFuture())
                .get(10, TimeUnit.SECONDS).get(10, TimeUnit.SECONDS);
        NetnsGuest.await(Duration.ofSeconds(10), "udp forward gone", () -> list().size() == 1, this::listJson);
    }

    static String udpExchange(DatagramSocket s, int port, String msg) throws IOException {
        byte[] b = msg.getBytes(StandardCharsets.US_ASCII);
        s.send(new DatagramPacket(b, b.length, LOOPBACK, port));
        DatagramPacket reply = new DatagramPacket(new byte[2048], 2048);
        s.receive(reply);
        return new String(reply.getData(), 0, reply.getLength(), StandardCharsets.US_ASCII);
    }

    @Test
    void unixSocketForward() throws Exception {
        NetnsGuest g = guest();
        echoServer(g, 8080);
        Path sock = dir.resolve("fwd.sock");
        // A stale socket (nobody accepts on it) is replaced, as gvproxy does; a regular file or a live socket never is
        // (issue 9; UnixPortForwardTest and InVmApiSecurityNetnsTest cover those).
        try (java.nio.channels.ServerSocketChannel stale = java.nio.channels.ServerSocketChannel.open(
                StandardProtocolFamily.UNIX)) {
            stale.bind(UnixDomainSocketAddress.of(sock));
        }
        expose(sock.toString(), "tcp://" + guestIp + ":8080", "unix");
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(sock));
            ch.write(ByteBuffer.wrap("over unix\n".getBytes(StandardCharsets.UTF_8)));
            ch.shutdownOutput();
            byte[] reply = Channels.newInputStream(ch).readAllBytes();
            assertEquals("over unix\n", new String(reply, StandardCharsets.UTF_8));
        }
        unexpose(sock.toString(), "unix");
        assertTrue(!Files.exists(sock), "socket file removed on unexpose");
    }

    @Test
    void refusedGuestPortClosesTheHostClient() throws Exception {
        guest();
        int port = freePort();
        expose("127.0.0.1:" + port, guestIp + ":9", "tcp");
        long t0 = System.nanoTime();
        try (Socket s = connect(port)) {
            assertEquals(-1, s.getInputStream().read(), "EOF, as gvproxy closes the accepted client");
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(ms < 5000, "closed on the guest's RST, not after a timeout: " + ms + " ms");
        assertTrue(net.internals().counters().get("tcp.portfwd.guestRefused") >= 1);
    }

    @Test
    void unansweredGuestTimesOutAndClosesTheHostClient() throws Exception {
        guest(PortForwarder.Options.DEFAULTS.withDialTimeoutMillis(1000));
        int port = freePort();
        // Nobody has this address: ARP goes unanswered, the SYN never leaves, the dial times out.
        expose("127.0.0.1:" + port, "192.168.127.77:22", "tcp");
        long t0 = System.nanoTime();
        try (Socket s = connect(port)) {
            assertEquals(-1, s.getInputStream().read());
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(ms >= 900 && ms < 10_000, "closed after the 1 s dial timeout: " + ms + " ms");
        assertEquals(1, net.internals().counters().get("tcp.portfwd.dialTimeout"));
    }

    @Test
    void unexposeClosesTheListenerButNotRunningConnections() throws Exception {
        NetnsGuest g = guest();
        echoServer(g, 8080);
        int port = freePort();
        expose("127.0.0.1:" + port, guestIp + ":8080", "tcp");
        try (Socket s = connect(port)) {
            s.getOutputStream().write("before\n".getBytes(StandardCharsets.UTF_8));
            assertEquals("before", readLine(s.getInputStream()));
            unexpose("127.0.0.1:" + port, "tcp");
            assertThrows(ConnectException.class, () -> connect(port).close());
            s.getOutputStream().write("after\n".getBytes(StandardCharsets.UTF_8));
            assertEquals("after", readLine(s.getInputStream()));
        }
        // Exposing the same key again works.
        expose("127.0.0.1:" + port, guestIp + ":8080", "tcp");
        try (Socket s = connect(port)) {
            assertEquals("again\n", halfCloseExchange(s, "again\n"));
        }
    }

    @Test
    void invalidRemotesAreRejectedAndBusyPortsReported() throws Exception {
        guest();
        for (String remote : new String[] {"[::1]:22", "guest.internal:22", "192.168.127.2", ":22"}) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> pf.open(new PortForwarder.Forward("127.0.0.1:0", remote, "tcp")).get(10, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof IllegalArgumentException, () -> remote + ": " + e.getCause());
        }
        try (ServerSocket busy = new ServerSocket(0, 1, LOOPBACK)) {
            String local = "127.0.0.1:" + busy.getLocalPort();
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> expose(local, guestIp + ":22", "tcp"));
            assertEquals("listen tcp " + local + ": bind: address already in use", e.getCause().getMessage());
        }
        assertEquals("[]", listJson());
    }

    @Test
    void tunnelRelaysAnAcceptedChannel() throws Exception {
        NetnsGuest g = guest();
        echoServer(g, 8080);
        // Stands in for the HTTP API: after the request, write "OK" and hand the channel over.
        Channel server = new ServerBootstrap().group(net.internals().eventLoop()).channel(dev.gvproxy.platform.SocketTransport.get().serverSocketChannel())
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        Channel ch = ctx.channel();
                        ctx.pipeline().remove(this);
                        ch.writeAndFlush(Unpooled.copiedBuffer("OK", StandardCharsets.US_ASCII))
                                .addListener((ChannelFutureListener) f -> dev.gvproxy.forwarder.TcpBridge
                                        .attach(net.internals().counters(), ch)
                                        .connect(net.internals().tunneler().connect(
                                                dev.gvproxy.stack.wire.Ipv4Address.parse(guestIp), 8080)));
                    }

                    @Override
                    public boolean isSharable() {
                        return true;
                    }
                })
                .bind(new InetSocketAddress(LOOPBACK, 0)).sync().channel();
        try {
            int port = ((InetSocketAddress) server.localAddress()).getPort();
            try (Socket s = connect(port)) {
                assertArrayEquals("OK".getBytes(StandardCharsets.US_ASCII), s.getInputStream().readNBytes(2));
                assertEquals("through the tunnel\n", halfCloseExchange(s, "through the tunnel\n"));
            }
        } finally {
            server.close().sync();
        }
    }

    @Test
    void guestSeesGatewayOrTheRealClient() throws Exception {
        NetnsGuest g = guest(PortForwarder.Options.DEFAULTS.withPreserveClientAddress(true));
        Path who = script("who.sh", "echo \"$SOCAT_PEERADDR\"");
        serve(g, "tcp", 8083, "socat", "TCP-LISTEN:8083,fork,reuseaddr", "EXEC:" + who);
        int port = freePort();
        expose("127.0.0.1:" + port, guestIp + ":8083", "tcp");
        try (Socket s = connect(port)) {
            assertEquals("192.168.127.254\n", halfCloseExchange(s, ""), "a loopback client appears as the host alias");
        }
        PortForwarder plain = guests.track(new PortForwarder(net.internals().stack(), net.internals().eventLoop(), PortForwarder.Options.DEFAULTS));
        int port2 = freePort();
        plain.open(new PortForwarder.Forward("127.0.0.1:" + port2, guestIp + ":8083", "tcp")).get(20, TimeUnit.SECONDS);
        try (Socket s = connect(port2)) {
            assertEquals("192.168.127.1\n", halfCloseExchange(s, ""), "by default the gateway");
        }
    }
}
