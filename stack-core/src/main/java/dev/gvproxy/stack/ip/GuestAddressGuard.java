package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.Ipv6Config;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.ArpPacket;
import dev.gvproxy.stack.wire.EtherType;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.Icmpv6Packet;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv6Packet;
import dev.gvproxy.stack.wire.NdpOption;
import dev.gvproxy.stack.wire.NdpPacket;
import io.netty.buffer.ByteBuf;

/**
 * A guest speaks only for itself (DESIGN.md "The guest is untrusted"): the switch's {@link
 * VirtualSwitch.IngressFilter} that checks what a guest's frame claims above layer 2, before the frame reaches
 * the gateway or another guest. Source address validation at the edge, like BCP 38.
 *
 * <p><b>IPv4</b>: the source must be a host address of the subnet ({@code ipv4.spoofedSource} otherwise): not the
 * gateway's addresses (gateway IP, host alias, other virtual IPs), not the network or broadcast address, and
 * not an address {@link AddressBindings} gives to another MAC. {@code 0.0.0.0}, and a subnet address the
 * guest does not hold, are allowed only for a DHCP client (UDP 68 to 67). In strict mode the source must be the address bound to the frame's MAC. Datagrams
 * too short to hold a header pass: the gateway counts them as malformed, and they claim nothing.
 *
 * <p><b>ARP</b>: the sender hardware address must be the frame's source ({@code arp.senderMacMismatch}); the
 * sender protocol address, unless 0 (a probe), obeys the IPv4 rules ({@code arp.spoofedSender}). Checked
 * here, not only at the gateway, so that a gratuitous ARP claiming the gateway is not flooded to the other
 * guests either.
 *
 * <p><b>IPv6</b> (when the network speaks it): the source may not be multicast or one of the gateway's addresses
 * (fe80::1, the prefix gateway, the host alias; {@code ipv6.spoofedSource}). RA guard at the edge (RFC 6105): a
 * router advertisement or a redirect from a guest is dropped here ({@code ndp.raFromGuest},
 * {@code ndp.redirectFromGuest}), so no guest can become another guest's router; the extension-header chain is
 * walked to find them (RFC 7113), and a first fragment that does not hold the whole chain is dropped
 * ({@code ipv6.incompleteFirstFragment}; later fragments cannot carry NDP a host accepts, RFC 6980). NDP
 * claims as for ARP: a neighbour advertisement for one of the gateway's addresses ({@code ndp.spoofedTarget}),
 * and a source or target link-layer option other than the frame's source MAC ({@code ndp.linkLayerMismatch}).
 * Which guest holds which IPv6 address is not tracked (SLAAC addresses are the guests' own choice), so a guest
 * may still claim another guest's address, as on any Ethernet without SEND.
 *
 * <p>Other EtherTypes pass, including 802.1Q-tagged frames: a guest's kernel without a VLAN interface drops
 * those, and the gateway ignores them; a network whose guests use VLANs would need the same checks on the
 * inner header.
 *
 * <p>Event loop only; allocates nothing.
 */
public final class GuestAddressGuard implements VirtualSwitch.IngressFilter {
    static final int DHCP_SERVER_PORT = 67;
    static final int DHCP_CLIENT_PORT = 68;

    private final StackConfig config;
    private final AddressBindings bindings;
    private final boolean strict;
    private final Counters.Counter spoofedSource;
    private final Counters.Counter spoofedSender;
    private final Counters.Counter senderMacMismatch;
    private final Counters.Counter spoofedSource6;
    private final Counters.Counter raFromGuest;
    private final Counters.Counter redirectFromGuest;
    private final Counters.Counter incompleteFirst;
    private final Counters.Counter spoofedTarget;
    private final Counters.Counter linkLayerMismatch;
    private final Ipv6Packet.Chain chain = new Ipv6Packet.Chain();
    private final Ipv6Packet.Chain inner = new Ipv6Packet.Chain();

