package dev.gvproxy.dhcp;

import static dev.gvproxy.dhcp.DhcpHarness.SECOND;
import static dev.gvproxy.testing.Frames.GUEST_MAC;
import static dev.gvproxy.testing.Frames.GW_IP;
import static dev.gvproxy.testing.Frames.GW_MAC;
import static dev.gvproxy.testing.Frames.getInt;
import static dev.gvproxy.testing.Frames.getShort;
import static dev.gvproxy.testing.Frames.ip;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class DhcpServerTest {
    static final long MAC_A = 0x02_00_00_00_00_0AL;
    static final long MAC_B = 0x02_00_00_00_00_0BL;
    static final long MAC_C = 0x02_00_00_00_00_0CL;
    static final int DOT2 = ip("192.168.127.2");
    static final int DOT3 = ip("192.168.127.3");
    static final int DOT4 = ip("192.168.127.4");
    static final int DOT5 = ip("192.168.127.5");
    static final long BCAST_MAC = 0xFFFF_FFFF_FFFFL;
    static final int BCAST = 0xFFFF_FFFF;

    DhcpHarness h = new DhcpHarness();

    /** DISCOVER then SELECTING REQUEST; returns the ACK. */
    Reply lease(long mac) {
        Reply offer = h.exchange(ClientMsg.discover(mac));
        assertNotNull(offer, "offer for " + Long.toHexString(mac));
        Reply ack = h.exchange(ClientMsg.select(mac, offer.yiaddr(), GW_IP));
        assertNotNull(ack);
        assertEquals(DhcpMessageType.ACK, ack.type());
        return ack;
    }

    @Nested
    class Discover {
        @Test
        void deviceMacIsOfferedItsStaticAddressWithFullConfiguration() {
            Reply r = h.exchange(ClientMsg.discover(GUEST_MAC).broadcastFlag());
            assertNotNull(r);
            assertEquals(DhcpMessageType.OFFER, r.type());
            assertEquals(2, r.op());
            assertEquals((int) (GUEST_MAC * 31 + 1), r.xid());
            assertEquals(DOT2, r.yiaddr());
            assertEquals(0, r.ciaddr());
            assertEquals(GUEST_MAC, r.chaddr());
            assertEquals(0x8000, r.flags());
            assertTrue(r.dhcpLen() >= 300, "BOOTP minimum size: " + r.dhcpLen());
            // Broadcast flag: IP and Ethernet broadcast, from gateway:67 to :68.
            assertEquals(BCAST_MAC, r.ethDst());
            assertEquals(GW_MAC, r.ethSrc());
            assertEquals(BCAST, r.ipDst());
            assertEquals(GW_IP, r.ipSrc());
            assertEquals(67, r.srcPort());
            assertEquals(68, r.dstPort());
            assertEquals(0xFFFFFF00, r.intOption(1));
            assertEquals(GW_IP, r.intOption(3));
            assertEquals(GW_IP, r.intOption(6));
            assertEquals(1500, getShort(r.option(26), 0));
            assertEquals(3600, r.intOption(51));
            assertEquals(GW_IP, r.intOption(54));
            assertEquals(1800, r.intOption(58));
            assertEquals(3150, r.intOption(59));
            assertEquals(ip("192.168.127.255"), r.intOption(28));
            assertFalse(r.has(15), "no domain configured");
            assertFalse(r.has(119), "no search list configured: option omitted, not empty");
            assertFalse(r.has(61));
            assertEquals(List.of(53, 54, 51, 58, 59), r.order().subList(0, 5));
            assertEquals(1, h.count("dhcp.discover"));
            assertEquals(1, h.count("dhcp.offer"));
        }

        @Test
        void withoutBroadcastFlagTheOfferIsUnicastToYiaddrAtChaddr() {
            Reply r = h.exchange(ClientMsg.discover(MAC_A));
            assertEquals(DOT3, r.yiaddr());
            assertEquals(MAC_A, r.ethDst());
            assertEquals(DOT3, r.ipDst());
            assertEquals(68, r.dstPort());
        }

        @Test
        void otherMacsGetTheLowestFreeAddressAndOffersAreHeld() {
            assertEquals(DOT3, h.exchange(ClientMsg.discover(MAC_A)).yiaddr());
            assertEquals(DOT4, h.exchange(ClientMsg.discover(MAC_B)).yiaddr(), ".3 is held for A");
            assertEquals(DOT3, h.exchange(ClientMsg.discover(MAC_A)).yiaddr(), "same client, same offer");
            h.advance(31 * SECOND);
            assertEquals(2, h.count("dhcp.offerExpired"));
            assertEquals(DOT3, h.exchange(ClientMsg.discover(MAC_C)).yiaddr(), "holds lapsed");
        }

        @Test
        void requestedAddressIsOfferedWhenFree() {
            Reply r = h.exchange(ClientMsg.discover(MAC_A).optionInt(50, ip("192.168.127.77")));
            assertEquals(ip("192.168.127.77"), r.yiaddr());
            Reply reserved = h.exchange(ClientMsg.discover(MAC_B).optionInt(50, ip("192.168.127.254")));
            assertEquals(DOT3, reserved.yiaddr(), "host alias is never leased");
            Reply outside = h.exchange(ClientMsg.discover(MAC_C).optionInt(50, ip("10.0.0.5")));
            assertEquals(DOT4, outside.yiaddr());
        }

        @Test
        void boundClientIsOfferedItsLeaseAgain() {
            assertEquals(DOT3, lease(MAC_A).yiaddr());
            assertEquals(DOT3, h.exchange(ClientMsg.discover(MAC_A).optionInt(50, DOT5)).yiaddr());
        }

        @Test
        void parameterRequestListOrdersTheConfigurationOptions() {
            Reply r = h.exchange(ClientMsg.discover(MAC_A).option(55, 6, 26, 3, 1));
            assertEquals(List.of(53, 54, 51, 58, 59, 6, 26, 3, 1, 28), r.order());
        }
    }

    @Nested
    class Selecting {
        @Test
        void requestForTheOfferIsAcknowledgedAndLeased() {
            Reply ack = lease(MAC_A);
            assertEquals(DOT3, ack.yiaddr());
            assertEquals(3600, ack.intOption(51));
            assertEquals(MAC_A, ack.ethDst(), "unicast to chaddr");
            assertEquals(DOT3, ack.ipDst());
            assertEquals(Map.of("192.168.127.1", "5a:94:ef:e4:0c:dd", "192.168.127.2", "5a:94:ef:e4:0c:ee",
                    "192.168.127.3", "02:00:00:00:00:0a"), h.server.leases());
            assertEquals(1, h.count("dhcp.request.selecting"));
        }

        @Test
        void requestNamingAnotherServerIsIgnored() {
            h.exchange(ClientMsg.discover(MAC_A));
            assertNull(h.exchange(ClientMsg.select(MAC_A, DOT3, ip("192.168.127.200"))));
            assertEquals(1, h.count("dhcp.otherServer"));
            assertFalse(h.server.leases().containsKey("192.168.127.3"));
        }

        @Test
        void requestForAnAddressHeldByAnotherClientIsNaked() {
            h.exchange(ClientMsg.discover(MAC_A));
            h.exchange(ClientMsg.discover(MAC_B));
            Reply nak = h.exchange(ClientMsg.select(MAC_B, DOT3, GW_IP));
            assertEquals(DhcpMessageType.NAK, nak.type());
            assertEquals(0, nak.yiaddr());
            assertEquals(BCAST, nak.ipDst(), "NAK is broadcast");
            assertEquals(BCAST_MAC, nak.ethDst());
            assertEquals(GW_IP, nak.intOption(54));
            assertFalse(nak.has(51));
            assertFalse(nak.has(1));
            assertTrue(nak.dhcpLen() >= 300);
            assertEquals(1, h.count("dhcp.nak"));
        }

        @Test
        void requestForAReservedAddressIsNaked() {
            for (String a : List.of("192.168.127.1", "192.168.127.2", "192.168.127.254", "192.168.127.255",
                    "192.168.127.0")) {
                Reply r = h.exchange(ClientMsg.select(MAC_A, ip(a), GW_IP));
                assertEquals(DhcpMessageType.NAK, r.type(), a);
            }
        }

        @Test
        void requestWithoutAnyAddressIsDropped() {
            assertNull(h.exchange(ClientMsg.of(3, MAC_A)));
            assertEquals(1, h.count("dhcp.requestNoAddress"));
        }
    }

    @Nested
    class InitReboot {
        @Test
        void knownClientKeepsItsAddress() {
            lease(MAC_A);
            Reply r = h.exchange(ClientMsg.initReboot(MAC_A, DOT3));
            assertEquals(DhcpMessageType.ACK, r.type());
            assertEquals(DOT3, r.yiaddr());
            assertEquals(1, h.count("dhcp.request.initReboot"));
        }

        @Test
        void addressOnAnotherNetworkIsNaked() {
            Reply r = h.exchange(ClientMsg.initReboot(MAC_A, ip("10.0.2.15")));
            assertEquals(DhcpMessageType.NAK, r.type());
            assertArrayEquals("wrong network".getBytes(), r.option(56));
        }

        @Test
        void addressLeasedToAnotherClientIsNaked() {
            lease(MAC_A);
            assertEquals(DhcpMessageType.NAK, h.exchange(ClientMsg.initReboot(MAC_B, DOT3)).type());
        }

        @Test
        void clientWithALeaseAskingForAnotherAddressIsNaked() {
            lease(MAC_A);
            assertEquals(DhcpMessageType.NAK, h.exchange(ClientMsg.initReboot(MAC_A, DOT5)).type());
        }

        @Test
        void staticMacAskingForAnotherAddressIsNakedAndGetsItsOwn() {
            assertEquals(DhcpMessageType.NAK, h.exchange(ClientMsg.initReboot(GUEST_MAC, DOT5)).type());
            Reply r = h.exchange(ClientMsg.initReboot(GUEST_MAC, DOT2));
            assertEquals(DhcpMessageType.ACK, r.type());
            assertEquals(DOT2, r.yiaddr());
        }

        @Test
        void unknownClientRebootingWithAFreeAddressKeepsIt() {
            Reply r = h.exchange(ClientMsg.initReboot(MAC_A, ip("192.168.127.50")));
            assertEquals(DhcpMessageType.ACK, r.type());
            assertEquals("02:00:00:00:00:0a", h.server.leases().get("192.168.127.50"));
        }
    }

    @Nested
    class RenewAndRebind {
        @Test
        void renewIsUnicastToCiaddrAndExtendsTheLease() {
            lease(MAC_A);
            h.advance(1800 * SECOND);
            Reply r = h.exchange(ClientMsg.renew(MAC_A, DOT3, GW_IP, GW_MAC));
            assertEquals(DhcpMessageType.ACK, r.type());
            assertEquals(DOT3, r.yiaddr());
            assertEquals(DOT3, r.ciaddr());
            assertEquals(DOT3, r.ipDst());
            assertEquals(MAC_A, r.ethDst());
            assertEquals(1, h.count("dhcp.request.renewing"));
            h.advance(3000 * SECOND); // 4800 s after the first ACK, 3000 s after the renewal
            assertEquals("02:00:00:00:00:0a", h.server.leases().get("192.168.127.3"));
            assertEquals(0, h.count("dhcp.leaseExpired"));
            h.advance(601 * SECOND);
            assertNull(h.server.leases().get("192.168.127.3"));
            assertEquals(1, h.count("dhcp.leaseExpired"));
        }

        @Test
        void rebindIsAcknowledged() {
            lease(MAC_A);
            h.advance(3200 * SECOND);
            Reply r = h.exchange(ClientMsg.rebind(MAC_A, DOT3));
            assertEquals(DhcpMessageType.ACK, r.type());
            assertEquals(DOT3, r.ipDst());
            assertEquals(1, h.count("dhcp.request.rebinding"));
        }

        @Test
        void renewOfAnAddressTakenAfterExpiryIsNaked() {
            lease(MAC_A);
            h.advance(3601 * SECOND);
            assertEquals(DOT3, lease(MAC_B).yiaddr(), "expired address returned to the pool");
            Reply r = h.exchange(ClientMsg.renew(MAC_A, DOT3, GW_IP, GW_MAC));
            assertEquals(DhcpMessageType.NAK, r.type());
        }

        @Test
        void expiredClientGetsItsOldAddressBackWhenNobodyTookIt() {
            lease(MAC_A);
            lease(MAC_B);
            h.advance(3601 * SECOND);
            assertEquals(2, h.count("dhcp.leaseExpired"));
            assertEquals(Set.of("192.168.127.1", "192.168.127.2"), h.server.leases().keySet());
            assertEquals(DOT4, h.exchange(ClientMsg.discover(MAC_B)).yiaddr());
            assertEquals(DhcpMessageType.ACK, h.exchange(ClientMsg.renew(MAC_A, DOT3, GW_IP, GW_MAC)).type());
        }
    }

    @Nested
    class ReleaseDeclineInform {
        @Test
        void releaseFreesTheAddress() {
            lease(MAC_A);
            ClientMsg rel = ClientMsg.of(7, MAC_A).optionInt(54, GW_IP);
            rel.ciaddr = DOT3;
            rel.srcIp = DOT3;
            rel.dstIp = GW_IP;
            rel.dstMac = GW_MAC;
            assertNull(h.exchange(rel), "no reply to RELEASE");
            assertFalse(h.server.leases().containsKey("192.168.127.3"));
            assertEquals(DOT3, h.exchange(ClientMsg.discover(MAC_B)).yiaddr());
        }

        @Test
        void releaseOfSomeoneElsesLeaseIsIgnored() {
            lease(MAC_A);
            ClientMsg rel = ClientMsg.of(7, MAC_B);
            rel.ciaddr = DOT3;
            h.send(rel);
            assertEquals(1, h.count("dhcp.releaseIgnored"));
            assertTrue(h.server.leases().containsKey("192.168.127.3"));
        }

        @Test
        void declinedAddressIsQuarantined() {
            lease(MAC_A);
            h.send(ClientMsg.of(4, MAC_A).optionInt(50, DOT3).optionInt(54, GW_IP));
            assertTrue(h.out.isEmpty());
            assertTrue(h.server.pool().quarantined(DOT3));
            assertFalse(h.server.leases().containsKey("192.168.127.3"));
            assertEquals(DOT4, h.exchange(ClientMsg.discover(MAC_A)).yiaddr());
            assertEquals(DhcpMessageType.NAK, h.exchange(ClientMsg.initReboot(MAC_B, DOT3)).type());
            h.advance(601 * SECOND);
            assertEquals(1, h.count("dhcp.quarantineExpired"));
            assertEquals(DOT3, h.exchange(ClientMsg.discover(MAC_C)).yiaddr());
        }

        @Test
        void declineOfAnAddressNotOfferedToTheClientIsIgnored() {
            lease(MAC_A);
            h.send(ClientMsg.of(4, MAC_B).optionInt(50, DOT3));
            assertEquals(1, h.count("dhcp.declineIgnored"));
            assertFalse(h.server.pool().quarantined(DOT3));
        }

        @Test
        void informIsAnsweredWithConfigurationButNoLease() {
            ClientMsg inf = ClientMsg.of(8, MAC_A);
            inf.ciaddr = ip("192.168.127.9");
            inf.srcIp = inf.ciaddr;
            inf.dstIp = GW_IP;
            inf.dstMac = GW_MAC;
            Reply r = h.exchange(inf);
            assertEquals(DhcpMessageType.ACK, r.type());
            assertEquals(0, r.yiaddr());
            assertEquals(inf.ciaddr, r.ciaddr());
            assertEquals(inf.ciaddr, r.ipDst());
            assertEquals(MAC_A, r.ethDst(), "resolved from the request's source");
            assertFalse(r.has(51));
            assertFalse(r.has(58));
            assertFalse(r.has(59));
            assertEquals(GW_IP, r.intOption(3));
            assertEquals(GW_IP, r.intOption(54));
            assertEquals(Set.of("192.168.127.1", "192.168.127.2"), h.server.leases().keySet());
        }

        @Test
        void informWithoutAnyAddressIsDropped() {
            assertNull(h.exchange(ClientMsg.of(8, MAC_A)));
            assertEquals(1, h.count("dhcp.informNoAddress"));
        }

        @Test
        void serverMessageTypesFromAClientAreCounted() {
            assertNull(h.exchange(ClientMsg.of(2, MAC_A)));
            assertNull(h.exchange(ClientMsg.of(42, MAC_A)));
            assertEquals(2, h.count("dhcp.unexpectedType"));
        }
    }

    @Nested
    class ClientIdentifier {
        @Test
        void isEchoedAndKeysTheLease() {
            byte[] id1 = {0, 'v', 'm', '1'};
            byte[] id2 = {0, 'v', 'm', '2'};
            Reply r1 = h.exchange(ClientMsg.discover(MAC_A).optionBytes(61, id1));
            assertArrayEquals(id1, r1.option(61));
            assertEquals(61, r1.order().get(r1.order().size() - 1));
            h.exchange(ClientMsg.select(MAC_A, r1.yiaddr(), GW_IP).optionBytes(61, id1));
            // Same MAC, another identifier: another client.
            Reply r2 = h.exchange(ClientMsg.discover(MAC_A).optionBytes(61, id2));
            assertEquals(DOT4, r2.yiaddr());
            assertEquals(DOT3, r1.yiaddr());
        }

        @Test
        void identifierThatIsTheMacCountsAsTheMac() {
            lease(MAC_A);
            Reply r = h.exchange(ClientMsg.discover(MAC_A).option(61, 1, 2, 0, 0, 0, 0, 0x0A));
            assertEquals(DOT3, r.yiaddr());
        }

        @Test
        void relayAgentInformationIsEchoed() {
            Reply r = h.exchange(ClientMsg.discover(MAC_A).option(82, 1, 2, 'x', 'y'));
            assertArrayEquals(new byte[] {1, 2, 'x', 'y'}, r.option(82));
        }
    }

    @Nested
    class Options {
        @Test
        void domainAndSearchListWhenConfigured() {
            h = new DhcpHarness(b -> b.domainName("example.test.").searchDomains(
                    List.of("corp.example.test", "example.test", "lab.other")));
            Reply r = h.exchange(ClientMsg.discover(MAC_A));
            assertArrayEquals("example.test".getBytes(), r.option(15));
            byte[] expected = {
                4, 'c', 'o', 'r', 'p', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0,
                (byte) 0xC0, 5, // example.test -> offset 5
                3, 'l', 'a', 'b', 5, 'o', 't', 'h', 'e', 'r', 0};
            assertArrayEquals(expected, r.option(119));
        }

        @Test
        void leaseTimeAndDnsServersAreConfigurable() {
            h = new DhcpHarness(b -> b.leaseTimeSeconds(600).dnsServers(List.of(ip("192.168.127.1"), ip("198.18.0.53"))));
            Reply r = h.exchange(ClientMsg.discover(MAC_A));
            assertEquals(600, r.intOption(51));
            assertEquals(300, r.intOption(58));
            assertEquals(525, r.intOption(59));
            assertEquals(8, r.option(6).length);
            assertEquals(ip("198.18.0.53"), getInt(r.option(6), 4));
        }

        @Test
        void longSearchListIsSplitAndTrimmedToTheClientsMaximumSize() {
            List<String> domains = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                domains.add("d" + i + ".search-domain-" + i + ".example");
            }
            h = new DhcpHarness(b -> b.searchDomains(domains));
            Reply big = h.exchange(ClientMsg.discover(MAC_A).option(57, 1500 >> 8, 1500 & 0xFF));
            byte[] encoded = DomainNames.encodeSearchList(domains);
            assertTrue(encoded.length > 255);
            assertArrayEquals(encoded, big.option(119), "split over several instances, concatenated");
            assertTrue(big.dhcpLen() <= 1500 - 28);
            Reply small = h.exchange(ClientMsg.discover(MAC_B));
            assertFalse(small.has(119));
            assertTrue(small.dhcpLen() <= 576 - 28);
            assertEquals(1, h.count("dhcp.optionsTrimmed"));
        }

        @Test
        void mtuFollowsTheNetwork() {
            h = new DhcpHarness(dev.gvproxy.stack.StackConfig.builder().mtu(9000).build(), b -> b);
            assertEquals(9000, getShort(h.exchange(ClientMsg.discover(MAC_A)).option(26), 0));
        }
    }

    @Nested
    class Pool {
        @Test
        void manyClientsNeverGetReservedAddressesAndExhaustCleanly() {
            Set<Integer> given = new HashSet<>();
            int answered = 0;
            for (int i = 0; i < 260; i++) {
                long mac = 0x02_00_00_10_00_00L + i;
                Reply offer = h.exchange(ClientMsg.discover(mac));
                if (offer == null) {
                    continue;
                }
                answered++;
                Reply ack = h.exchange(ClientMsg.select(mac, offer.yiaddr(), GW_IP));
                assertEquals(DhcpMessageType.ACK, ack.type());
                int a = ack.yiaddr();
                assertTrue(given.add(a), "distinct");
                int last = a & 0xFF;
                assertNotEquals(0, last);
                assertNotEquals(1, last);
                assertNotEquals(2, last);
                assertNotEquals(254, last);
                assertNotEquals(255, last);
                assertEquals(ip("192.168.127.0"), a & 0xFFFFFF00);
            }
            assertEquals(251, answered, ".3 to .253");
            assertEquals(9, h.count("dhcp.poolExhausted"));
            assertEquals(0, h.server.pool().freeCount());
            assertEquals(253, h.server.leases().size(), "gateway, device, 251 leases");
            // The static device still gets its address.
            assertEquals(DOT2, h.exchange(ClientMsg.discover(GUEST_MAC)).yiaddr());
        }

        @Test
        void offersAloneAlsoExhaustThePoolUntilTheyLapse() {
            for (int i = 0; i < 251; i++) {
                assertNotNull(h.exchange(ClientMsg.discover(0x02_00_00_20_00_00L + i)));
            }
            assertNull(h.exchange(ClientMsg.discover(MAC_A)));
            assertEquals(1, h.count("dhcp.poolExhausted"));
            assertEquals(h.now + DhcpConfig.DEFAULT_OFFER_HOLD_NANOS, h.server.nextDeadline());
            h.advance(DhcpConfig.DEFAULT_OFFER_HOLD_NANOS);
            assertEquals(Long.MAX_VALUE, h.server.nextDeadline());
            assertEquals(DOT3, h.exchange(ClientMsg.discover(MAC_A)).yiaddr());
        }

        @Test
        void poolBoundsAreHonoured() {
            h = new DhcpHarness(b -> b.pool("192.168.127.100", "192.168.127.101"));
            assertEquals(ip("192.168.127.100"), h.exchange(ClientMsg.discover(MAC_A)).yiaddr());
            assertEquals(ip("192.168.127.101"), h.exchange(ClientMsg.discover(MAC_B)).yiaddr());
            assertNull(h.exchange(ClientMsg.discover(MAC_C)));
            assertEquals(DhcpMessageType.NAK, h.exchange(ClientMsg.initReboot(MAC_C, DOT5)).type());
        }

        @Test
        void staticLeasesComeFromTheNetworkAndCanBeReplaced() {
            h = new DhcpHarness(b -> b.staticLeases(Map.of(ip("192.168.127.3"), MAC_B)));
            assertEquals(DOT2, h.exchange(ClientMsg.discover(MAC_A)).yiaddr(), ".2 is not reserved any more");
            assertEquals(DOT3, h.exchange(ClientMsg.discover(MAC_B)).yiaddr());
            assertEquals(DOT4, h.exchange(ClientMsg.discover(GUEST_MAC)).yiaddr());
        }
    }

    @Nested
    class Malformed {
        void assertDropped(ClientMsg m, String counter) {
            assertNull(h.exchange(m));
            assertEquals(1, h.count(counter), counter + " in " + h.counters.snapshot());
            assertEquals(0, h.count("dhcp.offer"));
        }

        @Test
        void badMagicCookie() {
            ClientMsg m = ClientMsg.discover(MAC_A);
            m.magic = 0x63825364;
            assertDropped(m, "dhcp.badMagic");
        }

        @Test
        void shorterThanTheFixedHeader() {
            ClientMsg m = ClientMsg.discover(MAC_A);
            m.truncateTo = 239;
            assertDropped(m, "dhcp.truncated");
        }

        @Test
        void optionCodeWithoutLength() {
            ClientMsg m = ClientMsg.discover(MAC_A).noEnd().raw(12);
            assertDropped(m, "dhcp.truncatedOption");
        }

        @Test
        void optionLengthRunningPastTheEnd() {
            ClientMsg m = ClientMsg.discover(MAC_A).noEnd().raw(12, 200, 'a', 'b', 255);
            assertDropped(m, "dhcp.overlongOption");
        }

        @Test
        void noEndOption() {
            assertDropped(ClientMsg.discover(MAC_A).noEnd(), "dhcp.missingEnd");
        }

        @Test
        void noMessageType() {
            ClientMsg m = new ClientMsg();
            m.mac = MAC_A;
            assertDropped(m, "dhcp.noMessageType");
        }

        @Test
        void messageTypeOfWrongLength() {
            ClientMsg m = new ClientMsg();
            m.mac = MAC_A;
            m.option(53, 1, 1);
            assertDropped(m, "dhcp.noMessageType");
        }

        @Test
        void bootReplyFromAGuest() {
            ClientMsg m = ClientMsg.discover(MAC_A);
            m.op = 2;
            assertDropped(m, "dhcp.notRequest");
        }

        @Test
        void nonEthernetHardware() {
            ClientMsg m = ClientMsg.discover(MAC_A);
            m.htype = 6;
            assertDropped(m, "dhcp.badHardwareType");
        }

        @Test
        void zeroChaddr() {
            ClientMsg m = ClientMsg.discover(0);
            // The frame's source MAC is the chaddr here, so send from a real MAC with chaddr zero.
            byte[] f = m.frame();
            f[6] = 2;
            h.sendFrame(f);
            assertTrue(h.out.isEmpty());
            assertEquals(1, h.count("dhcp.badChaddr"));
        }

        @Test
        void badOverloadValue() {
            assertDropped(ClientMsg.discover(MAC_A).option(52, 7), "dhcp.badOverload");
        }

        @Test
        void unicastToAnotherServer() {
            ClientMsg m = ClientMsg.discover(MAC_A);
            m.dstIp = ip("10.1.2.3");
            m.dstMac = GW_MAC;
            assertDropped(m, "dhcp.notForUs");
        }

        @Test
        void optionsOverloadedIntoTheFileFieldAreRead() {
            ClientMsg m = new ClientMsg();
            m.mac = MAC_A;
            m.option(52, 1);
            m.file[0] = 53;
            m.file[1] = 1;
            m.file[2] = 1;
            m.file[3] = (byte) 255;
            Reply r = h.exchange(m);
            assertNotNull(r);
            assertEquals(DhcpMessageType.OFFER, r.type());
        }

        @Test
        void overloadedFileFieldWithoutEndIsDropped() {
            ClientMsg m = ClientMsg.discover(MAC_A).option(52, 1);
            for (int i = 0; i < m.file.length; i += 2) {
                m.file[i] = 1; // empty options of code 1, never terminated
            }
            assertDropped(m, "dhcp.missingEnd");
        }
    }

    @Test
    void closeUnbindsThePort() {
        h.server.close();
        assertNull(h.exchange(ClientMsg.discover(MAC_A)));
        assertEquals(1, h.count("udp.broadcastUnbound"));
    }
}
