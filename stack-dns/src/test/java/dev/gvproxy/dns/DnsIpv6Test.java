package dev.gvproxy.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xbill.DNS.AAAARecord;
import org.xbill.DNS.ARecord;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

/** DNS over IPv6 and AAAA: zone records of both families, AAAA forwarding to an upstream on ::1, the IPv6 path. */
class DnsIpv6Test {
    static final StackConfig NET = StackConfig.defaults();
    static final Ipv6Address GW6 = NET.ipv6().gateway();
    static final Ipv6Address HOST6 = NET.ipv6().hostAlias();

    @TempDir
    Path dir;
    final Counters counters = new Counters();
    final TestLoop loop = new TestLoop();

    static Message query(String name, int type) throws IOException {
        return Message.newQuery(Record.newRecord(Name.fromString(name), type, DClass.IN));
    }

    DnsServer server(List<InetSocketAddress> upstreams) throws IOException {
        Path resolv = Files.writeString(dir.resolve("resolv.conf"), "options timeout:1 attempts:1\n");
        Path hosts = Files.writeString(dir.resolve("hosts"), "");
        return new DnsServer(DnsConfig.builder()
                .zones(Zone.legacyDefaults(NET.gatewayIp(), NET.hostIp(), GW6, HOST6))
                .resolvConf(resolv).hostsFile(hosts).upstreams(upstreams)
                .timeout(Duration.ofSeconds(2)).attempts(1).build(), counters, loop, () -> 0L);
    }

    Message ask(DnsServer s, Message q) throws IOException {
        CompletableFuture<byte[]> f = s.answer(q.toWire(), false).toCompletableFuture();
        loop.runUntil(f::isDone, Duration.ofSeconds(10));
        return new Message(f.join());
    }

    @Test
    void zoneRecordsOfBothFamilies() {
        ZoneTable t = new ZoneTable(List.of(Zone.of("z.test.", List.of(
                ZoneRecord.of("both", "10.0.0.1"), ZoneRecord.of("both", "fd00::1"), ZoneRecord.of("both", "fd00::2"),
                ZoneRecord.of("v6only", "fd00::6"),
                ZoneRecord.regexp("^web", "fd00::80"),
                ZoneRecord.of("mapped", "::ffff:10.0.0.9")))));
        assertEquals(new ZoneTable.Result.Address(Ipv4Address.parse("10.0.0.1"), true, Ipv6Address.parse("fd00::1")),
                t.lookup("BOTH.z.test."), "first record of each family");
        assertEquals(new ZoneTable.Result.Address(0, false, Ipv6Address.parse("fd00::6")), t.lookup("v6only.z.test."));
        assertEquals(new ZoneTable.Result.Address(0, false, Ipv6Address.parse("fd00::80")), t.lookup("web1.z.test."));
        assertEquals(new ZoneTable.Result.Address(Ipv4Address.parse("10.0.0.9")), t.lookup("mapped.z.test."),
                "an IPv4-mapped IP is an IPv4 record, as Go's net.IP");
        assertEquals("fd00::6", ZoneRecord.of("v6only", "fd00::6").ipText());
    }

