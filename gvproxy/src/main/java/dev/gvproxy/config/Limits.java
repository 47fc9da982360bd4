package dev.gvproxy.config;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.dhcp.DhcpConfig;
import dev.gvproxy.dns.DnsConfig;
import dev.gvproxy.forwarder.GuestFlows;
import dev.gvproxy.forwarder.TcpForwarder;
import dev.gvproxy.stack.PortSecurity;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What one guest, and all guests together, may make the host hold (DESIGN.md "The guest is untrusted"): the
 * YAML {@code limits:} section and the repeatable {@code -limit name=value} flag (a gvproxy-java extension;
 * the flag wins over the file). Every limit has a default sized for a workstation running a few VMs, most
 * derived at start from the process's descriptor limit and heap; a name given here replaces just that
 * default. Values: counts are integers, durations Go's syntax ({@code 300s}, {@code 5m}, {@code 1h30m}),
 * sizes bytes with an optional binary suffix ({@code 64MiB}, {@code 1G}).
 */
public final class Limits {
    /** How a value is written. */
    enum Kind { COUNT, DURATION, BYTES, BOOL }

    /** Every name, its kind and what it bounds (shown by errors and the README). */
    static final Map<String, Kind> NAMES;

    static {
        Map<String, Kind> m = new LinkedHashMap<>();
        m.put("macs-per-port", Kind.COUNT);            // switch: MACs one port may use (32)
        m.put("macs-total", Kind.COUNT);               // switch: MACs of all ports (4096)
        m.put("mac-ageing", Kind.DURATION);            // switch: silence after which a MAC may move (300s)
        m.put("strict-source", Kind.BOOL);             // IPv4 source must be the address leased to that MAC (false)
        m.put("leases-per-port", Kind.COUNT);          // DHCP: offers and leases behind one port (16)
        m.put("sockets-per-network", Kind.COUNT);      // host sockets of all guests (RLIMIT_NOFILE - 256)
        m.put("sockets-per-guest", Kind.COUNT);        // host sockets of one guest (a quarter of the network's)
        m.put("udp-flows-per-guest", Kind.COUNT);      // UDP NAT flows of one guest (<= 1024)
        m.put("icmp-flows-per-guest", Kind.COUNT);     // ping sockets of one guest (64)
        m.put("half-open-per-guest", Kind.COUNT);      // host connects in flight for one guest (256)
        m.put("half-open-per-destination", Kind.COUNT); // host connects in flight to one address:port (64)
        m.put("connects-in-flight", Kind.COUNT);       // host connects in flight for the network (512)
        m.put("connect-timeout", Kind.DURATION);       // host connect before the guest gets a RST (30s)
        m.put("leave-grace", Kind.DURATION);           // a departed VM's flows kept for it to come back (30s)
        m.put("tcp-memory", Kind.BYTES);               // TCP buffers of the network (heap / 4, <= 256MiB)
        m.put("dns-in-flight-per-guest", Kind.COUNT);  // upstream DNS queries of one guest (64)
        m.put("dns-tcp-idle", Kind.DURATION);          // idle DNS-over-TCP connection closed after (30s)
        m.put("vfkit-peers", Kind.COUNT);              // VMs (sender addresses) on one -listen-vfkit socket (64)
        m.put("vfkit-peer-idle", Kind.DURATION);       // a silent vfkit VM loses its switch port after (1h)
        NAMES = Collections.unmodifiableMap(m);
    }

    private final Map<String, Object> values = new LinkedHashMap<>();

    /** The names given, with their parsed values (Long counts and bytes, Duration, Boolean). */
    public Map<String, Object> values() {
        return Collections.unmodifiableMap(values);
    }

    /**
     * Sets one limit from its text.
     *
     * @param where the source for error messages ({@code -limit}, {@code limits.macs-per-port})
     */
    public void set(String name, String text, String where) throws ConfigException {
        Kind kind = NAMES.get(name);
        if (kind == null) {
            throw new ConfigException(where + ": unknown limit \"" + name + "\" (known: "
                    + String.join(", ", NAMES.keySet()) + ")");
        }
        String t = text.trim();
        Object v = switch (kind) {
            case COUNT -> {
                long n = parseLong(t, where + ": expected a positive integer, got \"" + text + "\"");
                if (n < 1 || n > Integer.MAX_VALUE) {
                    throw new ConfigException(where + ": must be between 1 and " + Integer.MAX_VALUE + ", got " + t);
                }
                yield n;
            }
            case DURATION -> {
                Duration d = goDuration(t);
                if (d == null || d.isNegative() || d.isZero()) {
                    throw new ConfigException(where + ": expected a positive duration such as 30s or 5m, got \""
                            + text + "\"");
                }
                yield d;
            }
            case BYTES -> {
                long n = bytes(t);
                if (n < 1) {
                    throw new ConfigException(where + ": expected a size such as 64MiB, got \"" + text + "\"");
                }
                yield n;
            }
            case BOOL -> switch (t.toLowerCase(Locale.ROOT)) {
                case "true", "1" -> Boolean.TRUE;
                case "false", "0" -> Boolean.FALSE;
                default -> throw new ConfigException(where + ": expected true or false, got \"" + text + "\"");
            };
        };
        values.put(name, v);
    }

    /** A {@code -limit name=value} argument. */
    public void setFlag(String arg) throws ConfigException {
        int eq = arg.indexOf('=');
        if (eq <= 0) {
            throw new ConfigException("-limit: expected name=value, got \"" + arg + "\"");
        }
        set(arg.substring(0, eq).trim(), arg.substring(eq + 1), "-limit " + arg.substring(0, eq).trim());
    }

