package dev.gvproxy.stack;

import static dev.gvproxy.testing.Frames.GUEST_IP;
import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_IP;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static dev.gvproxy.testing.Frames.HOST_IP;
import static dev.gvproxy.testing.Frames.arp;
import static dev.gvproxy.testing.Frames.ethernet;
import static dev.gvproxy.testing.Frames.icmpEcho;
import static dev.gvproxy.testing.Frames.ip;
import static dev.gvproxy.testing.Frames.ipv4;
import static dev.gvproxy.testing.Frames.udp;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.wire.MacAddress;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A guest speaks only for itself: ARP and IPv4 claims checked at the switch, for the gateway and for the frames
 * flooded or switched to other guests.
 */
class GuestAddressGuardTest {
    static final long ATTACKER = MacAddress.parse("02:00:00:00:0a:0a");
    static final long VICTIM = MacAddress.parse("02:00:00:00:0b:0b");
    static final int ATTACKER_IP = ip("192.168.127.10");
    static final int VICTIM_IP = ip("192.168.127.11");

    /** Another guest's port: records what reaches it. */
    static final class Guest implements LinkEndpoint {
        final List<byte[]> frames = new ArrayList<>();

        @Override
        public void transmit(ByteBuf frame) {
            frames.add(Frames.bytes(frame));
            frame.release();
        }

        @Override
        public void flush() {}
    }

    /** A stack whose test port is the attacker, plus a victim guest on a second port. */
    static final class Net {
        final StackHarness h;
        final Guest victim = new Guest();
        final SwitchPort victimPort;

        Net(StackConfig cfg) {
            h = new StackHarness(cfg);
            victimPort = h.sw.attach("victim", victim);
            h.stack.addressBindings().bind(VICTIM_IP, VICTIM); // its DHCP lease
            // The victim has talked: its MAC is learned on its port.
            h.sw.deliver(victimPort, Unpooled.wrappedBuffer(ethernet(GW_MAC, VICTIM, 0x0800,
                    ipv4(VICTIM_IP, GW_IP, 1, 1, 0, 64, icmpEcho(8, 1, 1, new byte[8])))));
            h.sw.flush();
            h.out.clear();
            victim.frames.clear();
        }
    }

    final Net n = new Net(StackConfig.defaults());
    final StackHarness h = n.h;
    final Guest victim = n.victim;

    static byte[] garp(long mac, int claimed) {
        return ethernet(MacAddress.BROADCAST, mac, 0x0806, arp(1, mac, claimed, 0, claimed));
    }

    @Test
    void gratuitousArpForTheGatewayIsNeitherLearnedNorFloodedToOtherGuests() {
        h.send(garp(ATTACKER, GW_IP));
        assertEquals(1, h.count("arp.spoofedSender"));
        assertTrue(victim.frames.isEmpty(), "flooded to the victim");
        assertEquals(0, h.count("arp.in.packets"), "reached the gateway");
    }

    @Test
    void arpClaimingTheHostAliasOrAnotherGuestsStaticAddressIsDropped() {
        h.send(garp(ATTACKER, HOST_IP));
        h.send(garp(ATTACKER, GUEST_IP)); // .2 is the device MAC's static lease
        h.send(ethernet(MacAddress.BROADCAST, ATTACKER, 0x0806, arp(2, ATTACKER, ip("10.0.0.1"), 0, GW_IP)));
        assertEquals(3, h.count("arp.spoofedSender"));
        assertTrue(victim.frames.isEmpty());
        h.send(garp(ATTACKER, VICTIM_IP));
        assertEquals(4, h.count("arp.spoofedSender"));
        assertTrue(victim.frames.isEmpty());
    }

    @Test
    void arpWhoseSenderIsNotTheFramesSourceIsDropped() {
        h.send(ethernet(MacAddress.BROADCAST, ATTACKER, 0x0806, arp(1, VICTIM, ATTACKER_IP, 0, GW_IP)));
        assertEquals(1, h.count("arp.senderMacMismatch"));
        assertTrue(h.out.isEmpty());
    }

    @Test
    void aGuestsOwnArpIsAnsweredAndFlooded() {
        h.send(ethernet(MacAddress.BROADCAST, ATTACKER, 0x0806, arp(1, ATTACKER, ATTACKER_IP, 0, GW_IP)));
        assertEquals(1, h.count("arp.out.replies"));
        assertEquals(1, victim.frames.size());
        h.send(ethernet(MacAddress.BROADCAST, GUEST_MAC, 0x0806, arp(1, GUEST_MAC, GUEST_IP, 0, GW_IP)));
        h.send(ethernet(MacAddress.BROADCAST, ATTACKER, 0x0806, arp(1, ATTACKER, 0, 0, ip("192.168.127.99"))));
        assertEquals(3, victim.frames.size(), "the static owner and an address probe pass");
        assertEquals(0, h.count("arp.spoofedSender"));
    }