    public GuestAddressGuard(StackConfig config, AddressBindings bindings, Counters counters) {
        this.config = config;
        this.bindings = bindings;
        this.strict = config.portSecurity().strictSource();
        this.spoofedSource = counters.counter("ipv4.spoofedSource");
        this.spoofedSender = counters.counter("arp.spoofedSender");
        this.senderMacMismatch = counters.counter("arp.senderMacMismatch");
        this.spoofedSource6 = counters.counter("ipv6.spoofedSource");
        this.raFromGuest = counters.counter("ndp.raFromGuest");
        this.redirectFromGuest = counters.counter("ndp.redirectFromGuest");
        this.incompleteFirst = counters.counter("ipv6.incompleteFirstFragment");
        this.spoofedTarget = counters.counter("ndp.spoofedTarget");
        this.linkLayerMismatch = counters.counter("ndp.linkLayerMismatch");
    }

    /** @param frame <b>borrowed</b> */
    @Override
    public boolean accept(SwitchPort from, long srcMac, ByteBuf frame) {
        int off = frame.readerIndex();
        int len = frame.readableBytes();
        if (len < EthernetFrame.HEADER_LEN) {
            return true;
        }
        int l3 = off + EthernetFrame.HEADER_LEN;
        int l3len = len - EthernetFrame.HEADER_LEN;
        return switch (EthernetFrame.etherType(frame, off)) {
            case EtherType.IPV4 -> acceptIpv4(srcMac, frame, l3, l3len);
            case EtherType.ARP -> acceptArp(srcMac, frame, l3, l3len);
            case EtherType.IPV6 -> !config.ipv6().enabled() || acceptIpv6(srcMac, frame, l3, l3len);
            default -> true;
        };
    }

    private boolean acceptIpv6(long srcMac, ByteBuf frame, int off, int len) {
        if (Ipv6Packet.check(frame, off, len) != null) {
            return true; // claims nothing; the gateway counts it as malformed
        }
        Ipv6Config v6 = config.ipv6();
        long hi = frame.getLong(off + 8);
        long lo = frame.getLong(off + 16);
        if ((hi >>> 56) == 0xFF || is(v6.linkLocal(), hi, lo) || is(v6.gateway(), hi, lo)
                || is(v6.hostAlias(), hi, lo)) {
            spoofedSource6.inc();
            return false;
        }
        Ipv6Packet.Chain c = chain;
        if (Ipv6Packet.walk(frame, off, v6.maxExtensionHeaders(), c) != null) {
            return true; // the gateway answers or drops it; a host drops it too
        }
        int l4 = c.payloadOffset();
        int l4len = c.payloadLength();
        int protocol = c.protocol();
        if (c.isFragment()) {
            if (Ipv6Packet.fragmentOffset(frame, c.fragmentHeader()) != 0) {
                return true;
            }
            Ipv6Packet.Chain f = inner;
            boolean dstMulticast = Ipv6Packet.dstIsMulticast(frame, off);
            if (Ipv6Packet.walkPayload(frame, l4, l4len, protocol, dstMulticast, v6.maxExtensionHeaders(), f) != null
                    || f.isFragment() || (f.protocol() == IpProtocol.ICMPV6 && f.payloadLength() < 4)) {
                incompleteFirst.inc(); // RFC 7113: a chain split across fragments could hide an RA
                return false;
            }
            l4 = f.payloadOffset();
            l4len = f.payloadLength();
            protocol = f.protocol();
        }
        if (protocol != IpProtocol.ICMPV6 || l4len < 1) {
            return true;
        }
        int type = frame.getUnsignedByte(l4);
        switch (type) {
            case Icmpv6Packet.TYPE_ROUTER_ADVERTISEMENT -> {
                raFromGuest.inc();
                return false;
            }
            case Icmpv6Packet.TYPE_REDIRECT -> {
                redirectFromGuest.inc();
                return false;
            }
            case Icmpv6Packet.TYPE_NEIGHBOR_SOLICITATION, Icmpv6Packet.TYPE_NEIGHBOR_ADVERTISEMENT,
                    Icmpv6Packet.TYPE_ROUTER_SOLICITATION -> {
                return acceptNdp(srcMac, frame, l4, l4len, type, v6);
            }
            default -> {
                return true;
            }
        }
    }

