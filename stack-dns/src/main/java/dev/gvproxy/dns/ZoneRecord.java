package dev.gvproxy.dns;

import dev.gvproxy.stack.wire.Ipv4Address;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * One record of a static zone, gvproxy's {@code Record{Name, IP, Regexp}}: it matches the part of a query
 * name in front of the zone ({@code host} for {@code host.containers.internal.}) either exactly
 * ({@code name}, case-insensitively) or by an unanchored regular-expression search ({@code regexp},
 * case-insensitive), and answers A queries with {@code ip}.
 *
 * @param name the relative name, or {@code ""} for a regexp-only record
 * @param ip the IPv4 address answered (see {@link Ipv4Address})
 * @param regexp the pattern as given (Go RE2 syntax; the common subset is also Java syntax), or {@code null}
 */
public record ZoneRecord(String name, int ip, String regexp) {

    public ZoneRecord {
        name = name == null ? "" : name;
        if (regexp != null && regexp.isEmpty()) {
            regexp = null;
        }
        if (regexp != null) {
            compile(regexp); // validate early: the HTTP API answers 400 for a bad pattern
        }
    }

    /** A record matching exactly {@code name}. */
    public static ZoneRecord of(String name, String ip) {
        return new ZoneRecord(name, Ipv4Address.parse(ip), null);
    }

    /** A record matching every relative name in which {@code regexp} is found. */
    public static ZoneRecord regexp(String regexp, String ip) {
        return new ZoneRecord("", Ipv4Address.parse(ip), regexp);
    }

    /** @throws IllegalArgumentException when the pattern does not compile */
    static Pattern compile(String regexp) {
        try {
            return Pattern.compile(regexp, Pattern.CASE_INSENSITIVE);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("invalid regexp " + regexp + ": " + e.getDescription(), e);
        }
    }

    @Override
    public String toString() {
        return (regexp != null ? "/" + regexp + "/" : name) + " -> " + Ipv4Address.format(ip);
    }
}
