package dev.gvproxy.dns;

import dev.gvproxy.stack.wire.Ipv6Address;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The ordered list of static zones and the local-answer decision (spec 3.5 step 1, with gvproxy's bugs
 * fixed: matching is case-insensitive, and non-A questions for a name inside a zone are answered here
 * instead of leaking upstream).
 *
 * <p>Readers (the event loop) see an immutable snapshot through one volatile read; writers (the HTTP API,
 * any thread) replace the snapshot under this object's monitor. No lock on the query path.
 */
public final class ZoneTable {

    /** What the zones say about one question. */
    public sealed interface Result {
        /** The name is not below any zone: forward it. */
        record NotLocal() implements Result {}

        /**
         * Answer with one A record (A/ANY questions, when {@code hasIpv4}) and one AAAA record (AAAA/ANY, when
         * {@code ip6} is set), or NOERROR/no data for other types.
         */
        record Address(int ip, boolean hasIpv4, Ipv6Address ip6) implements Result {
            /** An IPv4-only answer. */
            public Address(int ip) {
                this(ip, true, null);
            }
        }

        /** The name is inside a zone but neither a record nor a default IP matches. */
        record NxDomain() implements Result {}
    }

    private static final Result NOT_LOCAL = new Result.NotLocal();
    private static final Result NXDOMAIN = new Result.NxDomain();

    /** A zone with its patterns compiled once. */
    private record Compiled(Zone zone, String suffix, Pattern[] patterns) {
        static Compiled of(Zone z) {
            Pattern[] p = new Pattern[z.records().size()];
            for (int i = 0; i < p.length; i++) {
                String re = z.records().get(i).regexp();
                p[i] = re == null ? null : ZoneRecord.compile(re);
            }
            return new Compiled(z, "." + z.key(), p);
        }
    }

    private volatile List<Compiled> zones;

    public ZoneTable(List<Zone> initial) {
        List<Compiled> c = new ArrayList<>();
        for (Zone z : initial) {
            c.add(Compiled.of(z));
        }
        this.zones = List.copyOf(c);
    }

    /** The zones in evaluation order (for {@code GET /services/dns/all}). */
    public List<Zone> zones() {
        List<Zone> out = new ArrayList<>();
        for (Compiled c : zones) {
            out.add(c.zone);
        }
        return List.copyOf(out);
    }

    /**
     * {@code POST /services/dns/add}: replaces the zone of the same name (records merged, see
     * {@link Zone#mergedOver}) in place, or appends it.
     *
     * @throws IllegalArgumentException for an invalid regexp (nothing is changed)
     */
    public synchronized void add(Zone zone) {
        List<Compiled> next = new ArrayList<>(zones);
        for (int i = 0; i < next.size(); i++) {
            if (next.get(i).zone.key().equals(zone.key())) {
                next.set(i, Compiled.of(zone.mergedOver(next.get(i).zone)));
                zones = List.copyOf(next);
                return;
            }
        }
        next.add(Compiled.of(zone));
        zones = List.copyOf(next);
    }

    /**
     * Looks up a query name. The first zone the name is strictly below decides; within it, per family, the first
     * record whose name equals, or whose regexp is found in, the relative name wins (an IPv4 record for A, an
     * IPv6 one for AAAA; a name matched by records of one family only has no data for the other), then the
     * default IP.
     *
     * @param qname the query name in presentation form with its trailing dot, any case
     */
    public Result lookup(String qname) {
        String name = qname.toLowerCase(Locale.ROOT);
        if (!name.endsWith(".")) {
            name = name + ".";
        }
        for (Compiled c : zones) {
            if (name.length() <= c.suffix.length() || !name.endsWith(c.suffix)) {
                continue;
            }
            String rel = name.substring(0, name.length() - c.suffix.length());
            List<ZoneRecord> recs = c.zone.records();
            ZoneRecord v4 = null;
            ZoneRecord v6 = null;
            for (int i = 0; i < recs.size() && (v4 == null || v6 == null); i++) {
                ZoneRecord r = recs.get(i);
                if ((r.isIpv6() ? v6 : v4) != null) {
                    continue;
                }
                if (r.name().equalsIgnoreCase(rel) || (c.patterns[i] != null && c.patterns[i].matcher(rel).find())) {
                    if (r.isIpv6()) {
                        v6 = r;
                    } else {
                        v4 = r;
                    }
                }
            }
            if (v4 != null || v6 != null) {
                return new Result.Address(v4 == null ? 0 : v4.ip(), v4 != null, v6 == null ? null : v6.ip6());
            }
            if (c.zone.defaultIp().isPresent()) {
                return new Result.Address(c.zone.defaultIp().getAsInt());
            }
            return NXDOMAIN;
        }
        return NOT_LOCAL;
    }
}
