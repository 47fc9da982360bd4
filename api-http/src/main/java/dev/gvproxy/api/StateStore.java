package dev.gvproxy.api;

import dev.gvproxy.model.DnsZone;
import dev.gvproxy.model.GoJson;
import dev.gvproxy.model.GoNet;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.model.PortForwards;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * What must survive a restart of gvproxy-java (upstream issue #418), kept in one JSON file in a state directory:
 * API-created port forwards (with who created them), the DNS zones added through the API (in order, replayed with
 * the API's merge rule on top of the configured zones) and the DHCP leases. The configuration's own forwards and
 * zones are not saved: it recreates them.
 *
 * <p>Writes are atomic: a temporary file in the same directory (mode 0600), flushed to disk, then renamed over
 * the old one, so a crash leaves the old or the new state, never half of one. {@link #save} is called on the
 * network's event loop and only formats the JSON there; the file is written by a single background thread, in
 * order, and only when the content changed.
 *
 * <p>The file is read with the API's bounded JSON reader; a file that does not parse is reported at start-up and
 * left in place (gvproxy-java then refuses to start rather than silently forget the state).
 */
public final class StateStore implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(StateStore.class.getName());
    public static final String FILE_NAME = "gvproxy-java-state.json";
    /** DNS adds kept; beyond it further adds are not saved (counted by the caller). */
    public static final int MAX_DNS_ADDS = 1024;

    public record SavedForward(PortForward forward, PortForwards.Origin origin) {}

    /**
     * @param client the DHCP client key (client identifier or MAC)
     * @param mac lower-case MAC
     * @param ip dotted IPv4
     */
    public record SavedLease(String client, String mac, String ip) {}

    public record State(List<SavedForward> forwards, List<DnsZone> dnsAdds, List<SavedLease> leases) {
        public static final State EMPTY = new State(List.of(), List.of(), List.of());

        public State {
            forwards = List.copyOf(forwards);
            dnsAdds = List.copyOf(dnsAdds);
            leases = List.copyOf(leases);
        }
    }

    private final Path dir;
    private final Path file;
    private final ExecutorService writer = Executors.newSingleThreadExecutor(
            Thread.ofVirtual().name("gvproxy-state-writer").factory());
    private String last;

    private StateStore(Path dir) {
        this.dir = dir;
        this.file = dir.resolve(FILE_NAME);
    }

    /** Opens (creating it 0700 when missing) the state directory. */
    public static StateStore open(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        return new StateStore(dir);
    }

    public Path file() {
        return file;
    }

    /** The saved state, {@link State#EMPTY} when there is none yet. */
    public State load() throws IOException {
        if (!Files.exists(file)) {
            return State.EMPTY;
        }
        String text = Files.readString(file, StandardCharsets.UTF_8);
        try {
            State s = parse(text);
            last = toJson(s);
            return s;
        } catch (GoJson.JsonException | GoNet.GoError | RuntimeException e) {
            throw new IOException("state file " + file + " is damaged (" + e.getMessage() + "); move it away to start"
                    + " without the saved state");
        }
    }

    /** Saves {@code s} in the background when it differs from what was saved last. */
    public void save(State s) {
        String json = toJson(s);
        synchronized (this) {
            if (json.equals(last)) {
                return;
            }
            last = json;
        }
        try {
            writer.execute(() -> write(json));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            write(json); // closing: write in the caller
        }
    }

    private void write(String json) {
        Path tmp = null;
        try {
            tmp = Files.createTempFile(dir, ".state-", ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(java.nio.ByteBuffer.wrap(json.getBytes(StandardCharsets.UTF_8)));
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot save the state to {0}: {1}", new Object[] {file, e.toString()});
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
    }

    /** Waits for pending writes. */
    @Override
    public void close() {
        writer.shutdown();
        try {
            writer.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // --- format ------------------------------------------------------------------------------------------

    static String toJson(State s) {
        StringBuilder b = new StringBuilder("{\"version\":1,\"forwards\":[");
        for (int i = 0; i < s.forwards().size(); i++) {
            SavedForward f = s.forwards().get(i);
            String fj = GoJson.forward(f.forward());
            b.append(i > 0 ? ",\n" : "\n").append(fj, 0, fj.length() - 1).append(",\"origin\":")
                    .append(GoJson.string(f.origin().name().toLowerCase(Locale.ROOT))).append('}');
        }
        b.append("],\"dns\":[");
        for (int i = 0; i < s.dnsAdds().size(); i++) {
            b.append(i > 0 ? ",\n" : "\n").append(ApiHandler.zoneJson(s.dnsAdds().get(i)));
        }
        b.append("],\"leases\":[");
        for (int i = 0; i < s.leases().size(); i++) {
            SavedLease l = s.leases().get(i);
            b.append(i > 0 ? ",\n" : "\n").append("{\"client\":").append(GoJson.string(l.client())).append(",\"mac\":")
                    .append(GoJson.string(l.mac())).append(",\"ip\":").append(GoJson.string(l.ip())).append('}');
        }
        return b.append("]}\n").toString();
    }

    @SuppressWarnings("unchecked")
    static State parse(String text) throws GoJson.JsonException, GoNet.GoError {
        Object root = GoJson.decode(text);
        if (!(root instanceof Map<?, ?> m)) {
            throw new GoJson.JsonException("not a JSON object");
        }
        Map<String, Object> top = (Map<String, Object>) m;
        List<SavedForward> forwards = new ArrayList<>();
        for (Map<String, Object> f : objects(top, "forwards")) {
            PortForward pf = new PortForward(GoJson.stringField(f, "local", "", "local", "string"),
                    GoJson.stringField(f, "remote", "", "remote", "string"),
                    GoJson.stringField(f, "protocol", "tcp", "protocol", "string"));
            String origin = GoJson.stringField(f, "origin", "host", "origin", "string");
            PortForwards.Origin o = switch (origin) {
                case "guest" -> PortForwards.Origin.GUEST;
                case "host" -> PortForwards.Origin.HOST;
                default -> throw new GoJson.JsonException("unknown forward origin " + origin);
            };
            forwards.add(new SavedForward(pf, o));
        }
        List<DnsZone> zones = new ArrayList<>();
        for (Map<String, Object> z : objects(top, "dns")) {
            zones.add(ApiHandler.decodeZone(z));
        }
        List<SavedLease> leases = new ArrayList<>();
        for (Map<String, Object> l : objects(top, "leases")) {
            leases.add(new SavedLease(GoJson.stringField(l, "client", "", "client", "string"),
                    GoJson.stringField(l, "mac", "", "mac", "string"), GoJson.stringField(l, "ip", "", "ip", "string")));
        }
        return new State(forwards, zones, leases);
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> objects(Map<String, Object> top, String key) throws GoJson.JsonException {
        Object v = top.get(key);
        if (v == null) {
            return List.of();
        }
        if (!(v instanceof List<?> list)) {
            throw new GoJson.JsonException(key + ": not an array");
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object o : list) {
            if (!(o instanceof Map<?, ?>)) {
                throw new GoJson.JsonException(key + ": not an array of objects");
            }
            out.add((Map<String, Object>) o);
        }
        return out;
    }
}
