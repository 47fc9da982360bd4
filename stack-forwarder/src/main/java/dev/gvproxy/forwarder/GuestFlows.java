package dev.gvproxy.forwarder;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.DeadlineSource;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.MacAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Who owns which host resources: every flow a guest makes the host hold (a TCP connection's host socket, a
 * UDP NAT flow, a ping socket, a host connect in flight) is registered here under its owner, the source MAC
 * of the frame that created it, and charged against budgets per guest and per network (DESIGN.md "The guest
 * is untrusted"). A guest is its switch port ({@link VirtualSwitch#portOf}), or the bare MAC when the port is
 * not known, so one VM with many MACs still has one budget.
 *
 * <p><b>Budgets</b> ({@link Limits}): host sockets per guest and per network, derived from the process's
 * descriptor limit with a reserve kept for the API, listeners and new VMs; UDP flows and ICMP flows per
 * guest; half-open connects (SYN received, host connect pending) per guest and per destination, so neither
 * one guest nor one black-holed destination can hold the connects of the others. Every refusal is counted
 * under {@code budget.*}.
 *
 * <p><b>A VM that leaves takes its flows with it.</b> When a port closes, the switch reports each of its MACs
 * {@linkplain VirtualSwitch.MacListener#closed closed}; if the MAC is not {@linkplain
 * VirtualSwitch.MacListener#established established} again (on any port) within the grace period, every
 * flow it owns is aborted and its host sockets closed ({@code budget.flowsAbortedOnLeave}). A guest agent
 * restarted within the grace period finds its connections where they were: the gateway's TCP state is kept
 * while the port is gone, and retransmission carries the transfer over the gap.
 *
 * <p>Time is injected: {@link #poll} runs due aborts, {@link #nextDeadline} says when. Event-loop only.
 */
public final class GuestFlows implements VirtualSwitch.MacListener, DeadlineSource {
    private static final Logger LOG = Logger.getLogger(GuestFlows.class.getName());

    /** What a flow holds on the host. */
    public enum Kind { TCP, UDP, ICMP }

    /**
     * Budgets of one network.
     *
     * @param socketsPerNetwork host sockets all guests of the network may hold (TCP, UDP, ICMP and connects
     *     in flight together)
     * @param socketsPerGuest host sockets one guest may hold
     * @param udpFlowsPerGuest UDP NAT flows of one guest
     * @param icmpFlowsPerGuest ping sockets of one guest
     * @param halfOpenPerGuest host connects in flight for one guest
     * @param halfOpenPerDestination host connects in flight to one destination address and port
     * @param graceNanos how long a departed MAC's flows are kept for it to come back
     */
    public record Limits(int socketsPerNetwork, int socketsPerGuest, int udpFlowsPerGuest, int icmpFlowsPerGuest,
            int halfOpenPerGuest, int halfOpenPerDestination, long graceNanos) {
        /** Descriptors kept free for the API, listeners, log files and new VMs' transports. */
        public static final int DESCRIPTOR_RESERVE = 256;

        public Limits {
            if (socketsPerNetwork <= 0 || socketsPerGuest <= 0 || udpFlowsPerGuest <= 0 || icmpFlowsPerGuest <= 0
                    || halfOpenPerGuest <= 0 || halfOpenPerDestination <= 0 || graceNanos < 0) {
                throw new IllegalArgumentException("budgets must be positive");
            }
        }

        /**
         * Defaults derived from a descriptor limit: the network may use all of it but {@link #DESCRIPTOR_RESERVE}
         * (at least 64), one guest a quarter of that, so at least four guests fit before the network is full;
         * UDP flows per guest a quarter of the guest's sockets (at most 1024), ICMP flows 64; 64 connects in
         * flight per guest and 64 per destination (a responsive destination frees its slots within
         * milliseconds; a black-holed one holds them for the connect timeout); 30 s of grace.
         */
        public static Limits forDescriptorLimit(long nofile) {
            int network = (int) Math.max(64, Math.min(Integer.MAX_VALUE, nofile - DESCRIPTOR_RESERVE));
            int guest = Math.max(16, network / 4);
            return new Limits(network, guest, Math.min(1024, Math.max(4, guest / 4)), Math.min(64, guest), 256, 64,
                    TimeUnit.SECONDS.toNanos(30));
        }

        /** {@link #forDescriptorLimit} of this process's {@code RLIMIT_NOFILE}. */
        public static Limits defaults() {
            return forDescriptorLimit(descriptorLimit());
        }

        public Limits withSockets(int perNetwork, int perGuest) {
            return new Limits(perNetwork, perGuest, udpFlowsPerGuest, icmpFlowsPerGuest, halfOpenPerGuest,
                    halfOpenPerDestination, graceNanos);
        }

        public Limits withFlows(int udpPerGuest, int icmpPerGuest) {
            return new Limits(socketsPerNetwork, socketsPerGuest, udpPerGuest, icmpPerGuest, halfOpenPerGuest,
                    halfOpenPerDestination, graceNanos);
        }

        public Limits withHalfOpen(int perGuest, int perDestination) {
            return new Limits(socketsPerNetwork, socketsPerGuest, udpFlowsPerGuest, icmpFlowsPerGuest, perGuest,
                    perDestination, graceNanos);
        }

        public Limits withGraceNanos(long v) {
            return new Limits(socketsPerNetwork, socketsPerGuest, udpFlowsPerGuest, icmpFlowsPerGuest,
                    halfOpenPerGuest, halfOpenPerDestination, v);
        }
    }

    /** The process's open-file limit ({@code RLIMIT_NOFILE}, soft). */
    public static long descriptorLimit() {
        return dev.gvproxy.platform.DescriptorLimit.get();
    }

    /** One registered flow; {@link #release} when its host resources are gone. */
    public final class Flow {
        final long mac;
        /** The budget key charged (re-keyed when the MAC comes back on a new port). */
        Object guest;
        final Kind kind;
        private Runnable abort;
        private long destination = -1;
        private boolean released;
        /** The destination as the guest addressed it (before NAT), for the egress policy; -1 port = none. */
        private int targetIp;
        /** A native IPv6 destination, else null (then {@link #targetIp} holds the IPv4 one). */
        private dev.gvproxy.stack.wire.Ipv6Address targetIpv6;
        private int targetPort = -1;
        private boolean hasTarget;

        private Flow(long mac, Object guest, Kind kind, Runnable abort) {
            this.mac = mac;
            this.guest = guest;
            this.kind = kind;
            this.abort = abort;
        }

        /** The owner's MAC. */
        public long mac() {
            return mac;
        }

        /** Sets what aborting this flow does (close its host socket, reset its guest connection). */
        public void onAbort(Runnable r) {
            this.abort = r;
        }

        /**
         * Records where the flow goes as the guest addressed it (before NAT), so a new egress policy can find
         * the flows it denies ({@link #abortWhere}).
         *
         * @param port the destination port, -1 for ICMP
         */
        public void target(int ip, int port) {
            this.targetIp = ip;
            this.targetPort = port;
            this.hasTarget = true;
        }

        /** {@link #target(int, int)} for a native IPv6 destination. */
        public void target(dev.gvproxy.stack.wire.Ipv6Address ip, int port) {
            this.targetIpv6 = ip;
            this.targetPort = port;
            this.hasTarget = true;
        }

        /**
         * Records the destination by its route, as the egress policy judges it: a native IPv6 one as itself,
         * anything else (IPv4, NAT64, the IPv6 host alias) as the route's IPv4 address.
         *
         * @param dst the destination as the guest addressed it
         */
        public void target(HostRoutes.Route route, dev.gvproxy.stack.wire.Ipv6Address dst, int port) {
            if (route.nativeIpv6()) {
                target(dst, port);
            } else {
                target(route.policyIpv4(), port);
            }
        }

        /** The native IPv6 destination the guest addressed, or null for an IPv4 (or NAT64) one. */
        public dev.gvproxy.stack.wire.Ipv6Address targetIpv6() {
            return targetIpv6;
        }

        /** Whether {@link #target} was recorded. */
        public boolean hasTarget() {
            return hasTarget;
        }

        /** The destination the guest addressed (valid when {@link #hasTarget}). */
        public int targetIp() {
            return targetIp;
        }

        /** The destination port the guest addressed, -1 for ICMP. */
        public int targetPort() {
            return targetPort;
        }

        /** What the flow holds on the host. */
        public Kind kind() {
            return kind;
        }

        /** The host connect finished (either way): no longer half-open. */
        public void connected() {
            if (destination != -1) {
                endHalfOpen(this);
            }
        }

        /** The host resources are gone; idempotent. */
        public void release() {
            if (!released) {
                released = true;
                GuestFlows.this.release(this);
            }
        }

        @Override
        public String toString() {
            return kind + " flow of " + MacAddress.format(mac);
        }
    }

    private static final class Usage {
        int sockets;
        int udp;
        int icmp;
        int halfOpen;
    }

    private final VirtualSwitch sw;
    private final LongSupplier clock;
    private LongConsumer wakeup = d -> { };
    private final Limits limits;
    private final HashMap<Object, Usage> usage = new HashMap<>();
    private final HashMap<Long, LinkedHashSet<Flow>> byMac = new HashMap<>();
    private final HashMap<Long, Integer> halfOpenByDestination = new HashMap<>();
    /** MACs whose port closed, with the time their flows are aborted unless they come back. */
    private final HashMap<Long, Long> leaving = new HashMap<>();
    private int sockets;

    private final Counters.Counter socketsGuest;
    private final Counters.Counter socketsNetwork;
    private final Counters.Counter udpGuest;
    private final Counters.Counter icmpGuest;
    private final Counters.Counter halfOpenGuest;
    private final Counters.Counter halfOpenDestination;
    private final Counters.Counter aborted;
    private final Counters.Counter returned;

    public GuestFlows(VirtualSwitch sw, Counters counters, LongSupplier clock, Limits limits) {
        this.sw = sw;
        this.clock = clock;
        this.limits = limits;
        this.socketsGuest = counters.counter("budget.hostSocketsPerGuest");
        this.socketsNetwork = counters.counter("budget.hostSocketsPerNetwork");
        this.udpGuest = counters.counter("budget.udpFlowsPerGuest");
        this.icmpGuest = counters.counter("budget.icmpFlowsPerGuest");
        this.halfOpenGuest = counters.counter("budget.halfOpenPerGuest");
        this.halfOpenDestination = counters.counter("budget.halfOpenPerDestination");
        this.aborted = counters.counter("budget.flowsAbortedOnLeave");
        this.returned = counters.counter("budget.guestReturned");
    }

    /** Creates the ledger and subscribes it to the switch's MAC events. */
    public static GuestFlows install(VirtualSwitch sw, Counters counters, LongSupplier clock, Limits limits) {
        GuestFlows g = new GuestFlows(sw, counters, clock, limits);
        sw.addListener(g);
        return g;
    }

    /**
     * Where to tell a deadline that appeared outside frame processing (a guest left): the stack's
     * {@link dev.gvproxy.stack.NetworkStack#wakeup}. Until set, nobody is told (tests poll by hand).
     */
    public void setWakeup(LongConsumer wakeup) {
        this.wakeup = wakeup;
    }

    public Limits limits() {
        return limits;
    }

    /** The budget key of a MAC: its switch port, or the MAC itself when no port knows it. */
    public Object guestOf(long mac) {
        SwitchPort p = sw.portOf(mac);
        return p != null ? p : Long.valueOf(mac);
    }

    /**
     * Registers a flow of {@code kind} for the guest owning {@code mac}, charging one host socket.
     *
     * @return the flow, or null when a budget is exhausted (counted)
     */
    public Flow open(long mac, Kind kind, Runnable abort) {
        Object guest = guestOf(mac);
        Usage u = usage.get(guest);
        if (sockets >= limits.socketsPerNetwork()) {
            socketsNetwork.inc();
            return null;
        }
        if (u != null) {
            if (u.sockets >= limits.socketsPerGuest()) {
                socketsGuest.inc();
                return null;
            }
            if (kind == Kind.UDP && u.udp >= limits.udpFlowsPerGuest()) {
                udpGuest.inc();
                return null;
            }
            if (kind == Kind.ICMP && u.icmp >= limits.icmpFlowsPerGuest()) {
                icmpGuest.inc();
                return null;
            }
        } else {
            u = new Usage();
            usage.put(guest, u);
        }
        u.sockets++;
        if (kind == Kind.UDP) {
            u.udp++;
        } else if (kind == Kind.ICMP) {
            u.icmp++;
        }
        sockets++;
        Flow f = new Flow(mac, guest, kind, abort);
        byMac.computeIfAbsent(mac, k -> new LinkedHashSet<>()).add(f);
        return f;
    }

    /**
     * Registers a host connect to {@code dstIp:dstPort} for the guest owning {@code mac}: a TCP flow that is
     * half-open until {@link Flow#connected}.
     *
     * @return the flow, or null when a budget is exhausted (counted; the caller drops or refuses the SYN)
     */
    public Flow openConnect(long mac, int dstIp, int dstPort, Runnable abort) {
        return openConnect(mac, dstIp, dstPort, abort, true);
    }

    /**
     * {@link #openConnect(long, int, int, Runnable)} for a SYN that already waited: a half-open refusal is not
     * counted again (the first refusal was).
     */
    public Flow retryConnect(long mac, int dstIp, int dstPort) {
        return openConnect(mac, dstIp, dstPort, null, false);
    }

    private Flow openConnect(long mac, int dstIp, int dstPort, Runnable abort, boolean count) {
        if (socketsExhausted(mac)) {
            return open(mac, Kind.TCP, abort); // null, counted as a socket refusal: the caller answers with a RST
        }
        Object guest = guestOf(mac);
        Usage u = usage.get(guest);
        if (u != null && u.halfOpen >= limits.halfOpenPerGuest()) {
            if (count) {
                halfOpenGuest.inc();
            }
            return null;
        }
        long dst = ((dstIp & 0xFFFFFFFFL) << 16) | dstPort;
        if (halfOpenByDestination.getOrDefault(dst, 0) >= limits.halfOpenPerDestination()) {
            if (count) {
                halfOpenDestination.inc();
            }
            return null;
        }
        Flow f = open(mac, Kind.TCP, abort);
        if (f == null) {
            return null;
        }
        f.destination = dst;
        usage.get(guest).halfOpen++;
        halfOpenByDestination.merge(dst, 1, Integer::sum);
        return f;
    }

    /** True when the guest (or the network) has no host socket left: a SYN deserves a RST, not silence. */
    public boolean socketsExhausted(long mac) {
        Usage u = usage.get(guestOf(mac));
        return sockets >= limits.socketsPerNetwork() || (u != null && u.sockets >= limits.socketsPerGuest());
    }

    private void endHalfOpen(Flow f) {
        long dst = f.destination;
        f.destination = -1;
        Usage u = usage.get(f.guest);
        if (u != null) {
            u.halfOpen--;
        }
        halfOpenByDestination.computeIfPresent(dst, (k, n) -> n <= 1 ? null : n - 1);
    }

    private void release(Flow f) {
        if (f.destination != -1) {
            endHalfOpen(f);
        }
        sockets--;
        Usage u = usage.get(f.guest);
        if (u != null) {
            u.sockets--;
            if (f.kind == Kind.UDP) {
                u.udp--;
            } else if (f.kind == Kind.ICMP) {
                u.icmp--;
            }
            if (u.sockets <= 0 && u.halfOpen <= 0) {
                usage.remove(f.guest);
            }
        }
        LinkedHashSet<Flow> set = byMac.get(f.mac);
        if (set != null) {
            set.remove(f);
            if (set.isEmpty()) {
                byMac.remove(f.mac);
            }
        }
    }

    // ---- a VM that leaves -------------------------------------------------------------------------

    @Override
    public void established(long mac, SwitchPort port) {
        if (leaving.remove(mac) != null) {
            returned.inc();
            // The guest's flows now belong to its new port: charge them there, so reconnecting does not
            // give a guest a fresh budget next to the flows it kept.
            LinkedHashSet<Flow> set = byMac.get(mac);
            if (set != null) {
                for (Flow f : set) {
                    move(f, port);
                }
            }
            LOG.log(Level.FINE, () -> MacAddress.format(mac) + " is back on " + port + ": its flows are kept");
        }
    }

    @Override
    public void closed(long mac, SwitchPort port) {
        if (byMac.containsKey(mac)) {
            long due = clock.getAsLong() + limits.graceNanos();
            leaving.put(mac, due);
            wakeup.accept(due); // a port detach writes no frame: tell the network's timer
        }
    }

    private void move(Flow f, Object to) {
        if (f.guest.equals(to)) {
            return;
        }
        Usage from = usage.get(f.guest);
        Usage into = usage.computeIfAbsent(to, k -> new Usage());
        int udp = f.kind == Kind.UDP ? 1 : 0;
        int icmp = f.kind == Kind.ICMP ? 1 : 0;
        int half = f.destination != -1 ? 1 : 0;
        if (from != null) {
            from.sockets--;
            from.udp -= udp;
            from.icmp -= icmp;
            from.halfOpen -= half;
            if (from.sockets <= 0 && from.halfOpen <= 0) {
                usage.remove(f.guest);
            }
        }
        into.sockets++;
        into.udp += udp;
        into.icmp += icmp;
        into.halfOpen += half;
        f.guest = to;
    }

    /** Aborts the flows of MACs whose grace period ended at {@code now}. */
    @Override
    public void poll(long now) {
        if (leaving.isEmpty()) {
            return;
        }
        ArrayList<Long> due = null;
        for (Iterator<Map.Entry<Long, Long>> it = leaving.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, Long> e = it.next();
            if (e.getValue() - now <= 0) {
                it.remove();
                if (due == null) {
                    due = new ArrayList<>();
                }
                due.add(e.getKey());
            }
        }
        if (due == null) {
            return;
        }
        for (long mac : due) {
            if (sw.portOf(mac) != null) {
                continue; // came back without a new "established" (learned again before the event): keep
            }
            LinkedHashSet<Flow> set = byMac.remove(mac);
            if (set == null) {
                continue;
            }
            int n = set.size();
            LOG.log(Level.INFO, () -> MacAddress.format(mac) + " left " + limits.graceNanos() / 1_000_000_000L
                    + " s ago: closing its " + n + " flows");
            for (Flow f : set.toArray(new Flow[0])) {
                aborted.inc();
                if (f.abort != null) {
                    try {
                        f.abort.run();
                    } catch (RuntimeException ex) {
                        LOG.log(Level.WARNING, "aborting " + f, ex);
                    }
                }
                f.release(); // in case the abort did not (already gone, or no host socket yet)
            }
        }
    }

    /** When {@link #poll} next has work, or {@code Long.MAX_VALUE}. */
    @Override
    public long nextDeadline() {
        long d = Long.MAX_VALUE;
        for (long t : leaving.values()) {
            d = Math.min(d, t);
        }
        return d;
    }

    /**
     * Aborts every flow {@code which} selects, as a departed guest's flows are aborted (the flow's abort action,
     * then its release). Event loop only.
     *
     * @return how many flows were aborted
     */
    public int abortWhere(java.util.function.Predicate<Flow> which) {
        ArrayList<Flow> chosen = new ArrayList<>();
        for (LinkedHashSet<Flow> set : byMac.values()) {
            for (Flow f : set) {
                if (which.test(f)) {
                    chosen.add(f);
                }
            }
        }
        for (Flow f : chosen) {
            if (f.released) {
                continue; // an earlier abort took it with it
            }
            if (f.abort != null) {
                try {
                    f.abort.run();
                } catch (RuntimeException ex) {
                    LOG.log(Level.WARNING, "aborting " + f, ex);
                }
            }
            f.release();
        }
        return chosen.size();
    }

    // ---- introspection -----------------------------------------------------------------------------

    /** Host sockets held by all guests. */
    public int sockets() {
        return sockets;
    }

    /** Flows owned by {@code mac}. */
    public int flowsOf(long mac) {
        LinkedHashSet<Flow> s = byMac.get(mac);
        return s == null ? 0 : s.size();
    }

    /** Host sockets charged to the guest owning {@code mac}. */
    public int socketsOfGuest(long mac) {
        Usage u = usage.get(guestOf(mac));
        return u == null ? 0 : u.sockets;
    }
}