    @Test
    void aaaaForTheDefaultNames() throws IOException {
        DnsServer s = server(List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 9)));
        Message m = ask(s, query("host.containers.internal.", Type.AAAA));
        assertEquals(Rcode.NOERROR, m.getRcode());
        assertEquals(HOST6.toInet(), ((AAAARecord) m.getSection(Section.ANSWER).getFirst()).getAddress());
        m = ask(s, query("gateway.docker.internal.", Type.AAAA));
        assertEquals(GW6.toInet(), ((AAAARecord) m.getSection(Section.ANSWER).getFirst()).getAddress());
        m = ask(s, query("host.containers.internal.", Type.A));
        assertEquals(1, m.getSection(Section.ANSWER).size(), "A unchanged");
        assertEquals("192.168.127.254", ((ARecord) m.getSection(Section.ANSWER).getFirst()).getAddress().getHostAddress());
        m = ask(s, query("host.containers.internal.", Type.ANY));
        assertEquals(2, m.getSection(Section.ANSWER).size());

        s.addZone(Zone.of("dyn.test.", List.of(ZoneRecord.of("v6", "fd00::99"))));
        m = ask(s, query("v6.dyn.test.", Type.A));
        assertEquals(Rcode.NOERROR, m.getRcode());
        assertTrue(m.getSection(Section.ANSWER).isEmpty(), "no data for the missing family");
        assertEquals(1, counters.get("dns.zone.noData"));
    }

    @Test
    void aaaaIsForwardedToAnUpstreamOnIpv6Loopback() throws IOException {
        FakeUpstream up = FakeUpstream.standard(InetAddress.ofLiteral("::1"));
        try {
            DnsServer s = server(List.of(up.address()));
            Message m = ask(s, query("a.test.", Type.AAAA));
            assertEquals(Rcode.NOERROR, m.getRcode());
            assertEquals(up.get("a.test.", Type.AAAA), m.getSection(Section.ANSWER));
            assertEquals(1, up.udpQueries.get());
        } finally {
            up.close();
        }
    }

    @Test
    void resolvConfKeepsIpv6NameserversWithScope() {
        ResolvConf rc = ResolvConf.parse("nameserver ::1\nnameserver fe80::53%1\nnameserver fe80::54%nosuchif0\n"
                + "nameserver 198.18.0.1\n");
        assertEquals(InetAddress.ofLiteral("::1"), rc.nameservers().get(0).getAddress());
        Inet6Address scoped = (Inet6Address) rc.nameservers().get(1).getAddress();
        assertEquals(1, scoped.getScopeId(), "numeric scope id kept");
        assertEquals(53, rc.nameservers().get(1).getPort());
        // An unknown interface name cannot be used to reach the server: skipped, the next one taken.
        assertEquals(InetAddress.ofLiteral("198.18.0.1"), rc.nameservers().get(2).getAddress());
    }

    /** A guest frame to [gateway v6]:53 over a real stack gets its answer back over IPv6. */
    @Test
    void overIpv6OnTheStack() throws IOException {
        VirtualSwitch sw = new VirtualSwitch(NET.gatewayMac(), counters, () -> 0L);
        NetworkStack stack = new NetworkStack(NET, sw, counters, PooledByteBufAllocator.DEFAULT, () -> 0L);
        ArrayDeque<byte[]> out = new ArrayDeque<>();
        SwitchPort guest = sw.attach("guest", new LinkEndpoint() {
            @Override
            public void transmit(ByteBuf frame) {
                byte[] f = Frames.bytes(frame);
                frame.release();
                if (Frames.getShort(f, 12) == 0x86DD && (f[20] & 0xFF) == 17) {
                    out.add(f);
                }
            }

            @Override
            public void flush() {}
        });
        Path resolv = Files.writeString(dir.resolve("resolv.conf"), "options timeout:1 attempts:1\n");
        Path hosts = Files.writeString(dir.resolve("hosts"), "");
        DnsServer dns = DnsServer.install(stack, DnsConfig.builder()
                .zones(Zone.legacyDefaults(NET.gatewayIp(), NET.hostIp(), GW6, HOST6))
                .resolvConf(resolv).hostsFile(hosts)
                .upstreams(List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 9))).build(), loop);
        try {
            Ipv6Address ll = Ipv6Address.linkLocalFromMac(Frames.GUEST_MAC);
            for (Ipv6Address to : new Ipv6Address[] {GW6, NET.ipv6().linkLocal()}) {
                Message q = query("host.containers.internal.", Type.AAAA);
                sw.deliver(guest, Unpooled.wrappedBuffer(udpFrame(Frames.GUEST_MAC, ll, to, 40000, 53, q.toWire())));
                sw.flush();
                stack.flush();
                byte[] f = out.poll();
                assertNotNull(f, "an IPv6 answer from " + to);
                ByteBuf b = Unpooled.wrappedBuffer(f);
                assertEquals(to, Ipv6Address.get(b, 22));
                assertEquals(ll, Ipv6Address.get(b, 38));
                assertEquals(53, b.getUnsignedShort(54));
                assertEquals(40000, b.getUnsignedShort(56));
                byte[] payload = new byte[f.length - 62];
                System.arraycopy(f, 62, payload, 0, payload.length);
                Message r = new Message(payload);
                assertEquals(q.getHeader().getID(), r.getHeader().getID());
                assertEquals(HOST6.toInet(), ((AAAARecord) r.getSection(Section.ANSWER).getFirst()).getAddress());
            }
            assertNull(out.poll());
        } finally {
            dns.close();
            stack.close();
        }
        assertFalse(counters.get("dns.udp.queries") < 2);
    }

    static byte[] udpFrame(long srcMac, Ipv6Address src, Ipv6Address dst, int sport, int dport, byte[] data) {
        ByteBuf b = Unpooled.buffer();
        long dmac = NET.gatewayMac();
        for (int i = 5; i >= 0; i--) {
            b.writeByte((int) (dmac >>> (8 * i)));
        }
        for (int i = 5; i >= 0; i--) {
            b.writeByte((int) (srcMac >>> (8 * i)));
        }
        b.writeShort(0x86DD);
        b.writeInt(0x6000_0000).writeShort(8 + data.length).writeByte(17).writeByte(64);
        src.write(b);
        dst.write(b);
        b.writeShort(sport).writeShort(dport).writeShort(8 + data.length).writeShort(0).writeBytes(data);
        byte[] f = Frames.bytes(b);
        long sum = 0;
        for (int i = 22; i < 54; i += 2) {
            sum += Frames.getShort(f, i);
        }
        sum += f.length - 54 + 17;
        for (int i = 54; i < f.length; i += 2) {
            sum += i + 1 < f.length ? Frames.getShort(f, i) : (f[i] & 0xFF) << 8;
        }
        while (sum >>> 16 != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        int c = (int) (~sum & 0xFFFF);
        f[60] = (byte) (c >>> 8);
        f[61] = (byte) c;
        return f;
    }
}
