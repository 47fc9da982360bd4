package dev.gvproxy.forwarder;

import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

/**
 * Where a guest's new flow goes on the host, for both address families: the one place the forwarders (TCP, UDP)
 * turn a destination as the guest addressed it into a host address and into the IPv4 address the egress policy
 * judges, so IPv6 is one code path parameterised by family and not a copy of the IPv4 one.
 *
 * <ul>
 *   <li>IPv4 (IPv4-mapped in the flow key): the stack's NAT ({@link StackConfig#translate}), as before.</li>
 *   <li>The IPv6 host alias: the host's {@code ::1}, or {@code 127.0.0.1} when the host has no IPv6 loopback.
 *       The egress policy sees it as the IPv4 host alias: it is the same host, so a rule denying the host alias
 *       cannot be bypassed by addressing it over IPv6.</li>
 *   <li>NAT64 (RFC 6052 well-known prefix {@code 64:ff9b::/96}): the embedded IPv4 address, handled exactly as
 *       if the guest had addressed it over IPv4: the same NAT (so {@code 64:ff9b::<host alias>} is the host),
 *       the same refusals (the gateway, link-local) and, above all, the same egress rules. NAT64 lets a guest
 *       reach only what it could already reach over IPv4, which is why it is on by default; {@code nat64=false}
 *       refuses the prefix ({@code *.nat64Off}).</li>
 *   <li>Any other global IPv6 address: a host IPv6 socket to it. The egress policy has IPv4 rules only, so while
 *       a policy holds any deny rule a native IPv6 destination is refused (conservative: a deny-list written for
 *       IPv4 must not be bypassed over IPv6), counted as {@code egress.denied.ipv6}.</li>
 *   <li>Refused (no host socket): the gateway's own and on-link addresses (other guests are reached over the
 *       switch), link-local, multicast, loopback and unspecified destinations.</li>
 * </ul>
 */
public final class HostRoutes {
    /** RFC 6052 well-known prefix {@code 64:ff9b::/96}. */
    public static final Ipv6Address NAT64_PREFIX = Ipv6Address.parse("64:ff9b::");

    /** Why a destination has no host route. */
    public enum Refusal { GATEWAY, LINK_LOCAL, NAT64_OFF, NOT_ROUTABLE }

    /**
     * A new flow's destination.
     *
     * @param refusal non-null when the flow is refused (nothing else is meaningful then)
     * @param policyIpv4 the IPv4 address the egress policy and per-destination budgets see (the destination as
     *                   the guest addressed it, NAT64-decoded; the IPv4 host alias for the IPv6 host alias)
     * @param nativeIpv6 true for a native IPv6 destination: {@code policyIpv4} is then only a hash for budgets
     * @param nat64 true when the destination came in through the NAT64 prefix
     * @param host where the host socket connects or sends
     */
    public record Route(Refusal refusal, int policyIpv4, boolean nativeIpv6, boolean nat64, InetAddress host) {
        static Route refused(Refusal r) {
            return new Route(r, 0, false, false, null);
        }

        public boolean refused() {
            return refusal != null;
        }

        /** The host socket address for {@code port}. */
        public InetSocketAddress socket(int port) {
            return new InetSocketAddress(host, port);
        }
    }

    /**
     * One protocol's new-flow counters per family, {@code egress.ipv4|ipv6|nat64.<protocol>}: the TCP, UDP and
     * ICMP forwarders count every host socket they open by its route.
     */
    public record FamilyCounters(dev.gvproxy.stack.Counters.Counter ipv4, dev.gvproxy.stack.Counters.Counter ipv6,
            dev.gvproxy.stack.Counters.Counter nat64) {
        public static FamilyCounters of(dev.gvproxy.stack.Counters c, String protocol) {
            return new FamilyCounters(c.counter("egress.ipv4." + protocol), c.counter("egress.ipv6." + protocol),
                    c.counter("egress.nat64." + protocol));
        }

        /** Counts a new flow: NAT64, else by the family of the host address it goes to. */
        public void count(Route r) {
            (r.nat64() ? nat64 : r.host() instanceof java.net.Inet6Address ? ipv6 : ipv4).inc();
        }
    }

