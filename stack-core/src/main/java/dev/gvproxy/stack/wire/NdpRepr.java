package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;
import java.util.ArrayList;
import java.util.List;

/**
 * Value forms of the NDP messages (RFC 4861) with the options the stack reads and writes: source and target
 * link-layer address, prefix information, MTU, RDNSS and DNSSL (RFC 8106). {@link #parse} reads a message that
 * passed {@link NdpPacket#check}, skipping unknown options and known ones with a length wrong for their type (as
 * RFC 4861 section 4.6 and RFC 8106 section 5.3.1 say); {@link #emit} appends the ICMPv6 message with its
 * checksum. A link-layer address is a MAC in a {@code long}, {@link #NONE} when the option is absent.
 */
public sealed interface NdpRepr {
    /** No link-layer address option. */
    long NONE = -1L;

    /** ICMPv6 type of the message. */
    int type();

    /** Bytes {@link #emit} appends. */
    int bufferLen();

    /**
     * Appends the message with a correct checksum under the pseudo-header of {@code src} and {@code dst}.
     * out: borrowed.
     */
    default void emit(ByteBuf out, Ipv6Address src, Ipv6Address dst) {
        int start = out.writerIndex();
        out.ensureWritable(bufferLen());
        writeBody(out);
        Icmpv6Packet.fillChecksum(out, start, out.writerIndex() - start, src, dst);
    }

    /** Writes header (zero checksum), fixed fields and options. */
    void writeBody(ByteBuf out);

    /** Router solicitation (section 4.1). */
    record RouterSolicitation(long sourceLinkLayer) implements NdpRepr {
        @Override
        public int type() {
            return Icmpv6Packet.TYPE_ROUTER_SOLICITATION;
        }

        @Override
        public int bufferLen() {
            return NdpPacket.RS_LEN + (sourceLinkLayer == NONE ? 0 : NdpOption.LINK_LAYER_LEN);
        }

        @Override
        public void writeBody(ByteBuf out) {
            Icmpv6Packet.writeHeader(out, type(), 0, 0);
            if (sourceLinkLayer != NONE) {
                NdpOption.writeLinkLayerAddress(out, NdpOption.SOURCE_LINK_LAYER_ADDRESS, sourceLinkLayer);
            }
        }
    }

    /** Prefix information option (section 4.6.2). */
    record PrefixInformation(int prefixLength, boolean onLink, boolean autonomous, long validLifetime,
            long preferredLifetime, Ipv6Address prefix) {}

    /** RDNSS option (RFC 8106 section 5.1). */
    record Rdnss(long lifetime, List<Ipv6Address> servers) {
        public Rdnss {
            servers = List.copyOf(servers);
            if (servers.isEmpty() || servers.size() > 127) {
                throw new IllegalArgumentException("an RDNSS option holds 1 to 127 servers");
            }
        }
    }

    /** DNSSL option (RFC 8106 section 5.2). */
    record Dnssl(long lifetime, List<String> domains) {
        public Dnssl {
            domains = List.copyOf(domains);
            if (domains.isEmpty() || NdpOption.dnsslLength(domains) > 255 * 8) {
                throw new IllegalArgumentException("a DNSSL option holds 1 or more names, at most 2040 bytes");
            }
        }
    }

