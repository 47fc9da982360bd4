package dev.gvproxy.dhcp;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.DeadlineSource;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.udp.UdpDatagram;
import dev.gvproxy.stack.udp.UdpHandler;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The gateway's DHCPv4 server (RFC 2131, options per RFC 2132), bound to UDP port 67 on every address of
 * the stack. See the package documentation for the state handling; this class decodes a request with
 * {@link DhcpPacket}, asks the {@link LeasePool} for an address, and builds and sends the reply with
 * {@link DhcpRepr}.
 *
 * <p>Runs on the network's event loop only, including {@link #leases()}, {@link #poll} and {@link #close}.
 */
public final class DhcpServer implements UdpHandler, DeadlineSource {
    private static final Logger LOG = Logger.getLogger(DhcpServer.class.getName());

    public static final int SERVER_PORT = 67;
    public static final int CLIENT_PORT = 68;
    /** RFC 2131 section 2: every client accepts messages of 576-byte IP datagrams. */
    static final int MIN_MAX_MESSAGE = 576;
    private static final int IP_UDP_HEADERS = 28;

    private final NetworkStack stack;
    private final StackConfig net;
    private final DhcpConfig cfg;
    private final LeasePool pool;
    private final Map<Integer, byte[]> configOptions = new TreeMap<>();
    private boolean closed;

    private final EnumMap<DhcpPacket.Error, Counters.Counter> malformed = new EnumMap<>(DhcpPacket.Error.class);
    private final Counters.Counter received;
    private final Counters.Counter notForUs;
    private final Counters.Counter notRequest;
    private final Counters.Counter badHardware;
    private final Counters.Counter badChaddr;
    private final Counters.Counter noMessageType;
    private final Counters.Counter unexpectedType;
    private final Counters.Counter discover;
    private final Counters.Counter request;
    private final Counters.Counter decline;
    private final Counters.Counter release;
    private final Counters.Counter inform;
    private final Counters.Counter offer;
    private final Counters.Counter ack;
    private final Counters.Counter nak;
    private final Counters.Counter selecting;
    private final Counters.Counter initReboot;
    private final Counters.Counter renew;
    private final Counters.Counter rebind;
    private final Counters.Counter otherServer;
    private final Counters.Counter requestNoAddress;
    private final Counters.Counter poolExhausted;
    private final Counters.Counter declineIgnored;
    private final Counters.Counter releaseIgnored;
    private final Counters.Counter informNoAddress;
    private final Counters.Counter optionsTrimmed;
    private final Counters.Counter chaddrMismatch;
    private final Counters.Counter portLeaseLimit;
    private final Counters.Counter clientIdConflict;

