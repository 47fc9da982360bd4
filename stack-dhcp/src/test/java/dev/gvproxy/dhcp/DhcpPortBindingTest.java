package dev.gvproxy.dhcp;

import static dev.gvproxy.dhcp.DhcpHarness.SECOND;
import static dev.gvproxy.testing.Frames.GW_IP;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static dev.gvproxy.testing.Frames.ip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.ip.AddressBindings;
import dev.gvproxy.stack.link.SwitchPort;
import java.util.ArrayDeque;
import org.junit.jupiter.api.Test;

/**
 * DHCP bound to the port (DESIGN.md "The guest is untrusted"): a guest asks, releases and declines only for
 * its own MAC; the clients behind one port hold a bounded number of leases; leases feed source validation.
 */
class DhcpPortBindingTest {
    static final long VICTIM = 0x02_00_00_00_0B_0BL;
    static final long ATTACKER = 0x02_00_00_00_0A_0AL;
    static final int DOT3 = ip("192.168.127.3");
    static final int DOT4 = ip("192.168.127.4");

    final DhcpHarness h = new DhcpHarness(StackConfig.defaults(), b -> b, true);
    final ArrayDeque<byte[]> attackerOut = new ArrayDeque<>();
    final SwitchPort attacker = h.attach("attacker", attackerOut);

    /** The victim (on the harness's guest port) leases .3. */
    DhcpPortBindingTest() {
        Reply offer = h.exchange(ClientMsg.discover(VICTIM));
        assertNotNull(offer);
        Reply ack = h.exchange(ClientMsg.select(VICTIM, offer.yiaddr(), GW_IP));
        assertEquals(DhcpMessageType.ACK, ack.type());
        assertEquals(DOT3, ack.yiaddr());
    }

    static byte[] withEthernetSource(byte[] frame, long mac) {
        for (int i = 0; i < 6; i++) {
            frame[6 + i] = (byte) (mac >>> (8 * (5 - i)));
        }
        return frame;
    }

    ClientMsg release(long chaddr) {
        ClientMsg rel = ClientMsg.of(7, chaddr).optionInt(54, GW_IP);
        rel.ciaddr = DOT3;
        rel.srcIp = ip("192.168.127.10");
        rel.dstIp = GW_IP;
        rel.dstMac = GW_MAC;
        return rel;
    }

    void fromAttacker(byte[] frame) {
        h.sw.deliver(attacker, io.netty.buffer.Unpooled.wrappedBuffer(frame));
        h.sw.flush();
    }

    @Test
    void aLeaseIsPublishedForSourceValidationAndWithdrawnWhenItEnds() {
        AddressBindings b = h.stack.addressBindings();
        assertEquals(VICTIM, b.ownerOf(DOT3));
        h.advance(3601 * SECOND);
        assertEquals(AddressBindings.NONE, b.ownerOf(DOT3));
    }

    @Test
    void releaseWithTheVictimsChaddrFromAnotherMacIsDropped() {
        fromAttacker(withEthernetSource(release(VICTIM).frame(), ATTACKER));
        assertEquals(1, h.count("dhcp.chaddrMismatch"));
        assertEquals(Long.toHexString(VICTIM), Long.toHexString(h.stack.addressBindings().ownerOf(DOT3)));
        assertTrue(h.server.leases().containsKey("192.168.127.3"));
        // The attacker does not get that address either.
        h.sendFrom(attacker, ClientMsg.discover(ATTACKER).optionInt(50, DOT3));
        Reply offer = Reply.parse(attackerOut.pollLast());
        assertEquals(DOT4, offer.yiaddr());
    }

    @Test
    void releaseWithTheVictimsMacAsSourceFromAnotherPortIsDroppedByTheSwitch() {
        h.sendFrom(attacker, release(VICTIM));
        assertEquals(1, h.count("switch.macMoveDenied"));
        assertEquals(0, h.count("dhcp.release"));
        assertTrue(h.server.leases().containsKey("192.168.127.3"));
    }

