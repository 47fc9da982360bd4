package dev.gvproxy.dhcp;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.DeadlineSource;
import dev.gvproxy.stack.Ipv6Config;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.udp.UdpDatagram;
import dev.gvproxy.stack.udp.UdpHandler;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The gateway's DHCPv6 server (RFC 8415), on UDP port 547 at {@code ff02::1:2} (All_DHCP_Relay_Agents_and_Servers)
 * and the gateway's IPv6 addresses. See the package documentation for who gets which address; this class
 * checks a message with {@link Dhcpv6Packet}, reads it as a {@link Dhcpv6Repr}, keeps the IA_NA bindings and
 * answers with a {@link Dhcpv6Repr}.
 *
 * <p>Runs on the network's event loop only.
 */
public final class Dhcpv6Server implements UdpHandler, DeadlineSource {
    public static final int SERVER_PORT = 547;
    public static final int CLIENT_PORT = 546;

    /** One IA_NA's address. {@code key} is DUID hex + "/" + IAID (+ "@" + MAC when the DUID was borrowed). */
    private record Binding(String key, long mac, Ipv6Address address, boolean fixed, long expires) {}

    private final Ipv6Config v6;
    private final Dhcpv6Config cfg;
    private final byte[] serverDuid;
    private final byte[] domainList;
    private final Map<String, Binding> bindings = new HashMap<>();
    private final Map<Ipv6Address, Binding> byAddress = new HashMap<>();
    private final Map<Ipv6Address, Long> declined = new HashMap<>();
    private final java.util.Set<Ipv6Address> fixedAddresses = new java.util.HashSet<>();
    private int dynamic;
    private long cursor;
    /** No binding or quarantine expires before this (may be early after a removal; never late). */
    private long earliest = Long.MAX_VALUE;
    private NetworkStack stack;
    private boolean closed;

    private final EnumMap<Dhcpv6Packet.Error, Counters.Counter> malformed = new EnumMap<>(Dhcpv6Packet.Error.class);
    private final Counters.Counter received;
    private final Counters.Counter notClientMessage;
    private final Counters.Counter relay;
    private final Counters.Counter missingClientId;
    private final Counters.Counter unexpectedServerId;
    private final Counters.Counter missingServerId;
    private final Counters.Counter otherServer;
    private final Counters.Counter unexpectedIa;
    private final Counters.Counter duidMacMismatch;
    private final Counters.Counter duidConflict;
    private final Counters.Counter noAddrsAvail;
    private final Counters.Counter leaseLimit;
    private final Counters.Counter advertise;
    private final Counters.Counter reply;
    private final Counters.Counter rapidCommit;
    private final Counters.Counter released;
    private final Counters.Counter declinedCount;
    private final Counters.Counter confirmEmpty;
    private final Map<Integer, Counters.Counter> byType = new HashMap<>();

    /** A server not bound to any stack (tests); {@link #install} binds one. */
    Dhcpv6Server(Ipv6Config v6, long gatewayMac, Dhcpv6Config cfg, Counters c) {
        this.v6 = v6;
        this.cfg = cfg;
        this.serverDuid = new byte[] {0, Dhcpv6Option.DUID_LL, 0, Dhcpv6Option.HWTYPE_ETHERNET,
            (byte) (gatewayMac >>> 40), (byte) (gatewayMac >>> 32), (byte) (gatewayMac >>> 24),
            (byte) (gatewayMac >>> 16), (byte) (gatewayMac >>> 8), (byte) gatewayMac};
        this.domainList = cfg.searchDomains().isEmpty() ? null : DomainNames.encodeSearchList(cfg.searchDomains());
        fixedAddresses.addAll(cfg.staticByDuid().values());
        fixedAddresses.addAll(cfg.staticByMac().values());
        for (Dhcpv6Packet.Error e : Dhcpv6Packet.Error.values()) {
            malformed.put(e, c.counter(e.counter()));
        }
        this.received = c.counter("dhcpv6.in");
        this.notClientMessage = c.counter("dhcpv6.notClientMessage");
        this.relay = c.counter("dhcpv6.relay");
        this.missingClientId = c.counter("dhcpv6.missingClientId");
        this.unexpectedServerId = c.counter("dhcpv6.unexpectedServerId");
        this.missingServerId = c.counter("dhcpv6.missingServerId");
        this.otherServer = c.counter("dhcpv6.otherServer");
        this.unexpectedIa = c.counter("dhcpv6.unexpectedIa");
        this.duidMacMismatch = c.counter("dhcpv6.duidMacMismatch");
        this.duidConflict = c.counter("dhcpv6.duidConflict");
        this.noAddrsAvail = c.counter("dhcpv6.noAddrsAvail");
        this.leaseLimit = c.counter("dhcpv6.leaseLimit");
        this.advertise = c.counter("dhcpv6.advertise");
        this.reply = c.counter("dhcpv6.reply");
        this.rapidCommit = c.counter("dhcpv6.rapidCommit");
        this.released = c.counter("dhcpv6.released");
        this.declinedCount = c.counter("dhcpv6.declined");
        this.confirmEmpty = c.counter("dhcpv6.confirmEmpty");
        String[] names = {"", "solicit", "", "request", "confirm", "renew", "rebind", "", "release", "decline", "",
            "informationRequest"};
        for (int t = 1; t < names.length; t++) {
            if (!names[t].isEmpty()) {
                byType.put(t, c.counter("dhcpv6." + names[t]));
            }
        }
    }

