package dev.gvproxy.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.gvproxy.forwarder.EgressFilter;
import dev.gvproxy.forwarder.EgressPolicy;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The egress policy through the facade: built in, read, replaced (hit counts restart), counters in stats. */
class EgressFacadeTest {
    @Test
    void thePolicyIsBuiltInReadAndReplaced() throws Exception {
        EgressPolicy initial = EgressPolicy.fromMaps(List.of(Map.of("action", "deny", "cidr", "10.0.0.0/8")), "egress");
        try (VirtualNetwork net = VirtualNetwork.builder().egress(initial).build()) {
            assertSame(initial, net.egress());
            assertEquals(List.of(new EgressFilter.RuleHits(0, initial.rules().get(0), 0)), net.egressRuleHits());
            assertEquals(0L, net.stats().get("egress.denied"), "the counters exist from the start");
            EgressPolicy next = EgressPolicy.fromMaps(List.of(Map.of("action", "deny", "cidr", "198.18.0.0/15",
                    "protocol", "udp", "ports", "53")), "egress");
            assertEquals(0, net.setEgress(next, true).get(10, TimeUnit.SECONDS), "no flows to close");
            assertSame(next, net.egress());
            assertEquals(1, net.egressRuleHits().size());
            assertEquals(1L, net.stats().get("egress.policyReplaced"));
        }
        try (VirtualNetwork net = VirtualNetwork.builder().build()) {
            assertSame(EgressPolicy.ALLOW_ALL, net.egress(), "default: allow everything, as gvproxy");
        }
    }
}
