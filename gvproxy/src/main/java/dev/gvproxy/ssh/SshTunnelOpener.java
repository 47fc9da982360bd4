package dev.gvproxy.ssh;

import dev.gvproxy.model.GoNet;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.model.PortForwardRegistry;
import dev.gvproxy.model.Tunneler;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;

/**
 * Opens {@code unix} forwards whose remote is {@code ssh-tunnel://user@IPv4[:port]/socket?key=...} (spec 5.6): the
 * host socket is created at once, the SSH connection on the first client and then shared; unexpose removes the
 * socket and closes the connection, which ends its streams (as gvproxy does).
 */
public final class SshTunnelOpener implements PortForwardRegistry.Opener {
    private final Executor loop;
    private final Tunneler tunneler;

    /** @param loop the network's event loop */
    public SshTunnelOpener(Executor loop, Tunneler tunneler) {
        this.loop = loop;
        this.tunneler = tunneler;
    }

    @Override
    public CompletionStage<AutoCloseable> open(PortForward f) {
        SshTarget t;
        try {
            t = SshTarget.parseTunnelUri(f.remote());
        } catch (GoNet.GoError e) {
            return CompletableFuture.failedFuture(e);
        }
        if (!Files.isReadable(t.identity()) || Files.isDirectory(t.identity())) {
            return CompletableFuture.failedFuture(new GoNet.GoError("identity file \"" + t.identity()
                    + "\" can't be loaded: open " + t.identity() + ": no such file or directory"));
        }
        UnixSocketForward sock;
        try {
            sock = UnixSocketForward.bind(Path.of(f.local()));
        } catch (IOException e) {
            return CompletableFuture.failedFuture(new IOException("listen unix " + f.local() + ": bind: "
                    + e.getMessage(), e));
        }
        sock.serve(new SshClient(t, loop, tunneler));
        return CompletableFuture.completedFuture(sock);
    }
}