    private DhcpServer(NetworkStack stack, DhcpConfig cfg) {
        this.stack = stack;
        this.net = stack.config();
        this.cfg = cfg;
        Counters c = stack.counters();
        this.pool = new LeasePool(net, cfg, c, stack.addressBindings());
        for (DhcpPacket.Error e : DhcpPacket.Error.values()) {
            malformed.put(e, c.counter(e.counter()));
        }
        this.received = c.counter("dhcp.in");
        this.notForUs = c.counter("dhcp.notForUs");
        this.notRequest = c.counter("dhcp.notRequest");
        this.badHardware = c.counter("dhcp.badHardwareType");
        this.badChaddr = c.counter("dhcp.badChaddr");
        this.noMessageType = c.counter("dhcp.noMessageType");
        this.unexpectedType = c.counter("dhcp.unexpectedType");
        this.discover = c.counter("dhcp.discover");
        this.request = c.counter("dhcp.request");
        this.decline = c.counter("dhcp.decline");
        this.release = c.counter("dhcp.release");
        this.inform = c.counter("dhcp.inform");
        this.offer = c.counter("dhcp.offer");
        this.ack = c.counter("dhcp.ack");
        this.nak = c.counter("dhcp.nak");
        this.selecting = c.counter("dhcp.request.selecting");
        this.initReboot = c.counter("dhcp.request.initReboot");
        this.renew = c.counter("dhcp.request.renewing");
        this.rebind = c.counter("dhcp.request.rebinding");
        this.otherServer = c.counter("dhcp.otherServer");
        this.requestNoAddress = c.counter("dhcp.requestNoAddress");
        this.poolExhausted = c.counter("dhcp.poolExhausted");
        this.declineIgnored = c.counter("dhcp.declineIgnored");
        this.releaseIgnored = c.counter("dhcp.releaseIgnored");
        this.informNoAddress = c.counter("dhcp.informNoAddress");
        this.optionsTrimmed = c.counter("dhcp.optionsTrimmed");
        this.chaddrMismatch = c.counter("dhcp.chaddrMismatch");
        this.portLeaseLimit = c.counter("dhcp.portLeaseLimit");
        this.clientIdConflict = c.counter("dhcp.clientIdConflict");

        // Network configuration handed to every client, precomputed once.
        configOptions.put(DhcpOption.SUBNET_MASK, DhcpRepr.intBytes(net.netmask()));
        configOptions.put(DhcpOption.ROUTER, DhcpRepr.intBytes(net.gatewayIp()));
        if (!cfg.dnsServers().isEmpty()) {
            byte[] dns = new byte[4 * cfg.dnsServers().size()];
            for (int i = 0; i < cfg.dnsServers().size(); i++) {
                System.arraycopy(DhcpRepr.intBytes(cfg.dnsServers().get(i)), 0, dns, 4 * i, 4);
            }
            configOptions.put(DhcpOption.DNS_SERVERS, dns);
        }
        if (cfg.domainName() != null) {
            configOptions.put(DhcpOption.DOMAIN_NAME, cfg.domainName().getBytes(StandardCharsets.US_ASCII));
        }
        configOptions.put(DhcpOption.INTERFACE_MTU, new byte[] {(byte) (net.mtu() >>> 8), (byte) net.mtu()});
        configOptions.put(DhcpOption.BROADCAST_ADDRESS, DhcpRepr.intBytes(net.broadcast()));
        if (!cfg.searchDomains().isEmpty()) {
            configOptions.put(DhcpOption.DOMAIN_SEARCH, DomainNames.encodeSearchList(cfg.searchDomains()));
        }
    }

    /**
     * Creates a server, binds it to UDP port 67 on any address of {@code stack} and makes its lease, offer and
     * quarantine expiry one of the stack's deadline sources. Call on the network's event loop.
     */
    public static DhcpServer install(NetworkStack stack, DhcpConfig cfg) {
        DhcpServer s = new DhcpServer(stack, cfg);
        stack.udp().bind(0, SERVER_PORT, s);
        stack.addDeadlineSource(s);
        return s;
    }

    /** {@link #install(NetworkStack, DhcpConfig)} with {@link DhcpConfig#defaults}. */
    public static DhcpServer install(NetworkStack stack) {
        return install(stack, DhcpConfig.defaults(stack.config()));
    }

    public DhcpConfig config() {
        return cfg;
    }

    public LeasePool pool() {
        return pool;
    }

    /** Expires offers, leases and quarantines due at {@code now}. */
    @Override
    public void poll(long now) {
        pool.expire(now);
    }

    /** The earliest time {@link #poll} has work, or {@code Long.MAX_VALUE}. */
    @Override
    public long nextDeadline() {
        return pool.nextDeadline();
    }

    /** IP -> MAC of the gateway, static and active leases, keys sorted as strings (gvproxy's {@code /leases}). */
    public SortedMap<String, String> leases() {
        pool.expire(stack.now());
        return pool.leases();
    }

