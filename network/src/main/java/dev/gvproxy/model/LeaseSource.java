package dev.gvproxy.model;

import java.util.Map;

/** The DHCP leases the API lists ({@code /leases}, {@code /services/dhcp/leases}). Called on the network loop. */
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
