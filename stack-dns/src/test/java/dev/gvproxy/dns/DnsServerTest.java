package dev.gvproxy.dns;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.Ipv4Address;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xbill.DNS.ARecord;
import org.xbill.DNS.CNAMERecord;
import org.xbill.DNS.DClass;
import org.xbill.DNS.ExtendedFlags;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Header;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.OPTRecord;
import org.xbill.DNS.Opcode;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.TXTRecord;
import org.xbill.DNS.Type;

/** The query -> response core, against a fake upstream on 127.0.0.1 and test resolv.conf/hosts files. */
class DnsServerTest {
    static final int GW = Ipv4Address.parse("192.168.127.1");
    static final int HOST = Ipv4Address.parse("192.168.127.254");

    @TempDir
    Path dir;
    FakeUpstream upstream;
    TestLoop loop = new TestLoop();
    Counters counters = new Counters();
    long now = 1_000_000_000L;
    DnsServer server;
    Path resolvConf;
    Path hosts;

    @BeforeEach
    void setUp() throws IOException {
        upstream = FakeUpstream.standard();
        resolvConf = dir.resolve("resolv.conf");
        // The nameserver line is never used (explicit upstreams win); it must not be a real resolver anyway.
        Files.writeString(resolvConf, "nameserver 127.0.0.1\nsearch corp.test\noptions ndots:1 timeout:1 attempts:1\n");
        hosts = dir.resolve("hosts");
        Files.writeString(hosts, "127.0.0.1 localhost\n198.18.0.50 myhost.example myhost # comment\n");
        server = server(b -> { });
    }

    @AfterEach
    void tearDown() {
        upstream.close();
    }

    interface Tweak {
        void apply(DnsConfig.Builder b);
    }

    DnsServer server(Tweak t) {
        DnsConfig.Builder b = DnsConfig.builder()
                .zones(Zone.legacyDefaults(GW, HOST))
                .resolvConf(resolvConf)
                .hostsFile(hosts)
                .upstreams(List.of(upstream.address()))
                .timeout(Duration.ofMillis(500))
                .attempts(1);
        t.apply(b);
        return new DnsServer(b.build(), counters, loop, () -> now);
    }

    static Message query(String name, int type) throws IOException {
        return Message.newQuery(Record.newRecord(Name.fromString(name), type, DClass.IN));
    }

    static Message edns(Message q, int size) {
        q.addRecord(new OPTRecord(size, 0, 0), Section.ADDITIONAL);
        return q;
    }

    byte[] raw(byte[] q, boolean tcp) {
        CompletableFuture<byte[]> f = server.answer(q, tcp).toCompletableFuture();
        loop.runUntil(f::isDone, Duration.ofSeconds(10));
        return f.join();
    }

    Message ask(Message q) throws IOException {
        return ask(q, false);
    }

    Message ask(Message q, boolean tcp) throws IOException {
        byte[] r = raw(q.toWire(), tcp);
        assertNotNull(r, "no response");
        Message m = new Message(r);
        assertEquals(q.getHeader().getID(), m.getHeader().getID(), "ID echoed");
        assertTrue(m.getHeader().getFlag(Flags.QR));
        assertTrue(m.getHeader().getFlag(Flags.RA));
        assertFalse(m.getHeader().getFlag(Flags.AA));
        assertEquals(q.getHeader().getFlag(Flags.RD), m.getHeader().getFlag(Flags.RD), "RD echoed");
        return m;
    }

    static List<Record> answers(Message m) {
        return m.getSection(Section.ANSWER);
    }

    static String a(Message m) {
        List<Record> ans = answers(m);
        assertEquals(1, ans.size(), m.toString());
        return ((ARecord) ans.getFirst()).getAddress().getHostAddress();
    }

    @Nested
    class Zones {
        @Test
        void legacyNames() throws IOException {
            assertEquals("192.168.127.254", a(ask(query("host.containers.internal.", Type.A))));
            assertEquals("192.168.127.1", a(ask(query("gateway.containers.internal.", Type.A))));
            assertEquals("192.168.127.254", a(ask(query("host.docker.internal.", Type.A))));
            Message m = ask(query("gateway.docker.internal.", Type.A));
            assertEquals("192.168.127.1", a(m));
            assertEquals(0, answers(m).getFirst().getTTL());
            assertEquals(Rcode.NOERROR, m.getRcode());
            assertEquals(0, upstream.queries(), "never forwarded");
        }

