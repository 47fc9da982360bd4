package dev.gvproxy.dhcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.udp.UdpDatagram;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.util.ArrayDeque;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** Packet-level DHCPv6 (RFC 8415) exchanges against {@link Dhcpv6Server}: stateless, stateful, malformed. */
class Dhcpv6ServerTest {
    static final long SECOND = 1_000_000_000L;
    static final StackConfig NET = StackConfig.defaults();
    static final Ipv6Address PREFIX = NET.ipv6().prefix();
    static final Ipv6Address GW6 = NET.ipv6().gateway();
    static final long MAC_A = 0x02_00_00_00_00_0aL;
    static final long MAC_B = 0x02_00_00_00_00_0bL;
    static final long DEVICE_MAC = StackConfig.DEFAULT_DEVICE_MAC;

    final Counters counters = new Counters();
    long now = 1_000 * SECOND;
    Dhcpv6Server server;

    Dhcpv6ServerTest() {
        server = server(b -> b.searchDomains(List.of("example.test")));
    }

    Dhcpv6Server server(UnaryOperator<Dhcpv6Config.Builder> cfg) {
        return new Dhcpv6Server(NET.ipv6(), NET.gatewayMac(), cfg.apply(Dhcpv6Config.builder(NET)).build(), counters);
    }

    /** DUID-LL (type 3, Ethernet) of a MAC. */
    static byte[] duidLl(long mac) {
        byte[] d = new byte[10];
        d[1] = 3;
        d[3] = 1;
        for (int i = 0; i < 6; i++) {
            d[4 + i] = (byte) (mac >>> (40 - 8 * i));
        }
        return d;
    }

    /** DUID-LLT (type 1, Ethernet, time 0x01020304) of a MAC. */
    static byte[] duidLlt(long mac) {
        byte[] d = new byte[14];
        d[1] = 1;
        d[3] = 1;
        d[4] = 1;
        d[5] = 2;
        d[6] = 3;
        d[7] = 4;
        for (int i = 0; i < 6; i++) {
            d[8 + i] = (byte) (mac >>> (40 - 8 * i));
        }
        return d;
    }

    /** A client message under construction. */
    static final class Msg {
        final ByteArrayOutputStream b = new ByteArrayOutputStream();

        Msg(int type, int xid) {
            b.write(type);
            b.write(xid >>> 16);
            b.write(xid >>> 8);
            b.write(xid);
        }

        Msg option(int code, byte[] data) {
            b.write(code >>> 8);
            b.write(code);
            b.write(data.length >>> 8);
            b.write(data.length);
            b.writeBytes(data);
            return this;
        }

        Msg clientId(byte[] duid) {
            return option(Dhcpv6Option.CLIENTID, duid);
        }

        Msg serverId(byte[] duid) {
            return option(Dhcpv6Option.SERVERID, duid);
        }

        Msg oro(int... codes) {
            byte[] d = new byte[2 * codes.length];
            for (int i = 0; i < codes.length; i++) {
                d[2 * i + 1] = (byte) codes[i];
            }
            return option(Dhcpv6Option.ORO, d);
        }

        Msg iaNa(int iaid, Ipv6Address... addrs) {
            ByteBuf d = Unpooled.buffer();
            d.writeInt(iaid).writeInt(0).writeInt(0);
            for (Ipv6Address a : addrs) {
                d.writeShort(Dhcpv6Option.IAADDR).writeShort(24);
                a.write(d);
                d.writeInt(0).writeInt(0);
            }
            return option(Dhcpv6Option.IA_NA, Frames.bytes(d));
        }

        Msg rapidCommit() {
            return option(Dhcpv6Option.RAPID_COMMIT, new byte[0]);
        }

        byte[] bytes() {
            return b.toByteArray();
        }
    }

    Dhcpv6Repr send(long mac, byte[] msg) {
        UdpDatagram d = new UdpDatagram(mac, Ipv6Address.linkLocalFromMac(mac), Dhcpv6Server.CLIENT_PORT,
                Ipv6Address.ALL_DHCP_AGENTS, Dhcpv6Server.SERVER_PORT);
        ByteBuf p = Unpooled.wrappedBuffer(msg);
        Dhcpv6Repr r = server.answer(d, p, now);
        if (r == null) {
            return null;
        }
        // What goes on the wire must read back as what was built.
        ByteBuf out = Unpooled.buffer(r.bufferLen());
        r.emit(out);
        assertEquals(r.bufferLen(), out.readableBytes());
        assertNull(Dhcpv6Packet.check(out, 0, out.readableBytes()));
        Dhcpv6Repr back = Dhcpv6Repr.parse(out, 0, out.readableBytes());
        assertEquals(r.iaNa(), back.iaNa());
        assertEquals(r.status(), back.status());
        return r;
    }