    /** Unbinds port 67 and forgets every dynamic lease. */
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        stack.udp().unbind(0, SERVER_PORT);
        pool.clear();
    }

    /** What the server needs from one request, decoded once. */
    private record Request(
            int htype,
            int hlen,
            int xid,
            int flags,
            int ciaddr,
            int giaddr,
            byte[] chaddr,
            long mac,
            String client,
            byte[] clientId,
            byte[] relayInfo,
            int requestedIp,
            int serverId,
            byte[] paramList,
            int maxMessage,
            int port,
            UdpDatagram from) {
    }

    /** @param payload <b>borrowed</b> */
    @Override
    public void datagram(UdpDatagram d, ByteBuf payload, long now) {
        received.inc();
        pool.expire(now);
        int dst = d.dstIp();
        if (dst != Ipv4Address.BROADCAST && dst != net.broadcast() && dst != net.gatewayIp()) {
            notForUs.inc(); // unicast to some other DHCP server: not ours to answer
            return;
        }
        int off = payload.readerIndex();
        int len = payload.readableBytes();
        DhcpPacket.Error err = DhcpPacket.check(payload, off, len);
        if (err != null) {
            malformed.get(err).inc();
            return;
        }
        if (DhcpPacket.op(payload, off) != DhcpPacket.OP_REQUEST) {
            notRequest.inc();
            return;
        }
        if (DhcpPacket.htype(payload, off) != DhcpPacket.HTYPE_ETHERNET || DhcpPacket.hlen(payload, off) != 6) {
            badHardware.inc();
            return;
        }
        long mac = DhcpPacket.chaddrMac(payload, off);
        if (mac == 0 || MacAddress.isMulticast(mac)) {
            badChaddr.inc();
            return;
        }
        if (mac != d.srcMac()) {
            // A guest speaks only for itself: another MAC's lease is not its to request, release or decline.
            chaddrMismatch.inc();
            return;
        }
        int type = DhcpPacket.messageType(payload, off, len);
        if (type < 0) {
            noMessageType.inc();
            return;
        }
        byte[] clientId = DhcpPacket.optionBytes(payload, off, len, DhcpOption.CLIENT_ID);
        if (clientId != null && clientId.length == 0) {
            clientId = null;
        }
        // The switch learned the frame's source (= chaddr) on the port it came in on, and keeps it there.
        SwitchPort from = stack.virtualSwitch().portOf(mac);
        String client = clientKey(clientId, mac);
        LeasePool.Lease held = pool.record(client);
        if (held != null && held.active() && held.mac() != mac) {
            // Someone else's client identifier: served as a client of its own, never touching that lease.
            clientIdConflict.inc();
            client = client + "@" + MacAddress.format(mac);
        }
        Request r = new Request(
                DhcpPacket.htype(payload, off),
                DhcpPacket.hlen(payload, off),
                DhcpPacket.xid(payload, off),
                DhcpPacket.flags(payload, off),
                DhcpPacket.ciaddr(payload, off),
                DhcpPacket.giaddr(payload, off),
                DhcpPacket.chaddr(payload, off),
                mac,
                client,
                clientId,
                DhcpPacket.optionBytes(payload, off, len, DhcpOption.RELAY_AGENT_INFO),
                DhcpPacket.addressOption(payload, off, len, DhcpOption.REQUESTED_IP),
                DhcpPacket.addressOption(payload, off, len, DhcpOption.SERVER_ID),
                DhcpPacket.optionBytes(payload, off, len, DhcpOption.PARAMETER_REQUEST_LIST),
                DhcpPacket.shortOption(payload, off, len, DhcpOption.MAX_MESSAGE_SIZE),
                from == null ? -1 : from.id(),
                d);
        switch (type) {
            case DhcpMessageType.DISCOVER -> onDiscover(r, now);
            case DhcpMessageType.REQUEST -> onRequest(r, now);
            case DhcpMessageType.DECLINE -> onDecline(r, now);
            case DhcpMessageType.RELEASE -> onRelease(r);
            case DhcpMessageType.INFORM -> onInform(r, now);
            default -> unexpectedType.inc();
        }
    }

    /**
     * Leases are per client identifier (option 61) or, without one, per MAC. An identifier that is just
     * type 1 + the MAC (what udhcpc sends by default) is the MAC, so a guest switching between clients that
     * do and do not send option 61 keeps its address.
     */
    static String clientKey(byte[] clientId, long mac) {
        if (clientId == null) {
            return "mac:" + MacAddress.format(mac);
        }
        if (clientId.length == 7 && clientId[0] == DhcpPacket.HTYPE_ETHERNET) {
            long m = 0;
            for (int i = 1; i < 7; i++) {
                m = (m << 8) | (clientId[i] & 0xFF);
            }
            if (m == mac) {
                return "mac:" + MacAddress.format(mac);
            }
        }
        return "id:" + HexFormat.of().formatHex(clientId);
    }

    /**
     * True (counted) when the client would take a new record although the clients behind its port already
     * hold {@code leasesPerPort} offers and leases. A static address or a record already counted on this
     * port costs nothing more.
     */
    private boolean overPortLimit(Request r) {
        if (r.port < 0 || pool.staticAddress(r.mac) != 0) {
            return false;
        }
        LeasePool.Lease l = pool.record(r.client);
        if (l != null && l.active() && l.port() == r.port) {
            return false;
        }
        if (pool.activeOnPort(r.port) < cfg.leasesPerPort()) {
            return false;
        }
        portLeaseLimit.inc();
        return true;
    }

    private void onDiscover(Request r, long now) {
        discover.inc();
        if (overPortLimit(r)) {
            return;
        }
        int ip = pool.offer(r.client, r.mac, r.port, r.requestedIp, now);
        if (ip == 0) {
            poolExhausted.inc();
            if (LOG.isLoggable(Level.FINE)) {
                LOG.fine("DHCP pool exhausted, no offer for " + r.client);
            }
            return;
        }
        offer.inc();
        send(r, reply(r, DhcpMessageType.OFFER, ip, true, null), ip, now);
    }

    private void onRequest(Request r, long now) {
        request.inc();
        int ip;
        if (r.serverId != 0) {
            // SELECTING: the client answers one server's offer.
            selecting.inc();
            if (r.serverId != net.gatewayIp()) {
                otherServer.inc();
                return;
            }
            ip = r.requestedIp != 0 ? r.requestedIp : r.ciaddr;
        } else if (r.requestedIp != 0) {
            initReboot.inc(); // INIT-REBOOT: verifying a remembered address
            ip = r.requestedIp;
        } else if (r.ciaddr != 0) {
            // RENEWING is unicast to us, REBINDING is broadcast.
            (r.from.dstIp() == net.gatewayIp() ? renew : rebind).inc();
            ip = r.ciaddr;
        } else {
            requestNoAddress.inc();
            return;
        }
        if (!acceptable(r, ip)) {
            nak(r, ip);
            return;
        }
        if (overPortLimit(r)) {
            return;
        }
        pool.bind(r.client, r.mac, r.port, ip, now);
        ack.inc();
        if (LOG.isLoggable(Level.FINE)) {
            LOG.fine("DHCP ACK " + Ipv4Address.format(ip) + " to " + r.client);
        }
        send(r, reply(r, DhcpMessageType.ACK, ip, true, null), ip, now);
    }

    /**
     * This server is authoritative for the virtual network: an address is granted when it is the client's
     * static address, its current lease, or free in the pool; a client with a static address or an
     * unexpired lease asking for anything else is told no, so that it restarts with DISCOVER.
     */
    private boolean acceptable(Request r, int ip) {
        int st = pool.staticAddress(r.mac);
        if (st != 0) {
            return ip == st;
        }
        int bound = pool.boundAddress(r.client);
        if (bound != 0 && bound != ip) {
            return false;
        }
        return pool.availableFor(ip, r.client, r.mac);
    }

    private void nak(Request r, int ip) {
        nak.inc();
        if (LOG.isLoggable(Level.FINE)) {
            LOG.fine("DHCP NAK " + Ipv4Address.format(ip) + " to " + r.client);
        }
        String why = net.inSubnet(ip) ? "address not available" : "wrong network";
        send(r, reply(r, DhcpMessageType.NAK, 0, false, why), 0, 0);
    }

    private void onDecline(Request r, long now) {
        decline.inc();
        if ((r.serverId != 0 && r.serverId != net.gatewayIp())
                || !pool.decline(r.client, r.mac, r.requestedIp, now)) {
            declineIgnored.inc();
        } else if (LOG.isLoggable(Level.FINE)) {
            LOG.fine("DHCP DECLINE " + Ipv4Address.format(r.requestedIp) + " by " + r.client);
        }
    }

    private void onRelease(Request r) {
        release.inc();
        if ((r.serverId != 0 && r.serverId != net.gatewayIp()) || !pool.release(r.client, r.mac, r.ciaddr)) {
            releaseIgnored.inc();
        }
    }

    private void onInform(Request r, long now) {
        inform.inc();
        int to = r.ciaddr != 0 ? r.ciaddr : r.from.srcIp();
        if (to == 0) {
            informNoAddress.inc();
            return;
        }
        ack.inc();
        send(r, reply(r, DhcpMessageType.ACK, 0, false, null), 0, now);
    }

    /**
     * Builds a reply. Options: 53 and 54 first, then 51/58/59 for a lease, then the network configuration
     * in the order of the client's parameter request list, then the rest of it by code, then 61 and 82
     * echoed (RFC 6842, RFC 3046). Configuration options are dropped from the end (search list first) if the
     * reply would exceed the client's maximum message size.
     */
    private DhcpRepr reply(Request r, int type, int yiaddr, boolean lease, String message) {
        DhcpRepr.Builder b = DhcpRepr.reply()
                .hardware(r.htype, r.hlen, r.chaddr)
                .xid(r.xid)
                .flags(r.flags)
                .giaddr(r.giaddr)
                .yiaddr(yiaddr)
                .ciaddr(type == DhcpMessageType.ACK ? r.ciaddr : 0)
                .optionByte(DhcpOption.MESSAGE_TYPE, type)
                .optionInt(DhcpOption.SERVER_ID, net.gatewayIp());
        if (type == DhcpMessageType.NAK) {
            if (message != null) {
                b.option(DhcpOption.MESSAGE, message.getBytes(StandardCharsets.US_ASCII));
            }
        } else {
            if (lease) {
                long t = cfg.leaseTimeSeconds();
                b.optionInt(DhcpOption.LEASE_TIME, (int) t);
                b.optionInt(DhcpOption.RENEWAL_TIME, (int) (t / 2));
                b.optionInt(DhcpOption.REBINDING_TIME, (int) (t * 7 / 8));
            }
            Map<Integer, byte[]> rest = new LinkedHashMap<>(configOptions);
            if (r.paramList != null) {
                for (byte p : r.paramList) {
                    byte[] v = rest.remove(p & 0xFF);
                    if (v != null) {
                        b.option(p & 0xFF, v);
                    }
                }
            }
            rest.forEach(b::option);
        }
        if (r.clientId != null) {
            b.option(DhcpOption.CLIENT_ID, r.clientId);
        }
        if (r.relayInfo != null && r.relayInfo.length > 0) {
            b.option(DhcpOption.RELAY_AGENT_INFO, r.relayInfo);
        }
        DhcpRepr repr = b.build();
        int limit = Math.max(MIN_MAX_MESSAGE, r.maxMessage) - IP_UDP_HEADERS;
        int[] droppable = {DhcpOption.DOMAIN_SEARCH, DhcpOption.DOMAIN_NAME, DhcpOption.BROADCAST_ADDRESS,
            DhcpOption.INTERFACE_MTU, DhcpOption.DNS_SERVERS};
        for (int i = 0; i < droppable.length && repr.bufferLen() > limit; i++) {
            if (b.remove(droppable[i])) {
                optionsTrimmed.inc();
                repr = b.build();
            }
        }
        return repr;
    }

    /**
     * Sends a reply per RFC 2131 section 4.1 (giaddr is not used: there are no relays on a virtual link):
     * NAK is broadcast; with ciaddr set, unicast to ciaddr; with the broadcast flag, to 255.255.255.255 at
     * the broadcast MAC; otherwise unicast to yiaddr at chaddr (the client has no address yet, so no ARP).
     */
    private void send(Request r, DhcpRepr repr, int yiaddr, long now) {
        ByteBuf buf = stack.ipOutput().alloc().buffer(repr.bufferLen());
        repr.emit(buf);
        int gw = net.gatewayIp();
        int type = repr.messageType();
        if (type == DhcpMessageType.NAK) {
            stack.udp().sendTo(MacAddress.BROADCAST, gw, SERVER_PORT, Ipv4Address.BROADCAST, CLIENT_PORT, buf);
        } else if (r.ciaddr != 0 || type == DhcpMessageType.ACK && yiaddr == 0) {
            int to = r.ciaddr != 0 ? r.ciaddr : r.from.srcIp();
            int port = r.from.srcPort() != 0 ? r.from.srcPort() : CLIENT_PORT;
            stack.udp().send(gw, SERVER_PORT, to, port, buf, now);
        } else if ((r.flags & DhcpPacket.FLAG_BROADCAST) != 0) {
            stack.udp().sendTo(MacAddress.BROADCAST, gw, SERVER_PORT, Ipv4Address.BROADCAST, CLIENT_PORT, buf);
        } else {
            stack.udp().sendTo(r.mac, gw, SERVER_PORT, yiaddr, CLIENT_PORT, buf);
        }
    }
}