        @Test
        void caseInsensitiveAndQuestionEchoedAsSent() throws IOException {
            Message q = query("HOST.Containers.Internal.", Type.A);
            Message m = ask(q);
            assertEquals("192.168.127.254", a(m));
            assertEquals("HOST.Containers.Internal.", m.getQuestion().getName().toString());
            assertArrayEquals(q.getQuestion().getName().toWire(), m.getQuestion().getName().toWire());
        }

        @Test
        void otherTypesInsideAZoneAreEmptyNoErrorAndNotForwarded() throws IOException {
            for (int type : new int[] {Type.AAAA, Type.MX, Type.TXT, Type.HTTPS, Type.SRV}) {
                Message m = ask(query("host.containers.internal.", type));
                assertEquals(Rcode.NOERROR, m.getRcode());
                assertTrue(answers(m).isEmpty());
            }
            assertEquals(0, upstream.queries());
            assertEquals(5, counters.get("dns.zone.noData"));
        }

        @Test
        void unknownNameInsideAZoneIsNxDomainForEveryType() throws IOException {
            assertEquals(Rcode.NXDOMAIN, ask(query("nothing.containers.internal.", Type.A)).getRcode());
            assertEquals(Rcode.NXDOMAIN, ask(query("a.b.containers.internal.", Type.AAAA)).getRcode());
            assertEquals(0, upstream.queries());
        }

        @Test
        void anyQuestionGetsTheAddress() throws IOException {
            assertEquals("192.168.127.1", a(ask(query("gateway.containers.internal.", Type.ANY))));
        }

        @Test
        void zoneApexIsNotInsideTheZone() throws IOException {
            // As in gvproxy: only names strictly below the zone name match; the apex goes upstream.
            assertEquals(Rcode.NXDOMAIN, ask(query("containers.internal.", Type.A)).getRcode());
            assertEquals(1, upstream.queries());
        }

        @Test
        void regexpRecordsDefaultIpAndZoneOrder() throws IOException {
            server.addZone(Zone.withDefault("dynamic.testing.", "192.168.127.2", List.of()));
            server.addZone(Zone.of("testing.", List.of(ZoneRecord.of("host", "192.168.127.254"),
                    ZoneRecord.regexp("^web-[0-9]+$", "192.168.127.30"), ZoneRecord.regexp("api", "192.168.127.31"))));
            assertEquals("192.168.127.2", a(ask(query("anything.dynamic.testing.", Type.A))));
            assertEquals("192.168.127.2", a(ask(query("x.y.dynamic.testing.", Type.A))));
            assertEquals("192.168.127.254", a(ask(query("host.testing.", Type.A))));
            assertEquals("192.168.127.30", a(ask(query("web-12.testing.", Type.A))));
            assertEquals("192.168.127.30", a(ask(query("WEB-7.testing.", Type.A))));
            assertEquals(Rcode.NXDOMAIN, ask(query("web-x.testing.", Type.A)).getRcode(), "anchored pattern");
            // Unanchored search, as Go's regexp.MatchString.
            assertEquals("192.168.127.31", a(ask(query("my-api-1.testing.", Type.A))));
            server.addZone(Zone.of("testing.", List.of(ZoneRecord.of("gateway", "192.168.127.1"))));
            assertEquals("192.168.127.1", a(ask(query("gateway.testing.", Type.A))));
            assertEquals("192.168.127.254", a(ask(query("host.testing.", Type.A))), "old records kept");
            assertEquals(0, upstream.queries());
        }

        @Test
        void zoneAddedAtRuntimeAndReplaced() throws IOException {
            assertEquals(Rcode.NXDOMAIN, ask(query("test.dynamic.internal.", Type.A)).getRcode());
            assertEquals(1, upstream.queries(), "not a zone yet: forwarded");
            server.addZone(Zone.of("dynamic.internal.", List.of(ZoneRecord.of("test", "192.168.127.254"))));
            assertEquals("192.168.127.254", a(ask(query("test.dynamic.internal.", Type.A))));
            server.addZone(Zone.of("dynamic.internal.", List.of(ZoneRecord.of("test", "192.168.127.253"))));
            assertEquals("192.168.127.253", a(ask(query("test.dynamic.internal.", Type.A))));
            List<Zone> zones = server.zones();
            assertEquals(3, zones.size());
            assertEquals("dynamic.internal.", zones.get(2).name());
            assertEquals(2, zones.get(2).records().size());
            assertEquals(1, upstream.queries());
        }

