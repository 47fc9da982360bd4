package dev.gvproxy.forwarder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The family-neutral destination mapping: NAT64, the IPv6 host alias, refusals, and what egress rules see. */
class HostRoutesTest {
    final StackConfig config = StackConfig.defaults();
    final HostRoutes routes = new HostRoutes(config, true, true);

    private HostRoutes.Route route(String a) {
        return routes.route(Ipv6Address.parse(a));
    }

    @Test
    void nat64DecodesTheEmbeddedIpv4AddressUnderTheSameNat() throws Exception {
        HostRoutes.Route r = route("64:ff9b::c612:c80a");
        assertFalse(r.refused());
        assertTrue(r.nat64());
        assertEquals(Ipv4Address.parse("198.18.200.10"), r.policyIpv4());
        assertEquals(InetAddress.getByName("198.18.200.10"), r.host());
        assertTrue(HostRoutes.isNat64(Ipv6Address.parse("64:ff9b::102:304")));
        assertFalse(HostRoutes.isNat64(Ipv6Address.parse("64:ff9b:1::c612:c80a")), "only the /96");

        // 64:ff9b::<IPv4 host alias> is the host, through the stack's NAT, as over IPv4.
        HostRoutes.Route host = route("64:ff9b::c0a8:7ffe");
        assertEquals(config.hostIp(), host.policyIpv4());
        assertEquals(InetAddress.getByName("127.0.0.1"), host.host());
        // The gateway and link-local stay refused through NAT64 too.
        assertEquals(HostRoutes.Refusal.GATEWAY, route("64:ff9b::c0a8:7f01").refusal());
        assertEquals(HostRoutes.Refusal.LINK_LOCAL, route("64:ff9b::a9fe:a9fe").refusal());
        assertEquals(HostRoutes.Refusal.NOT_ROUTABLE, route("64:ff9b::ffff:ffff").refusal());
    }

    @Test
    void nat64OffRefusesThePrefix() {
        HostRoutes off = new HostRoutes(config, false, true);
        assertEquals(HostRoutes.Refusal.NAT64_OFF, off.route(Ipv6Address.parse("64:ff9b::c612:c80a")).refusal());
    }

    @Test
    void ipv6HostAliasIsTheHostLoopbackAndJudgedAsTheIpv4HostAlias() throws Exception {
        Ipv6Address alias = config.ipv6().hostAlias();
        HostRoutes.Route r = routes.route(alias);
        assertEquals(InetAddress.getByName("::1"), r.host());
        assertEquals(config.hostIp(), r.policyIpv4());
        assertFalse(r.nativeIpv6());
        HostRoutes noV6Loopback = new HostRoutes(config, true, false);
        assertEquals(InetAddress.getByName("127.0.0.1"), noV6Loopback.route(alias).host());
    }

    @Test
    void gatewayLinkAndSpecialAddressesHaveNoHostRoute() {
        assertEquals(HostRoutes.Refusal.GATEWAY, routes.route(config.ipv6().gateway()).refusal());
        assertEquals(HostRoutes.Refusal.GATEWAY, route("fe80::1").refusal());
        assertEquals(HostRoutes.Refusal.NOT_ROUTABLE, route("fe80::5").refusal());
        assertEquals(HostRoutes.Refusal.NOT_ROUTABLE, route("fd00:5a94:efe4::77").refusal(), "another guest");
        assertEquals(HostRoutes.Refusal.NOT_ROUTABLE, route("ff02::1").refusal());
        assertEquals(HostRoutes.Refusal.NOT_ROUTABLE, route("::1").refusal(), "the guest's own loopback");
        assertEquals(HostRoutes.Refusal.NOT_ROUTABLE, route("::").refusal());
        HostRoutes.Route n = route("2001:2::2");
        assertTrue(n.nativeIpv6());
        assertFalse(n.refused());
    }

    @Test
    void egressJudgesNat64AsIpv4AndNativeIpv6ConservativelyWhileDenyRulesExist() {
        Counters c = new Counters();
        EgressFilter f = new EgressFilter(c, EgressPolicy.ALLOW_ALL);
        assertFalse(f.denies(EgressPolicy.Protocol.TCP, route("2001:2::2"), 80, false), "no rules: all allowed");
        f.replace(EgressPolicy.of(List.of(new EgressPolicy.Rule(EgressPolicy.Action.DENY,
                EgressPolicy.Cidr.parse("198.18.0.0/15"), EgressPolicy.Protocol.TCP))));
        assertTrue(f.denies(EgressPolicy.Protocol.TCP, route("64:ff9b::c612:c80a"), 80, false));
        assertFalse(f.denies(EgressPolicy.Protocol.TCP, route("64:ff9b::a00:1"), 80, false));
        assertTrue(f.denies(EgressPolicy.Protocol.UDP, route("2001:2::2"), 53, false));
        assertEquals(1, c.get("egress.denied.ipv6"));
        assertEquals(2, c.get("egress.denied"));
        // IPv6 rules decide native IPv6 destinations; ::/0 lets the rest through despite the IPv4 deny rule.
        f.replace(EgressPolicy.of(List.of(
                new EgressPolicy.Rule(EgressPolicy.Action.DENY, EgressPolicy.Cidr.parse("198.18.0.0/15"),
                        EgressPolicy.Protocol.ANY),
                new EgressPolicy.Rule(EgressPolicy.Action.DENY, EgressPolicy.Cidr.parse("2001:2:0:1::/64"),
                        EgressPolicy.Protocol.ANY),
                new EgressPolicy.Rule(EgressPolicy.Action.ALLOW, EgressPolicy.Cidr.parse("::/0"),
                        EgressPolicy.Protocol.ANY))));
        assertTrue(f.denies(EgressPolicy.Protocol.TCP, route("2001:2:0:1::9"), 80, false));
        assertFalse(f.denies(EgressPolicy.Protocol.TCP, route("2001:2::2"), 80, false));
        assertEquals(java.util.List.of(0L, 1L, 1L), f.ruleHits().stream().map(EgressFilter.RuleHits::hits).toList());
        assertEquals(2, c.get("egress.denied.ipv6"));
    }
}