    /**
     * Router advertisement (section 4.2), lifetimes in seconds, times in milliseconds.
     *
     * @param mtu the MTU option's value, 0 for none
     */
    record RouterAdvertisement(int curHopLimit, boolean managed, boolean other, int routerLifetime,
            long reachableTime, long retransTimer, long sourceLinkLayer, long mtu, List<PrefixInformation> prefixes,
            List<Rdnss> rdnss, List<Dnssl> dnssl) implements NdpRepr {

        public RouterAdvertisement {
            prefixes = List.copyOf(prefixes);
            rdnss = List.copyOf(rdnss);
            dnssl = List.copyOf(dnssl);
        }

        @Override
        public int type() {
            return Icmpv6Packet.TYPE_ROUTER_ADVERTISEMENT;
        }

        @Override
        public int bufferLen() {
            int n = NdpPacket.RA_LEN + (sourceLinkLayer == NONE ? 0 : NdpOption.LINK_LAYER_LEN)
                    + (mtu == 0 ? 0 : NdpOption.MTU_LEN) + prefixes.size() * NdpOption.PREFIX_INFORMATION_LEN;
            for (Rdnss r : rdnss) {
                n += 8 + 16 * r.servers().size();
            }
            for (Dnssl d : dnssl) {
                n += NdpOption.dnsslLength(d.domains());
            }
            return n;
        }

        @Override
        public void writeBody(ByteBuf out) {
            Icmpv6Packet.writeHeader(out, type(), 0, (curHopLimit << 24)
                    | ((managed ? NdpPacket.RA_FLAG_MANAGED : 0) | (other ? NdpPacket.RA_FLAG_OTHER : 0)) << 16
                    | (routerLifetime & 0xFFFF));
            out.writeInt((int) reachableTime);
            out.writeInt((int) retransTimer);
            if (sourceLinkLayer != NONE) {
                NdpOption.writeLinkLayerAddress(out, NdpOption.SOURCE_LINK_LAYER_ADDRESS, sourceLinkLayer);
            }
            if (mtu != 0) {
                NdpOption.writeMtu(out, mtu);
            }
            for (PrefixInformation p : prefixes) {
                NdpOption.writePrefixInformation(out, p.prefixLength(),
                        (p.onLink() ? NdpOption.PREFIX_FLAG_ON_LINK : 0)
                                | (p.autonomous() ? NdpOption.PREFIX_FLAG_AUTONOMOUS : 0),
                        p.validLifetime(), p.preferredLifetime(), p.prefix());
            }
            for (Rdnss r : rdnss) {
                NdpOption.writeRdnss(out, r.lifetime(), r.servers());
            }
            for (Dnssl d : dnssl) {
                NdpOption.writeDnssl(out, d.lifetime(), d.domains());
            }
        }
    }

    /** Neighbor solicitation (section 4.3). */
    record NeighborSolicitation(Ipv6Address target, long sourceLinkLayer) implements NdpRepr {
        @Override
        public int type() {
            return Icmpv6Packet.TYPE_NEIGHBOR_SOLICITATION;
        }

        @Override
        public int bufferLen() {
            return NdpPacket.NS_LEN + (sourceLinkLayer == NONE ? 0 : NdpOption.LINK_LAYER_LEN);
        }

        @Override
        public void writeBody(ByteBuf out) {
            Icmpv6Packet.writeHeader(out, type(), 0, 0);
            target.write(out);
            if (sourceLinkLayer != NONE) {
                NdpOption.writeLinkLayerAddress(out, NdpOption.SOURCE_LINK_LAYER_ADDRESS, sourceLinkLayer);
            }
        }
    }

    /** Neighbor advertisement (section 4.4). */
    record NeighborAdvertisement(boolean router, boolean solicited, boolean override, Ipv6Address target,
            long targetLinkLayer) implements NdpRepr {
        @Override
        public int type() {
            return Icmpv6Packet.TYPE_NEIGHBOR_ADVERTISEMENT;
        }

        @Override
        public int bufferLen() {
            return NdpPacket.NA_LEN + (targetLinkLayer == NONE ? 0 : NdpOption.LINK_LAYER_LEN);
        }

        @Override
        public void writeBody(ByteBuf out) {
            int flags = (router ? NdpPacket.NA_FLAG_ROUTER : 0) | (solicited ? NdpPacket.NA_FLAG_SOLICITED : 0)
                    | (override ? NdpPacket.NA_FLAG_OVERRIDE : 0);
            Icmpv6Packet.writeHeader(out, type(), 0, flags << 24);
            target.write(out);
            if (targetLinkLayer != NONE) {
                NdpOption.writeLinkLayerAddress(out, NdpOption.TARGET_LINK_LAYER_ADDRESS, targetLinkLayer);
            }
        }
    }

    /** Redirect (section 4.5): recognised, never acted on; the redirected-header option is not kept. */
    record Redirect(Ipv6Address target, Ipv6Address destination, long targetLinkLayer) implements NdpRepr {
        @Override
        public int type() {
            return Icmpv6Packet.TYPE_REDIRECT;
        }

        @Override
        public int bufferLen() {
            return NdpPacket.REDIRECT_LEN + (targetLinkLayer == NONE ? 0 : NdpOption.LINK_LAYER_LEN);
        }