    @Test
    void theVictimsClientIdentifierDoesNotReachItsLease() {
        byte[] duid = {(byte) 0xff, 0, 0, 0, 1, 0, 2, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8};
        DhcpHarness g = new DhcpHarness(StackConfig.defaults(), b -> b, true);
        Reply offer = g.exchange(ClientMsg.discover(VICTIM).optionBytes(61, duid));
        g.exchange(ClientMsg.select(VICTIM, offer.yiaddr(), GW_IP).optionBytes(61, duid));
        ArrayDeque<byte[]> out = new ArrayDeque<>();
        SwitchPort evil = g.attach("attacker", out);
        ClientMsg rel = ClientMsg.of(7, ATTACKER).optionInt(54, GW_IP).optionBytes(61, duid);
        rel.ciaddr = DOT3;
        g.sendFrom(evil, rel);
        g.sendFrom(evil, ClientMsg.of(4, ATTACKER).optionInt(50, DOT3).optionInt(54, GW_IP).optionBytes(61, duid));
        g.sendFrom(evil, ClientMsg.initReboot(ATTACKER, DOT3).optionBytes(61, duid));
        assertEquals(3, g.count("dhcp.clientIdConflict"));
        assertEquals(VICTIM, g.stack.addressBindings().ownerOf(DOT3));
        assertEquals(1, g.server.pool().activeOnPort(g.guest.id()));
        Reply nak = Reply.parse(out.pollLast());
        assertEquals(DhcpMessageType.NAK, nak.type());
    }

    @Test
    void leasesPerPortAreBoundedAndAnotherPortStillGetsAnAddress() {
        for (long m = 1; m <= 20; m++) {
            h.sendFrom(attacker, ClientMsg.discover(ATTACKER + (m << 16)));
        }
        assertEquals(1 + 16, h.count("dhcp.offer"), "the victim's offer and 16 to the attacker's port");
        assertEquals(4, h.count("dhcp.portLeaseLimit"));
        assertEquals(16, h.server.pool().activeOnPort(attacker.id()));
        ArrayDeque<byte[]> newcomerOut = new ArrayDeque<>();
        SwitchPort newcomer = h.attach("newcomer", newcomerOut);
        h.sendFrom(newcomer, ClientMsg.discover(0x02_00_00_00_0C_0CL));
        assertNotEquals(0, Reply.parse(newcomerOut.pollLast()).yiaddr());
        h.advance(31 * SECOND); // offers lapse: the port may ask again
        assertEquals(0, h.server.pool().activeOnPort(attacker.id()));
        h.sendFrom(attacker, ClientMsg.discover(ATTACKER + (21L << 16)));
        assertEquals(1 + 16 + 1 + 1, h.count("dhcp.offer"));
    }

    @Test
    void aClientMovingToANewPortTakesItsLeaseAlong() {
        h.sw.detach(h.guest);
        ArrayDeque<byte[]> out = new ArrayDeque<>();
        SwitchPort again = h.attach("victim-again", out);
        h.sendFrom(again, ClientMsg.select(VICTIM, DOT3, GW_IP));
        assertEquals(DhcpMessageType.ACK, Reply.parse(out.pollLast()).type());
        assertEquals(1, h.server.pool().activeOnPort(again.id()));
        assertEquals(0, h.server.pool().activeOnPort(h.guest.id()));
    }

    @Test
    void aGuestThatLostItsAddressWhileAsleepHearsTheNak() {
        h.advance(3601 * SECOND);
        ArrayDeque<byte[]> out = new ArrayDeque<>();
        SwitchPort other = h.attach("other", out);
        h.sendFrom(other, ClientMsg.discover(ATTACKER));
        h.sendFrom(other, ClientMsg.select(ATTACKER, DOT3, GW_IP));
        assertEquals(ATTACKER, h.stack.addressBindings().ownerOf(DOT3));
        h.out.clear();
        h.send(ClientMsg.renew(VICTIM, DOT3, GW_IP, GW_MAC)); // from .3, which is no longer its own
        assertEquals(DhcpMessageType.NAK, Reply.parse(h.out.pollLast()).type());
        assertEquals(0, h.count("ipv4.spoofedSource"));
        assertNotEquals(VICTIM, h.stack.arpCache().lookup(DOT3, h.now), "the gateway learned the lost address");
    }
}
