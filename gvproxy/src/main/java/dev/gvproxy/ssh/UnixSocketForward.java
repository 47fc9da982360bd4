package dev.gvproxy.ssh;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A host unix socket whose clients are each relayed over SSH to a guest unix socket ({@link StreamLocalRelay}).
 * The socket file replaces any existing file and gets mode 0600 (gvproxy binds with umask 0177; here the mode is
 * set right after bind, while the default umask already denies other users the write bit that connecting needs).
 * Accepting runs on a virtual thread; {@link #close} removes the file, stops accepting and ends the SSH
 * connection, which ends every relayed client.
 */
public final class UnixSocketForward implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(UnixSocketForward.class.getName());

    private final Path path;
    private final ServerSocketChannel server;
    private final Set<StreamLocalRelay> relays = ConcurrentHashMap.newKeySet();
    private volatile SshClient ssh;
    private volatile boolean closed;

    private UnixSocketForward(Path path, ServerSocketChannel server) {
        this.path = path;
        this.server = server;
    }

    /** Creates the host socket (replacing an existing file); clients wait in the backlog until {@link #serve}. */
    public static UnixSocketForward bind(Path path) throws IOException {
        Files.deleteIfExists(path);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(path));
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        return new UnixSocketForward(path, server);
    }

    public Path path() {
        return path;
    }

    /** Starts accepting; each client gets a channel on {@code client}'s connection, which this forward now owns. */
    public void serve(SshClient client) {
        this.ssh = client;
        if (closed) {
            client.close();
            return;
        }
        Thread.ofVirtual().name("ssh-forward-accept " + path).start(this::acceptLoop);
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel c;
            try {
                c = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(Level.WARNING, "ssh forward " + path + ": accept failed", e);
                }
                return;
            }
            StreamLocalRelay[] self = new StreamLocalRelay[1];
            self[0] = new StreamLocalRelay(c, ssh, () -> relays.remove(self[0]));
            relays.add(self[0]);
            Thread.ofVirtual().name("ssh-forward " + path).start(self[0]);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            LOG.log(Level.FINE, "closing " + path, e);
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            LOG.log(Level.FINE, "cannot delete " + path, e);
        }
        SshClient s = ssh;
        if (s != null) {
            s.close();
        }
        for (StreamLocalRelay r : relays) {
            Thread.ofVirtual().start(r::finish); // finish() may write a channel close: never on the caller's loop
        }
    }
}
