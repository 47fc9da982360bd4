package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.DeadlineSource;
import dev.gvproxy.stack.Ipv6Config;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Headroom;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import dev.gvproxy.stack.wire.NdpPacket;
import dev.gvproxy.stack.wire.NdpRepr;
import io.netty.buffer.ByteBuf;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * The gateway's router advertisements (RFC 4861 section 6.2): unsolicited ones to all nodes at random intervals
 * between MinRtrAdvInterval and MaxRtrAdvInterval (the first {@value #MAX_INITIAL_ADVERTISEMENTS} at most
 * {@value #MAX_INITIAL_INTERVAL_SECONDS} s apart, 6.2.4, so a guest that starts with the network configures
 * quickly even if its solicitation was lost), and solicited ones in answer to a router solicitation: unicast to
 * the soliciting address when it has one (7.2.6 allows it; only the solicitor is waiting), else to all nodes, at
 * most one multicast answer per {@value #MIN_DELAY_BETWEEN_RAS_SECONDS} s ({@code ndp.rsRateLimited}).
 * Solicited answers are sent at once, without 6.2.6's random delay: the gateway is the link's only router, so
 * there is nobody to desynchronise from.
 *
 * <p>Content: the gateway's MAC (source link-layer option), the link MTU, the /64 as on-link and autonomous
 * (SLAAC), RDNSS with the gateway's prefix address and DNSSL with the configured search domains (RFC 8106),
 * the M and O flags from the configuration (default O=1: DNS also from stateless DHCPv6), router lifetime.
 * A {@link DeadlineSource}: time is injected, the stack's one timer serves it.
 */
public final class RouterAdvertiser implements DeadlineSource {
    static final int MAX_INITIAL_ADVERTISEMENTS = 3;
    static final int MAX_INITIAL_INTERVAL_SECONDS = 16;
    static final int MIN_DELAY_BETWEEN_RAS_SECONDS = 3;
    private static final long SECOND = 1_000_000_000L;
    /** Prefix lifetimes: valid 30 days, preferred 7 days (RFC 4861 6.2.1 defaults). */
    static final long VALID_LIFETIME = 2_592_000L;
    static final long PREFERRED_LIFETIME = 604_800L;

    private final StackConfig config;
    private final Ipv6Config v6;
    private final Ipv6Output output;
    private final RandomGenerator random;
    private final Counters.Counter unsolicited;
    private final Counters.Counter solicitedSent;
    private final Counters.Counter rsRateLimited;
    private long next;
    private int initialSent;
    private long lastMulticast = Long.MIN_VALUE;

    /**
     * @param now when the link came up: the first advertisement goes out 1 to 16 s later (a guest that starts
     *     with the network solicits one anyway; nobody is attached at the very start)
     */
    public RouterAdvertiser(StackConfig config, Ipv6Output output, Counters counters, RandomGenerator random,
            long now) {
        this.config = config;
        this.v6 = config.ipv6();
        this.output = output;
        this.random = random;
        this.unsolicited = counters.counter("ndp.out.unsolicitedRa");
        this.solicitedSent = counters.counter("ndp.out.solicitedRa");
        this.rsRateLimited = counters.counter("ndp.rsRateLimited");
        this.next = now + random.nextLong(SECOND, MAX_INITIAL_INTERVAL_SECONDS * SECOND + 1);
    }

    @Override
    public long nextDeadline() {
        return next;
    }

    @Override
    public void poll(long now) {
        if (now - next < 0) {
            return;
        }
        unsolicited.inc();
        multicast(now);
        long max = v6.raMaxIntervalNanos();
        long min = v6.raMinIntervalNanos();
        if (initialSent < MAX_INITIAL_ADVERTISEMENTS) {
            initialSent++;
            max = Math.min(max, MAX_INITIAL_INTERVAL_SECONDS * SECOND);
            min = Math.min(min, max);
        }
        next = now + (max == min ? min : random.nextLong(min, max + 1));
    }

    /**
     * Answers a router solicitation from {@code src} ({@code ::} when it has no address yet) whose link-layer
     * address is {@code mac}.
     */
    public void solicited(Ipv6Address src, long mac, long now) {
        if (!src.isUnspecified()) {
            solicitedSent.inc();
            send(src, mac);
            return;
        }
        if (lastMulticast != Long.MIN_VALUE && now - lastMulticast < MIN_DELAY_BETWEEN_RAS_SECONDS * SECOND) {
            rsRateLimited.inc();
            return;
        }
        solicitedSent.inc();
        multicast(now);
    }

    private void multicast(long now) {
        lastMulticast = now;
        send(Ipv6Address.ALL_NODES, Ipv6Address.ALL_NODES.multicastMac());
    }

    /** The advertisement the gateway sends (tests read it back with {@code NdpRepr.parse}). */
    public NdpRepr.RouterAdvertisement advertisement() {
        long dnsLifetime = 3 * (v6.raMaxIntervalNanos() / SECOND);
        List<NdpRepr.Dnssl> dnssl = v6.searchDomains().isEmpty() ? List.of()
                : List.of(new NdpRepr.Dnssl(dnsLifetime, v6.searchDomains()));
        return new NdpRepr.RouterAdvertisement(Ipv6Output.DEFAULT_HOP_LIMIT, v6.managed(), v6.otherConfig(),
                v6.routerLifetimeSeconds(), 0, 0, config.gatewayMac(), config.mtu(),
                List.of(new NdpRepr.PrefixInformation(64, true, true, VALID_LIFETIME, PREFERRED_LIFETIME, v6.prefix())),
                List.of(new NdpRepr.Rdnss(dnsLifetime, List.of(v6.gateway()))), dnssl);
    }

    private void send(Ipv6Address dst, long mac) {
        NdpRepr ra = advertisement();
        ByteBuf m = Headroom.buffer(output.alloc(), Ipv6Packet.FRAME_HEADROOM, ra.bufferLen());
        ra.emit(m, v6.linkLocal(), dst);
        output.sendTo(mac, v6.linkLocal(), dst, IpProtocol.ICMPV6, NdpPacket.HOP_LIMIT, m);
    }
}
