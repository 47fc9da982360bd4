package dev.gvproxy.model;

/**
 * One record of a static DNS zone as the API and the YAML show it (gvproxy's {@code types.Record}).
 *
 * @param name the name relative to the zone, e.g. {@code gateway}; may be empty when {@code regexp} is set
 * @param ip dotted IPv4 (an A record) or IPv6 text (an AAAA record), or {@code ""} when unset
 * @param regexp pattern matched (unanchored) against the relative name, or {@code null} when unset
 */
public record DnsRecord(String name, String ip, String regexp) {
    /**
     * Normalises absent fields the way Go's decoder leaves them: a missing name or IP is {@code ""}.
     */
    public DnsRecord {
        name = name == null ? "" : name;
        ip = ip == null ? "" : ip;
    }
}
