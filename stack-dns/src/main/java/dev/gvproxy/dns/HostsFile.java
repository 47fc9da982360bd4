package dev.gvproxy.dns;

import java.io.IOException;
import java.io.InputStream;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The host's hosts(5) file, consulted before the upstream resolvers as the host's own name lookup does:
 * names map to addresses (both families, in file order), IPv4 addresses map to their first name (PTR).
 * Lines are {@code address name [aliases...]}, {@code #} starts a comment; malformed lines are skipped.
 */
public final class HostsFile {
    private static final int MAX_FILE_BYTES = 4 << 20;
    static final HostsFile EMPTY = new HostsFile(Map.of(), Map.of());

    private final Map<String, List<InetAddress>> byName;
    private final Map<InetAddress, String> byAddress;

    private HostsFile(Map<String, List<InetAddress>> byName, Map<InetAddress, String> byAddress) {
        this.byName = byName;
        this.byAddress = byAddress;
    }

    /** Reads {@code file}; a missing or unreadable file is empty. */
    public static HostsFile load(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return parse(new String(in.readNBytes(MAX_FILE_BYTES), StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            return EMPTY;
        }
    }

    public static HostsFile parse(String text) {
        Map<String, List<InetAddress>> byName = new HashMap<>();
        Map<InetAddress, String> byAddress = new HashMap<>();
        for (String raw : text.split("\n")) {
            int hash = raw.indexOf('#');
            String line = (hash >= 0 ? raw.substring(0, hash) : raw).strip();
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\\s+");
            InetAddress a = ResolvConf.literal(f[0]);
            if (a == null || f.length < 2) {
                continue;
            }
            for (int i = 1; i < f.length; i++) {
                String name = normalize(f[i]);
                List<InetAddress> l = byName.computeIfAbsent(name, k -> new ArrayList<>());
                if (!l.contains(a)) {
                    l.add(a);
                }
            }
            byAddress.putIfAbsent(a, trimDot(f[1]));
        }
        return new HostsFile(byName, byAddress);
    }

    private static String trimDot(String n) {
        return n.endsWith(".") ? n.substring(0, n.length() - 1) : n;
    }

    private static String normalize(String n) {
        return trimDot(n).toLowerCase(Locale.ROOT);
    }

    /** Every address listed for {@code name} (any case, trailing dot optional); {@code null} if not listed. */
    public List<InetAddress> addresses(String name) {
        return byName.get(normalize(name));
    }

    /** The first name listed for an IPv4 address, or {@code null}. */
    public String name(Inet4Address address) {
        return byAddress.get(address);
    }

    public boolean isEmpty() {
        return byName.isEmpty();
    }
}