    private boolean acceptNdp(long srcMac, ByteBuf frame, int off, int len, int type, Ipv6Config v6) {
        int fixed = NdpPacket.fixedLength(type);
        if (len < fixed || !NdpOption.wellFormed(frame, off + fixed, off + len)) {
            return true; // not a claim anyone acts on
        }
        if (type == Icmpv6Packet.TYPE_NEIGHBOR_ADVERTISEMENT) {
            long thi = frame.getLong(off + 8);
            long tlo = frame.getLong(off + 16);
            if (is(v6.linkLocal(), thi, tlo) || is(v6.gateway(), thi, tlo) || is(v6.hostAlias(), thi, tlo)) {
                spoofedTarget.inc();
                return false;
            }
        }
        int option = type == Icmpv6Packet.TYPE_NEIGHBOR_ADVERTISEMENT ? NdpOption.TARGET_LINK_LAYER_ADDRESS
                : NdpOption.SOURCE_LINK_LAYER_ADDRESS;
        int at = NdpOption.find(frame, off + fixed, off + len, option);
        if (at >= 0 && NdpOption.valid(frame, at) && NdpOption.linkLayerAddress(frame, at) != srcMac) {
            linkLayerMismatch.inc();
            return false;
        }
        return true;
    }

    private static boolean is(Ipv6Address a, long hi, long lo) {
        return a.hi() == hi && a.lo() == lo;
    }

    private boolean acceptIpv4(long srcMac, ByteBuf frame, int off, int len) {
        if (len < Ipv4Packet.MIN_HEADER_LEN) {
            return true;
        }
        int src = Ipv4Packet.src(frame, off);
        if (src != 0 && mayClaim(src, srcMac)) {
            return true;
        }
        // A DHCP client may speak from 0.0.0.0, or from an address it no longer holds: a VM that slept
        // through its lease renews from it and must hear the NAK. The server checks such requests itself,
        // and the gateway learns no neighbour entry from a source someone else holds.
        if ((src == 0 || isHostAddress(src)) && isDhcpClient(frame, off, len)) {
            return true;
        }
        spoofedSource.inc();
        return false;
    }

    /** UDP from port 68 to 67, not a fragment: a DHCP client that has no address yet. */
    private static boolean isDhcpClient(ByteBuf frame, int off, int len) {
        if (Ipv4Packet.protocol(frame, off) != Ipv4Packet.PROTO_UDP || Ipv4Packet.isFragment(frame, off)) {
            return false;
        }
        int hl = Ipv4Packet.headerLength(frame, off);
        if (hl < Ipv4Packet.MIN_HEADER_LEN || len < hl + 4) {
            return false;
        }
        return frame.getUnsignedShort(off + hl) == DHCP_CLIENT_PORT
                && frame.getUnsignedShort(off + hl + 2) == DHCP_SERVER_PORT;
    }

    private boolean acceptArp(long srcMac, ByteBuf frame, int off, int len) {
        if (ArpPacket.check(frame, off, len) != null) {
            return true; // not a claim anyone acts on; the gateway counts it as malformed
        }
        if (ArpPacket.senderHardwareAddress(frame, off) != srcMac) {
            senderMacMismatch.inc();
            return false;
        }
        int spa = ArpPacket.senderProtocolAddress(frame, off);
        if (spa != 0 && !mayClaim(spa, srcMac)) {
            spoofedSender.inc();
            return false;
        }
        return true;
    }

    /** True when a guest with {@code mac} may use {@code ip} as its own address. */
    boolean mayClaim(int ip, long mac) {
        if (!isHostAddress(ip)) {
            return false;
        }
        long owner = bindings.ownerOf(ip);
        return owner == mac || (!strict && owner == AddressBindings.NONE);
    }

    /** A subnet address a guest could hold: not the network, broadcast or any of the gateway's addresses. */
    private boolean isHostAddress(int ip) {
        return config.inSubnet(ip) && ip != config.network() && ip != config.broadcast()
                && !config.isGatewayAddress(ip) && ip != config.hostIp();
    }

    @Override
    public String toString() {
        return "guard of " + Ipv4Address.format(config.network()) + "/" + config.prefixLength()
                + (strict ? " (strict)" : "");
    }
}
