package dev.gvproxy.api;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@link PortForwards} bookkeeping with gvproxy's rules and error texts (spec 4.2, 5.6): forwards keyed by
 * {@code protocol/local} (exact string), remote validation per protocol, then an {@link Opener} that creates the
 * real listener. Runs on the network's event loop (not thread-safe).
 */
public final class PortForwardRegistry implements PortForwards {
    private static final Logger LOG = Logger.getLogger(PortForwardRegistry.class.getName());

    /** Creates the host side of a validated forward. */
    @FunctionalInterface
    public interface Opener {
        /**
         * Binds the host listener for {@code forward}. The stage fails with the bind error's text (e.g.
         * {@code listen tcp 127.0.0.1:9090: bind: address already in use}).
         *
         * @return a handle whose {@code close()} stops the forward (unexpose)
         */
        CompletionStage<AutoCloseable> open(PortForward forward);
    }

    private final Opener opener;
    private final Map<String, Entry> active = new LinkedHashMap<>();
    // Reservations between validation and the opener completing, so two concurrent exposes of one key fail.
    private final Map<String, PortForward> opening = new LinkedHashMap<>();

    private record Entry(PortForward forward, AutoCloseable handle) {}

    public PortForwardRegistry(Opener opener) {
        this.opener = opener;
    }

    @Override
    public List<PortForward> all() {
        List<PortForward> out = new ArrayList<>();
        for (Entry e : active.values()) {
            out.add(e.forward());
        }
        return out;
    }

    @Override
    public CompletionStage<Void> expose(PortForward f) {
        try {
            validate(f);
        } catch (GoNet.GoError e) {
            return CompletableFuture.failedFuture(e);
        }
        String key = f.key();
        if (active.containsKey(key) || opening.containsKey(key)) {
            return CompletableFuture.failedFuture(new GoNet.GoError(
                    "proxy already running for " + f.protocol() + " on " + f.local()));
        }
        opening.put(key, f);
        CompletableFuture<Void> done = new CompletableFuture<>();
        CompletionStage<AutoCloseable> stage;
        try {
            stage = opener.open(f);
        } catch (RuntimeException e) {
            stage = CompletableFuture.failedFuture(e);
        }
        stage.whenComplete((handle, err) -> {
            opening.remove(key);
            if (err != null) {
                Throwable cause = err instanceof java.util.concurrent.CompletionException && err.getCause() != null
                        ? err.getCause() : err;
                done.completeExceptionally(cause);
            } else {
                active.put(key, new Entry(f, handle));
                LOG.log(Level.INFO, "exposed {0} {1} -> {2}", new Object[] {f.protocol(), f.local(), f.remote()});
                done.complete(null);
            }
        });
        return done;
    }

    @Override
    public CompletionStage<Void> unexpose(String protocol, String local) {
        Entry e = active.remove(protocol + "/" + local);
        if (e == null) {
            return CompletableFuture.failedFuture(new GoNet.GoError("proxy not found"));
        }
        try {
            e.handle().close();
        } catch (Exception ex) {
            LOG.log(Level.WARNING, "closing forward " + local + ": " + ex);
        }
        LOG.log(Level.INFO, "unexposed {0} {1}", new Object[] {protocol, local});
        return CompletableFuture.completedFuture(null);
    }

    /** Closes every forward (shutdown). */
    public void closeAll() {
        for (Entry e : active.values()) {
            try {
                e.handle().close();
            } catch (Exception ex) {
                LOG.log(Level.FINE, "closing forward", ex);
            }
        }
        active.clear();
    }

    /** gvproxy's per-protocol checks of {@code remote}, with its error texts. */
    static void validate(PortForward f) throws GoNet.GoError {
        switch (f.protocol()) {
            case "tcp", "udp" -> parseIpv4Remote(f.remote());
            case "unix", "npipe" -> {
                URI u;
                try {
                    u = new URI(f.remote());
                } catch (URISyntaxException e) {
                    throw new GoNet.GoError("failed to parse remote uri :" + f.remote() + " : " + e.getMessage());
                }
                String scheme = u.getScheme() == null ? "" : u.getScheme();
                switch (scheme) {
                    case "tcp" -> {
                        String hp = u.getRawAuthority() == null ? "" : u.getRawAuthority();
                        parseIpv4Remote(hp);
                    }
                    case "ssh-tunnel" -> {
                        String query = u.getRawQuery() == null ? "" : u.getRawQuery();
                        boolean key = false;
                        for (String kv : query.split("&")) {
                            if (kv.startsWith("key=") && kv.length() > 4) {
                                key = true;
                            }
                        }
                        if (!key) {
                            throw new GoNet.GoError("key not provided for unix-ssh connection");
                        }
                        if (u.getPath() == null || u.getPath().isEmpty() || u.getPath().equals("/")) {
                            throw new GoNet.GoError("remote uri must contain a path to a socket file");
                        }
                    }
                    default -> throw new GoNet.GoError("remote protocol for unix forwarder is not implemented: " + scheme);
                }
                if (f.protocol().equals("npipe")) {
                    throw new GoNet.GoError("npipe forwards are only supported on Windows");
                }
            }
            default -> throw new GoNet.GoError("unknown protocol " + f.protocol());
        }
    }

    /**
     * gvproxy's remote check: exactly {@code a.b.c.d:port} after splitting on {@code :}.
     *
     * @return {ip as int, port}
     */
    public static int[] parseIpv4Remote(String remote) throws GoNet.GoError {
        String[] parts = remote.split(":", -1);
        if (parts.length != 2) {
            throw new GoNet.GoError("invalid remote addr");
        }
        Integer ip = GoNet.parseIpv4(parts[0]);
        if (ip == null) {
            throw new GoNet.GoError("invalid remote addr");
        }
        int port = (int) GoNet.parseUint(parts[1], 16);
        return new int[] {ip, port};
    }
}