    static Ipv6Address addr(Dhcpv6Repr r) {
        return r.iaNa().getFirst().addresses().getFirst().address();
    }

    Ipv6Address lease(long mac, byte[] duid, int iaid) {
        Dhcpv6Repr adv = send(mac, new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duid).iaNa(iaid).bytes());
        Dhcpv6Repr rep = send(mac, new Msg(Dhcpv6Option.REQUEST, 2).clientId(duid).serverId(server.serverDuid())
                .iaNa(iaid, addr(adv)).bytes());
        return addr(rep);
    }

    @Test
    void informationRequestGetsDnsAndSearchList() {
        byte[] duid = duidLlt(MAC_A);
        Dhcpv6Repr r = send(MAC_A, new Msg(Dhcpv6Option.INFORMATION_REQUEST, 0xABCDEF).clientId(duid)
                .oro(Dhcpv6Option.DNS_SERVERS, Dhcpv6Option.DOMAIN_LIST).bytes());
        assertEquals(Dhcpv6Option.REPLY, r.type());
        assertEquals(0xABCDEF, r.transactionId());
        assertArrayEquals(duid, r.clientId());
        assertArrayEquals(HexFormat.of().parseHex("00030001" + "5a94efe40cdd"), r.serverId(), "DUID-LL of the gateway");
        assertEquals(List.of(GW6), r.dnsServers());
        assertArrayEquals(DomainNames.encodeSearchList(List.of("example.test")), r.domainList());
        assertTrue(r.iaNa().isEmpty());
        assertEquals(1, counters.get("dhcpv6.informationRequest"));
    }

    @Test
    void informationRequestWithoutClientIdAndOnlyDnsAsked() {
        Dhcpv6Repr r = send(MAC_A, new Msg(Dhcpv6Option.INFORMATION_REQUEST, 7).oro(Dhcpv6Option.DNS_SERVERS).bytes());
        assertNull(r.clientId());
        assertEquals(List.of(GW6), r.dnsServers());
        assertNull(r.domainList(), "not asked for");
    }

    @Test
    void informationRequestWithIaIsDropped() {
        assertNull(send(MAC_A, new Msg(Dhcpv6Option.INFORMATION_REQUEST, 7).iaNa(1).bytes()));
        assertEquals(1, counters.get("dhcpv6.unexpectedIa"));
    }

    @Nested
    class Stateful {
        @Test
        void solicitAdvertiseRequestReplyRenewRebindRelease() {
            byte[] duid = duidLlt(MAC_A);
            Dhcpv6Repr adv = send(MAC_A, new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duid).iaNa(42)
                    .oro(Dhcpv6Option.DNS_SERVERS).bytes());
            assertEquals(Dhcpv6Option.ADVERTISE, adv.type());
            Ipv6Address a = addr(adv);
            assertEquals(new Ipv6Address(PREFIX.hi(), 0x1_0000L), a, "first pool address");
            assertEquals(42, adv.iaNa().getFirst().iaid());
            assertEquals(1800, adv.iaNa().getFirst().t1());
            assertEquals(2880, adv.iaNa().getFirst().t2());
            assertEquals(3600, adv.iaNa().getFirst().addresses().getFirst().valid());
            assertEquals(List.of(GW6), adv.dnsServers());
            assertTrue(server.leases(now).isEmpty(), "an Advertise binds nothing");

            Dhcpv6Repr rep = send(MAC_A, new Msg(Dhcpv6Option.REQUEST, 2).clientId(duid).serverId(server.serverDuid())
                    .iaNa(42, a).bytes());
            assertEquals(Dhcpv6Option.REPLY, rep.type());
            assertEquals(a, addr(rep));
            assertEquals(List.of(a.toString()), List.copyOf(server.leases(now).keySet()));

            // Another client gets another address.
            Ipv6Address b = lease(MAC_B, duidLl(MAC_B), 1);
            assertNotEquals(a, b);

            now += 1000 * SECOND;
            Dhcpv6Repr renew = send(MAC_A, new Msg(Dhcpv6Option.RENEW, 3).clientId(duid).serverId(server.serverDuid())
                    .iaNa(42, a).bytes());
            assertEquals(a, addr(renew));
            assertEquals(1, renew.iaNa().getFirst().addresses().size());

            // Rebind listing a stale address too: that one comes back with lifetimes 0.
            Ipv6Address stale = new Ipv6Address(PREFIX.hi(), 0x1_0999L);
            Dhcpv6Repr rebind = send(MAC_A, new Msg(Dhcpv6Option.REBIND, 4).clientId(duid).iaNa(42, a, stale).bytes());
            assertEquals(List.of(new Dhcpv6Repr.IaAddr(a, 3600, 3600), new Dhcpv6Repr.IaAddr(stale, 0, 0)),
                    rebind.iaNa().getFirst().addresses());

            // The lease was extended: still there after the original lease time.
            now += 3000 * SECOND;
            assertTrue(server.leases(now).containsKey(a.toString()));

            Dhcpv6Repr rel = send(MAC_A, new Msg(Dhcpv6Option.RELEASE, 5).clientId(duid).serverId(server.serverDuid())
                    .iaNa(42, a).bytes());
            assertEquals(Dhcpv6Option.STATUS_SUCCESS, rel.status().code());
            assertFalse(server.leases(now).containsKey(a.toString()));
            assertEquals(1, counters.get("dhcpv6.released"));
        }

        @Test
        void leasesExpire() {
            Ipv6Address a = lease(MAC_A, duidLl(MAC_A), 1);
            assertEquals(3600 * SECOND + now, server.nextDeadline());
            now += 3600 * SECOND;
            server.poll(now);
            assertFalse(server.leases(now).containsKey(a.toString()));
        }

        @Test
        void rapidCommitBindsAtOnce() {
            byte[] duid = duidLl(MAC_A);
            Dhcpv6Repr r = send(MAC_A, new Msg(Dhcpv6Option.SOLICIT, 9).clientId(duid).iaNa(1).rapidCommit().bytes());
            assertEquals(Dhcpv6Option.REPLY, r.type());
            assertTrue(r.rapidCommit());
            assertTrue(server.leases(now).containsKey(addr(r).toString()));
            assertEquals(1, counters.get("dhcpv6.rapidCommit"));

            server = server(b -> b.rapidCommit(false));
            Dhcpv6Repr adv = send(MAC_A, new Msg(Dhcpv6Option.SOLICIT, 9).clientId(duid).iaNa(1).rapidCommit().bytes());
            assertEquals(Dhcpv6Option.ADVERTISE, adv.type());
            assertFalse(adv.rapidCommit());
        }

        @Test
        void staticLeaseByDuid() {
            Ipv6Address fixed = new Ipv6Address(PREFIX.hi(), 0x77);
            byte[] duid = HexFormat.of().parseHex("0002000000090102030405");
            server = server(b -> b.staticLease("00:02:00:00:00:09:01:02:03:04:05", fixed));
            assertEquals(fixed, lease(MAC_A, duid, 1));
            // The pool never hands it out to others, even when asked for.
            Dhcpv6Repr other = send(MAC_B, new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLl(MAC_B)).iaNa(1, fixed)
                    .bytes());
            assertNotEquals(fixed, addr(other));
        }

        @Test
        void staticLeaseByMacFromTheFrame() {
            // The default config gives the IPv4 device lease's MAC the IPv6 device address.
            assertEquals(NET.ipv6().device(), lease(DEVICE_MAC, duidLlt(DEVICE_MAC), 1));
            // A DUID-EN (no MAC inside) from that MAC: still the frame's MAC.
            server = server(b -> b);
            assertEquals(NET.ipv6().device(), lease(DEVICE_MAC, HexFormat.of().parseHex("000200000009aa"), 1));
        }

        @Test
        void aDuidNamingAnotherMacDoesNotGetItsStaticLease() {
            // Guest B claims the device's DUID-LL: counted, and B gets a pool address, not the device's.
            Ipv6Address got = lease(MAC_B, duidLl(DEVICE_MAC), 1);
            assertNotEquals(NET.ipv6().device(), got);
            assertTrue(counters.get("dhcpv6.duidMacMismatch") > 0);
        }

        @Test
        void aBorrowedDuidDoesNotTouchTheOwnersBinding() {
            byte[] duid = duidLlt(MAC_A);
            Ipv6Address a = lease(MAC_A, duid, 1);
            // Guest B replays A's DUID and IAID: it is served separately and cannot release A's address.
            Ipv6Address b = lease(MAC_B, duid, 1);
            assertNotEquals(a, b);
            send(MAC_B, new Msg(Dhcpv6Option.RELEASE, 5).clientId(duid).serverId(server.serverDuid()).iaNa(1, a)
                    .bytes());
            assertTrue(server.leases(now).containsKey(a.toString()));
            assertTrue(counters.get("dhcpv6.duidConflict") > 0);
        }

        @Test
        void noAddrsAvailWhenTheLeaseLimitIsReached() {
            server = server(b -> b.maxLeases(1));
            lease(MAC_A, duidLl(MAC_A), 1);
            Dhcpv6Repr adv = send(MAC_B, new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLl(MAC_B)).iaNa(1).bytes());
            assertEquals(Dhcpv6Option.ADVERTISE, adv.type());
            assertEquals(Dhcpv6Option.STATUS_NO_ADDRS_AVAIL, adv.status().code());
            assertTrue(adv.iaNa().isEmpty());
            Dhcpv6Repr rep = send(MAC_B, new Msg(Dhcpv6Option.REQUEST, 2).clientId(duidLl(MAC_B))
                    .serverId(server.serverDuid()).iaNa(1).bytes());
            assertEquals(Dhcpv6Option.STATUS_NO_ADDRS_AVAIL, rep.iaNa().getFirst().status().code());
            assertEquals(1, counters.get("dhcpv6.leaseLimit") - 1, "counted per refusal");
        }

        @Test
        void smallPoolExhausts() {
            Ipv6Address first = new Ipv6Address(PREFIX.hi(), 0x100);
            server = server(b -> b.pool(first, first));
            assertEquals(first, lease(MAC_A, duidLl(MAC_A), 1));
            Dhcpv6Repr adv = send(MAC_B, new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLl(MAC_B)).iaNa(1).bytes());
            assertEquals(Dhcpv6Option.STATUS_NO_ADDRS_AVAIL, adv.status().code());
            assertTrue(counters.get("dhcpv6.noAddrsAvail") > 0);
        }

        @Test
        void declinedAddressIsQuarantined() {
            byte[] duid = duidLl(MAC_A);
            Ipv6Address a = lease(MAC_A, duid, 1);
            Dhcpv6Repr r = send(MAC_A, new Msg(Dhcpv6Option.DECLINE, 3).clientId(duid).serverId(server.serverDuid())
                    .iaNa(1, a).bytes());
            assertEquals(Dhcpv6Option.STATUS_SUCCESS, r.status().code());
            Ipv6Address again = lease(MAC_A, duid, 1);
            assertNotEquals(a, again);
            Dhcpv6Repr other = send(MAC_B, new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLl(MAC_B)).iaNa(1, a).bytes());
            assertNotEquals(a, addr(other), "hint for a quarantined address not honoured");
        }

        @Test
        void confirm() {
            byte[] duid = duidLl(MAC_A);
            Ipv6Address a = lease(MAC_A, duid, 1);
            Dhcpv6Repr ok = send(MAC_A, new Msg(Dhcpv6Option.CONFIRM, 3).clientId(duid).iaNa(1, a).bytes());
            assertEquals(Dhcpv6Option.STATUS_SUCCESS, ok.status().code());
            Dhcpv6Repr off = send(MAC_A, new Msg(Dhcpv6Option.CONFIRM, 3).clientId(duid)
                    .iaNa(1, Ipv6Address.parse("2001:2::5")).bytes());
            assertEquals(Dhcpv6Option.STATUS_NOT_ON_LINK, off.status().code());
            assertNull(send(MAC_A, new Msg(Dhcpv6Option.CONFIRM, 3).clientId(duid).iaNa(1).bytes()));
        }

        @Test
        void serverIdRules() {
            byte[] duid = duidLl(MAC_A);
            byte[] other = duidLl(MAC_B);
            assertNull(send(MAC_A, new Msg(Dhcpv6Option.REQUEST, 1).clientId(duid).serverId(other).iaNa(1).bytes()));
            assertEquals(1, counters.get("dhcpv6.otherServer"));
            assertNull(send(MAC_A, new Msg(Dhcpv6Option.REQUEST, 1).clientId(duid).iaNa(1).bytes()));
            assertEquals(1, counters.get("dhcpv6.missingServerId"));
            assertNull(send(MAC_A, new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duid).serverId(server.serverDuid())
                    .iaNa(1).bytes()));
            assertEquals(1, counters.get("dhcpv6.unexpectedServerId"));
            assertNull(send(MAC_A, new Msg(Dhcpv6Option.SOLICIT, 1).iaNa(1).bytes()));
            assertEquals(1, counters.get("dhcpv6.missingClientId"));
            assertNull(send(MAC_A, new Msg(Dhcpv6Option.ADVERTISE, 1).clientId(duid).bytes()));
            assertEquals(1, counters.get("dhcpv6.notClientMessage"));
            assertNull(send(MAC_A, new Msg(Dhcpv6Option.RELAY_FORW, 1).bytes()));
            assertEquals(1, counters.get("dhcpv6.relay"));
        }
    }

    @Nested
    class Malformed {
        void dropped(byte[] msg, String counter) {
            long before = counters.get(counter);
            assertNull(send(MAC_A, msg), counter);
            assertEquals(before + 1, counters.get(counter), counter);
        }

        @Test
        void eachReasonIsCounted() {
            dropped(new byte[] {1, 0}, "dhcpv6.runt");
            dropped(new byte[] {1, 0, 0, 1, 0, 1, 0, 9, 1}, "dhcpv6.optionOverrun");
            dropped(new byte[] {1, 0, 0, 1, 0, 1}, "dhcpv6.optionOverrun"); // option header cut short
        }

        @Test
        void limits() {
            Msg many = new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLl(MAC_A));
            for (int i = 0; i < 70; i++) {
                many.option(8, new byte[2]);
            }
            dropped(many.bytes(), "dhcpv6.tooManyOptions");
            Msg ias = new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLl(MAC_A));
            for (int i = 0; i < 9; i++) {
                ias.iaNa(i);
            }
            dropped(ias.bytes(), "dhcpv6.tooManyIas");
            Ipv6Address[] nine = new Ipv6Address[9];
            java.util.Arrays.fill(nine, GW6);
            dropped(new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLl(MAC_A)).iaNa(1, nine).bytes(),
                    "dhcpv6.tooManyAddresses");
            dropped(new Msg(Dhcpv6Option.SOLICIT, 1).clientId(new byte[131]).bytes(), "dhcpv6.badDuid");
            dropped(new Msg(Dhcpv6Option.SOLICIT, 1).clientId(new byte[1]).bytes(), "dhcpv6.badDuid");
            dropped(new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLl(MAC_A)).clientId(duidLl(MAC_B)).bytes(),
                    "dhcpv6.duplicateId");
            dropped(new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLl(MAC_A)).option(Dhcpv6Option.IA_NA, new byte[11])
                    .bytes(), "dhcpv6.badIa");
            dropped(new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLl(MAC_A)).option(Dhcpv6Option.ORO, new byte[3])
                    .bytes(), "dhcpv6.badOro");
        }

        @Test
        void mutatedMessagesNeverThrow() {
            Random rnd = new Random(11);
            byte[][] seeds = {
                new Msg(Dhcpv6Option.SOLICIT, 1).clientId(duidLlt(MAC_A)).iaNa(1, GW6).rapidCommit().oro(23, 24)
                        .bytes(),
                new Msg(Dhcpv6Option.REQUEST, 2).clientId(duidLl(MAC_A)).serverId(server.serverDuid()).iaNa(3, GW6)
                        .bytes(),
                new Msg(Dhcpv6Option.INFORMATION_REQUEST, 3).clientId(duidLl(MAC_A)).oro(23, 24).bytes(),
            };
            for (int i = 0; i < 20_000; i++) {
                byte[] m = seeds[i % seeds.length].clone();
                int flips = 1 + rnd.nextInt(4);
                for (int f = 0; f < flips; f++) {
                    m[rnd.nextInt(m.length)] = (byte) rnd.nextInt(256);
                }
                if (rnd.nextInt(4) == 0) {
                    m = java.util.Arrays.copyOf(m, rnd.nextInt(m.length + 1));
                }
                send(rnd.nextBoolean() ? MAC_A : MAC_B, m); // must not throw; any reply reads back
            }
        }
    }

    /** Through a real stack: Solicit to ff02::1:2 from the guest's link-local address, answered at its MAC. */
    @Test
    void overTheStack() {
        Counters c = new Counters();
        long[] clock = {now};
        VirtualSwitch sw = new VirtualSwitch(NET.gatewayMac(), c, () -> clock[0], () -> clock[0], NET.portSecurity());
        NetworkStack stack = new NetworkStack(NET, sw, c, PooledByteBufAllocator.DEFAULT, () -> clock[0]);
        ArrayDeque<byte[]> out = new ArrayDeque<>();
        SwitchPort guest = sw.attach("guest", new LinkEndpoint() {
            @Override
            public void transmit(ByteBuf frame) {
                byte[] f = Frames.bytes(frame);
                frame.release();
                // Keep UDP (next header 17) only: router advertisements and NDP are not this test's.
                if (Frames.getShort(f, 12) == 0x86DD && (f[20] & 0xFF) == 17) {
                    out.add(f);
                }
            }

            @Override
            public void flush() {}
        });
        Dhcpv6Server s = Dhcpv6Server.install(stack);
        byte[] duid = duidLlt(DEVICE_MAC);
        Ipv6Address ll = Ipv6Address.linkLocalFromMac(DEVICE_MAC);
        byte[] msg = new Msg(Dhcpv6Option.SOLICIT, 0x123456).clientId(duid).iaNa(5).rapidCommit().oro(23).bytes();
        sw.deliver(guest, Unpooled.wrappedBuffer(udpFrame(DEVICE_MAC, ll, Ipv6Address.ALL_DHCP_AGENTS, msg)));
        sw.flush();
        stack.flush();
        byte[] f = out.poll();
        assertNotNull(f, "a reply frame");
        assertEquals(DEVICE_MAC, mac(f, 0));
        ByteBuf b = Unpooled.wrappedBuffer(f);
        assertEquals(Ipv6Address.parse("fe80::1"), Ipv6Address.get(b, 22));
        assertEquals(ll, Ipv6Address.get(b, 38));
        assertEquals(Dhcpv6Server.SERVER_PORT, b.getUnsignedShort(54));
        assertEquals(Dhcpv6Server.CLIENT_PORT, b.getUnsignedShort(56));
        assertEquals(0, udpChecksum(f), "UDP checksum over the IPv6 pseudo-header verifies");
        Dhcpv6Repr r = Dhcpv6Repr.parse(b, 62, f.length - 62);
        assertEquals(Dhcpv6Option.REPLY, r.type());
        assertEquals(0x123456, r.transactionId());
        assertEquals(NET.ipv6().device(), addr(r));
        assertEquals(List.of(GW6), r.dnsServers());
        assertTrue(s.leases(clock[0]).containsKey(NET.ipv6().device().toString()));
        s.close();
        stack.close();
    }

    static long mac(byte[] f, int off) {
        long m = 0;
        for (int i = 0; i < 6; i++) {
            m = (m << 8) | (f[off + i] & 0xFF);
        }
        return m;
    }

    static byte[] udpFrame(long srcMac, Ipv6Address src, Ipv6Address dst, byte[] data) {
        ByteBuf b = Unpooled.buffer();
        long dmac = dst.multicastMac();
        for (int i = 5; i >= 0; i--) {
            b.writeByte((int) (dmac >>> (8 * i)));
        }
        for (int i = 5; i >= 0; i--) {
            b.writeByte((int) (srcMac >>> (8 * i)));
        }
        b.writeShort(0x86DD);
        b.writeInt(0x6000_0000).writeShort(8 + data.length).writeByte(17).writeByte(1);
        src.write(b);
        dst.write(b);
        b.writeShort(Dhcpv6Server.CLIENT_PORT).writeShort(Dhcpv6Server.SERVER_PORT).writeShort(8 + data.length)
                .writeShort(0).writeBytes(data);
        byte[] f = Frames.bytes(b);
        int sum = udpChecksum(f);
        f[60] = (byte) (sum >>> 8);
        f[61] = (byte) sum;
        return f;
    }

    /** The one's-complement checksum over the IPv6 pseudo-header and UDP (0 when a filled one verifies). */
    static int udpChecksum(byte[] f) {
        int len = f.length - 54;
        long sum = 0;
        for (int i = 22; i < 54; i += 2) {
            sum += Frames.getShort(f, i);
        }
        sum += len + 17;
        for (int i = 54; i < f.length; i += 2) {
            sum += i + 1 < f.length ? Frames.getShort(f, i) : (f[i] & 0xFF) << 8;
        }
        while (sum >>> 16 != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        return (int) (~sum & 0xFFFF);
    }
}
