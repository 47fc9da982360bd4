package dev.gvproxy.api;

import dev.gvproxy.forwarder.IcmpForwarder;
import dev.gvproxy.model.GoJson;
import dev.gvproxy.model.GoNet;
import dev.gvproxy.network.internal.NetworkInternals;
import dev.gvproxy.stack.FlowEntry;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.channel.Channel;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The host API's live flow table, {@code GET /services/flows}: every TCP connection, UDP flow and ICMP echo flow
 * of the network, filtered by query parameters and bounded.
 *
 * <p>The rows are copied on the network's event loop (the tables are loop-only) by {@link #of}: the filter is
 * applied there and at most {@code limit} rows are copied, so a large table costs the loop one pass and the
 * answer's memory stays bounded; the JSON is written off the loop.
 */
public final class FlowTable {
    /** Rows answered when the request names no {@code limit}. */
    public static final int DEFAULT_LIMIT = 1000;
    /** The largest {@code limit} accepted (400 above). */
    public static final int MAX_LIMIT = 10_000;
    private static final Set<String> PROTOCOLS = Set.of("tcp", "udp", "icmp");

    /**
     * Which rows to answer.
     *
     * @param guestIp only flows of this guest address, or null
     * @param protocol only {@code tcp}, {@code udp} or {@code icmp}, or null
     * @param state only this state (case-insensitive, e.g. {@code established}, {@code time-wait}), or null
     * @param limit at most this many rows
     */
    public record Query(Integer guestIp, String protocol, String state, int limit) {
        boolean matches(FlowEntry e) {
            return (guestIp == null || (e.key().isIpv4() && e.key().guest().ipv4() == guestIp)) && (protocol == null || protocol.equals(e.protocol()))
                    && (state == null || state.equalsIgnoreCase(e.state()));
        }

        /** Parses the query parameters; throws {@link IllegalArgumentException} with a message for a 400. */
        static Query parse(Map<String, List<String>> params) {
            Integer guest = null;
            String g = first(params, "guest");
            if (g != null) {
                guest = GoNet.parseIpv4(g);
                if (guest == null) {
                    throw new IllegalArgumentException("guest must be an IPv4 address: " + g);
                }
            }
            String protocol = first(params, "protocol");
            if (protocol != null) {
                protocol = protocol.toLowerCase(Locale.ROOT);
                if (!PROTOCOLS.contains(protocol)) {
                    throw new IllegalArgumentException("protocol must be tcp, udp or icmp: " + protocol);
                }
            }
            String state = first(params, "state");
            int limit = DEFAULT_LIMIT;
            String l = first(params, "limit");
            if (l != null) {
                try {
                    limit = Integer.parseInt(l);
                } catch (NumberFormatException e) {
                    limit = -1;
                }
                if (limit < 1 || limit > MAX_LIMIT) {
                    throw new IllegalArgumentException("limit must be 1 to " + MAX_LIMIT + ": " + l);
                }
            }
            return new Query(guest, protocol, state, limit);
        }

        private static String first(Map<String, List<String>> params, String key) {
            List<String> v = params.get(key);
            return v == null || v.isEmpty() || v.get(0).isEmpty() ? null : v.get(0);
        }
    }

    /** One answered row: the layer's entry and the switch port / MAC of the guest that owns it. */
    public record Row(FlowEntry flow, long mac, SwitchPort port) {}

    /**
     * A snapshot: the matching rows (at most the limit), how many matched in all, and the stack's clock when it
     * was taken (age and idle time are computed against it).
     */
    public record Snapshot(List<Row> rows, int matched, long nowNanos, Query query) {
        public Snapshot {
            rows = List.copyOf(rows);
        }
    }

    private FlowTable() {
    }

    /** Takes the snapshot of a running network; the function must be called on its event loop. */
    public static Function<Query, Snapshot> of(NetworkInternals net) {
        return q -> snapshot(net, q);
    }

