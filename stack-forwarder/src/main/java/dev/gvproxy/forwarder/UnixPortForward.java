package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * A {@code unix} port forward: a host unix socket whose clients are relayed to a guest TCP port
 * ({@code remote = tcp://IPv4:port}). As in gvproxy, a file already at the path is removed first; the
 * socket file is removed again when the forward is unexposed. Clients appear to the guest as coming from
 * the gateway (a unix peer has no IP address to preserve).
 */
final class UnixPortForward extends TcpPortForward {
    private final Path path;

    private UnixPortForward(PortForwarder owner, PortForwarder.Forward forward, Path path,
            PortForwarder.GuestAddress remote) {
        super(owner, forward, remote);
        this.path = path;
    }

    static void start(PortForwarder owner, PortForwarder.Forward forward, String path, PortForwarder.GuestAddress remote,
            CompletableFuture<Void> result) {
        Path p = Path.of(path);
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            result.completeExceptionally(new IllegalStateException("listen unix " + path + ": " + e.getMessage(), e));
            return;
        }
        new UnixPortForward(owner, forward, p, remote)
                .bind(SocketTransport.get().serverDomainSocketChannel(), SocketTransport.get().domainAddress(p), "unix", result, false);
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