    private final StackConfig config;
    private final boolean nat64;
    private final InetAddress hostLoopback6;

    /**
     * @param nat64 translate {@code 64:ff9b::/96} to IPv4 (default true)
     * @param hostHasIpv6Loopback whether the host's {@code ::1} exists ({@link #hostHasIpv6Loopback()})
     */
    public HostRoutes(StackConfig config, boolean nat64, boolean hostHasIpv6Loopback) {
        this.config = config;
        this.nat64 = nat64;
        this.hostLoopback6 = hostHasIpv6Loopback ? Ipv6Address.LOOPBACK.toInet() : null;
    }

    /** The default: NAT64 on, the host's loopback probed once per process. */
    public static HostRoutes defaults(StackConfig config) {
        return new HostRoutes(config, true, Loopback6.PRESENT);
    }

    private static final class Loopback6 {
        static final boolean PRESENT = probe();
    }

    /** Whether a socket can bind the host's {@code ::1} (a host with IPv6 disabled has none). Probed once. */
    public static boolean hostHasIpv6Loopback() {
        return Loopback6.PRESENT;
    }

    private static boolean probe() {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(Ipv6Address.LOOPBACK.toInet(), 0));
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    public boolean nat64() {
        return nat64;
    }

    /** True for an address in {@code 64:ff9b::/96}. */
    public static boolean isNat64(Ipv6Address a) {
        return a.hi() == NAT64_PREFIX.hi() && (a.lo() >>> 32) == 0;
    }

    /** The IPv4 address embedded in a {@code 64:ff9b::/96} address (RFC 6052 2.2, the /96 layout). */
    public static int nat64Embedded(Ipv6Address a) {
        return (int) a.lo();
    }

    /** The route for a new flow to {@code dst} (as the guest addressed it, IPv4 ones IPv4-mapped). */
    public Route route(Ipv6Address dst) {
        if (dst.isIpv4Mapped()) {
            return ipv4(dst.ipv4(), false);
        }
        if (isNat64(dst)) {
            return nat64 ? ipv4(nat64Embedded(dst), true) : Route.refused(Refusal.NAT64_OFF);
        }
        if (config.ipv6().enabled() && dst.equals(config.ipv6().hostAlias())) {
            InetAddress h = hostLoopback6 != null ? hostLoopback6
                    : Ipv4Address.toInet(config.translate(config.hostIp()));
            return new Route(null, config.hostIp(), false, false, h);
        }
        if (config.isGatewayAddress(dst)) {
            return Route.refused(Refusal.GATEWAY);
        }
        if (config.ipv6().onLink(dst)) {
            return Route.refused(Refusal.NOT_ROUTABLE); // fe80::/10 and the link's /64: other guests, not the host
        }
        if (dst.isMulticast() || dst.isUnspecified() || dst.isLoopback()) {
            return Route.refused(Refusal.NOT_ROUTABLE);
        }
        return new Route(null, Long.hashCode(dst.hi() ^ dst.lo()), true, false, dst.toInet());
    }

    private Route ipv4(int dst, boolean viaNat64) {
        if (dst == 0 || dst == Ipv4Address.BROADCAST || Ipv4Address.isMulticast(dst) || dst == config.broadcast()) {
            return Route.refused(Refusal.NOT_ROUTABLE);
        }
        if (dst == config.gatewayIp() && !config.nat().containsKey(dst)) {
            return Route.refused(Refusal.GATEWAY);
        }
        if (Ipv4Address.isLinkLocal(dst)) {
            return new Route(Refusal.LINK_LOCAL, dst, false, viaNat64, Ipv4Address.toInet(config.translate(dst)));
        }
        return new Route(null, dst, false, viaNat64, Ipv4Address.toInet(config.translate(dst)));
    }
}