        @Test
        void invalidRegexpIsRejected() {
            assertThrows(IllegalArgumentException.class, () -> server.addZone(Zone.of("bad.", List.of(
                    new ZoneRecord("", Ipv4Address.parse("1.2.3.4"), "(unclosed")))));
            assertEquals(2, server.zones().size());
        }
    }

    @Nested
    class Forwarding {
        void assertForwarded(String name, int type) throws IOException {
            Message m = ask(query(name, type));
            assertEquals(Rcode.NOERROR, m.getRcode(), m.toString());
            List<Record> want = upstream.get(name, type);
            assertFalse(want.isEmpty());
            assertEquals(want, answers(m), Type.string(type));
            for (int i = 0; i < want.size(); i++) {
                assertEquals(want.get(i).getTTL(), answers(m).get(i).getTTL());
                assertArrayEquals(want.get(i).rdataToWireCanonical(), answers(m).get(i).rdataToWireCanonical());
            }
        }

        @Test
        void everyTypeComesBackIdentical() throws IOException {
            assertForwarded("a.test.", Type.A);
            assertForwarded("a.test.", Type.AAAA);
            assertForwarded("mx.test.", Type.MX);
            assertForwarded("_imaps._tcp.test.", Type.SRV);
            assertForwarded("10.0.18.198.in-addr.arpa.", Type.PTR);
            assertForwarded("cname.test.", Type.CNAME);
            assertForwarded("caa.test.", Type.CAA);
            assertEquals(7, counters.get("dns.forwarded"));
            assertEquals(0, counters.get("dns.inFlightLimit"));
        }

        @Test
        void txtLongerThan255BytesAndMultipleStrings() throws IOException {
            Message m = ask(edns(query("txt.test.", Type.TXT), 1232));
            List<Record> ans = answers(m);
            assertEquals(2, ans.size());
            TXTRecord longOne = (TXTRecord) ans.get(0);
            assertEquals(List.of("x".repeat(255), "y".repeat(100)), longOne.getStrings());
            assertEquals(List.of("v=spf1 -all", "second string"), ((TXTRecord) ans.get(1)).getStrings());
            assertEquals(upstream.get("txt.test.", Type.TXT), ans);
        }

        @Test
        void nxDomainAndNoDataPassThrough() throws IOException {
            Message nx = ask(query("missing.test.", Type.A));
            assertEquals(Rcode.NXDOMAIN, nx.getRcode());
            assertEquals(1, nx.getSection(Section.AUTHORITY).size(), "SOA kept for negative caching");
            Message nodata = ask(query("mx.test.", Type.AAAA));
            assertEquals(Rcode.NOERROR, nodata.getRcode());
            assertTrue(answers(nodata).isEmpty());
        }

        @Test
        void cnameChainsAreCopied() throws IOException {
            Message m = ask(query("cname.test.", Type.A));
            assertEquals(Type.CNAME, answers(m).getFirst().getType());
        }

        @Test
        void upstreamServfailOrRefusedIsServfail() throws IOException {
            upstream.forcedRcode = Rcode.SERVFAIL;
            assertEquals(Rcode.SERVFAIL, ask(query("a.test.", Type.A)).getRcode());
            upstream.forcedRcode = Rcode.REFUSED;
            assertEquals(Rcode.SERVFAIL, ask(query("a.test.", Type.A)).getRcode());
            assertEquals(2, counters.get("dns.upstream.errorRcode"));
        }

        @Test
        void deadUpstreamIsServfailWithinTheTimeout() throws IOException {
            try (DatagramSocket dead = FakeUpstream.deadServer()) {
                server = server(b -> b.upstreams(List.of((InetSocketAddress) dead.getLocalSocketAddress()))
                        .timeout(Duration.ofMillis(300)).attempts(1));
                long t0 = System.nanoTime();
                Message m = ask(query("a.test.", Type.A));
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertEquals(Rcode.SERVFAIL, m.getRcode(), "not NXDOMAIN");
                assertTrue(ms >= 250, "waited for the timeout: " + ms);
                // dnsjava checks timeouts about once a second.
                assertTrue(ms < 2500, "SERVFAIL within the timeout (plus dnsjava's granularity): " + ms);
                assertEquals(1, counters.get("dns.upstream.failures"));
                assertEquals(0, server.inFlight());
            }
        }