    /**
     * Creates a server and binds it to UDP 547 on ff02::1:2, the gateway's link-local and its ULA address, and
     * makes lease expiry one of the stack's deadline sources. Call on the network's event loop; the stack's
     * IPv6 must be enabled.
     */
    public static Dhcpv6Server install(NetworkStack stack, Dhcpv6Config cfg) {
        Dhcpv6Server s = new Dhcpv6Server(stack.config().ipv6(), stack.config().gatewayMac(), cfg, stack.counters());
        s.stack = stack;
        for (Ipv6Address a : s.addresses()) {
            stack.udp().bind(a, SERVER_PORT, s);
        }
        stack.addDeadlineSource(s);
        return s;
    }

    public static Dhcpv6Server install(NetworkStack stack) {
        return install(stack, Dhcpv6Config.defaults(stack.config()));
    }

    private List<Ipv6Address> addresses() {
        return List.of(Ipv6Address.ALL_DHCP_AGENTS, v6.linkLocal(), v6.gateway());
    }

    public Dhcpv6Config config() {
        return cfg;
    }

    /** The server's DUID (DUID-LL of the gateway MAC). */
    public byte[] serverDuid() {
        return serverDuid.clone();
    }

    /** Unbinds port 547 and forgets every binding. */
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (stack != null) {
            for (Ipv6Address a : addresses()) {
                stack.udp().unbind(a, SERVER_PORT);
            }
            stack.removeDeadlineSource(this);
        }
        bindings.clear();
        byAddress.clear();
        declined.clear();
        dynamic = 0;
        earliest = Long.MAX_VALUE;
    }

    /** Address -> MAC of the active bindings, sorted (for {@code /leases}). */
    public SortedMap<String, String> leases(long now) {
        poll(now);
        SortedMap<String, String> m = new TreeMap<>();
        for (Binding b : bindings.values()) {
            m.put(b.address.toString(), MacAddress.format(b.mac));
        }
        return m;
    }

    @Override
    public void poll(long now) {
        if (earliest == Long.MAX_VALUE || earliest - now > 0) {
            return; // the common case, per datagram: nothing due, no scan
        }
        for (Iterator<Binding> it = bindings.values().iterator(); it.hasNext(); ) {
            Binding b = it.next();
            if (b.expires - now <= 0) {
                it.remove();
                forget(b);
            }
        }
        declined.values().removeIf(until -> until - now <= 0);
        long next = Long.MAX_VALUE;
        for (Binding b : bindings.values()) {
            next = Math.min(next, b.expires);
        }
        for (long until : declined.values()) {
            next = Math.min(next, until);
        }
        earliest = next;
    }

    @Override
    public long nextDeadline() {
        return earliest;
    }

    /** @param payload <b>borrowed</b> */
    @Override
    public void datagram(UdpDatagram d, ByteBuf payload, long now) {
        Dhcpv6Repr r = answer(d, payload, now);
        if (r == null || stack == null || closed) {
            return;
        }
        ByteBuf out = alloc().buffer(r.bufferLen());
        r.emit(out);
        // Answer from the address asked (link-local for the multicast group), to the client's source at its MAC:
        // a client's link-local address needs no neighbour resolution.
        Ipv6Address src = d.dst().isMulticast() ? v6.linkLocal() : d.dst();
        int port = d.srcPort() != 0 ? d.srcPort() : CLIENT_PORT;
        stack.udp().sendTo(d.srcMac(), src, SERVER_PORT, d.src(), port, out);
    }

    private ByteBufAllocator alloc() {
        return stack.ipv6Output().alloc();
    }

    /**
     * The answer to one message, or null (counted) when there is none. Package-private for packet-level tests.
     *
     * @param payload <b>borrowed</b>
     */
    Dhcpv6Repr answer(UdpDatagram d, ByteBuf payload, long now) {
        received.inc();
        poll(now);
        int off = payload.readerIndex();
        int len = payload.readableBytes();
        if (len >= 1) {
            int t = payload.getUnsignedByte(off);
            if (t == Dhcpv6Option.RELAY_FORW || t == Dhcpv6Option.RELAY_REPL) {
                relay.inc(); // no relays on a virtual link
                return null;
            }
        }
        Dhcpv6Packet.Error err = Dhcpv6Packet.check(payload, off, len);
        if (err != null) {
            malformed.get(err).inc();
            return null;
        }
        Dhcpv6Repr q = Dhcpv6Repr.parse(payload, off, len);
        Counters.Counter c = byType.get(q.type());
        if (c == null) {
            notClientMessage.inc();
            return null;
        }
        c.inc();
        if (q.serverId() != null && !java.util.Arrays.equals(q.serverId(), serverDuid)) {
            otherServer.inc();
            return null;
        }
        switch (q.type()) {
            case Dhcpv6Option.INFORMATION_REQUEST -> {
                if (!q.iaNa().isEmpty()) {
                    unexpectedIa.inc(); // RFC 8415 16.12
                    return null;
                }
                return reply(q, Dhcpv6Option.REPLY, List.of(), false, null);
            }
            case Dhcpv6Option.SOLICIT, Dhcpv6Option.REBIND, Dhcpv6Option.CONFIRM -> {
                if (q.serverId() != null) {
                    unexpectedServerId.inc();
                    return null;
                }
            }
            default -> {
                if (q.serverId() == null) {
                    missingServerId.inc();
                    return null;
                }
            }
        }
        if (q.clientId() == null) {
            missingClientId.inc();
            return null;
        }
        long mac = d.srcMac();
        long duidMac = duidMac(q.clientId());
        if (duidMac != 0 && duidMac != mac) {
            // Only the frame's source MAC is pinned to the guest's port by the switch; a MAC in the DUID is the
            // client's word, so it never selects a static lease.
            duidMacMismatch.inc();
        }
        String duid = HexFormat.of().formatHex(q.clientId());
        return switch (q.type()) {
            case Dhcpv6Option.SOLICIT -> {
                boolean commit = q.rapidCommit() && cfg.rapidCommit();
                List<Dhcpv6Repr.IaNa> ias = assign(q, duid, mac, commit, false, now);
                if (commit) {
                    rapidCommit.inc();
                    yield reply(q, Dhcpv6Option.REPLY, ias, true, null);
                }
                boolean none = ias.stream().allMatch(ia -> ia.addresses().isEmpty());
                Dhcpv6Repr.Status st = none && !ias.isEmpty()
                        ? new Dhcpv6Repr.Status(Dhcpv6Option.STATUS_NO_ADDRS_AVAIL, "no addresses available") : null;
                yield reply(q, Dhcpv6Option.ADVERTISE, none ? List.of() : ias, false, st);
            }
            case Dhcpv6Option.REQUEST, Dhcpv6Option.RENEW, Dhcpv6Option.REBIND ->
                    reply(q, Dhcpv6Option.REPLY, assign(q, duid, mac, true, q.type() != Dhcpv6Option.REQUEST, now),
                            false, null);
            case Dhcpv6Option.RELEASE -> {
                for (Dhcpv6Repr.IaNa ia : q.iaNa()) {
                    for (Dhcpv6Repr.IaAddr a : ia.addresses()) {
                        Binding b = byAddress.get(a.address());
                        if (owns(b, duid, ia.iaid(), mac)) {
                            bindings.remove(b.key);
                            forget(b);
                            released.inc();
                        }
                    }
                }
                yield reply(q, Dhcpv6Option.REPLY, List.of(), false,
                        new Dhcpv6Repr.Status(Dhcpv6Option.STATUS_SUCCESS, "released"));
            }
            case Dhcpv6Option.DECLINE -> {
                for (Dhcpv6Repr.IaNa ia : q.iaNa()) {
                    for (Dhcpv6Repr.IaAddr a : ia.addresses()) {
                        Binding b = byAddress.get(a.address());
                        if (owns(b, duid, ia.iaid(), mac)) {
                            bindings.remove(b.key);
                            forget(b);
                            if (!b.fixed) {
                                declined.put(b.address, now + cfg.declineQuarantineNanos());
                                earliest = Math.min(earliest, now + cfg.declineQuarantineNanos());
                            }
                            declinedCount.inc();
                        }
                    }
                }
                yield reply(q, Dhcpv6Option.REPLY, List.of(), false,
                        new Dhcpv6Repr.Status(Dhcpv6Option.STATUS_SUCCESS, "declined"));
            }
            case Dhcpv6Option.CONFIRM -> {
                boolean any = false;
                boolean onLink = true;
                for (Dhcpv6Repr.IaNa ia : q.iaNa()) {
                    for (Dhcpv6Repr.IaAddr a : ia.addresses()) {
                        any = true;
                        onLink &= a.address().inPrefix(v6.prefix(), 64);
                    }
                }
                if (!any) {
                    confirmEmpty.inc(); // RFC 8415 18.3.3: no addresses, no reply
                    yield null;
                }
                yield reply(q, Dhcpv6Option.REPLY, List.of(), false, onLink
                        ? new Dhcpv6Repr.Status(Dhcpv6Option.STATUS_SUCCESS, "on link")
                        : new Dhcpv6Repr.Status(Dhcpv6Option.STATUS_NOT_ON_LINK, "not on link"));
            }
            default -> null;
        };
    }

    private Dhcpv6Repr reply(Dhcpv6Repr q, int type, List<Dhcpv6Repr.IaNa> ias, boolean rapid,
            Dhcpv6Repr.Status status) {
        (type == Dhcpv6Option.ADVERTISE ? advertise : reply).inc();
        List<Ipv6Address> dns = q.requested(Dhcpv6Option.DNS_SERVERS) ? cfg.dnsServers() : List.of();
        byte[] domains = q.requested(Dhcpv6Option.DOMAIN_LIST) ? domainList : null;
        return new Dhcpv6Repr(type, q.transactionId(), q.clientId(), serverDuid, ias, rapid, null, false, status,
                dns, domains);
    }

    /**
     * The IA_NAs of an Advertise or Reply: each IA of the message gets its address (or NoAddrsAvail). With
     * {@code bind} the addresses are bound for a lease time; with {@code renewing} (Renew, Rebind) other
     * addresses the client listed are returned with lifetimes 0 (RFC 8415 18.3.4).
     */
    private List<Dhcpv6Repr.IaNa> assign(Dhcpv6Repr q, String duid, long mac, boolean bind, boolean renewing,
            long now) {
        List<Dhcpv6Repr.IaNa> out = new ArrayList<>();
        long life = cfg.leaseTimeSeconds();
        long t1 = life / 2;
        long t2 = life * 4 / 5;
        for (Dhcpv6Repr.IaNa ia : q.iaNa()) {
            String key = key(duid, ia.iaid(), mac);
            Binding held = bindings.get(key);
            if (held != null && held.mac != mac) {
                // Another guest's DUID: served as a client of its own, never touching that binding.
                duidConflict.inc();
                key = key + "@" + MacAddress.format(mac);
            }
            Ipv6Address a = choose(key, duid, mac, ia);
            List<Dhcpv6Repr.IaAddr> addrs = new ArrayList<>();
            if (a == null) {
                noAddrsAvail.inc();
                out.add(new Dhcpv6Repr.IaNa(ia.iaid(), 0, 0, List.of(),
                        new Dhcpv6Repr.Status(Dhcpv6Option.STATUS_NO_ADDRS_AVAIL, "no addresses available")));
                continue;
            }
            addrs.add(new Dhcpv6Repr.IaAddr(a, life, life));
            if (renewing) {
                for (Dhcpv6Repr.IaAddr old : ia.addresses()) {
                    if (!old.address().equals(a) && addrs.size() <= Dhcpv6Packet.MAX_ADDRESSES) {
                        addrs.add(new Dhcpv6Repr.IaAddr(old.address(), 0, 0));
                    }
                }
            }
            if (bind) {
                Binding prev = bindings.remove(key);
                if (prev != null) {
                    forget(prev);
                }
                boolean fixed = fixedAddresses.contains(a);
                Binding b = new Binding(key, mac, a, fixed, now + life * 1_000_000_000L);
                bindings.put(key, b);
                byAddress.put(a, b);
                earliest = Math.min(earliest, b.expires);
                if (!fixed) {
                    dynamic++;
                }
            }
            out.add(new Dhcpv6Repr.IaNa(ia.iaid(), t1, t2, addrs, null));
        }
        return out;
    }

    /** Static lease, else the IA's current binding, else a free hinted pool address, else the next free one. */
    private Ipv6Address choose(String key, String duid, long mac, Dhcpv6Repr.IaNa ia) {
        Ipv6Address fixed = cfg.staticByDuid().get(duid);
        if (fixed == null) {
            fixed = cfg.staticByMac().get(mac);
        }
        if (fixed != null) {
            Binding b = byAddress.get(fixed);
            if (b == null || b.key.equals(key)) {
                return fixed;
            }
            // Held by another IA of this client: this IA gets a pool address.
        }
        Binding held = bindings.get(key);
        if (held != null) {
            return held.address;
        }
        if (dynamic >= cfg.maxLeases()) {
            leaseLimit.inc();
            return null;
        }
        for (Dhcpv6Repr.IaAddr hint : ia.addresses()) {
            if (free(hint.address())) {
                return hint.address();
            }
        }
        long first = cfg.poolStart().lo();
        long size = cfg.poolEnd().lo() - first + 1; // unsigned; 0 means 2^64
        // Every address skipped is bound, declined, static or the gateway's: at most this many steps.
        long steps = (long) bindings.size() + declined.size() + fixedAddresses.size() + 4;
        for (long i = 0; i < steps && (size == 0 || i < size); i++) {
            long lo = first + (size == 0 ? cursor : Long.remainderUnsigned(cursor, size));
            cursor++;
            Ipv6Address a = new Ipv6Address(cfg.poolStart().hi(), lo);
            if (free(a)) {
                return a;
            }
        }
        return null;
    }

    private boolean free(Ipv6Address a) {
        long lo = a.lo();
        return a.hi() == cfg.poolStart().hi()
                && Long.compareUnsigned(lo, cfg.poolStart().lo()) >= 0
                && Long.compareUnsigned(lo, cfg.poolEnd().lo()) <= 0
                && !byAddress.containsKey(a) && !declined.containsKey(a) && !fixedAddresses.contains(a)
                && !v6.isGatewayAddress(a) && !a.equals(v6.device()) && !a.equals(v6.prefix());
    }

    private void forget(Binding b) {
        if (byAddress.get(b.address) == b) {
            byAddress.remove(b.address);
        }
        if (!b.fixed) {
            dynamic--;
        }
    }

    /** True when binding {@code b} is this client's IA (under its own key or its conflict key). */
    private static boolean owns(Binding b, String duid, int iaid, long mac) {
        String k = key(duid, iaid, mac);
        return b != null && b.mac == mac && (b.key.equals(k) || b.key.equals(k + "@" + MacAddress.format(mac)));
    }

    private static String key(String duid, int iaid, long mac) {
        return duid + "/" + Integer.toHexString(iaid);
    }

    /** The Ethernet MAC in a DUID-LLT or DUID-LL, or 0. */
    static long duidMac(byte[] duid) {
        int type = ((duid[0] & 0xFF) << 8) | (duid[1] & 0xFF);
        int at;
        if (type == Dhcpv6Option.DUID_LLT && duid.length == 14) {
            at = 8;
        } else if (type == Dhcpv6Option.DUID_LL && duid.length == 10) {
            at = 4;
        } else {
            return 0;
        }
        if ((((duid[2] & 0xFF) << 8) | (duid[3] & 0xFF)) != Dhcpv6Option.HWTYPE_ETHERNET) {
            return 0;
        }
        long m = 0;
        for (int i = at; i < at + 6; i++) {
            m = (m << 8) | (duid[i] & 0xFF);
        }
        return m;
    }
}