    private int count(String name, int dflt) {
        Object v = values.get(name);
        return v == null ? dflt : (int) (long) (Long) v;
    }

    private long nanos(String name, long dflt) {
        Object v = values.get(name);
        return v == null ? dflt : ((Duration) v).toNanos();
    }

    /** The switch's MAC limits and source validation. */
    public PortSecurity portSecurity(PortSecurity base) {
        Object strict = values.get("strict-source");
        return new PortSecurity(count("macs-per-port", base.macsPerPort()), count("macs-total", base.macsTotal()),
                nanos("mac-ageing", base.macAgeingNanos()),
                strict == null ? base.strictSource() : (Boolean) strict);
    }

    /** Budgets of guest flows; the per-network socket count is capped by what the per-guest one implies. */
    public GuestFlows.Limits guestFlows(GuestFlows.Limits base) {
        return base.withSockets(count("sockets-per-network", base.socketsPerNetwork()),
                        count("sockets-per-guest", base.socketsPerGuest()))
                .withFlows(count("udp-flows-per-guest", base.udpFlowsPerGuest()),
                        count("icmp-flows-per-guest", base.icmpFlowsPerGuest()))
                .withHalfOpen(count("half-open-per-guest", base.halfOpenPerGuest()),
                        count("half-open-per-destination", base.halfOpenPerDestination()))
                .withGraceNanos(nanos("leave-grace", base.graceNanos()));
    }

    public TcpForwarder.Options tcpForwarding(TcpForwarder.Options base) {
        long timeoutMillis = nanos("connect-timeout", base.connectTimeoutMillis() * 1_000_000L) / 1_000_000L;
        return new TcpForwarder.Options((int) Math.max(1, Math.min(Integer.MAX_VALUE, timeoutMillis)),
                count("connects-in-flight", base.maxInFlight()), base.allowLinkLocal());
    }

    /** Applies the network-wide limits (flows, TCP memory, connects, DNS over TCP) to a network builder. */
    public VirtualNetwork.Builder apply(VirtualNetwork.Builder b) {
        b.guestLimits(guestFlows(GuestFlows.Limits.defaults()));
        b.tcpForwarding(tcpForwarding(TcpForwarder.Options.DEFAULTS));
        Object mem = values.get("tcp-memory");
        if (mem != null) {
            b.tcpMemory((Long) mem);
        }
        Object idle = values.get("dns-tcp-idle");
        if (idle != null) {
            b.dnsTcpIdleTimeout((Duration) idle);
        }
        return b;
    }

    public DhcpConfig.Builder apply(DhcpConfig.Builder b) {
        Object v = values.get("leases-per-port");
        return v == null ? b : b.leasesPerPort((int) (long) (Long) v);
    }

    public DnsConfig.Builder apply(DnsConfig.Builder b) {
        Object v = values.get("dns-in-flight-per-guest");
        return v == null ? b : b.maxInFlightPerClient((int) (long) (Long) v);
    }

    /** VMs one {@code -listen-vfkit} socket serves at once. */
    public int vfkitPeers() {
        return count("vfkit-peers", 64);
    }

    /** Silence after which a {@code -listen-vfkit} VM loses its switch port (it gets a new one when it speaks). */
    public Duration vfkitPeerIdle() {
        Object v = values.get("vfkit-peer-idle");
        return v == null ? Duration.ofHours(1) : (Duration) v;
    }

    private static long parseLong(String t, String message) throws ConfigException {
        try {
            return Long.parseLong(t);
        } catch (NumberFormatException e) {
            throw new ConfigException(message);
        }
    }

    private static final Pattern DURATION_PART = Pattern.compile("([0-9]+(?:\\.[0-9]*)?)(ns|us|µs|ms|s|m|h)");

    /** Go's {@code time.ParseDuration} for non-negative values; null when malformed. */
    static Duration goDuration(String t) {
        if (t.isEmpty() || t.length() > 64) {
            return null;
        }
        if (t.equals("0")) {
            return Duration.ZERO;
        }
        Matcher m = DURATION_PART.matcher(t);
        double nanos = 0;
        int at = 0;
        while (at < t.length()) {
            if (!m.find(at) || m.start() != at) {
                return null;
            }
            double n = Double.parseDouble(m.group(1));
            nanos += n * switch (m.group(2)) {
                case "ns" -> 1d;
                case "us", "µs" -> 1e3;
                case "ms" -> 1e6;
                case "s" -> 1e9;
                case "m" -> 60e9;
                default -> 3600e9;
            };
            at = m.end();
        }
        return nanos > Long.MAX_VALUE ? null : Duration.ofNanos((long) nanos);
    }

    private static final Pattern SIZE = Pattern.compile("([0-9]{1,19})\\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)");

    /** A byte count with an optional binary suffix (K, KiB, M, MiB, G, GiB; case-insensitive); -1 when malformed. */
    static long bytes(String t) {
        Matcher m = SIZE.matcher(t.toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            return -1;
        }
        int shift = switch (m.group(2)) {
            case "k", "kb", "kib" -> 10;
            case "m", "mb", "mib" -> 20;
            case "g", "gb", "gib" -> 30;
            default -> 0;
        };
        try {
            long n = Long.parseLong(m.group(1));
            return n > (Long.MAX_VALUE >> shift) ? -1 : n << shift;
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
