package dev.gvproxy.model;

import java.util.List;

/** The DNS server's static zones ({@code /services/dns/all}, {@code /services/dns/add}). Called on the network loop. */
public interface DnsZones {
    /**
     * The static zones, in the order the DNS server evaluates them (the first matching zone answers).
     *
     * @return the zones in evaluation order; empty when none are configured (the API then answers {@code null})
     */
    List<DnsZone> zones();

    /**
     * Adds a zone with gvproxy's merge rule (spec 3.5): a zone with the same name is replaced by the posted one,
     * whose records are the posted records followed by the old ones and whose default IP is the posted one;
     * otherwise the zone is appended. The API has already validated IPs and the regexp.
     * @param zone the zone to add or replace
     */
    void add(DnsZone zone);
}
