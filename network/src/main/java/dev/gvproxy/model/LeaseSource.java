package dev.gvproxy.model;

import java.util.Map;

/**
 * An address -> MAC table the API lists: the DHCP leases ({@code /leases}, {@code /services/dhcp/leases}), the
 * DHCPv6 leases ({@code /services/dhcpv6/leases}) and the gateway's IPv6 neighbours
 * ({@code /services/ndp/neighbors}). Called on the network loop.
 */
@FunctionalInterface
public interface LeaseSource {
    /**
     * A snapshot of the DHCP server's bindings, static reservations included.
     *
     * @return every lease including reservations, dotted IPv4 -> lower-case colon MAC (any order; the API sorts)
     */
    Map<String, String> leases();

    /**
     * No DHCP server: an empty object.
     *
     * @return a source with no leases
     */
    static LeaseSource none() {
        return Map::of;
    }
}
