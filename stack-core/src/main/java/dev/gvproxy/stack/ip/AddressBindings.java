package dev.gvproxy.stack.ip;

import io.netty.util.collection.IntObjectHashMap;

/**
 * Which guest MAC holds which IPv4 address of the subnet: the static leases of the configuration and the
 * leases the DHCP server acknowledged. The DHCP server feeds it ({@link #bind}, {@link #unbind}); the
 * {@link GuestAddressGuard} reads it to drop frames in which a guest claims an address someone else holds
 * (and, in strict mode, any address that is not its own).
 *
 * <p>Event loop only. Bounded by the subnet's size (one entry per address).
 */
public final class AddressBindings {
    /** {@link #ownerOf} of an address nobody holds. */
    public static final long NONE = -1;

    private final IntObjectHashMap<Long> owners = new IntObjectHashMap<>();

    /** Records that {@code mac} holds {@code ip} (replacing any earlier holder). */
    public void bind(int ip, long mac) {
        owners.put(ip, Long.valueOf(mac));
    }

    /** Forgets {@code ip}, if {@code mac} holds it (a late release cannot drop a newer holder's binding). */
    public void unbind(int ip, long mac) {
        Long m = owners.get(ip);
        if (m != null && m == mac) {
            owners.remove(ip);
        }
    }

    /** The MAC holding {@code ip}, or {@link #NONE}. */
    public long ownerOf(int ip) {
        Long m = owners.get(ip);
        return m == null ? NONE : m;
    }

    public int size() {
        return owners.size();
    }
}
