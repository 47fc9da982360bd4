package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.ArpPacket;
import dev.gvproxy.stack.wire.EtherType;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv4Packet;
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
 * <p><b>IPv6</b> passes unchecked for now. The hook for NDP is {@link #accept}: neighbour solicitations and
 * advertisements (ICMPv6 135/136) would get the same treatment as ARP (target/source link-layer option equal
 * to the frame's source, no claim of the gateway's link-local address or of another guest's address).
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

    public GuestAddressGuard(StackConfig config, AddressBindings bindings, Counters counters) {
        this.config = config;
        this.bindings = bindings;
        this.strict = config.portSecurity().strictSource();
        this.spoofedSource = counters.counter("ipv4.spoofedSource");
        this.spoofedSender = counters.counter("arp.spoofedSender");
        this.senderMacMismatch = counters.counter("arp.senderMacMismatch");
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
            default -> true; // IPv6/NDP: see the class comment
        };
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
