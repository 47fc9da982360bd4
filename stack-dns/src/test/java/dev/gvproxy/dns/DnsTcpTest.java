package dev.gvproxy.dns;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.Ipv4Address;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

/** The TCP framing codec and the per-connection session a TCP front-end drives. */
class DnsTcpTest {
    @TempDir
    Path dir;

    static byte[] msg(int len, int seed) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    @Test
    void encodePrefixesTheLength() {
        ByteBuf b = DnsTcpFraming.encode(PooledByteBufAllocator.DEFAULT, msg(300, 1));
        try {
            assertEquals(302, b.readableBytes());
            assertEquals(300, b.getUnsignedShort(0));
        } finally {
            b.release();
        }
        ByteBuf max = DnsTcpFraming.encode(PooledByteBufAllocator.DEFAULT, new byte[65535]);
        assertEquals(65535, max.getUnsignedShort(0));
        max.release();
        assertThrows(IllegalArgumentException.class,
                () -> DnsTcpFraming.encode(PooledByteBufAllocator.DEFAULT, new byte[65536]));
    }

    static byte[] stream(byte[]... msgs) {
        ByteBuf all = Unpooled.buffer();
        for (byte[] m : msgs) {
            ByteBuf f = DnsTcpFraming.encode(Unpooled.buffer().alloc(), m);
            all.writeBytes(f);
            f.release();
        }
        byte[] out = new byte[all.readableBytes()];
        all.readBytes(out);
        return out;
    }

    @Test
    void decodeWhateverTheSegmentation() {
        byte[][] msgs = {msg(33, 1), msg(0, 2), msg(1, 3), msg(65535, 4), msg(512, 5)};
        byte[] s = stream(msgs);
        for (int chunk : new int[] {1, 2, 3, 7, 1000, s.length}) {
            DnsTcpFraming.Decoder d = new DnsTcpFraming.Decoder();
            List<byte[]> got = new ArrayList<>();
            for (int off = 0; off < s.length; off += chunk) {
                ByteBuf b = Unpooled.wrappedBuffer(s, off, Math.min(chunk, s.length - off));
                got.addAll(d.decode(b));
                assertFalse(b.isReadable(), "consumed entirely");
            }
            assertEquals(msgs.length, got.size(), "chunk " + chunk);
            for (int i = 0; i < msgs.length; i++) {
                assertArrayEquals(msgs[i], got.get(i));
            }
            assertEquals(0, d.buffered());
        }
    }

    @Test
    void partialMessageIsHeld() {
        DnsTcpFraming.Decoder d = new DnsTcpFraming.Decoder();
        byte[] s = stream(msg(10, 1));
        assertTrue(d.decode(Unpooled.wrappedBuffer(s, 0, 5)).isEmpty());
        assertEquals(5, d.buffered());
        assertEquals(1, d.decode(Unpooled.wrappedBuffer(s, 5, s.length - 5)).size());
    }

