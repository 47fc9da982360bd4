package dev.gvproxy.forwarder;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.Ipv6Address;
import java.net.Inet6Address;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A network's live {@link EgressPolicy}: the forwarders ask it about every new guest flow at the point where
 * they would re-originate it (TCP before the host connect, UDP before the flow's host socket, ICMP echo before
 * its ping socket), and it counts the answers.
 *
 * <p><b>Counters.</b> Every denial is counted globally, {@code egress.denied} and per protocol
 * ({@code egress.denied.tcp}, {@code .udp}, {@code .icmp}), and per rule: each rule has a hit count (decisions it
 * made: for a deny rule its denials, for an allow rule the flows it let through), read with {@link #ruleHits()}.
 * Per-rule counts belong to one policy: {@link #replace} starts the new rules at zero (rule 3 of the new list is
 * not rule 3 of the old one), while the global counters keep counting. {@code egress.policyReplaced} counts
 * replacements, {@code egress.flowsClosed} flows closed because a new policy denied them.
 *
 * <p>Threading: {@link #deniesIpv4} runs on the network's event loop; the policy and the hit counts are readable
 * from any thread (the API's {@code /stats}, a metrics exporter); {@link #replace} should run on the loop so
 * that a replacement and the flows it closes are one step for the forwarders.
 */
public final class EgressFilter {
    /** A policy with its per-rule hit counts, swapped together. */
    private record Live(EgressPolicy policy, AtomicLongArray hits) {}

    /**
     * One rule's count.
     *
     * @param index the rule's position in the policy (0-based)
     * @param rule the rule
     * @param hits decisions the rule made since the policy was set
     */
    public record RuleHits(int index, EgressPolicy.Rule rule, long hits) {}

    private volatile Live live;
    private final Counters.Counter denied;
    private final Counters.Counter deniedTcp;
    private final Counters.Counter deniedUdp;
    private final Counters.Counter deniedIcmp;
    private final Counters.Counter deniedIpv6;
    private final Counters.Counter replaced;
    private final Counters.Counter flowsClosed;

    public EgressFilter(Counters counters, EgressPolicy policy) {
        this.live = new Live(Objects.requireNonNull(policy), new AtomicLongArray(policy.rules().size()));
        this.denied = counters.counter("egress.denied");
        this.deniedTcp = counters.counter("egress.denied.tcp");
        this.deniedUdp = counters.counter("egress.denied.udp");
        this.deniedIcmp = counters.counter("egress.denied.icmp");
        this.deniedIpv6 = counters.counter("egress.denied.ipv6");
        this.replaced = counters.counter("egress.policyReplaced");
        this.flowsClosed = counters.counter("egress.flowsClosed");
    }

    /** The current policy. Any thread. */
    public EgressPolicy policy() {
        return live.policy();
    }

    /**
     * Decides a new IPv4 flow and counts the decision. Event loop only.
     *
     * @param p {@link EgressPolicy.Protocol#TCP}, {@code UDP} or {@code ICMP}
     * @param dstIp the destination as the guest addressed it (before NAT)
     * @param port the destination port (ignored for ICMP)
     * @return true when the flow must be refused
     */
    public boolean deniesIpv4(EgressPolicy.Protocol p, int dstIp, int port) {
        return decide(p, dstIp, null, port, true);
    }

    /**
     * {@link #deniesIpv4} for a flow that was already allowed once and is checked again (a SYN that waited for a
     * connect slot while the policy may have changed): only a denial is counted, so waiting does not inflate an
     * allow rule's hits. Event loop only.
     */
    public boolean deniesIpv4Again(EgressPolicy.Protocol p, int dstIp, int port) {
        return decide(p, dstIp, null, port, false);
    }

    /**
     * Decides a new flow of either family by its {@link HostRoutes.Route}: an IPv4 or NAT64 destination by the
     * IPv4 rules ({@link #deniesIpv4}); a native IPv6 destination by the IPv6 rules, and one no IPv6 rule matches
     * is refused while the policy holds any deny rule (an IPv4 deny-list is not bypassed over IPv6: allow
     * {@code ::/0} explicitly to let IPv6 through). IPv6 denials are counted also as {@code egress.denied.ipv6}.
     * Event loop only.
     *
     * @param again a re-check of a flow already allowed once ({@link #deniesIpv4Again})
     */
    public boolean denies(EgressPolicy.Protocol p, HostRoutes.Route r, int port, boolean again) {
        return decide(p, r.policyIpv4(), r.nativeIpv6() ? (Inet6Address) r.host() : null, port, !again);
    }

    static boolean hasDenyRule(EgressPolicy policy) {
        for (EgressPolicy.Rule r : policy.rules()) {
            if (r.action() == EgressPolicy.Action.DENY) {
                return true;
            }
        }
        return false;
    }

    /**
     * The one decision path of both families: finds the deciding rule, asks {@link #refuses} and counts the
     * answer (the rule's hit, and for a denial the global, per-protocol and, for IPv6, {@code egress.denied.ipv6}
     * counters).
     *
     * @param dstIp the IPv4 destination (or NAT64's embedded one); unused when {@code nativeIpv6} is set
     * @param nativeIpv6 a native IPv6 destination, or null for an IPv4 one (converted only when there are rules)
     * @param countAllow whether an allow rule's hit is counted (false for a re-check)
     */
    private boolean decide(EgressPolicy.Protocol p, int dstIp, Inet6Address nativeIpv6, int port,
            boolean countAllow) {
        Live l = live;
        EgressPolicy policy = l.policy();
        if (policy.rules().isEmpty()) {
            return false;
        }
        boolean ipv6 = nativeIpv6 != null;
        int i = ipv6 ? policy.decideIpv6(p, Ipv6Address.fromInet(nativeIpv6), port) : policy.decideIpv4(p, dstIp, port);
        boolean refused = refuses(policy, i, ipv6);
        if (i >= 0 && (refused || countAllow)) {
            l.hits().incrementAndGet(i);
        }
        if (!refused) {
            return false;
        }
        if (ipv6) {
            deniedIpv6.inc();
        }
        countDenied(p);
        return true;
    }

    /**
     * Whether the rule at index {@code i} ({@link EgressPolicy#decideIpv4} or {@link EgressPolicy#decideIpv6}'s
     * answer, -1 for no match) refuses the flow. With no matching rule an IPv4 flow is allowed, a native IPv6 one
     * refused while the policy holds a deny rule (an allow-only policy has nothing to bypass).
     */
    static boolean refuses(EgressPolicy policy, int i, boolean nativeIpv6) {
        return i >= 0 ? policy.rules().get(i).action() == EgressPolicy.Action.DENY
                : nativeIpv6 && hasDenyRule(policy);
    }

    private void countDenied(EgressPolicy.Protocol p) {
        denied.inc();
        switch (p) {
            case TCP -> deniedTcp.inc();
            case UDP -> deniedUdp.inc();
            case ICMP -> deniedIcmp.inc();
            default -> { }
        }
    }

    /** Whether {@code p} would refuse a new flow, without counting (for closing existing flows). */
    static boolean wouldDeny(EgressPolicy policy, EgressPolicy.Protocol p, int dstIp, int port) {
        return refuses(policy, policy.decideIpv4(p, dstIp, port), false);
    }

    /** {@link #wouldDeny} for a native IPv6 destination, with {@link #denies}'s default for no IPv6 rule. */
    static boolean wouldDenyIpv6(EgressPolicy policy, EgressPolicy.Protocol p, Ipv6Address dst, int port) {
        return refuses(policy, policy.decideIpv6(p, dst, port), true);
    }

    /**
     * Installs a new policy; its rules' hit counts start at zero. Existing flows are kept: {@link #closeDenied}
     * closes those the new policy would refuse.
     */
    public void replace(EgressPolicy policy) {
        live = new Live(Objects.requireNonNull(policy), new AtomicLongArray(policy.rules().size()));
        replaced.inc();
    }

    /**
     * Closes the guest flows the current policy would refuse if they were new: TCP connections are reset towards
     * the guest and their host sockets closed (a connect still in flight is abandoned and its SYN dropped, so the
     * guest's retransmission meets the new rules), UDP and ICMP flows lose their host sockets. Event loop only.
     *
     * @param flows the network's flow ledger (every flow that holds a host socket is registered there)
     * @return how many flows were closed (also counted as {@code egress.flowsClosed})
     */
    public int closeDenied(GuestFlows flows) {
        EgressPolicy policy = live.policy();
        if (policy.rules().isEmpty()) {
            return 0;
        }
        int n = flows.abortWhere(f -> f.hasTarget() && (f.targetIpv6() != null
                ? wouldDenyIpv6(policy, protocolOf(f.kind()), f.targetIpv6(), f.targetPort())
                : wouldDeny(policy, protocolOf(f.kind()), f.targetIp(), f.targetPort())));
        flowsClosed.add(n);
        return n;
    }

    static EgressPolicy.Protocol protocolOf(GuestFlows.Kind kind) {
        return switch (kind) {
            case TCP -> EgressPolicy.Protocol.TCP;
            case UDP -> EgressPolicy.Protocol.UDP;
            case ICMP -> EgressPolicy.Protocol.ICMP;
        };
    }

    /** The current policy's rules with their hit counts, in order. Any thread. */
    public List<RuleHits> ruleHits() {
        Live l = live;
        List<RuleHits> out = new ArrayList<>(l.policy().rules().size());
        for (int i = 0; i < l.policy().rules().size(); i++) {
            out.add(new RuleHits(i, l.policy().rules().get(i), l.hits().get(i)));
        }
        return out;
    }
}
