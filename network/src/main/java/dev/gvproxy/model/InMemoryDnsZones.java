package dev.gvproxy.model;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * {@link DnsZones} kept in a list with gvproxy's merge rule; the reference behaviour for the real DNS server's
 * adapter, and what the API serves when no DNS server is plugged in.
 */
public final class InMemoryDnsZones implements DnsZones {
    private final List<DnsZone> zones = new CopyOnWriteArrayList<>();

    /**
     * An empty zone list: the DNS server then answers only from its built-in names and upstream.
     */
    public InMemoryDnsZones() {}

    /**
     * Starts with {@code initial}.
     * @param initial the zones to start with
     */
    public InMemoryDnsZones(List<DnsZone> initial) {
        zones.addAll(initial);
    }

    @Override
    public List<DnsZone> zones() {
        return List.copyOf(zones);
    }

    @Override
    public synchronized void add(DnsZone zone) {
        for (int i = 0; i < zones.size(); i++) {
            DnsZone old = zones.get(i);
            if (old.name().equals(zone.name())) {
                zones.set(i, merge(old, zone));
                return;
            }
        }
        zones.add(zone);
    }

    /**
     * Posted records first (they win), then the old ones; the posted default IP replaces the old one.
     *
     * @param old the existing zone
     * @param posted the zone as posted
     * @return the merged zone
     */
    public static DnsZone merge(DnsZone old, DnsZone posted) {
        List<DnsRecord> records = null;
        if (posted.records() != null || old.records() != null) {
            records = new ArrayList<>();
            if (posted.records() != null) {
                records.addAll(posted.records());
            }
            if (old.records() != null) {
                records.addAll(old.records());
            }
        }
        return new DnsZone(posted.name(), records, posted.defaultIp());
    }
}