    @Test
    void sourcesOutsideTheSubnetNeverReachTheForwarderOrAnotherGuest() {
        byte[] syn = new byte[20];
        syn[12] = 0x50;
        syn[13] = 0x02;
        h.send(ethernet(GW_MAC, ATTACKER, 0x0800, ipv4(ip("10.1.2.3"), HOST_IP, 6, 1, 0, 64, syn)));
        h.send(ethernet(VICTIM, ATTACKER, 0x0800, ipv4(ip("172.16.0.1"), VICTIM_IP, 1, 1, 0, 64,
                icmpEcho(8, 1, 1, new byte[8]))));
        h.send(ethernet(GW_MAC, ATTACKER, 0x0800, ipv4(GW_IP, HOST_IP, 6, 1, 0, 64, syn)));
        h.send(ethernet(GW_MAC, ATTACKER, 0x0800, ipv4(ip("192.168.127.255"), HOST_IP, 6, 1, 0, 64, syn)));
        assertEquals(4, h.count("ipv4.spoofedSource"));
        assertEquals(1, h.count("ipv4.in.datagrams"), "only the victim's ping");
        assertTrue(victim.frames.isEmpty());
    }

    @Test
    void anAddressSomeoneElseHoldsIsNotAcceptedAsASource() {
        h.send(ethernet(GW_MAC, ATTACKER, 0x0800, ipv4(GUEST_IP, GW_IP, 1, 1, 0, 64, icmpEcho(8, 1, 1, new byte[8]))));
        assertEquals(1, h.count("ipv4.spoofedSource"));
        assertEquals(-1, h.stack.arpCache().lookup(GUEST_IP, h.now), "the gateway learned the spoofed binding");
        h.send(ethernet(GW_MAC, ATTACKER, 0x0800,
                ipv4(ATTACKER_IP, GW_IP, 1, 1, 0, 64, icmpEcho(8, 1, 1, new byte[8]))));
        assertNotNull(h.poll(), "an unclaimed address of the subnet is fine outside strict mode");
    }

    @Test
    void zeroSourceOnlyForDhcpClients() {
        h.send(ethernet(MacAddress.BROADCAST, ATTACKER, 0x0800,
                ipv4(0, -1, 17, 1, 0, 64, udp(0, -1, 68, 67, new byte[300]))));
        assertEquals(0, h.count("ipv4.spoofedSource"));
        h.send(ethernet(MacAddress.BROADCAST, ATTACKER, 0x0800,
                ipv4(0, -1, 17, 1, 0, 64, udp(0, -1, 5353, 67, new byte[30]))));
        h.send(ethernet(GW_MAC, ATTACKER, 0x0800, ipv4(0, GW_IP, 1, 1, 0, 64, icmpEcho(8, 1, 1, new byte[8]))));
        assertEquals(2, h.count("ipv4.spoofedSource"));
    }

    @Test
    void strictModeAcceptsOnlyTheAddressBoundToTheMac() {
        Net t = new Net(StackConfig.builder().portSecurity(PortSecurity.defaults().withStrictSource(true)).build());
        byte[] ping = ethernet(GW_MAC, ATTACKER, 0x0800,
                ipv4(ATTACKER_IP, GW_IP, 1, 1, 0, 64, icmpEcho(8, 1, 1, new byte[8])));
        t.h.send(ping);
        assertEquals(1, t.h.count("ipv4.spoofedSource"));
        assertNull(t.h.poll());
        t.h.send(garp(ATTACKER, ATTACKER_IP));
        assertEquals(1, t.h.count("arp.spoofedSender"));
        t.h.stack.addressBindings().bind(ATTACKER_IP, ATTACKER);
        t.h.send(ping.clone());
        assertNotNull(t.h.poll());
        t.h.send(ethernet(VICTIM, ATTACKER, 0x0800,
                ipv4(ip("192.168.127.50"), VICTIM_IP, 1, 1, 0, 64, icmpEcho(8, 1, 1, new byte[8]))));
        assertEquals(2, t.h.count("ipv4.spoofedSource"), "guest to guest is checked as well");
        assertTrue(t.victim.frames.isEmpty());
        t.h.stack.addressBindings().unbind(ATTACKER_IP, ATTACKER);
        t.h.send(ping.clone());
        assertEquals(3, t.h.count("ipv4.spoofedSource"));
    }
}
