package dev.gvproxy.forwarder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a unix forward does with what is already at its path (issue 9: an expose replaced a regular file and
 * gvproxy-java's own API socket), its mode whatever the umask, and port 0 on tcp/udp forwards.
 */
class UnixPortForwardTest {
    @TempDir
    Path dir;

    LoopHarness h;
    PortForwarder pf;

    @BeforeEach
    void setUp() throws Exception {
        h = new LoopHarness();
        pf = new PortForwarder(h.stack, h.loop, PortForwarder.Options.DEFAULTS);
    }

    @AfterEach
    void tearDown() throws Exception {
        pf.close();
        h.close();
    }

    private PortForwarder.Forward unix(Path p) {
        return new PortForwarder.Forward(p.toString(), "tcp://192.168.127.2:80", "unix");
    }

    @Test
    void aRegularFileIsNeverReplaced() throws Exception {
        Path f = Files.writeString(dir.resolve("precious.txt"), "keep me");
        Throwable t = PortForwarderTest.failure(pf.open(unix(f)));
        assertTrue(t.getMessage().contains("not a socket"), t.getMessage());
        assertEquals("keep me", Files.readString(f));
        Path d = Files.createDirectory(dir.resolve("adir"));
        PortForwarderTest.failure(pf.open(unix(d)));
        assertTrue(Files.isDirectory(d));
        Path link = Files.createSymbolicLink(dir.resolve("link.sock"), f);
        PortForwarderTest.failure(pf.open(unix(link)));
        assertTrue(Files.isSymbolicLink(link));
    }

    @Test
    void aLiveSocketIsNeverReplaced() throws Exception {
        Path p = dir.resolve("live.sock");
        try (ServerSocketChannel live = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            live.bind(UnixDomainSocketAddress.of(p));
            Throwable t = PortForwarderTest.failure(pf.open(unix(p)));
            assertEquals("listen unix " + p + ": bind: address already in use", t.getMessage());
            // Still the original listener's socket.
            try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(p))) {
                assertTrue(c.isConnected());
            }
        }
    }

    @Test
    void aStaleSocketIsReplacedAndTheNewOneIs0600() throws Exception {
        Path p = dir.resolve("stale.sock");
        try (ServerSocketChannel old = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            old.bind(UnixDomainSocketAddress.of(p));
        } // closed: the file stays, nobody accepts
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertTrue(Files.exists(p));
        PortForwarder.Listener listener = pf.open(unix(p)).get(10, TimeUnit.SECONDS);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p)));
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(p))) {
            assertTrue(c.isConnected());
        }
        // No temporary sibling is left behind.
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count());
        }
        listener.close().get(10, TimeUnit.SECONDS);
        assertFalse(Files.exists(p));
    }

    @Test
    void portZeroListsTheBoundPort() throws Exception {
        PortForwarder.Listener tcpListener = pf.open(new PortForwarder.Forward("127.0.0.1:0", "192.168.127.2:80",
                "tcp")).get(10, TimeUnit.SECONDS);
        PortForwarder.Listener udpListener = pf.open(new PortForwarder.Forward("127.0.0.1:0", "192.168.127.2:53",
                "udp")).get(10, TimeUnit.SECONDS);
        PortForwarder.Forward tcp = tcpListener.forward();
        PortForwarder.Forward udp = udpListener.forward();
        int port = Integer.parseInt(tcp.local().substring("127.0.0.1:".length()));
        assertTrue(port > 0, tcp::toString);
        assertTrue(udp.local().matches("127\\.0\\.0\\.1:[1-9][0-9]*"), udp::toString);
        assertTrue(pf.live().contains(tcp) && pf.live().contains(udp), pf.live()::toString);
        try (java.net.Socket s = new java.net.Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 5000); // something listens there
        }
        tcpListener.close().get(10, TimeUnit.SECONDS);
        udpListener.close().get(10, TimeUnit.SECONDS);
        assertEquals(0, pf.live().size());
    }
}
