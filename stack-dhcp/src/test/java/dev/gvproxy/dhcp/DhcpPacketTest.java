package dev.gvproxy.dhcp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class DhcpPacketTest {
    static ByteBuf wrap(byte[] b) {
        return Unpooled.wrappedBuffer(b);
    }

    @Test
    void readsTheFixedFieldsAndOptionsOfAHandBuiltRequest() {
        ClientMsg m = ClientMsg.select(0x0200000000AAL, Frames.ip("192.168.127.9"), Frames.GW_IP)
                .option(55, 1, 3, 6).option(57, 0x05, 0xDC).xid(0xCAFEBABE).broadcastFlag();
        m.ciaddr = Frames.ip("1.2.3.4");
        m.giaddr = Frames.ip("5.6.7.8");
        byte[] d = m.dhcp();
        // Put the message at a non-zero offset, as it is inside a frame.
        byte[] framed = new byte[d.length + 42];
        System.arraycopy(d, 0, framed, 42, d.length);
        ByteBuf b = wrap(framed);
        assertNull(DhcpPacket.check(b, 42, d.length));
        assertEquals(1, DhcpPacket.op(b, 42));
        assertEquals(1, DhcpPacket.htype(b, 42));
        assertEquals(6, DhcpPacket.hlen(b, 42));
        assertEquals(0, DhcpPacket.hops(b, 42));
        assertEquals(0xCAFEBABE, DhcpPacket.xid(b, 42));
        assertEquals(0, DhcpPacket.secs(b, 42));
        assertEquals(0x8000, DhcpPacket.flags(b, 42));
        assertEquals(Frames.ip("1.2.3.4"), DhcpPacket.ciaddr(b, 42));
        assertEquals(0, DhcpPacket.yiaddr(b, 42));
        assertEquals(0, DhcpPacket.siaddr(b, 42));
        assertEquals(Frames.ip("5.6.7.8"), DhcpPacket.giaddr(b, 42));
        assertEquals(0x0200000000AAL, DhcpPacket.chaddrMac(b, 42));
        assertEquals(DhcpMessageType.REQUEST, DhcpPacket.messageType(b, 42, d.length));
        assertEquals(Frames.GW_IP, DhcpPacket.addressOption(b, 42, d.length, DhcpOption.SERVER_ID));
        assertEquals(Frames.ip("192.168.127.9"), DhcpPacket.addressOption(b, 42, d.length, DhcpOption.REQUESTED_IP));
        assertEquals(1500, DhcpPacket.shortOption(b, 42, d.length, DhcpOption.MAX_MESSAGE_SIZE));
        assertArrayEquals(new byte[] {1, 3, 6}, DhcpPacket.optionBytes(b, 42, d.length, 55));
        assertNull(DhcpPacket.optionBytes(b, 42, d.length, 61));
        assertEquals(0, DhcpPacket.addressOption(b, 42, d.length, 55), "wrong length");
        assertEquals(-1, DhcpPacket.shortOption(b, 42, d.length, 55));
    }

    @Test
    void everyErrorHasItsCounterName() {
        for (DhcpPacket.Error e : DhcpPacket.Error.values()) {
            assertTrue(e.counter().startsWith("dhcp."), e.name());
        }
        assertEquals("dhcp.badMagic", DhcpPacket.Error.BAD_MAGIC.counter());
    }

    @Test
    void checkRejectsBadBoundsWithoutThrowing() {
        ByteBuf b = wrap(ClientMsg.discover(1).dhcp());
        int len = b.readableBytes();
        assertEquals(DhcpPacket.Error.TRUNCATED, DhcpPacket.check(b, -1, len));
        assertEquals(DhcpPacket.Error.TRUNCATED, DhcpPacket.check(b, 1, len));
        assertEquals(DhcpPacket.Error.TRUNCATED, DhcpPacket.check(b, 0, 100));
        assertEquals(-1, DhcpPacket.option(b, 5, len, 53));
        assertEquals(-1, DhcpPacket.messageType(b, 0, 10));
    }

    /** Random and mutated messages: check and the option finders never throw, whatever the bytes. */
    @Test
    void fuzzedInputNeverThrows() {
        Random rnd = new Random(4242);
        byte[] seed = ClientMsg.select(0x0200000000AAL, Frames.ip("192.168.127.9"), Frames.GW_IP)
                .option(55, 1, 3, 6).option(52, 3).dhcp();
        int accepted = 0;
        for (int i = 0; i < 20_000; i++) {
            byte[] d;
            if (i % 2 == 0) {
                d = seed.clone();
                int flips = 1 + rnd.nextInt(8);
                for (int f = 0; f < flips; f++) {
                    int at = 236 + rnd.nextInt(d.length - 236);
                    d[at] = (byte) rnd.nextInt(256);
                }
                if (rnd.nextBoolean()) {
                    d = java.util.Arrays.copyOf(d, 240 + rnd.nextInt(d.length - 239));
                }
            } else {
                d = new byte[rnd.nextInt(400)];
                rnd.nextBytes(d);
                if (d.length >= 240) {
                    d[236] = 0x63;
                    d[237] = (byte) 0x82;
                    d[238] = 0x53;
                    d[239] = 0x63;
                }
            }
            ByteBuf b = wrap(d);
            DhcpPacket.Error e = DhcpPacket.check(b, 0, d.length);
            if (e == null) {
                accepted++;
            }
            for (int code : new int[] {53, 50, 54, 55, 61, 255, 0}) {
                int o = DhcpPacket.option(b, 0, d.length, code);
                if (o >= 0) {
                    assertTrue(o + 2 + DhcpPacket.optionLength(b, o) <= d.length);
                }
            }
            DhcpPacket.messageType(b, 0, d.length);
            DhcpPacket.optionBytes(b, 0, d.length, 61);
        }
        assertTrue(accepted > 0, "some mutations stay valid");
    }

    @Test
    void fuzzedRequestsThroughTheServerAreCountedNotThrown() {
        DhcpHarness h = new DhcpHarness();
        Random rnd = new Random(7);
        byte[] seed = ClientMsg.select(0x0200000000AAL, Frames.ip("192.168.127.9"), Frames.GW_IP).dhcp();
        for (int i = 0; i < 3000; i++) {
            byte[] d = seed.clone();
            for (int f = 0; f < 1 + rnd.nextInt(6); f++) {
                d[rnd.nextInt(d.length)] = (byte) rnd.nextInt(256);
            }
            byte[] udp = Frames.udp(0, 0xFFFFFFFF, 68, 67, d);
            h.sendFrame(Frames.ethernet(0xFFFF_FFFF_FFFFL, 0x0200000000AAL, 0x0800,
                    Frames.ipv4(0, 0xFFFFFFFF, 17, 1, 0, 64, udp)));
            h.out.clear();
        }
        assertEquals(3000, h.count("dhcp.in"));
    }

    @Test
    void reprEmitsHeaderOptionsEndAndPadding() {
        byte[] ch = new byte[16];
        ch[0] = 2;
        ch[5] = 9;
        DhcpRepr r = DhcpRepr.reply().hardware(1, 6, ch).xid(7).flags(0x8000).yiaddr(Frames.ip("10.0.0.2"))
                .optionByte(53, 2).optionInt(54, Frames.ip("10.0.0.1")).option(119, new byte[300]).build();
        assertEquals(240 + 3 + 6 + (2 + 255 + 2 + 45) + 1, r.bufferLen());
        ByteBuf b = Unpooled.buffer();
        r.emit(b);
        assertEquals(r.bufferLen(), b.readableBytes());
        assertEquals(2, b.getByte(0));
        assertEquals(7, b.getInt(4));
        assertEquals(0x8000, b.getUnsignedShort(10));
        assertEquals(Frames.ip("10.0.0.2"), b.getInt(16));
        assertEquals(0x63825363, b.getInt(236));
        assertEquals(53, b.getByte(240));
        int o = 240 + 3 + 6;
        assertEquals(119, b.getUnsignedByte(o));
        assertEquals(255, b.getUnsignedByte(o + 1));
        assertEquals(119, b.getUnsignedByte(o + 257));
        assertEquals(45, b.getUnsignedByte(o + 258));
        assertEquals(255, b.getUnsignedByte(b.writerIndex() - 1));
        assertEquals(2, r.messageType());

        DhcpRepr small = DhcpRepr.reply().optionByte(53, 6).build();
        ByteBuf s = Unpooled.buffer();
        small.emit(s);
        assertEquals(300, s.readableBytes());
        assertEquals(300, small.bufferLen());
        assertNull(DhcpPacket.check(s, 0, 300));
        assertThrows(IllegalArgumentException.class, () -> new DhcpRepr.Option(255, new byte[0]));
    }

    @Test
    void searchListEncoding() {
        assertArrayEquals(new byte[0], DomainNames.encodeSearchList(List.of()));
        assertArrayEquals(new byte[] {1, 'a', 0}, DomainNames.encodeSearchList(List.of("a.")));
        // Whole-name repeat compresses to a single pointer; suffix matching is case-insensitive.
        assertArrayEquals(new byte[] {1, 'a', 1, 'b', 0, (byte) 0xC0, 0, 1, 'c', (byte) 0xC0, 2},
                DomainNames.encodeSearchList(List.of("a.b", "A.B", "c.b")));
        assertThrows(IllegalArgumentException.class, () -> DomainNames.normalize("a..b"));
        assertThrows(IllegalArgumentException.class, () -> DomainNames.normalize("x".repeat(64) + ".com"));
        assertThrows(IllegalArgumentException.class, () -> DomainNames.normalize("bücher.de"));
        assertThrows(IllegalArgumentException.class,
                () -> DomainNames.normalize(("a".repeat(60) + ".").repeat(5) + "com"));
    }

    @Test
    void configDefaultsAndValidation() {
        StackConfig net = StackConfig.defaults();
        DhcpConfig c = DhcpConfig.defaults(net);
        assertEquals(3600, c.leaseTimeSeconds());
        assertEquals(List.of(Frames.GW_IP), c.dnsServers());
        assertEquals(net.dhcpStaticLeases(), c.staticLeases());
        assertEquals(Frames.ip("192.168.127.1"), c.poolStart());
        assertEquals(Frames.ip("192.168.127.254"), c.poolEnd());
        assertNull(c.domainName());
        assertEquals(List.of("a.b"), DhcpConfig.builder(net).searchDomains(List.of("a.b.", " ")).build().searchDomains());
        assertThrows(IllegalArgumentException.class, () -> DhcpConfig.builder(net).leaseTimeSeconds(0).build());
        assertThrows(IllegalArgumentException.class, () -> DhcpConfig.builder(net).pool("10.0.0.1", "10.0.0.9").build());
        assertThrows(IllegalArgumentException.class,
                () -> DhcpConfig.builder(net).pool("192.168.127.9", "192.168.127.3").build());
        assertEquals(Frames.ip("192.168.127.1"),
                DhcpConfig.builder(net).pool("192.168.127.0", "192.168.127.255").build().poolStart());
        assertThrows(IllegalArgumentException.class, () -> new DhcpHarness(
                b -> b.staticLeases(java.util.Map.of(Frames.ip("10.0.0.2"), 1L))));
    }

    @Test
    void messageTypeNames() {
        assertEquals("DISCOVER", DhcpMessageType.name(1));
        assertEquals("INFORM", DhcpMessageType.name(8));
        assertEquals("TYPE99", DhcpMessageType.name(99));
    }
}
