package dev.gvproxy.model;

import dev.gvproxy.stack.Counters;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@link PortForwards} bookkeeping with gvproxy's rules and error texts (spec 4.2, 5.6), the one port-forward
 * registry: forwards keyed by {@code protocol/local} (exact string), duplicates refused
 * ({@code proxy already running for tcp on 127.0.0.1:9090}), listing sorted as gvproxy's {@code /all}, remote
 * validation per protocol, then an {@link Opener} that creates the real listener (the stack-forwarder's
 * {@code PortForwarder}, which owns only live listeners, or an SSH tunnel). A refused operation (duplicate,
 * {@code proxy not found}) fails with {@link IllegalStateException}, as a failed bind does. Runs on the
 * network's event loop (not thread-safe).
 *
 * <p><b>Guests are untrusted</b> (DESIGN.md). Every forward remembers its {@link PortForwards.Origin}; for a
 * guest (the in-VM API) the registry:
 * <ul>
 *   <li>lists and removes only guest-created forwards; touching a host forward (CLI, YAML, host API) is
 *       {@link PortForwards.Forbidden} (HTTP 403, counted {@code api.guestForbidden});</li>
 *   <li>refuses a tcp/udp {@code local} that overlaps a host forward of the same protocol (same port and the
 *       same address, both loopback, or either side a wildcard), so a guest cannot take over
 *       {@code 127.0.0.1:2222}, not even as {@code [::1]:2222};</li>
 *   <li>applies the {@link GuestPolicy}: by default what podman needs (any address, privileged ports), in strict
 *       mode loopback addresses and ports 1024-65535 (or 0) only;</li>
 *   <li>confines {@code unix} exposes to {@link GuestPolicy#unixDir} (none by default: refused), with a
 *       {@code tcp://} remote only ({@code ssh-tunnel://} names a host key file);</li>
 * </ul>
 * For every origin, a {@code unix} {@code local} that gvproxy-java itself owns ({@link #protectPath}: its API and
 * hypervisor sockets, pid and log files) is refused; the forwarder refuses existing regular files and live sockets.
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
         * @return a handle whose {@code close()} stops the forward (unexpose); a {@link Bound} handle tells the
         *     local address really bound (port 0 asks for any free port)
         * @param forward the forward
         */
        CompletionStage<AutoCloseable> open(PortForward forward);
    }

    /** A handle that knows the {@code local} it really bound ({@code 127.0.0.1:45678} for {@code 127.0.0.1:0}). */
    public interface Bound extends AutoCloseable {
        /**
         * The {@code local} the listener really bound, which the registry records in place of the requested one
         * so that {@code /services/forwarder/all} shows a usable address.
         * @return {@code host:port} (or the socket path of a unix forward)
         */
        String boundLocal();
    }

    /**
     * What guests may expose.
     *
     * @param strict loopback {@code local} addresses and ports 1024-65535 (or 0) only; off by default, since
     *     podman publishes container ports on every address and privileged ports (e.g. {@code -p 80:80})
     * @param unixDir the only directory guests may create unix sockets in; null refuses guest unix exposes
     */
    public record GuestPolicy(boolean strict, Path unixDir) {
        public static final GuestPolicy DEFAULT = new GuestPolicy(false, null);
    }

    /** Called on the loop after every successful expose or unexpose (state persistence). */
    @FunctionalInterface
    public interface ChangeListener {
        /**
         * Called after a change, on the network loop, with the registry already updated (gvproxy-java saves its
         * state file from here).
         * @param registry the registry that changed
         */
        void changed(PortForwardRegistry registry);
    }

    private final Opener opener;
    private final GuestPolicy policy;
    private final Counters.Counter guestForbidden;
    private final Set<Path> protectedPaths = new HashSet<>();
    private final Map<String, Entry> active = new LinkedHashMap<>();
    // Reservations between validation and the opener completing, so two concurrent exposes of one key fail.
    private final Map<String, Reserved> opening = new LinkedHashMap<>();
    private ChangeListener listener = r -> {};

    private record Entry(PortForward forward, AutoCloseable handle, Origin origin) {}

    private record Reserved(PortForward forward, Origin origin) {}

    /**
     * A registry with the default guest policy and counters of its own (tests).
     *
     * @param opener creates the host side of each validated forward
     */
    public PortForwardRegistry(Opener opener) {
        this(opener, GuestPolicy.DEFAULT, new Counters());
    }

    /**
     * The registry of one network.
     *
     * @param counters where {@code api.guestForbidden} is counted (the network's)
     * @param opener creates the host side of each validated forward
     * @param policy what guests may expose
     */
    public PortForwardRegistry(Opener opener, GuestPolicy policy, Counters counters) {
        this.opener = opener;
        this.policy = policy;
        this.guestForbidden = counters.counter("api.guestForbidden");
    }

    /**
     * A file gvproxy-java owns (API/hypervisor socket, pid or log file): no expose may replace it.
     *
     * @param p the file; compared after {@code toAbsolutePath().normalize()}
     */
    public void protectPath(Path p) {
        protectedPaths.add(p.toAbsolutePath().normalize());
    }

    /**
     * Sets the change listener (one).
     * @param l called after every change; null for none
     */
    public void onChange(ChangeListener l) {
        this.listener = l == null ? r -> {} : l;
    }

    @Override
    public List<PortForward> all() {
        return all(Origin.HOST);
    }

    /** @return the forwards {@code viewer} may see, sorted by local then protocol (gvproxy's {@code /all}) */
    @Override
    public List<PortForward> all(Origin viewer) {
        List<PortForward> out = new ArrayList<>();
        for (Entry e : active.values()) {
            if (viewer != Origin.GUEST || e.origin() == Origin.GUEST) {
                out.add(e.forward());
            }
        }
        out.sort(BY_LOCAL_THEN_PROTOCOL);
        return out;
    }

    private static final java.util.Comparator<PortForward> BY_LOCAL_THEN_PROTOCOL =
            java.util.Comparator.comparing(PortForward::local).thenComparing(PortForward::protocol);

    /**
     * The forwards created by {@code origin} (state persistence keeps the API-created ones).
     *
     * @param origin who asks (host, configuration or guest)
     * @return the forwards {@code origin} created
     */
    public List<PortForward> created(Origin origin) {
        List<PortForward> out = new ArrayList<>();
        for (Entry e : active.values()) {
            if (e.origin() == origin) {
                out.add(e.forward());
            }
        }
        return out;
    }

    @Override
    public CompletionStage<PortForward> expose(PortForward f, Origin origin) {
        try {
            validate(f);
            checkProtected(f);
            if (origin == Origin.GUEST) {
                checkGuest(f);
            }
        } catch (Forbidden e) {
            if (origin == Origin.GUEST) {
                guestForbidden.inc();
            }
            LOG.log(Level.INFO, "refused expose of {0} {1} by the {2}: {3}",
                    new Object[] {f.protocol(), f.local(), origin.name().toLowerCase(Locale.ROOT), e.getMessage()});
            return CompletableFuture.failedFuture(e);
        } catch (GoNet.GoError e) {
            return CompletableFuture.failedFuture(e);
        }
        String key = f.key();
        if (active.containsKey(key) || opening.containsKey(key)) {
            return CompletableFuture.failedFuture(new IllegalStateException(
                    "proxy already running for " + f.protocol() + " on " + f.local()));
        }
        opening.put(key, new Reserved(f, origin));
        CompletableFuture<PortForward> done = new CompletableFuture<>();
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
                return;
            }
            PortForward listed = f;
            if (handle instanceof Bound b && b.boundLocal() != null && !b.boundLocal().equals(f.local())) {
                listed = new PortForward(b.boundLocal(), f.remote(), f.protocol());
            }
            if (active.containsKey(listed.key())) { // port 0 bound a port some other key names literally
                closeQuietly(handle);
                done.completeExceptionally(new IllegalStateException("proxy already running for " + f.protocol()
                        + " on " + listed.local()));
                return;
            }
            active.put(listed.key(), new Entry(listed, handle, origin));
            LOG.log(Level.INFO, "exposed {0} {1} -> {2} (by the {3})", new Object[] {listed.protocol(), listed.local(),
                    listed.remote(), origin.name().toLowerCase(Locale.ROOT)});
            done.complete(listed);
            listener.changed(this);
        });
        return done;
    }

    @Override
    public CompletionStage<Void> unexpose(String protocol, String local, Origin origin) {
        String key = protocol + "/" + local;
        Entry e = active.get(key);
        if (e == null) {
            return CompletableFuture.failedFuture(new IllegalStateException("proxy not found"));
        }
        if (origin == Origin.GUEST && e.origin() != Origin.GUEST) {
            guestForbidden.inc();
            LOG.log(Level.INFO, "refused unexpose of the host forward {0} {1} by a guest", new Object[] {protocol, local});
            return CompletableFuture.failedFuture(new Forbidden("forward " + protocol + " " + local
                    + " was not created by a guest: only the host may remove it"));
        }
        active.remove(key);
        closeQuietly(e.handle());
        LOG.log(Level.INFO, "unexposed {0} {1}", new Object[] {protocol, local});
        listener.changed(this);
        return CompletableFuture.completedFuture(null);
    }

    private static void closeQuietly(AutoCloseable handle) {
        try {
            handle.close();
        } catch (Exception ex) {
            LOG.log(Level.WARNING, "closing forward: " + ex);
        }
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

    // --- guest policy ------------------------------------------------------------------------------------

    private void checkProtected(PortForward f) throws Forbidden {
        if (!f.protocol().equals("unix")) {
            return;
        }
        Path p = unixPath(f.local());
        if (p != null && protectedPaths.contains(p.toAbsolutePath().normalize())) {
            throw new Forbidden("refusing to replace " + p + ": gvproxy-java itself uses this file");
        }
    }

    private static Path unixPath(String local) {
        String s = local.startsWith("unix://") ? local.substring("unix://".length()) : local;
        try {
            return s.isEmpty() ? null : Path.of(s);
        } catch (java.nio.file.InvalidPathException e) {
            return null;
        }
    }

    private void checkGuest(PortForward f) throws GoNet.GoError {
        switch (f.protocol()) {
            case "tcp", "udp" -> checkGuestInet(f);
            case "unix" -> checkGuestUnix(f);
            default -> throw new Forbidden("guests may expose only tcp, udp and unix forwards");
        }
    }

    /** A tcp/udp local as (address class, port); {@code host} is "" for every address. */
    private record Local(String host, int port) {
        boolean wildcard() {
            return host.isEmpty() || host.equals("0.0.0.0") || host.equals("::");
        }

        boolean loopback() {
            return host.equalsIgnoreCase("localhost") || host.equals("::1") || host.startsWith("127.");
        }

        boolean overlaps(Local o) {
            if (port != o.port || port == 0) {
                return false;
            }
            // Every loopback address counts as one: "ssh -p 2222 localhost" may try ::1 before 127.0.0.1.
            if (wildcard() || o.wildcard() || (loopback() && o.loopback())) {
                return true;
            }
            String a = host.equalsIgnoreCase("localhost") ? "127.0.0.1" : host;
            String b = o.host.equalsIgnoreCase("localhost") ? "127.0.0.1" : o.host;
            return a.equals(b);
        }
    }

    private static Local parseLocal(String local) throws GoNet.GoError {
        String[] hp = GoNet.splitHostPort(local);
        int port = (int) GoNet.parseUint(hp[1], 16);
        return new Local(hp[0], port);
    }

    private void checkGuestInet(PortForward f) throws GoNet.GoError {
        Local l = parseLocal(f.local());
        if (policy.strict()) {
            if (!l.loopback()) {
                throw new Forbidden("guests may expose only loopback addresses (strict mode): " + f.local());
            }
            if (l.port() != 0 && l.port() < 1024) {
                throw new Forbidden("guests may not expose privileged ports (strict mode): " + f.local());
            }
        }
        for (Entry e : active.values()) {
            checkOverlap(f, l, e.forward(), e.origin());
        }
        for (Reserved r : opening.values()) {
            checkOverlap(f, l, r.forward(), r.origin());
        }
    }

    private static void checkOverlap(PortForward f, Local l, PortForward other, Origin otherOrigin)
            throws GoNet.GoError {
        if (otherOrigin == Origin.GUEST || !other.protocol().equals(f.protocol())) {
            return;
        }
        Local o;
        try {
            o = parseLocal(other.local());
        } catch (GoNet.GoError e) {
            return;
        }
        if (l.overlaps(o)) {
            throw new Forbidden(f.protocol() + " " + f.local() + " overlaps the host's forward " + other.local()
                    + ": guests may not take over host forwards");
        }
    }

    private void checkGuestUnix(PortForward f) throws Forbidden {
        if (policy.unixDir() == null) {
            throw new Forbidden("unix exposes from the VM are disabled (give gvproxy-java -guest-unix-dir DIR to"
                    + " allow them in one directory)");
        }
        if (!f.remote().startsWith("tcp://")) {
            throw new Forbidden("guests may expose unix sockets only with a tcp:// remote");
        }
        Path p = unixPath(f.local());
        if (p == null || !p.isAbsolute() || !p.normalize().equals(p) || p.getParent() == null) {
            throw new Forbidden("unix socket path must be absolute and normalised: " + f.local());
        }
        try {
            Path dir = policy.unixDir().toRealPath();
            Path parent = p.getParent().toRealPath();
            if (!parent.startsWith(dir)) {
                throw new Forbidden("guests may create unix sockets only in " + policy.unixDir() + ": " + f.local());
            }
        } catch (java.io.IOException e) {
            throw new Forbidden("guests may create unix sockets only in " + policy.unixDir() + ": " + f.local()
                    + " (" + e.getMessage() + ")");
        }
    }

    /** gvproxy's per-protocol checks of {@code remote}, with its error texts. */
    static void validate(PortForward f) throws GoNet.GoError {
        switch (f.protocol()) {
            case "tcp", "udp" -> parseTcpRemote(f.remote()); // both take a guest's IPv6 address too
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
                        parseTcpRemote(hp);
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
     * A tcp remote: gvproxy's {@code a.b.c.d:port}, or a guest's IPv6 address as {@code [addr]:port} (IPv6
     * forwarding; gvproxy has none). Anything else: gvproxy's error text.
     */
    static void parseTcpRemote(String remote) throws GoNet.GoError {
        if (remote.startsWith("[")) {
            int close = remote.indexOf("]:");
            if (close > 1) {
                try {
                    dev.gvproxy.stack.wire.Ipv6Address.parse(remote.substring(1, close));
                    GoNet.parseUint(remote.substring(close + 2), 16);
                    return;
                } catch (IllegalArgumentException e) {
                    throw new GoNet.GoError("invalid remote addr");
                }
            }
        }
        parseIpv4Remote(remote);
    }

    /**
     * gvproxy's remote check: exactly {@code a.b.c.d:port} after splitting on {@code :}.
     *
     * @return {ip as int, port}
     * @param remote {@code IPv4:port}
     * @throws GoNet.GoError with Go's error text when the input is invalid
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
