package dev.gvproxy.forwarder;

import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * An ordered list of allow/deny rules for what guests may reach through the gateway (issue 12, "egress policy"):
 * each rule has an action, a destination prefix, a protocol and optionally ports; the first rule that matches a
 * new flow decides, and a flow no rule matches is allowed. An immutable value: the network holds the current one
 * in an {@link EgressFilter} and replaces it whole.
 *
 * <p>Rules see the destination <i>as the guest addressed it</i>, before NAT: the host alias 192.168.127.254, not
 * the 127.0.0.1 it is translated to. A rule with ports matches TCP and UDP only (ICMP has no ports); a rule of
 * protocol {@code icmp} cannot have ports.
 *
 * <p>The textual shape is the YAML's and the HTTP API's ({@code stack.egress}, {@code /services/egress}):
 * <pre>
 *   - action: deny          # allow | deny
 *     cidr: 10.0.0.0/8      # a prefix; a bare address means /32
 *     protocol: tcp         # tcp | udp | icmp | any (default any)
 *     ports: "22,8000-8999" # optional; absent = every port
 * </pre>
 * {@link #fromMaps} reads that shape from either parser's maps, with messages naming the field at fault.
 *
 * <p>IPv6: a rule's prefix is of one family and matches destinations of that family only ({@link #decideIpv4},
 * {@link #decideIpv6}). NAT64 destinations are IPv4 ones (the embedded address), so IPv4 rules govern them. What a
 * native IPv6 destination no IPv6 rule matches gets is the filter's decision ({@link EgressFilter#denies}): refused
 * while the policy holds a deny rule, so a deny-list written for IPv4 is not bypassed over IPv6.
 */
public final class EgressPolicy {
    /** The empty policy: everything is allowed (the default, as in gvproxy). */
    public static final EgressPolicy ALLOW_ALL = new EgressPolicy(List.of());

    /** What a matching rule does. */
    public enum Action {
        ALLOW, DENY;

        /** The configuration word, {@code allow} or {@code deny}. */
        public String text() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** Parses {@code allow} or {@code deny} (any case). */
        public static Action parse(String s) {
            for (Action a : values()) {
                if (a.text().equalsIgnoreCase(s.trim())) {
                    return a;
                }
            }
            throw new IllegalArgumentException("\"" + s + "\": must be allow or deny");
        }
    }

    /** Which traffic a rule is about. */
    public enum Protocol {
        TCP, UDP, ICMP, ANY;

        /** The configuration word. */
        public String text() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** Parses {@code tcp}, {@code udp}, {@code icmp} or {@code any} (any case). */
        public static Protocol parse(String s) {
            for (Protocol p : values()) {
                if (p.text().equalsIgnoreCase(s.trim())) {
                    return p;
                }
            }
            throw new IllegalArgumentException("\"" + s + "\": must be tcp, udp, icmp or any");
        }
    }

    /**
     * A destination prefix. Holds the address bytes (4 for IPv4, 16 for IPv6 later) so the rule shape does not
     * change when IPv6 arrives; {@link #containsIpv4} is the data path's test.
     */
    public static final class Cidr {
        private final byte[] address;
        private final int prefixLength;
        /** IPv4 only: the network and mask as ints. */
        private final int v4Network;
        private final int v4Mask;
        /** IPv6 only: the network and mask as two longs each. */
        private final long v6Hi;
        private final long v6Lo;
        private final long v6MaskHi;
        private final long v6MaskLo;

        private Cidr(byte[] address, int prefixLength) {
            this.address = address;
            this.prefixLength = prefixLength;
            if (address.length == 4) {
                this.v4Network = ((address[0] & 0xFF) << 24) | ((address[1] & 0xFF) << 16) | ((address[2] & 0xFF) << 8)
                        | (address[3] & 0xFF);
                this.v4Mask = Ipv4Address.mask(prefixLength);
                this.v6Hi = this.v6Lo = this.v6MaskHi = this.v6MaskLo = 0;
            } else {
                this.v4Network = 0;
                this.v4Mask = 0;
                Ipv6Address a = Ipv6Address.fromBytes(address);
                this.v6MaskHi = maskHi(prefixLength);
                this.v6MaskLo = maskLo(prefixLength);
                this.v6Hi = a.hi();
                this.v6Lo = a.lo();
            }
        }

        private static long maskHi(int len) {
            return len == 0 ? 0 : len >= 64 ? -1L : -1L << (64 - len);
        }

        private static long maskLo(int len) {
            return len <= 64 ? 0 : len == 128 ? -1L : -1L << (128 - len);
        }

        /** An IPv6 prefix; host bits must be zero. */
        public static Cidr ipv6(Ipv6Address network, int prefixLength) {
            if (prefixLength < 0 || prefixLength > 128) {
                throw new IllegalArgumentException("prefix length " + prefixLength + " is not between 0 and 128");
            }
            if ((network.hi() & ~maskHi(prefixLength)) != 0 || (network.lo() & ~maskLo(prefixLength)) != 0) {
                throw new IllegalArgumentException(network + "/" + prefixLength + " has host bits set (did you mean "
                        + network.prefix(prefixLength) + "/" + prefixLength + "?)");
            }
            return new Cidr(network.toBytes(), prefixLength);
        }

        /** An IPv4 prefix; host bits must be zero. */
        public static Cidr ipv4(int network, int prefixLength) {
            if (prefixLength < 0 || prefixLength > 32) {
                throw new IllegalArgumentException("prefix length " + prefixLength + " is not between 0 and 32");
            }
            if ((network & ~Ipv4Address.mask(prefixLength)) != 0) {
                throw new IllegalArgumentException(Ipv4Address.format(network) + "/" + prefixLength
                        + " has host bits set (did you mean " + Ipv4Address.format(network & Ipv4Address.mask(prefixLength))
                        + "/" + prefixLength + "?)");
            }
            return new Cidr(new byte[] {(byte) (network >>> 24), (byte) (network >>> 16), (byte) (network >>> 8),
                    (byte) network}, prefixLength);
        }

        /**
         * Parses {@code a.b.c.d/n} or {@code v6addr/n}; a bare address means {@code /32} ({@code /128}). Never
         * resolves names.
         */
        public static Cidr parse(String text) {
            String s = text.trim();
            int slash = s.indexOf('/');
            String addr = slash < 0 ? s : s.substring(0, slash);
            if (addr.indexOf(':') >= 0) {
                return parseIpv6(text, s, slash, addr);
            }
            int ip;
            try {
                ip = Ipv4Address.parse(addr);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("\"" + text + "\": not an IPv4 prefix (expected a.b.c.d/n)");
            }
            int len = 32;
            if (slash >= 0) {
                String n = s.substring(slash + 1);
                if (n.isEmpty() || n.length() > 2 || !n.chars().allMatch(c -> c >= '0' && c <= '9')) {
                    throw new IllegalArgumentException("\"" + text + "\": prefix length must be a number between 0 and 32");
                }
                len = Integer.parseInt(n);
            }
            try {
                return ipv4(ip, len);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("\"" + text + "\": " + e.getMessage());
            }
        }

        private static Cidr parseIpv6(String text, String s, int slash, String addr) {
            Ipv6Address a;
            try {
                a = Ipv6Address.parse(addr);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("\"" + text + "\": not an IPv6 prefix (expected addr/n)");
            }
            if (a.isIpv4Mapped()) {
                throw new IllegalArgumentException("\"" + text + "\": write an IPv4 prefix as a.b.c.d/n");
            }
            int len = 128;
            if (slash >= 0) {
                String n = s.substring(slash + 1);
                if (n.isEmpty() || n.length() > 3 || !n.chars().allMatch(c -> c >= '0' && c <= '9')) {
                    throw new IllegalArgumentException("\"" + text + "\": prefix length must be a number between 0 and 128");
                }
                len = Integer.parseInt(n);
            }
            try {
                return ipv6(a, len);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("\"" + text + "\": " + e.getMessage());
            }
        }

        /** Whether the IPv6 address {@code a} is inside this prefix (false for an IPv4 prefix). */
        public boolean containsIpv6(Ipv6Address a) {
            return address.length == 16 && (a.hi() & v6MaskHi) == v6Hi && (a.lo() & v6MaskLo) == v6Lo;
        }

        /** True for an IPv6 prefix. */
        public boolean isIpv6() {
            return address.length == 16;
        }

        /** The prefix length. */
        public int prefixLength() {
            return prefixLength;
        }

        /** A copy of the network address's bytes (4 or 16). */
        public byte[] address() {
            return address.clone();
        }

        /** Whether the IPv4 address {@code ip} is inside this prefix (false for an IPv6 prefix). */
        public boolean containsIpv4(int ip) {
            return address.length == 4 && (ip & v4Mask) == v4Network;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Cidr c && c.prefixLength == prefixLength && Arrays.equals(c.address, address);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(address) * 31 + prefixLength;
        }

        /** {@code a.b.c.d/n} or {@code v6addr/n}. */
        @Override
        public String toString() {
            return (address.length == 4 ? Ipv4Address.format(v4Network) : new Ipv6Address(v6Hi, v6Lo).toString()) + "/"
                    + prefixLength;
        }
    }

    /** A set of ports as ranges, in the order written; {@link #ALL} when a rule has none. */
    public static final class Ports {
        /** Every port. */
        public static final Ports ALL = new Ports(new int[0]);
        /** lo0, hi0, lo1, hi1, ... */
        private final int[] ranges;

        private Ports(int[] ranges) {
            this.ranges = ranges;
        }

        /** Parses {@code "22,8000-8999"}: comma-separated ports (1-65535) and inclusive ranges. */
        public static Ports parse(String text) {
            String s = text.trim();
            if (s.isEmpty()) {
                throw new IllegalArgumentException("\"\": empty port list (leave ports out for every port)");
            }
            String[] parts = s.split(",", -1);
            int[] r = new int[parts.length * 2];
            for (int i = 0; i < parts.length; i++) {
                String p = parts[i].trim();
                int dash = p.indexOf('-');
                int lo = port(dash < 0 ? p : p.substring(0, dash), text);
                int hi = dash < 0 ? lo : port(p.substring(dash + 1), text);
                if (hi < lo) {
                    throw new IllegalArgumentException("\"" + text + "\": range " + p + " ends before it starts");
                }
                r[2 * i] = lo;
                r[2 * i + 1] = hi;
            }
            return new Ports(r);
        }

        private static int port(String s, String text) {
            String t = s.trim();
            if (t.isEmpty() || t.length() > 5 || !t.chars().allMatch(c -> c >= '0' && c <= '9')) {
                throw new IllegalArgumentException("\"" + text + "\": \"" + t + "\" is not a port (1-65535)");
            }
            int v = Integer.parseInt(t);
            if (v < 1 || v > 65535) {
                throw new IllegalArgumentException("\"" + text + "\": port " + v + " is not between 1 and 65535");
            }
            return v;
        }

        /** True when no ports were given. */
        public boolean isAll() {
            return ranges.length == 0;
        }

        /** Whether {@code port} is in the set ({@link #ALL} contains every port). */
        public boolean contains(int port) {
            if (ranges.length == 0) {
                return true;
            }
            for (int i = 0; i < ranges.length; i += 2) {
                if (port >= ranges[i] && port <= ranges[i + 1]) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Ports p && Arrays.equals(p.ranges, ranges);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(ranges);
        }

        /** The canonical text, e.g. {@code 22,8000-8999}; empty for {@link #ALL}. */
        @Override
        public String toString() {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < ranges.length; i += 2) {
                if (i > 0) {
                    b.append(',');
                }
                b.append(ranges[i]);
                if (ranges[i + 1] != ranges[i]) {
                    b.append('-').append(ranges[i + 1]);
                }
            }
            return b.toString();
        }
    }

    /**
     * One rule.
     *
     * @param action what a match does
     * @param cidr the destination prefix (as the guest addressed it)
     * @param protocol which traffic
     * @param ports which destination ports ({@link Ports#ALL} for every port; TCP and UDP only)
     */
    public record Rule(Action action, Cidr cidr, Protocol protocol, Ports ports) {
        public Rule {
            Objects.requireNonNull(action, "action");
            Objects.requireNonNull(cidr, "cidr");
            Objects.requireNonNull(protocol, "protocol");
            Objects.requireNonNull(ports, "ports");
            if (protocol == Protocol.ICMP && !ports.isAll()) {
                throw new IllegalArgumentException("ports do not apply to icmp");
            }
        }

        /** A rule for every port. */
        public Rule(Action action, Cidr cidr, Protocol protocol) {
            this(action, cidr, protocol, Ports.ALL);
        }

        /**
         * Whether this rule matches a new IPv4 flow.
         *
         * @param p {@link Protocol#TCP}, {@link Protocol#UDP} or {@link Protocol#ICMP}
         * @param port the destination port; ignored for ICMP
         */
        public boolean matchesIpv4(Protocol p, int dstIp, int port) {
            return matchesFlow(p, port) && cidr.containsIpv4(dstIp);
        }

        /** Whether this rule matches a new flow to a native IPv6 destination (only IPv6 prefixes can). */
        public boolean matchesIpv6(Protocol p, Ipv6Address dst, int port) {
            return matchesFlow(p, port) && cidr.containsIpv6(dst);
        }

        private boolean matchesFlow(Protocol p, int port) {
            if (protocol != Protocol.ANY && protocol != p) {
                return false;
            }
            return ports.isAll() || (p != Protocol.ICMP && ports.contains(port));
        }

        @Override
        public String toString() {
            return action.text() + " " + cidr + " " + protocol.text() + (ports.isAll() ? "" : " ports " + ports);
        }
    }

    private final List<Rule> rules;

    private EgressPolicy(List<Rule> rules) {
        this.rules = rules;
    }

    /** A policy of these rules, first match wins. */
    public static EgressPolicy of(List<Rule> rules) {
        return rules.isEmpty() ? ALLOW_ALL : new EgressPolicy(List.copyOf(rules));
    }

    /** The rules in order. */
    public List<Rule> rules() {
        return rules;
    }

    /**
     * The rule deciding a new IPv4 flow.
     *
     * @param p {@link Protocol#TCP}, {@link Protocol#UDP} or {@link Protocol#ICMP}
     * @param port the destination port (ignored for ICMP)
     * @return the index of the first matching rule, or -1 (no rule: allowed)
     */
    public int decideIpv4(Protocol p, int dstIp, int port) {
        for (int i = 0; i < rules.size(); i++) {
            if (rules.get(i).matchesIpv4(p, dstIp, port)) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The IPv6 rule deciding a new flow to a native IPv6 destination, or -1 when no IPv6 rule matches (what then
     * happens is {@link EgressFilter}'s choice).
     */
    public int decideIpv6(Protocol p, Ipv6Address dst, int port) {
        for (int i = 0; i < rules.size(); i++) {
            if (rules.get(i).matchesIpv6(p, dst, port)) {
                return i;
            }
        }
        return -1;
    }

    /** Whether a new IPv4 flow is allowed (its deciding rule allows, or none matches). */
    public boolean allowsIpv4(Protocol p, int dstIp, int port) {
        int i = decideIpv4(p, dstIp, port);
        return i < 0 || rules.get(i).action() == Action.ALLOW;
    }

    private static final Set<String> FIELDS = Set.of("action", "cidr", "protocol", "ports");

    /**
     * Reads the configuration shape: a list of maps with {@code action}, {@code cidr}, {@code protocol} and
     * {@code ports}, scalar values (strings; {@code ports} may also be a single number), as a YAML or JSON
     * parser yields them. Unknown fields are refused (a misspelt {@code port} must not silently mean "every
     * port").
     *
     * @param list the parsed list; null means no rules
     * @param where the name in messages, e.g. {@code stack.egress}
     * @throws IllegalArgumentException naming the field at fault, e.g.
     *     {@code stack.egress[1].cidr: "10.0.0.0/33": prefix length 33 is not between 0 and 32}
     */
    public static EgressPolicy fromMaps(List<?> list, String where) {
        if (list == null) {
            return ALLOW_ALL;
        }
        List<Rule> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String at = where + "[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> m)) {
                throw new IllegalArgumentException(at + ": expected a rule (action, cidr, protocol, ports)");
            }
            for (Object k : m.keySet()) {
                if (!FIELDS.contains(String.valueOf(k))) {
                    throw new IllegalArgumentException(at + ": unknown field \"" + k
                            + "\" (a rule has action, cidr, protocol and ports)");
                }
            }
            String action = scalar(m.get("action"), at + ".action", true);
            String cidr = scalar(m.get("cidr"), at + ".cidr", true);
            String protocol = scalar(m.get("protocol"), at + ".protocol", false);
            String ports = scalar(m.get("ports"), at + ".ports", false);
            Action a;
            Cidr c;
            Protocol p;
            Ports ps;
            a = field(at + ".action", () -> Action.parse(action));
            c = field(at + ".cidr", () -> Cidr.parse(cidr));
            p = protocol == null ? Protocol.ANY : field(at + ".protocol", () -> Protocol.parse(protocol));
            ps = ports == null ? Ports.ALL : field(at + ".ports", () -> Ports.parse(ports));
            if (p == Protocol.ICMP && !ps.isAll()) {
                throw new IllegalArgumentException(at + ".ports: ports do not apply to icmp");
            }
            out.add(new Rule(a, c, p, ps));
        }
        return of(out);
    }

    private static <T> T field(String at, java.util.function.Supplier<T> parse) {
        try {
            return parse.get();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(at + ": " + e.getMessage(), e);
        }
    }

    private static String scalar(Object v, String at, boolean required) {
        if (v == null) {
            if (required) {
                throw new IllegalArgumentException(at + ": missing");
            }
            return null;
        }
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof Number n) {
            // A YAML or JSON number: "ports: 22".
            return new BigDecimal(n.toString()).stripTrailingZeros().toPlainString();
        }
        throw new IllegalArgumentException(at + ": expected a string, got " + (v instanceof Map ? "a mapping"
                : v instanceof List ? "a list" : String.valueOf(v)));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EgressPolicy p && p.rules.equals(rules);
    }

    @Override
    public int hashCode() {
        return rules.hashCode();
    }

    @Override
    public String toString() {
        return rules.isEmpty() ? "allow all" : rules.toString();
    }
}
