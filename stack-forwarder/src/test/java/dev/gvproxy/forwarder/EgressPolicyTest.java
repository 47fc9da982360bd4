package dev.gvproxy.forwarder;

import static dev.gvproxy.testing.Frames.ip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.forwarder.EgressPolicy.Action;
import dev.gvproxy.forwarder.EgressPolicy.Cidr;
import dev.gvproxy.forwarder.EgressPolicy.Ports;
import dev.gvproxy.forwarder.EgressPolicy.Protocol;
import dev.gvproxy.forwarder.EgressPolicy.Rule;
import dev.gvproxy.stack.Counters;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** Rule matching (first match wins, default allow), the configuration shape and its error messages. */
class EgressPolicyTest {
    /** The README's example: the host alias and the internet, not the host's LAN nor the metadata address. */
    static final EgressPolicy README = EgressPolicy.of(List.of(
            new Rule(Action.ALLOW, Cidr.parse("192.168.127.254/32"), Protocol.ANY),
            new Rule(Action.DENY, Cidr.parse("10.0.0.0/8"), Protocol.ANY),
            new Rule(Action.DENY, Cidr.parse("172.16.0.0/12"), Protocol.ANY),
            new Rule(Action.DENY, Cidr.parse("192.168.0.0/16"), Protocol.ANY),
            new Rule(Action.DENY, Cidr.parse("169.254.169.254"), Protocol.ANY)));

