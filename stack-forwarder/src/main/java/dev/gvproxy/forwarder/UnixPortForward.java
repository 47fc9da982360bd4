package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;
import io.netty.channel.Channel;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A {@code unix} port forward: a host unix socket whose clients are relayed to a guest TCP port
 * ({@code remote = tcp://IPv4:port}). Clients appear to the guest as coming from the gateway (a unix peer has no
 * IP address to preserve).
 *
 * <p>What is already at the path (gvproxy deletes anything): only a <em>stale</em> socket, one whose connect is
 * refused, is replaced; a live socket (someone accepts on it) fails like a busy port
 * ({@code bind: address already in use}), and a regular file, directory, symlink or anything else is never
 * touched. The socket is created mode 0600 whatever the umask: bound under a random sibling name, chmod-ed, then
 * renamed into place, so nobody can connect before the mode is set. The file is removed when the forward is
 * unexposed.
 */
final class UnixPortForward extends TcpPortForward {
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    private final Path path;
    private final Path bindPath;

    private UnixPortForward(PortForwarder owner, PortForwarder.Forward forward, Path path, Path bindPath,
            PortForwarder.GuestAddress remote) {
        super(owner, forward, remote);
        this.path = path;
        this.bindPath = bindPath;
    }

    static void start(PortForwarder owner, PortForwarder.Forward forward, String path, PortForwarder.GuestAddress remote,
            CompletableFuture<PortForwarder.Listener> result) {
        Path p = Path.of(path);
        try {
            clearStale(p);
        } catch (IllegalStateException e) {
            result.completeExceptionally(e);
            return;
        }
        Path tmp = p.toAbsolutePath().getParent().resolve(".gvj-" + Long.toString(
                ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE, 36));
        if (tmp.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
            tmp = p; // no room for a sibling name: bind in place and chmod right after
        }
        new UnixPortForward(owner, forward, p, tmp, remote)
                .bind(SocketTransport.get().serverDomainSocketChannel(), SocketTransport.get().domainAddress(tmp), "unix", result, false);
    }

    /**
     * Makes room for the socket: nothing there, or a stale socket (removed).
     *
     * @throws IllegalStateException when something else is there (the message is Go's listen error wording)
     */
    static void clearStale(Path p) {
        int mode;
        try {
            mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException e) {
            return;
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("listen unix " + p + ": " + e.getMessage(), e);
        }
        if ((mode & S_IFMT) != S_IFSOCK) {
            throw new IllegalStateException("listen unix " + p + ": bind: file exists (not a socket; refusing to"
                    + " replace it)");
        }
        if (live(p)) {
            throw new IllegalStateException("listen unix " + p + ": bind: address already in use");
        }
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new IllegalStateException("listen unix " + p + ": " + e.getMessage(), e);
        }
    }

    /** Whether something accepts on the socket at {@code p}: only a refused connect means stale. */
    static boolean live(Path p) {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.configureBlocking(false); // a full backlog must not block the event loop; it means live anyway
            ch.connect(UnixDomainSocketAddress.of(p));
            return true;
        } catch (ConnectException e) {
            return false;
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }

    @Override
    void afterBind(Channel server) throws IOException {
        Files.setPosixFilePermissions(bindPath, PosixFilePermissions.fromString("rw-------"));
        if (!bindPath.equals(path)) {
            // No REPLACE_EXISTING: whatever appeared at the path meanwhile is not ours to replace.
            Files.move(bindPath, path);
        }
    }

    @Override
    void bindFailed() {
        try {
            if (!bindPath.equals(path)) {
                Files.deleteIfExists(bindPath);
            }
        } catch (IOException e) {
            // best effort
        }
    }

    @Override
    public void close() {
        super.close();
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            // Best effort, like Go's listener unlink on close.
        }
    }
}
