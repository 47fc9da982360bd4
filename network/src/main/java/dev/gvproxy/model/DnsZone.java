package dev.gvproxy.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A static DNS zone as the API and the YAML show it (gvproxy's {@code types.Zone}).
 *
 * @param name zone name with trailing dot, e.g. {@code containers.internal.}
 * @param records the records in evaluation order, or {@code null} when absent (JSON {@code null})
 * @param defaultIp dotted IPv4 answered for names without a record, or {@code ""} when unset
 */
public record DnsZone(String name, List<DnsRecord> records, String defaultIp) {
    /**
     * Normalises absent fields as Go's decoder leaves them (missing name or default IP: {@code ""}) and
     * copies {@code records} so the zone cannot change under the DNS server; {@code null} stays {@code null}
     * because the API shows an absent list as JSON {@code null}.
     */
    public DnsZone {
        name = name == null ? "" : name;
        records = records == null ? null : Collections.unmodifiableList(new ArrayList<>(records));
        defaultIp = defaultIp == null ? "" : defaultIp;
    }
}
