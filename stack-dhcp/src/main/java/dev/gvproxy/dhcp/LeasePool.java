package dev.gvproxy.dhcp;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.ip.AddressBindings;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.MacAddress;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Address bookkeeping of the DHCP server: static reservations, dynamic leases with expiry, offer holds and
 * declined (quarantined) addresses. Single-threaded (the network's event loop); time is passed in.
 *
 * <p>Each pool address has at most one {@link Lease} record, and each client (keyed by client identifier or
 * MAC, see {@link DhcpServer}) at most one, so memory is bounded by the pool size. A record is
 * {@code OFFERED} (held for the client for a short time after an OFFER), {@code BOUND} (an acknowledged lease
 * until it expires) or {@code FREE} (expired or released, remembered so that the same client gets the same
 * address back while nobody else took it). An address is <em>unavailable</em> when it is reserved (network,
 * broadcast, gateway, host alias, gateway virtual IPs, in-subnet DNS servers, static leases), held by an
 * OFFERED or BOUND record, or quarantined; the lowest available address is found with a {@link BitSet}.
 *
 * <p>Each record remembers the switch port its client spoke from (-1 when unknown), and the pool counts the
 * OFFERED and BOUND records per port so that the server can bound what one guest holds. Every BOUND lease
 * and every static lease is also written to the stack's {@link AddressBindings}, which source validation
 * reads.
 */
public final class LeasePool {
    /** Lifecycle of a dynamic lease record. */
    public enum State { OFFERED, BOUND, FREE }

    /** A dynamic lease record. Read-only outside the pool. */
    public static final class Lease {
        private final String client;
        private final int ip;
        private long mac;
        private int port = -1;
        private State state;
        private long expiresAt;

        Lease(String client, long mac, int ip) {
            this.client = client;
            this.mac = mac;
            this.ip = ip;
        }

        public String client() {
            return client;
        }

        public int ip() {
            return ip;
        }

        public long mac() {
            return mac;
        }

        public State state() {
            return state;
        }

        /** Id of the switch port the client last spoke from, or -1. */
        public int port() {
            return port;
        }

        boolean active() {
            return state == State.OFFERED || state == State.BOUND;
        }

        /** Monotonic nanoseconds at which an OFFERED or BOUND record lapses. */
        public long expiresAt() {
            return expiresAt;
        }

        @Override
        public String toString() {
            return Ipv4Address.format(ip) + " " + state + " " + client + " (" + MacAddress.format(mac) + ")";
        }
    }

    private final StackConfig net;
    private final DhcpConfig cfg;
    private final int base;
    private final int size;
    private final long leaseNanos;
    private final BitSet reserved = new BitSet();
    private final BitSet unavailable = new BitSet();
    private final Map<Integer, Long> staticByIp = new HashMap<>();
    private final Map<Long, Integer> staticByMac = new HashMap<>();
    private final Map<Integer, Lease> byIp = new HashMap<>();
    private final Map<String, Lease> byClient = new HashMap<>();
    private final Map<Integer, Long> quarantine = new HashMap<>();
    private final Map<Integer, Integer> activeByPort = new HashMap<>();
    private final AddressBindings bindings;
    private long nextDeadline = Long.MAX_VALUE;

    private final Counters.Counter leaseExpired;
    private final Counters.Counter offerExpired;
    private final Counters.Counter quarantineExpired;

    public LeasePool(StackConfig net, DhcpConfig cfg, Counters counters) {
        this(net, cfg, counters, new AddressBindings());
    }

    /** @param bindings where BOUND and static leases are published for source validation */
    public LeasePool(StackConfig net, DhcpConfig cfg, Counters counters, AddressBindings bindings) {
        this.net = net;
        this.bindings = bindings;
        this.cfg = cfg;
        this.base = cfg.poolStart();
        this.size = cfg.poolEnd() - cfg.poolStart() + 1;
        this.leaseNanos = cfg.leaseTimeSeconds() * 1_000_000_000L;
        this.leaseExpired = counters.counter("dhcp.leaseExpired");
        this.offerExpired = counters.counter("dhcp.offerExpired");
        this.quarantineExpired = counters.counter("dhcp.quarantineExpired");
        for (Map.Entry<Integer, Long> e : cfg.staticLeases().entrySet()) {
            int ip = e.getKey();
            long mac = e.getValue();
            if (ip == net.gatewayIp()) {
                continue; // the gateway's own address is never handed out, whatever the table says
            }
            if (!net.inSubnet(ip) || ip == net.network() || ip == net.broadcast()) {
                throw new IllegalArgumentException("static DHCP lease outside the subnet's host addresses: "
                        + Ipv4Address.format(ip));
            }
            staticByIp.put(ip, mac);
            staticByMac.putIfAbsent(mac, ip);
            bindings.bind(ip, mac);
        }
        reserve(net.network());
        reserve(net.broadcast());
        reserve(net.gatewayIp());
        reserve(net.hostIp());
        net.gatewayVirtualIps().forEach(this::reserve);
        cfg.dnsServers().forEach(this::reserve);
        staticByIp.keySet().forEach(this::reserve);
        unavailable.or(reserved);
    }

    private void reserve(int ip) {
        if (inPool(ip)) {
            reserved.set(ip - base);
        }
    }

    private boolean inPool(int ip) {
        return Integer.compareUnsigned(ip - base, size) < 0;
    }

    /** The static address reserved for {@code mac}, or 0. */
    public int staticAddress(long mac) {
        Integer ip = staticByMac.get(mac);
        return ip == null ? 0 : ip;
    }

    /** The record of {@code client} (any state), or null. */
    public Lease record(String client) {
        return byClient.get(client);
    }

    /** The record for {@code ip} (any state), or null. */
    public Lease recordAt(int ip) {
        return byIp.get(ip);
    }

    /** The address of {@code client}'s unexpired BOUND lease, or 0. */
    public int boundAddress(String client) {
        Lease l = byClient.get(client);
        return l != null && l.state == State.BOUND ? l.ip : 0;
    }

    /** True when {@code ip} is declined and not yet released from quarantine. */
    public boolean quarantined(int ip) {
        return quarantine.containsKey(ip);
    }

    /**
     * True when {@code ip} may be leased to {@code client}/{@code mac}: the client's static address, or a pool
     * address that is not reserved, not quarantined and not held by another client.
     */
    public boolean availableFor(int ip, String client, long mac) {
        Long owner = staticByIp.get(ip);
        if (owner != null) {
            return owner == mac;
        }
        if (!inPool(ip) || reserved.get(ip - base) || quarantine.containsKey(ip)) {
            return false;
        }
        Lease l = byIp.get(ip);
        return l == null || l.state == State.FREE || l.client.equals(client);
    }

    /**
     * Chooses and holds an address to offer (RFC 2131 section 4.3.1): the static address, the client's current
     * or previous address if still available, the requested address if available, else the lowest available
     * pool address. Returns 0 when the pool is exhausted.
     */
    public int offer(String client, long mac, int requested, long now) {
        return offer(client, mac, -1, requested, now);
    }

    /** {@link #offer(String, long, int, long)} for a client behind switch port {@code port}. */
    public int offer(String client, long mac, int port, int requested, long now) {
        int st = staticAddress(mac);
        if (st != 0) {
            return st;
        }
        Lease l = byClient.get(client);
        if (l != null) {
            if (l.state == State.BOUND) {
                return l.ip;
            }
            if (l.state == State.OFFERED) {
                l.expiresAt = Math.max(l.expiresAt, now + cfg.offerHoldNanos());
                if (l.port != port) {
                    transition(l, State.OFFERED, mac, port);
                }
                return l.ip;
            }
            if (availableFor(l.ip, client, mac)) {
                hold(l.ip, client, mac, port, State.OFFERED, now + cfg.offerHoldNanos());
                return l.ip;
            }
        }
        int ip = requested != 0 && availableFor(requested, client, mac) ? requested : lowestFree();
        if (ip == 0) {
            return 0;
        }
        hold(ip, client, mac, port, State.OFFERED, now + cfg.offerHoldNanos());
        return ip;
    }

    /** The lowest pool address nobody holds, or 0. */
    public int lowestFree() {
        int idx = unavailable.nextClearBit(0);
        return idx < size ? base + idx : 0;
    }

    /**
     * Commits a lease of {@code ip} to {@code client} for the configured lease time. The caller checked
     * {@link #availableFor}. Static addresses need no record.
     */
    public void bind(String client, long mac, int ip, long now) {
        bind(client, mac, -1, ip, now);
    }

    /** {@link #bind(String, long, int, long)} for a client behind switch port {@code port}. */
    public void bind(String client, long mac, int port, int ip, long now) {
        if (staticByIp.containsKey(ip)) {
            return;
        }
        hold(ip, client, mac, port, State.BOUND, now + leaseNanos);
    }

    /** Gives up {@code client}'s lease on {@code ip} (DHCPRELEASE). False when the client holds no such lease. */
    public boolean release(String client, int ip) {
        Lease l = byClient.get(client);
        return l != null && release(client, l.mac, ip);
    }

    /**
     * Gives up {@code client}'s lease on {@code ip} (DHCPRELEASE) when {@code mac} holds it. False when the
     * client holds no such lease, or holds it with another MAC: nobody releases someone else's address.
     */
    public boolean release(String client, long mac, int ip) {
        Lease l = byClient.get(client);
        if (l == null || l.ip != ip || l.state == State.FREE || l.mac != mac) {
            return false;
        }
        transition(l, State.FREE, l.mac, l.port);
        unavailable.clear(ip - base);
        return true;
    }

    /** OFFERED and BOUND records whose client spoke from switch port {@code port}. */
    public int activeOnPort(int port) {
        Integer n = activeByPort.get(port);
        return n == null ? 0 : n;
    }

    /**
     * The only place a record changes state, MAC or port: keeps the per-port counts and the published
     * bindings in step.
     */
    private void transition(Lease l, State next, long mac, int port) {
        if (l.active()) {
            activeByPort.merge(l.port, -1, (a, b) -> a + b == 0 ? null : a + b); // no entries for gone ports
        }
        if (l.state == State.BOUND) {
            bindings.unbind(l.ip, l.mac);
        }
        l.state = next;
        l.mac = mac;
        l.port = port;
        if (l.active()) {
            activeByPort.merge(port, 1, Integer::sum);
        }
        if (next == State.BOUND) {
            bindings.bind(l.ip, mac);
        }
    }

    /**
     * The client found {@code ip} in use (DHCPDECLINE): forget its record and keep the address out of the pool
     * for the quarantine time. False when the client was not offered or leased that address.
     */
    public boolean decline(String client, int ip, long now) {
        Lease l = byClient.get(client);
        return l != null && decline(client, l.mac, ip, now);
    }

    /** {@link #decline(String, int, long)} only when {@code mac} was offered or leased the address. */
    public boolean decline(String client, long mac, int ip, long now) {
        Lease l = byClient.get(client);
        if (l == null || l.ip != ip || l.state == State.FREE || l.mac != mac) {
            return false;
        }
        transition(l, State.FREE, l.mac, l.port);
        byClient.remove(client);
        byIp.remove(ip);
        long until = now + cfg.declineQuarantineNanos();
        quarantine.put(ip, until);
        unavailable.set(ip - base);
        nextDeadline = Math.min(nextDeadline, until);
        return true;
    }

    private void hold(int ip, String client, long mac, int port, State state, long expiresAt) {
        Lease mine = byClient.get(client);
        if (mine != null && mine.ip != ip) {
            // The client moves to another address: its old record goes (with its hold, if any).
            byIp.remove(mine.ip);
            if (mine.state != State.FREE) {
                unavailable.clear(mine.ip - base);
            }
            transition(mine, State.FREE, mine.mac, mine.port);
            mine = null;
        }
        if (mine == null) {
            Lease other = byIp.get(ip);
            if (other != null) {
                byClient.remove(other.client); // a FREE record of someone else: the address is reused
            }
            mine = new Lease(client, mac, ip);
            byIp.put(ip, mine);
            byClient.put(client, mine);
        }
        transition(mine, state, mac, port);
        mine.expiresAt = expiresAt;
        unavailable.set(ip - base);
        nextDeadline = Math.min(nextDeadline, expiresAt);
    }

    /** Lapses offers, leases and quarantines that are due at {@code now}. Cheap when nothing is due. */
    public void expire(long now) {
        if (nextDeadline == Long.MAX_VALUE || now - nextDeadline < 0) {
            return;
        }
        long next = Long.MAX_VALUE;
        for (Lease l : byIp.values()) {
            if (l.state == State.FREE) {
                continue;
            }
            if (now - l.expiresAt >= 0) {
                (l.state == State.BOUND ? leaseExpired : offerExpired).inc();
                transition(l, State.FREE, l.mac, l.port);
                unavailable.clear(l.ip - base);
            } else {
                next = Math.min(next, l.expiresAt);
            }
        }
        for (Iterator<Map.Entry<Integer, Long>> it = quarantine.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Integer, Long> e = it.next();
            if (now - e.getValue() >= 0) {
                it.remove();
                quarantineExpired.inc();
                unavailable.clear(e.getKey() - base);
            } else {
                next = Math.min(next, e.getValue());
            }
        }
        nextDeadline = next;
    }

    /** The earliest time {@link #expire} has work, or {@code Long.MAX_VALUE}. */
    public long nextDeadline() {
        return nextDeadline;
    }

    /**
     * Every address in use, IP -> lower-case MAC, keys sorted as strings (gvproxy's {@code /leases}): the
     * gateway, the static leases and the unexpired BOUND leases.
     */
    public SortedMap<String, String> leases() {
        TreeMap<String, String> out = new TreeMap<>();
        out.put(Ipv4Address.format(net.gatewayIp()), MacAddress.format(net.gatewayMac()));
        staticByIp.forEach((ip, mac) -> out.put(Ipv4Address.format(ip), MacAddress.format(mac)));
        for (Lease l : byIp.values()) {
            if (l.state == State.BOUND) {
                out.put(Ipv4Address.format(l.ip), MacAddress.format(l.mac));
            }
        }
        return out;
    }

    /**
     * The unexpired BOUND dynamic leases (a copy), e.g. to save them across a restart; {@link #availableFor} and
     * {@link #bind} restore one.
     */
    public java.util.List<Lease> boundLeases() {
        java.util.List<Lease> out = new java.util.ArrayList<>();
        for (Lease l : byIp.values()) {
            if (l.state == State.BOUND) {
                out.add(l);
            }
        }
        return out;
    }

    /** Number of pool addresses currently available to a new client. */
    public int freeCount() {
        return size - unavailable.cardinality();
    }

    /** Forgets every dynamic record and quarantine. */
    public void clear() {
        for (Lease l : byIp.values()) {
            transition(l, State.FREE, l.mac, l.port);
        }
        activeByPort.clear();
        byIp.clear();
        byClient.clear();
        quarantine.clear();
        unavailable.clear();
        unavailable.or(reserved);
        nextDeadline = Long.MAX_VALUE;
    }
}
