package dev.gvproxy.dns;

import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * One record of a static zone, gvproxy's {@code Record{Name, IP, Regexp}}: it matches the part of a query
 * name in front of the zone ({@code host} for {@code host.containers.internal.}) either exactly
 * ({@code name}, case-insensitively) or by an unanchored regular-expression search ({@code regexp},
 * case-insensitive), and answers A queries with {@code ip} or, for a record holding an IPv6 address, AAAA
 * queries with {@code ip6} (gvproxy's {@code IP} is a {@code net.IP}, so its JSON already carries either
 * family; a name with both has two records, see {@link ZoneTable#lookup}).
 *
 * @param name the relative name, or {@code ""} for a regexp-only record
 * @param ip the IPv4 address answered (see {@link Ipv4Address})
 * @param regexp the pattern as given (Go RE2 syntax; the common subset is also Java syntax), or {@code null}
 * @param ip6 the IPv6 address answered to AAAA queries, or {@code null} for an IPv4 record ({@code ip} is then
 *     unused and 0)
 */
public record ZoneRecord(String name, int ip, String regexp, Ipv6Address ip6) {

    /** An IPv4 record. */
    public ZoneRecord(String name, int ip, String regexp) {
        this(name, ip, regexp, null);
    }

    /** An IPv6 (AAAA) record. */
    public ZoneRecord(String name, Ipv6Address ip6, String regexp) {
        this(name, 0, regexp, ip6);
    }

    public ZoneRecord {
        if (ip6 != null && ip6.isIpv4Mapped()) {
            ip = ip6.ipv4(); // ::ffff:a.b.c.d is an IPv4 record, as Go's net.IP treats it
            ip6 = null;
        }
        if (ip6 != null) {
            ip = 0;
        }
        name = name == null ? "" : name;
        if (regexp != null && regexp.isEmpty()) {
            regexp = null;
        }
        if (regexp != null) {
            compile(regexp); // validate early: the HTTP API answers 400 for a bad pattern
        }
    }

    /** A record matching exactly {@code name}; {@code ip} is IPv4 or IPv6 text. */
    public static ZoneRecord of(String name, String ip) {
        return parse(name, ip, null);
    }

    /** A record matching every relative name in which {@code regexp} is found; {@code ip} of either family. */
    public static ZoneRecord regexp(String regexp, String ip) {
        return parse("", ip, regexp);
    }

    /**
     * A record from text: {@code ip} is IPv4 (dotted quad), IPv6, or empty (0.0.0.0, as gvproxy's unset IP).
     *
     * @throws IllegalArgumentException when {@code ip} is neither
     */
    public static ZoneRecord parse(String name, String ip, String regexp) {
        if (ip == null || ip.isEmpty()) {
            return new ZoneRecord(name, 0, regexp, null);
        }
        if (ip.indexOf(':') >= 0) {
            return new ZoneRecord(name, 0, regexp, Ipv6Address.parse(ip));
        }
        return new ZoneRecord(name, Ipv4Address.parse(ip), regexp, null);
    }

    /** True for an IPv6 (AAAA) record. */
    public boolean isIpv6() {
        return ip6 != null;
    }

    /** The address as text (IPv6 or dotted IPv4). */
    public String ipText() {
        return ip6 != null ? ip6.toString() : Ipv4Address.format(ip);
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
        return (regexp != null ? "/" + regexp + "/" : name) + " -> " + ipText();
    }
}