        @Test
        void nextServerAfterADeadOne() throws IOException {
            try (DatagramSocket dead = FakeUpstream.deadServer()) {
                server = server(b -> b.upstreams(List.of((InetSocketAddress) dead.getLocalSocketAddress(),
                        upstream.address())).timeout(Duration.ofMillis(200)).attempts(1));
                assertEquals(2, answers(ask(query("a.test.", Type.A))).size());
            }
        }

        @Test
        void searchDomainsForShortNamesBehindACname() throws IOException {
            Message m = ask(query("host.", Type.A));
            List<Record> ans = answers(m);
            assertEquals(2, ans.size(), m.toString());
            CNAMERecord c = (CNAMERecord) ans.get(0);
            assertEquals("host.", c.getName().toString());
            assertEquals("host.corp.test.", c.getTarget().toString());
            assertEquals("198.18.0.20", ((ARecord) ans.get(1)).getAddress().getHostAddress());
            // Names with ndots or more dots are not expanded.
            assertEquals(Rcode.NXDOMAIN, ask(query("host.corp.", Type.A)).getRcode());
        }

        @Test
        void searchFallsBackToTheNameItself() throws IOException {
            Message m = ask(query("nosuchhost.", Type.A));
            assertEquals(Rcode.NXDOMAIN, m.getRcode());
            assertEquals(2, upstream.queries(), "search candidate, then the name");
        }

        @Test
        void inFlightBound() throws IOException {
            try (DatagramSocket dead = FakeUpstream.deadServer()) {
                server = server(b -> b.upstreams(List.of((InetSocketAddress) dead.getLocalSocketAddress()))
                        .timeout(Duration.ofMillis(300)).maxInFlight(2));
                List<CompletableFuture<byte[]>> fs = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    fs.add(server.answer(query("a.test.", Type.A).toWire(), false).toCompletableFuture());
                }
                assertFalse(fs.get(0).isDone());
                assertFalse(fs.get(1).isDone());
                assertTrue(fs.get(2).isDone(), "over the limit: answered at once");
                assertEquals(Rcode.SERVFAIL, new Message(fs.get(2).join()).getRcode());
                assertEquals(1, counters.get("dns.inFlightLimit"));
                assertEquals(2, server.inFlight());
                loop.runUntil(() -> fs.get(0).isDone() && fs.get(1).isDone(), Duration.ofSeconds(10));
                assertEquals(0, server.inFlight());
            }
        }