    @Test
    void sessionAnswersPipelinedQueriesWithFullTcpAnswers() throws IOException {
        try (FakeUpstream upstream = FakeUpstream.standard()) {
            TestLoop loop = new TestLoop();
            Counters counters = new Counters();
            DnsServer server = new DnsServer(DnsConfig.builder()
                    .zones(Zone.legacyDefaults(Ipv4Address.parse("192.168.127.1"), Ipv4Address.parse("192.168.127.254")))
                    .resolvConf(Files.writeString(dir.resolve("resolv.conf"), ""))
                    .hostsFile(Files.writeString(dir.resolve("hosts"), ""))
                    .upstreams(List.of(upstream.address())).timeout(Duration.ofSeconds(2)).build(),
                    counters, loop, System::nanoTime);
            List<ByteBuf> written = new ArrayList<>();
            DnsTcpSession session = new DnsTcpSession(server, counters, written::add, PooledByteBufAllocator.DEFAULT, 8);
            Message q1 = Message.newQuery(Record.newRecord(Name.fromString("big.test."), Type.A, DClass.IN));
            Message q2 = Message.newQuery(Record.newRecord(Name.fromString("host.containers.internal."), Type.A, DClass.IN));
            byte[] s = stream(q1.toWire(), q2.toWire());
            // Split the stream inside the second message's length prefix.
            int cut = 2 + q1.toWire().length + 1;
            session.received(Unpooled.wrappedBuffer(s, 0, cut));
            session.received(Unpooled.wrappedBuffer(s, cut, s.length - cut));
            loop.runUntil(() -> written.size() == 2, Duration.ofSeconds(10));
            assertEquals(0, session.pending());
            DnsTcpFraming.Decoder d = new DnsTcpFraming.Decoder();
            Set<Integer> ids = new HashSet<>();
            for (ByteBuf b : written) {
                try {
                    for (byte[] m : d.decode(b)) {
                        Message r = new Message(m);
                        ids.add(r.getHeader().getID());
                        assertFalse(r.getHeader().getFlag(Flags.TC));
                        if (r.getHeader().getID() == q1.getHeader().getID()) {
                            assertEquals(60, r.getSection(Section.ANSWER).size());
                        }
                    }
                } finally {
                    b.release();
                }
            }
            assertEquals(Set.of(q1.getHeader().getID(), q2.getHeader().getID()), ids);
            assertEquals(2, counters.get("dns.tcp.queries"));
        }
    }

    @Test
    void halfCloseWaitsForPendingAnswers() throws IOException {
        try (FakeUpstream upstream = FakeUpstream.standard()) {
            TestLoop loop = new TestLoop();
            Counters counters = new Counters();
            DnsServer server = new DnsServer(DnsConfig.builder()
                    .resolvConf(Files.writeString(dir.resolve("resolv.conf"), "")).hostsFile(null)
                    .upstreams(List.of(upstream.address())).timeout(Duration.ofSeconds(2)).build(),
                    counters, loop, System::nanoTime);
            List<String> events = new ArrayList<>();
            DnsTcpSession session = new DnsTcpSession(server, counters, b -> {
                events.add("answer");
                b.release();
            }, PooledByteBufAllocator.DEFAULT, 8);
            session.received(Unpooled.wrappedBuffer(stream(
                    Message.newQuery(Record.newRecord(Name.fromString("a.test."), Type.A, DClass.IN)).toWire())));
            session.finishThen(() -> events.add("shutdown"));
            assertTrue(events.isEmpty());
            loop.runUntil(() -> events.size() == 2, Duration.ofSeconds(10));
            assertEquals(List.of("answer", "shutdown"), events);
            List<String> idle = new ArrayList<>();
            session.finishThen(() -> idle.add("now"));
            assertEquals(List.of("now"), idle, "nothing pending: at once");
        }
    }

    @Test
    void sessionBoundsPendingQueriesAndDiscardsAfterClose() throws IOException {
        try (var dead = FakeUpstream.deadServer()) {
            TestLoop loop = new TestLoop();
            Counters counters = new Counters();
            DnsServer server = new DnsServer(DnsConfig.builder()
                    .resolvConf(Files.writeString(dir.resolve("resolv.conf"), ""))
                    .hostsFile(null)
                    .upstreams(List.of((java.net.InetSocketAddress) dead.getLocalSocketAddress()))
                    .timeout(Duration.ofMillis(200)).attempts(1).build(),
                    counters, loop, System::nanoTime);
            List<ByteBuf> written = new ArrayList<>();
            DnsTcpSession session = new DnsTcpSession(server, counters, written::add, PooledByteBufAllocator.DEFAULT, 2);
            byte[][] qs = new byte[3][];
            for (int i = 0; i < 3; i++) {
                qs[i] = Message.newQuery(Record.newRecord(Name.fromString("q" + i + ".test."), Type.A, DClass.IN)).toWire();
            }
            session.received(Unpooled.wrappedBuffer(stream(qs)));
            assertEquals(2, session.pending());
            assertFalse(session.wantsInput());
            assertEquals(1, counters.get("dns.tcp.pendingLimit"));
            session.close();
            loop.runUntil(() -> session.pending() == 0, Duration.ofSeconds(10));
            assertTrue(written.isEmpty(), "nothing written after close");
        }
    }
}
