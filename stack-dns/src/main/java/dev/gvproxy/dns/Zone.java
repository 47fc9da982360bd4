package dev.gvproxy.dns;

import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;

/**
 * A static zone, gvproxy's {@code Zone{Name, Records, DefaultIP}} (spec 3.5): queries for names strictly
 * below {@code name} are answered locally and never forwarded.
 *
 * @param name the zone name as configured, normally with a trailing dot ({@code containers.internal.}); matched
 *     case-insensitively, and a missing trailing dot is tolerated (gvproxy would silently never match)
 * @param records tried in order; the first match answers
 * @param defaultIp answered when no record matches; empty means NXDOMAIN
 */
public record Zone(String name, List<ZoneRecord> records, OptionalInt defaultIp) {

    public Zone {
        if (name == null) {
            name = "";
        }
        records = records == null ? List.of() : List.copyOf(records);
        defaultIp = defaultIp == null ? OptionalInt.empty() : defaultIp;
    }

    public static Zone of(String name, List<ZoneRecord> records) {
        return new Zone(name, records, OptionalInt.empty());
    }

    public static Zone withDefault(String name, String defaultIp, List<ZoneRecord> records) {
        return new Zone(name, records, OptionalInt.of(Ipv4Address.parse(defaultIp)));
    }

    /**
     * gvproxy's legacy-mode zones: {@code containers.internal.} and {@code docker.internal.}, each with
     * {@code gateway -> gatewayIp} and {@code host -> hostIp}.
     */
    public static List<Zone> legacyDefaults(int gatewayIp, int hostIp) {
        return legacyDefaults(gatewayIp, hostIp, null, null);
    }

    /**
     * {@link #legacyDefaults(int, int)} plus AAAA records {@code gateway -> gateway6} and {@code host -> host6}
     * (the gateway's and the host alias's IPv6 addresses; null: none).
     */
    public static List<Zone> legacyDefaults(int gatewayIp, int hostIp, Ipv6Address gateway6, Ipv6Address host6) {
        List<ZoneRecord> recs = new ArrayList<>(List.of(new ZoneRecord("gateway", gatewayIp, null),
                new ZoneRecord("host", hostIp, null)));
        if (gateway6 != null) {
            recs.add(new ZoneRecord("gateway", gateway6, null));
        }
        if (host6 != null) {
            recs.add(new ZoneRecord("host", host6, null));
        }
        return List.of(of("containers.internal.", recs), of("docker.internal.", recs));
    }

    /** The lower-case, dot-terminated form used for matching and for finding the zone to replace. */
    String key() {
        String n = name.toLowerCase(Locale.ROOT);
        return n.endsWith(".") ? n : n + ".";
    }

    /**
     * gvproxy's {@code /services/dns/add} merge: this (posted) zone replaces {@code old}, keeping its own
     * records first and then the old ones (duplicates kept), and its own default IP (an absent one erases
     * the old).
     */
    Zone mergedOver(Zone old) {
        List<ZoneRecord> merged = new ArrayList<>(records);
        merged.addAll(old.records);
        return new Zone(name, merged, defaultIp);
    }

    @Override
    public String toString() {
        return name + records + (defaultIp.isPresent() ? " default " + Ipv4Address.format(defaultIp.getAsInt()) : "");
    }
}