        @Test
        void oneGuestCannotTakeEveryUpstreamSlot() throws IOException {
            try (DatagramSocket dead = FakeUpstream.deadServer()) {
                server = server(b -> b.upstreams(List.of((InetSocketAddress) dead.getLocalSocketAddress()))
                        .timeout(Duration.ofMillis(300)).maxInFlight(4).maxInFlightPerClient(2));
                int attacker = 0xc0a87f02;
                int victim = 0xc0a87f03;
                List<CompletableFuture<byte[]>> fs = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    fs.add(server.answer(query("a.test.", Type.A).toWire(), false, attacker).toCompletableFuture());
                }
                assertTrue(fs.get(2).isDone(), "the attacker's third query is over its budget");
                assertEquals(Rcode.SERVFAIL, new Message(fs.get(2).join()).getRcode());
                assertEquals(1, counters.get("dns.inFlightPerClientLimit"));
                CompletableFuture<byte[]> v = server.answer(query("b.test.", Type.A).toWire(), false, victim)
                        .toCompletableFuture();
                assertFalse(v.isDone(), "another guest's query still goes upstream");
                assertEquals(3, server.inFlight());
                loop.runUntil(() -> fs.get(0).isDone() && fs.get(1).isDone() && v.isDone(), Duration.ofSeconds(10));
                assertEquals(0, server.inFlight());
                assertTrue(server.answer(query("c.test.", Type.A).toWire(), false, attacker).toCompletableFuture()
                        .isDone() == false, "slots return when the answers come back");
            }
        }

        @Test
        void dnssecOkIsPassedUpstreamAndEchoed() throws IOException {
            Message q = query("a.test.", Type.A);
            q.addRecord(new OPTRecord(1232, 0, 0, ExtendedFlags.DO), Section.ADDITIONAL);
            Message m = ask(q);
            assertEquals(ExtendedFlags.DO, m.getOPT().getFlags() & ExtendedFlags.DO);
            Message sent = upstream.received.getLast();
            assertEquals(ExtendedFlags.DO, sent.getOPT().getFlags() & ExtendedFlags.DO);
            assertTrue(sent.getHeader().getFlag(Flags.RD));
        }
    }

    @Nested
    class HostsFileFirst {
        @Test
        void aAndPtrFromTheHostsFile() throws IOException {
            assertEquals("198.18.0.50", a(ask(query("myhost.example.", Type.A))));
            assertEquals("198.18.0.50", a(ask(query("MYHOST.", Type.A))));
            Message ptr = ask(query("50.0.18.198.in-addr.arpa.", Type.PTR));
            assertEquals("myhost.example.", answers(ptr).getFirst().rdataToString());
            Message aaaa = ask(query("myhost.example.", Type.AAAA));
            assertEquals(Rcode.NOERROR, aaaa.getRcode());
            assertTrue(answers(aaaa).isEmpty());
            assertEquals(0, upstream.queries());
            assertEquals(4, counters.get("dns.hosts.answers"));
        }

        @Test
        void changesAreReloaded() throws IOException {
            assertEquals("198.18.0.50", a(ask(query("myhost.example.", Type.A))));
            Files.writeString(hosts, "198.18.0.51 myhost.example\n198.18.0.52 other\n");
            now += Duration.ofSeconds(6).toNanos();
            assertEquals("198.18.0.51", a(ask(query("myhost.example.", Type.A))));
            assertEquals(1, counters.get("dns.hostConfigReloads"));
        }
    }

    @Nested
    class SizesAndTruncation {
        @Test
        void bigAnswerIsTruncatedAt512WithoutEdns() throws IOException {
            byte[] r = raw(query("big.test.", Type.A).toWire(), false);
            assertTrue(r.length <= 512, "length " + r.length);
            Message m = new Message(r);
            assertTrue(m.getHeader().getFlag(Flags.TC));
            // dnsjava drops whole RRsets (RFC 2181 9): the client retries over TCP.
            assertTrue(answers(m).size() < 60);
            assertEquals(1, counters.get("dns.truncated"));
        }

        @Test
        void bigAnswerFitsInAnEdns4096Buffer() throws IOException {
            byte[] r = raw(edns(query("big.test.", Type.A), 4096).toWire(), false);
            assertTrue(r.length > 512);
            Message m = new Message(r);
            assertFalse(m.getHeader().getFlag(Flags.TC));
            assertEquals(60, answers(m).size());
            assertEquals(4096, m.getOPT().getPayloadSize());
        }

        @Test
        void smallEdnsBufferStillTruncates() throws IOException {
            byte[] r = raw(edns(query("big.test.", Type.A), 600).toWire(), false);
            assertTrue(r.length <= 600);
            Message m = new Message(r);
            assertTrue(m.getHeader().getFlag(Flags.TC));
            assertNotNull(m.getOPT(), "OPT kept when truncating");
        }

        @Test
        void ednsSizeBelow512CountsAs512() throws IOException {
            // The TXT answer is about 430 bytes: it fits the 512-byte floor, not a literal 100.
            byte[] r = raw(edns(query("txt.test.", Type.TXT), 100).toWire(), false);
            Message m = new Message(r);
            assertFalse(m.getHeader().getFlag(Flags.TC));
            assertTrue(r.length > 100 && r.length <= 512, "length " + r.length);
        }

        @Test
        void fullAnswerOverTcp() throws IOException {
            Message m = ask(query("big.test.", Type.A), true);
            assertFalse(m.getHeader().getFlag(Flags.TC));
            assertEquals(60, answers(m).size());
            assertEquals(1, counters.get("dns.tcp.queries"));
        }

        @Test
        void noOptInAnswerWhenTheQueryHadNone() throws IOException {
            assertNull(ask(query("a.test.", Type.A)).getOPT());
            assertNull(ask(query("host.containers.internal.", Type.A)).getOPT());
        }
    }

    @Nested
    class Malformed {
        @Test
        void runtIsDroppedAndCounted() {
            assertNull(raw(new byte[5], false));
            assertNull(raw(new byte[0], true));
            assertEquals(2, counters.get("dns.runt"));
        }

        @Test
        void responsesAreDropped() throws IOException {
            Message q = query("a.test.", Type.A);
            q.getHeader().setFlag(Flags.QR);
            assertNull(raw(q.toWire(), false));
            assertEquals(1, counters.get("dns.notQuery"));
        }

        @Test
        void garbageAfterTheHeaderIsFormErrWithTheId() throws IOException {
            byte[] q = query("a.test.", Type.A).toWire();
            byte[] cut = java.util.Arrays.copyOf(q, q.length - 3);
            Message m = new Message(raw(cut, false));
            assertEquals(Rcode.FORMERR, m.getRcode());
            assertEquals(((q[0] & 0xFF) << 8) | (q[1] & 0xFF), m.getHeader().getID());
            assertTrue(m.getHeader().getFlag(Flags.QR));
            assertTrue(m.getHeader().getFlag(Flags.RD));
            assertEquals(1, counters.get("dns.formErr"));
        }

        @Test
        void zeroOrTwoQuestionsIsFormErr() throws IOException {
            Message none = new Message();
            assertEquals(Rcode.FORMERR, new Message(raw(none.toWire(), false)).getRcode());
            Message two = query("a.test.", Type.A);
            two.addRecord(Record.newRecord(Name.fromString("b.test."), Type.A, DClass.IN), Section.QUESTION);
            assertEquals(Rcode.FORMERR, new Message(raw(two.toWire(), false)).getRcode());
            assertEquals(0, upstream.queries());
        }

        @Test
        void otherOpcodesAreNotImp() throws IOException {
            Message q = query("a.test.", Type.SOA);
            q.getHeader().setOpcode(Opcode.NOTIFY);
            Message m = new Message(raw(q.toWire(), false));
            assertEquals(Rcode.NOTIMP, m.getRcode());
            assertEquals(Opcode.NOTIFY, m.getHeader().getOpcode());
        }

        @Test
        void ednsVersion1IsBadVers() throws IOException {
            Message q = query("a.test.", Type.A);
            q.addRecord(new OPTRecord(1232, 0, 1), Section.ADDITIONAL);
            Message m = new Message(raw(q.toWire(), false));
            assertEquals(Rcode.BADVERS, m.getRcode());
            assertEquals(0, upstream.queries());
        }

        @Test
        void zoneTransfersAreRefused() throws IOException {
            Message m = ask(query("test.", Type.AXFR), true);
            assertEquals(Rcode.REFUSED, m.getRcode());
            assertEquals(Rcode.REFUSED, ask(query("test.", Type.IXFR)).getRcode());
            assertEquals(0, upstream.queries());
        }

        @Test
        void randomBytesAndBitFlipsNeverThrow() throws IOException {
            Random rnd = new Random(42);
            byte[] good = edns(query("host.containers.internal.", Type.A), 1232).toWire();
            for (int i = 0; i < 5000; i++) {
                byte[] b;
                if (i % 2 == 0) {
                    b = new byte[rnd.nextInt(80)];
                    rnd.nextBytes(b);
                } else {
                    b = good.clone();
                    for (int k = 0; k < 1 + rnd.nextInt(4); k++) {
                        b[rnd.nextInt(b.length)] ^= (byte) (1 << rnd.nextInt(8));
                    }
                }
                if (b.length > 2) {
                    b[2] &= 0x7F; // queries, so they reach the parser
                }
                CompletableFuture<byte[]> f = server.answer(b, rnd.nextBoolean()).toCompletableFuture();
                if (f.isDone()) {
                    byte[] r = f.join();
                    if (r != null) {
                        assertTrue(r.length >= Header.LENGTH);
                        new Message(r); // parses
                    }
                }
            }
            loop.runUntil(() -> server.inFlight() == 0, Duration.ofSeconds(30));
            assertEquals(0, counters.get("dns.internalError"));
        }
    }

    @Test
    void defaultsReadTheLegacyZonesShape() {
        List<Zone> z = Zone.legacyDefaults(GW, HOST);
        assertEquals("containers.internal.", z.get(0).name());
        assertEquals("docker.internal.", z.get(1).name());
        assertEquals(List.of(ZoneRecord.of("gateway", "192.168.127.1"), ZoneRecord.of("host", "192.168.127.254")),
                z.get(0).records());
        assertEquals(OptionalInt.empty(), z.get(0).defaultIp());
    }
}