    static Map<String, Object> rule(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @ParameterizedTest(name = "{0} {1}:{2} -> rule {3}")
    @CsvSource({
        "TCP, 192.168.127.254, 22, 0",   // the host alias, before the LAN rule
        "UDP, 10.1.2.3, 53, 1",
        "ICMP, 172.31.255.255, -1, 2",
        "TCP, 172.32.0.1, 443, -1",      // just outside 172.16/12: no rule, allowed
        "TCP, 192.168.1.10, 443, 3",
        "TCP, 169.254.169.254, 80, 4",
        "TCP, 169.254.169.253, 80, -1",  // /32 is exact
        "TCP, 198.18.8.8, 443, -1",
    })
    void firstMatchDecides(Protocol p, String dst, int port, int expected) {
        assertEquals(expected, README.decideIpv4(p, ip(dst), port));
        assertEquals(expected < 0 || expected == 0, README.allowsIpv4(p, ip(dst), port));
    }

    @Test
    void protocolsAndPortsNarrowARule() {
        EgressPolicy p = EgressPolicy.of(List.of(
                new Rule(Action.DENY, Cidr.parse("0.0.0.0/0"), Protocol.TCP, Ports.parse("22, 8000-8999")),
                new Rule(Action.DENY, Cidr.parse("198.18.0.0/15"), Protocol.UDP),
                new Rule(Action.DENY, Cidr.parse("198.18.0.0/15"), Protocol.ANY, Ports.parse("7"))));
        assertEquals(0, p.decideIpv4(Protocol.TCP, ip("1.2.3.4"), 22));
        assertEquals(0, p.decideIpv4(Protocol.TCP, ip("1.2.3.4"), 8000));
        assertEquals(0, p.decideIpv4(Protocol.TCP, ip("1.2.3.4"), 8999));
        assertEquals(-1, p.decideIpv4(Protocol.TCP, ip("1.2.3.4"), 9000));
        assertEquals(-1, p.decideIpv4(Protocol.UDP, ip("1.2.3.4"), 22), "tcp only");
        assertEquals(1, p.decideIpv4(Protocol.UDP, ip("198.19.255.1"), 22));
        assertEquals(2, p.decideIpv4(Protocol.TCP, ip("198.18.0.1"), 7), "any = tcp and udp with ports");
        assertEquals(-1, p.decideIpv4(Protocol.ICMP, ip("198.18.0.1"), -1), "a rule with ports never matches icmp");
        assertEquals(-1, p.decideIpv4(Protocol.TCP, ip("198.20.0.1"), 7));
        assertTrue(EgressPolicy.ALLOW_ALL.allowsIpv4(Protocol.TCP, ip("10.0.0.1"), 22), "default allow");
    }

    @Test
    void theConfigurationShapeIsReadFromYamlOrJsonValues() {
        EgressPolicy p = EgressPolicy.fromMaps(List.of(
                rule("action", "deny", "cidr", "10.0.0.0/8", "protocol", "tcp", "ports", "22,8000-8999"),
                rule("action", "ALLOW", "cidr", "192.168.127.254"),
                rule("action", "deny", "cidr", "198.18.0.0/15", "protocol", "udp", "ports", 53),
                rule("action", "deny", "cidr", "198.18.0.0/15", "ports", new BigDecimal("5353"))), "stack.egress");
        assertEquals(4, p.rules().size());
        Rule r = p.rules().get(0);
        assertEquals(Action.DENY, r.action());
        assertEquals("10.0.0.0/8", r.cidr().toString());
        assertEquals(Protocol.TCP, r.protocol());
        assertEquals("22,8000-8999", r.ports().toString());
        assertEquals("192.168.127.254/32", p.rules().get(1).cidr().toString());
        assertEquals(Protocol.ANY, p.rules().get(1).protocol(), "protocol defaults to any");
        assertTrue(p.rules().get(1).ports().isAll(), "no ports: every port");
        assertEquals("53", p.rules().get(2).ports().toString());
        assertEquals("5353", p.rules().get(3).ports().toString());
        assertSame(EgressPolicy.ALLOW_ALL, EgressPolicy.fromMaps(List.of(), "x"));
        assertSame(EgressPolicy.ALLOW_ALL, EgressPolicy.fromMaps(null, "x"));
        assertEquals(p, EgressPolicy.fromMaps(List.of(
                rule("action", "deny", "cidr", "10.0.0.0/8", "protocol", "tcp", "ports", "22,8000-8999"),
                rule("action", "allow", "cidr", "192.168.127.254/32", "protocol", "any"),
                rule("action", "deny", "cidr", "198.18.0.0/15", "protocol", "udp", "ports", "53"),
                rule("action", "deny", "cidr", "198.18.0.0/15", "ports", "5353")), "y"), "a value");
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource(delimiter = '|', value = {
        "cidr=10.0.0.0/33 | stack.egress[0].cidr: \"10.0.0.0/33\": prefix length 33 is not between 0 and 32",
        "cidr=10.0.0.1/8 | stack.egress[0].cidr: \"10.0.0.1/8\": 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)",
        "cidr=10.0.0/8 | stack.egress[0].cidr: \"10.0.0/8\": not an IPv4 prefix (expected a.b.c.d/n)",
        "cidr=lan.invalid | stack.egress[0].cidr: \"lan.invalid\": not an IPv4 prefix (expected a.b.c.d/n)",
        "cidr=10.0.0.0/x | stack.egress[0].cidr: \"10.0.0.0/x\": prefix length must be a number between 0 and 32",
        "cidr=fd00::1/8 | stack.egress[0].cidr: \"fd00::1/8\": fd00::1/8 has host bits set (did you mean fd00::/8?)",
        "cidr=2001:2::/129 | stack.egress[0].cidr: \"2001:2::/129\": prefix length 129 is not between 0 and 128",
        "cidr=2001:zz::/32 | stack.egress[0].cidr: \"2001:zz::/32\": not an IPv6 prefix (expected addr/n)",
        "cidr=::ffff:10.0.0.0/104 | stack.egress[0].cidr: \"::ffff:10.0.0.0/104\": write an IPv4 prefix as a.b.c.d/n",
        "protocol=sctp | stack.egress[0].protocol: \"sctp\": must be tcp, udp, icmp or any",
        "action=reject | stack.egress[0].action: \"reject\": must be allow or deny",
        "ports=0 | stack.egress[0].ports: \"0\": port 0 is not between 1 and 65535",
        "ports=70000 | stack.egress[0].ports: \"70000\": port 70000 is not between 1 and 65535",
        "ports=9-1 | stack.egress[0].ports: \"9-1\": range 9-1 ends before it starts",
        "ports=22;23 | stack.egress[0].ports: \"22;23\": \"22;23\" is not a port (1-65535)",
        "ports=22, | stack.egress[0].ports: \"22,\": \"\" is not a port (1-65535)",
        "ports= | stack.egress[0].ports: \"\": empty port list (leave ports out for every port)",
        "port=22 | stack.egress[0]: unknown field \"port\" (a rule has action, cidr, protocol and ports)",
    })
    void badRulesAreRefusedWithTheFieldAtFault(String change, String message) {
        Map<String, Object> r = rule("action", "deny", "cidr", "10.0.0.0/8", "protocol", "tcp");
        String[] kv = change.split("=", 2);
        r.put(kv[0], kv[1]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EgressPolicy.fromMaps(List.of(r), "stack.egress"));
        assertEquals(message, e.getMessage());
    }

    @Test
    void otherShapesAreRefused() {
        assertEquals("e[0].action: missing", assertThrows(IllegalArgumentException.class,
                () -> EgressPolicy.fromMaps(List.of(rule("cidr", "10.0.0.0/8")), "e")).getMessage());
        assertEquals("e[1].cidr: missing", assertThrows(IllegalArgumentException.class,
                () -> EgressPolicy.fromMaps(List.of(rule("action", "deny", "cidr", "1.0.0.0/8"), rule("action", "deny")),
                        "e")).getMessage());
        assertEquals("e[0]: expected a rule (action, cidr, protocol, ports)", assertThrows(IllegalArgumentException.class,
                () -> EgressPolicy.fromMaps(List.of("deny 10.0.0.0/8"), "e")).getMessage());
        assertEquals("e[0].ports: ports do not apply to icmp", assertThrows(IllegalArgumentException.class,
                () -> EgressPolicy.fromMaps(List.of(rule("action", "deny", "cidr", "10.0.0.0/8", "protocol", "icmp",
                        "ports", "7")), "e")).getMessage());
        assertEquals("e[0].cidr: expected a string, got a list", assertThrows(IllegalArgumentException.class,
                () -> EgressPolicy.fromMaps(List.of(rule("action", "deny", "cidr", List.of("10.0.0.0/8"))), "e"))
                .getMessage());
        assertEquals("e[0].ports: \"1.5\": \"1.5\" is not a port (1-65535)", assertThrows(IllegalArgumentException.class,
                () -> EgressPolicy.fromMaps(List.of(rule("action", "deny", "cidr", "10.0.0.0/8", "ports",
                        new BigDecimal("1.5"))), "e")).getMessage());
    }

    @Test
    void ipv6PrefixesMatchIpv6DestinationsOnly() {
        Cidr c = Cidr.parse("2001:2::/48");
        assertTrue(c.isIpv6());
        assertEquals(48, c.prefixLength());
        assertEquals("2001:2::/48", c.toString());
        assertTrue(c.containsIpv6(dev.gvproxy.stack.wire.Ipv6Address.parse("2001:2:0:ffff::1")));
        assertFalse(c.containsIpv6(dev.gvproxy.stack.wire.Ipv6Address.parse("2001:2:1::1")));
        assertFalse(c.containsIpv4(ip("32.1.0.2")), "an IPv6 prefix never matches IPv4");
        assertTrue(Cidr.parse("::/0").containsIpv6(dev.gvproxy.stack.wire.Ipv6Address.parse("ff02::1")));
        assertTrue(Cidr.parse("2001:2::99").containsIpv6(dev.gvproxy.stack.wire.Ipv6Address.parse("2001:2::99")));
        assertFalse(Cidr.parse("0.0.0.0/0").containsIpv6(dev.gvproxy.stack.wire.Ipv6Address.parse("2001:2::1")));
        EgressPolicy p = EgressPolicy.of(List.of(new Rule(Action.ALLOW, Cidr.parse("2001:2::/64"), Protocol.TCP,
                Ports.parse("443")), new Rule(Action.DENY, Cidr.parse("2001:2::/48"), Protocol.ANY)));
        assertEquals(0, p.decideIpv6(Protocol.TCP, dev.gvproxy.stack.wire.Ipv6Address.parse("2001:2::5"), 443));
        assertEquals(1, p.decideIpv6(Protocol.TCP, dev.gvproxy.stack.wire.Ipv6Address.parse("2001:2::5"), 80));
        assertEquals(-1, p.decideIpv6(Protocol.UDP, dev.gvproxy.stack.wire.Ipv6Address.parse("2001:3::5"), 53));
    }

    @Test
    void cidrsAreValuesReadyForIpv6() {
        Cidr c = Cidr.parse(" 198.18.0.0/15 ");
        assertEquals(Cidr.ipv4(ip("198.18.0.0"), 15), c);
        assertEquals(15, c.prefixLength());
        assertEquals(4, c.address().length);
        assertFalse(c.isIpv6());
        assertTrue(c.containsIpv4(ip("198.19.1.1")));
        assertFalse(c.containsIpv4(ip("198.20.0.0")));
        assertTrue(Cidr.parse("0.0.0.0/0").containsIpv4(ip("255.255.255.255")));
    }

    @Test
    void theFilterCountsDenialsGloballyPerProtocolAndPerRule() {
        Counters counters = new Counters();
        EgressFilter f = new EgressFilter(counters, README);
        assertFalse(f.deniesIpv4(Protocol.TCP, ip("192.168.127.254"), 22));
        assertTrue(f.deniesIpv4(Protocol.TCP, ip("10.0.0.1"), 22));
        assertTrue(f.deniesIpv4(Protocol.UDP, ip("10.0.0.1"), 53));
        assertTrue(f.deniesIpv4(Protocol.ICMP, ip("192.168.0.1"), -1));
        assertFalse(f.deniesIpv4(Protocol.TCP, ip("198.18.8.8"), 443), "no rule: allowed, no rule counted");
        assertFalse(f.deniesIpv4Again(Protocol.TCP, ip("192.168.127.254"), 22), "a re-check of an allowed flow");
        assertEquals(List.of(1L, 2L, 0L, 1L, 0L), f.ruleHits().stream().map(EgressFilter.RuleHits::hits).toList());
        assertEquals(3, counters.get("egress.denied"));
        assertEquals(1, counters.get("egress.denied.tcp"));
        assertEquals(1, counters.get("egress.denied.udp"));
        assertEquals(1, counters.get("egress.denied.icmp"));

        f.replace(EgressPolicy.of(List.of(new Rule(Action.DENY, Cidr.parse("198.18.8.8"), Protocol.TCP))));
        assertEquals(List.of(0L), f.ruleHits().stream().map(EgressFilter.RuleHits::hits).toList(),
                "a new policy's rules start at zero");
        assertTrue(f.deniesIpv4(Protocol.TCP, ip("198.18.8.8"), 443));
        assertEquals(1, f.ruleHits().get(0).hits());
        assertEquals(4, counters.get("egress.denied"), "the global counters keep counting");
        assertEquals(1, counters.get("egress.policyReplaced"));
    }
}