    private static Snapshot snapshot(NetworkInternals net, Query q) {
        long now = net.stack().now();
        VirtualSwitch sw = net.virtualSwitch();
        List<Row> rows = new ArrayList<>();
        int[] matched = {0};
        for (TcpConnection c : net.stack().tcp().connections()) {
            FlowEntry e = c.flowEntry();
            if (!q.matches(e)) {
                continue;
            }
            if (matched[0]++ >= q.limit()) {
                continue;
            }
            Channel host = net.tcpForwarder().hostChannel(c);
            if (host == null) {
                host = net.portForwarder().hostChannel(c);
            }
            if (host != null) {
                e = e.withHost(inet(host.localAddress()), inet(host.remoteAddress()));
            }
            rows.add(row(net, sw, e, c.link(), now));
        }
        java.util.function.Consumer<FlowEntry> add = e -> {
            if (q.matches(e) && matched[0]++ < q.limit()) {
                rows.add(row(net, sw, e, null, now));
            }
        };
        net.udpForwarder().flows(add);
        IcmpForwarder icmp = net.icmpForwarder();
        if (icmp != null) {
            icmp.flows(add);
        }
        return new Snapshot(rows, matched[0], now, q);
    }

    private static InetSocketAddress inet(java.net.SocketAddress a) {
        return a instanceof InetSocketAddress i ? i : null;
    }

    /** The owning guest: its MAC from the gateway's neighbour cache, its port from the CAM (or the TCP link). */
    private static Row row(NetworkInternals net, VirtualSwitch sw, FlowEntry e, SwitchPort link, long now) {
        long mac = e.key().isIpv4() ? net.stack().arpCache().lookup(e.key().guest().ipv4(), now)
                : net.stack().neighborCache().lookup(e.key().guest(), now);
        SwitchPort port = mac >= 0 ? sw.portOf(mac) : null;
        return new Row(e, mac, port != null ? port : link);
    }

    /** The snapshot as JSON (one object, keys in a fixed order, a newline at the end added by the caller). */
    static String json(Snapshot s) {
        StringBuilder b = new StringBuilder(256 + s.rows().size() * 400);
        b.append("{\"matched\":").append(s.matched()).append(",\"returned\":").append(s.rows().size())
                .append(",\"limit\":").append(s.query().limit()).append(",\"truncated\":")
                .append(s.matched() > s.rows().size()).append(",\"flows\":[");
        for (int i = 0; i < s.rows().size(); i++) {
            Row r = s.rows().get(i);
            FlowEntry e = r.flow();
            if (i > 0) {
                b.append(',');
            }
            b.append("{\"protocol\":").append(GoJson.string(e.protocol()))
                    .append(",\"guest\":").append(GoJson.string(endpoint(e.key().guest(), e.key().guestPort())))
                    .append(",\"destination\":").append(GoJson.string(endpoint(e.key().peer(), e.key().peerPort())))
                    .append(",\"hostLocal\":").append(address(e.hostLocal()))
                    .append(",\"hostRemote\":").append(address(e.hostRemote()))
                    .append(",\"state\":").append(GoJson.string(e.state()))
                    .append(",\"bytesFromGuest\":").append(e.bytesFromGuest())
                    .append(",\"packetsFromGuest\":").append(e.packetsFromGuest())
                    .append(",\"bytesToGuest\":").append(e.bytesToGuest())
                    .append(",\"packetsToGuest\":").append(e.packetsToGuest())
                    .append(",\"retransmits\":").append(e.retransmits())
                    .append(",\"ageMillis\":").append(Math.max(0, (s.nowNanos() - e.createdNanos()) / 1_000_000))
                    .append(",\"idleMillis\":").append(Math.max(0, (s.nowNanos() - e.lastActiveNanos()) / 1_000_000))
                    .append(",\"mac\":").append(r.mac() >= 0 ? GoJson.string(MacAddress.format(r.mac())) : "null")
                    .append(",\"switchPort\":").append(r.port() != null ? Integer.toString(r.port().id()) : "null")
                    .append(",\"switchPortName\":")
                    .append(r.port() != null ? GoJson.string(r.port().name()) : "null")
                    .append('}');
        }
        return b.append("]}").toString();
    }

    /** {@code a.b.c.d:port} for IPv4, {@code [v6]:port} for IPv6. */
    private static String endpoint(dev.gvproxy.stack.wire.Ipv6Address ip, int port) {
        return ip.isIpv4Mapped() ? Ipv4Address.format(ip.ipv4()) + ":" + port : "[" + ip + "]:" + port;
    }

    private static String address(InetSocketAddress a) {
        if (a == null || a.getAddress() == null) {
            return "null";
        }
        return GoJson.string(GoNet.joinHostPort(a.getAddress().getHostAddress(), Integer.toString(a.getPort())));
    }
}
