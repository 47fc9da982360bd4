package dev.gvproxy.cli;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.model.DnsZone;
import dev.gvproxy.model.DnsZones;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.model.PortForwardRegistry;
import dev.gvproxy.model.PortForwards;
import dev.gvproxy.api.StateStore;
import dev.gvproxy.dhcp.LeasePool;
import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.DeadlineSource;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.MacAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@code -state-dir}: ties the network's restart-worthy state to a {@link StateStore}. API-created forwards and
 * DNS adds are saved after every change; DHCP leases (which change without telling anyone) every
 * {@link #PERIOD_SECONDS} seconds and at shutdown. All methods but {@link #restore} run on the network's loop.
 */
final class PersistentState implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PersistentState.class.getName());
    static final long PERIOD_SECONDS = 10;

    private final StateStore store;
    private final VirtualNetwork net;
    private final PortForwardRegistry forwards;
    private final List<DnsZone> dnsAdds = new ArrayList<>();
    private final Counters.Counter dnsAddsNotSaved;
    /** When the leases are saved next (monotonic nanoseconds): one of the network's deadlines. */
    private long nextSave = Long.MAX_VALUE;

    PersistentState(StateStore store, VirtualNetwork net, PortForwardRegistry forwards) {
        this.store = store;
        this.net = net;
        this.forwards = forwards;
        this.dnsAddsNotSaved = net.internals().counters().counter("api.stateDnsAddsNotSaved");
    }

    /** The API's zones, recording every add for the state file. */
    DnsZones recording(DnsZones inner) {
        return new DnsZones() {
            @Override
            public List<DnsZone> zones() {
                return inner.zones();
            }

            @Override
            public void add(DnsZone zone) {
                inner.add(zone);
                if (dnsAdds.size() < StateStore.MAX_DNS_ADDS) {
                    dnsAdds.add(zone);
                    save();
                } else {
                    dnsAddsNotSaved.inc();
                }
            }
        };
    }

    /**
     * Replays the saved state into a freshly started network (before any guest is attached): DNS adds in order,
     * leases, then forwards (each with its origin; one that cannot be recreated is logged and dropped). Blocks.
     */
    void restore(StateStore.State s, DnsZones dns) throws Exception {
        net.internals().eventLoop().submit(() -> {
            for (DnsZone z : s.dnsAdds()) {
                dns.add(z); // records it again
            }
            restoreLeases(s.leases());
        }).get(10, TimeUnit.SECONDS);
        for (StateStore.SavedForward f : s.forwards()) {
            try {
                net.internals().eventLoop().submit(() -> forwards.expose(f.forward(), f.origin()).toCompletableFuture())
                        .get(10, TimeUnit.SECONDS).get(10, TimeUnit.SECONDS);
                LOG.info("restored forward " + f.forward().protocol() + " " + f.forward().local() + " -> "
                        + f.forward().remote());
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable c = e.getCause() != null ? e.getCause() : e;
                LOG.warning("cannot restore forward " + f.forward().local() + " -> " + f.forward().remote() + ": "
                        + c.getMessage());
            }
        }
        LOG.info("restored state from " + store.file() + ": " + s.forwards().size() + " forwards, "
                + s.dnsAdds().size() + " DNS zone adds, " + s.leases().size() + " leases");
    }

    private void restoreLeases(List<StateStore.SavedLease> leases) {
        if (net.internals().dhcp() == null) {
            return;
        }
        LeasePool pool = net.internals().dhcp().pool();
        long now = net.internals().stack().now();
        for (StateStore.SavedLease l : leases) {
            try {
                int ip = Ipv4Address.parse(l.ip());
                long mac = MacAddress.parse(l.mac());
                if (pool.availableFor(ip, l.client(), mac)) {
                    pool.bind(l.client(), mac, ip, now);
                }
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "cannot restore lease " + l + ": " + e.getMessage());
            }
        }
    }

    /**
     * Starts saving after every forward change and every {@link #PERIOD_SECONDS} s (leases), the latter on the
     * network's one timer (a deadline source of its stack).
     */
    void start() {
        net.internals().eventLoop().submit(() -> {
            forwards.onChange(r -> save());
            nextSave = net.internals().stack().now() + TimeUnit.SECONDS.toNanos(PERIOD_SECONDS);
            net.internals().stack().addDeadlineSource(periodic);
            save();
        }).syncUninterruptibly();
    }

    private final DeadlineSource periodic = new DeadlineSource() {
        @Override
        public long nextDeadline() {
            return nextSave;
        }

        @Override
        public void poll(long now) {
            nextSave = now + TimeUnit.SECONDS.toNanos(PERIOD_SECONDS);
            save();
        }
    };

    /** Loop only. */
    void save() {
        List<StateStore.SavedForward> fw = new ArrayList<>();
        for (PortForwards.Origin o : List.of(PortForwards.Origin.HOST, PortForwards.Origin.GUEST)) {
            for (PortForward f : forwards.created(o)) {
                fw.add(new StateStore.SavedForward(f, o));
            }
        }
        List<StateStore.SavedLease> leases = new ArrayList<>();
        if (net.internals().dhcp() != null) {
            for (LeasePool.Lease l : net.internals().dhcp().pool().boundLeases()) {
                leases.add(new StateStore.SavedLease(l.client(), MacAddress.format(l.mac()), Ipv4Address.format(l.ip())));
            }
        }
        store.save(new StateStore.State(fw, dnsAdds, leases));
    }

    /** A last save (before the forwards close), then waits for the writer. */
    @Override
    public void close() {
        try {
            net.internals().eventLoop().submit(() -> {
                net.internals().stack().removeDeadlineSource(periodic);
                forwards.onChange(null);
                save();
            }).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.log(Level.FINE, "last state save", e);
        }
        store.close();
    }
}
