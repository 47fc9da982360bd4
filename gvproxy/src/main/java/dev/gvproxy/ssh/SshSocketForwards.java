package dev.gvproxy.ssh;

import dev.gvproxy.model.Tunneler;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The {@code -forward-sock/-forward-dest/-forward-user/-forward-identity} forwards (spec 5.7): each host socket is
 * created at once; then, on a thread per forward, the SSH connection to {@code deviceIP:22} is tried up to 60 times
 * (back-off 100 ms doubling to 1 s, "Waiting for sshd"), and host clients are served once it is up. If it never
 * comes up, {@code fatal} is told (gvproxy then exits, as upstream does).
 */
public final class SshSocketForwards implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(SshSocketForwards.class.getName());
    static final int START_TRIES = 60;
    static final long FIRST_DELAY_MILLIS = 100;
    static final long MAX_DELAY_MILLIS = 1_000;

    /** One forward as given on the command line (or in YAML). */
    public record Spec(String socket, String dest, String user, String identity) {}

    private final List<UnixSocketForward> sockets = new ArrayList<>();
    private final List<SshClient> clients = new ArrayList<>();
    private volatile boolean closed;

    private SshSocketForwards() {}

    /**
     * Binds every host socket, then connects in the background.
     *
     * @param loop the network's event loop
     * @param deviceIp the guest address sshd is dialled at (port 22)
     * @param fatal told (once per forward) when a forward's SSH connection never came up
     * @throws IOException if a host socket cannot be created (nothing is left behind)
     */
    public static SshSocketForwards start(List<Spec> specs, Executor loop, Tunneler tunneler, int deviceIp,
                                          Consumer<String> fatal) throws IOException {
        return start(specs, t -> new SshClient(t, loop, tunneler), deviceIp, fatal);
    }

    /** {@link #start} with the SSH client made by {@code clients} (tests fake the connection). */
    static SshSocketForwards start(List<Spec> specs, Function<SshTarget, SshClient> clients, int deviceIp,
                                   Consumer<String> fatal) throws IOException {
        SshSocketForwards all = new SshSocketForwards();
        try {
            for (Spec s : specs) {
                UnixSocketForward sock = UnixSocketForward.bind(hostSocketPath(s.socket()));
                all.sockets.add(sock);
                SshClient client = clients.apply(
                        SshTarget.forwardSock(s.user(), deviceIp, s.dest(), Path.of(s.identity())));
                all.clients.add(client);
                LOG.info("ssh forward " + sock.path() + " -> " + client.target().describe());
                Thread.ofVirtual().name("ssh-forward-connect " + sock.path()).start(() -> {
                    try {
                        client.connectWithRetries(START_TRIES, FIRST_DELAY_MILLIS, MAX_DELAY_MILLIS);
                        sock.serve(client);
                    } catch (IOException e) {
                        if (!all.closed) {
                            fatal.accept(e.getMessage());
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
            }
        } catch (IOException | RuntimeException e) {
            all.close();
            throw e;
        }
        return all;
    }

    /** {@code unix:///path} or a bare path; named pipes exist on Windows only. */
    static Path hostSocketPath(String sock) throws IOException {
        if (sock.startsWith("npipe:")) {
            throw new IOException("-forward-sock " + sock + ": named pipes are only supported on Windows");
        }
        if (sock.startsWith("unix:")) {
            String p = URI.create(sock).getPath();
            if (p == null || p.isEmpty()) {
                throw new IOException("-forward-sock " + sock + ": no socket path");
            }
            return Path.of(p);
        }
        return Path.of(sock);
    }

    /** The host socket paths, in order. */
    public List<Path> paths() {
        return sockets.stream().map(UnixSocketForward::path).toList();
    }

    /** Removes the host sockets and ends the SSH connections (and so every relayed client). */
    @Override
    public void close() {
        closed = true;
        for (UnixSocketForward s : sockets) {
            s.close();
        }
        for (SshClient c : clients) {
            c.close();
        }
        LOG.log(Level.FINE, "ssh forwards closed");
    }
}