        @Override
        public void writeBody(ByteBuf out) {
            Icmpv6Packet.writeHeader(out, type(), 0, 0);
            target.write(out);
            destination.write(out);
            if (targetLinkLayer != NONE) {
                NdpOption.writeLinkLayerAddress(out, NdpOption.TARGET_LINK_LAYER_ADDRESS, targetLinkLayer);
            }
        }
    }

    /** Reads the {@code len}-byte message at {@code off} that passed {@link NdpPacket#check}. buf: borrowed. */
    static NdpRepr parse(ByteBuf buf, int off, int len) {
        int type = Icmpv6Packet.type(buf, off);
        int start = NdpPacket.optionsOffset(buf, off);
        int end = off + len;
        long sll = linkLayer(buf, start, end, NdpOption.SOURCE_LINK_LAYER_ADDRESS);
        long tll = linkLayer(buf, start, end, NdpOption.TARGET_LINK_LAYER_ADDRESS);
        return switch (type) {
            case Icmpv6Packet.TYPE_ROUTER_SOLICITATION -> new RouterSolicitation(sll);
            case Icmpv6Packet.TYPE_NEIGHBOR_SOLICITATION -> new NeighborSolicitation(NdpPacket.target(buf, off), sll);
            case Icmpv6Packet.TYPE_NEIGHBOR_ADVERTISEMENT -> new NeighborAdvertisement(NdpPacket.router(buf, off),
                    NdpPacket.solicited(buf, off), NdpPacket.override(buf, off), NdpPacket.target(buf, off), tll);
            case Icmpv6Packet.TYPE_REDIRECT -> new Redirect(NdpPacket.target(buf, off),
                    NdpPacket.redirectDestination(buf, off), tll);
            case Icmpv6Packet.TYPE_ROUTER_ADVERTISEMENT -> routerAdvertisement(buf, off, start, end, sll);
            default -> throw new IllegalArgumentException("not an NDP message: type " + type);
        };
    }

    private static RouterAdvertisement routerAdvertisement(ByteBuf buf, int off, int start, int end, long sll) {
        int flags = NdpPacket.raFlags(buf, off);
        long mtu = 0;
        List<PrefixInformation> prefixes = new ArrayList<>(1);
        List<Rdnss> rdnss = new ArrayList<>(1);
        List<Dnssl> dnssl = new ArrayList<>(1);
        for (int at = NdpOption.first(buf, start, end); at >= 0; at = NdpOption.next(buf, at, end)) {
            if (!NdpOption.valid(buf, at)) {
                continue;
            }
            switch (NdpOption.type(buf, at)) {
                case NdpOption.MTU -> {
                    if (mtu == 0) {
                        mtu = NdpOption.mtu(buf, at);
                    }
                }
                case NdpOption.PREFIX_INFORMATION -> {
                    int f = NdpOption.prefixFlags(buf, at);
                    prefixes.add(new PrefixInformation(NdpOption.prefixLength(buf, at),
                            (f & NdpOption.PREFIX_FLAG_ON_LINK) != 0, (f & NdpOption.PREFIX_FLAG_AUTONOMOUS) != 0,
                            NdpOption.prefixValidLifetime(buf, at), NdpOption.prefixPreferredLifetime(buf, at),
                            NdpOption.prefix(buf, at)));
                }
                case NdpOption.RDNSS -> rdnss.add(new Rdnss(NdpOption.lifetime(buf, at),
                        NdpOption.rdnssServers(buf, at)));
                case NdpOption.DNSSL -> {
                    List<String> names = NdpOption.dnsslDomains(buf, at);
                    if (names != null && !names.isEmpty()) {
                        dnssl.add(new Dnssl(NdpOption.lifetime(buf, at), names));
                    }
                }
                default -> { }
            }
        }
        return new RouterAdvertisement(NdpPacket.curHopLimit(buf, off),
                (flags & NdpPacket.RA_FLAG_MANAGED) != 0, (flags & NdpPacket.RA_FLAG_OTHER) != 0,
                NdpPacket.routerLifetime(buf, off), NdpPacket.reachableTime(buf, off), NdpPacket.retransTimer(buf, off),
                sll, mtu, prefixes, rdnss, dnssl);
    }

    private static long linkLayer(ByteBuf buf, int start, int end, int type) {
        int at = NdpOption.find(buf, start, end, type);
        return at < 0 ? NONE : NdpOption.linkLayerAddress(buf, at);
    }
}
