package dev.gvproxy.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.testing.LeakTracking;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Coverage-guided fuzzing of the DNS server's input (FUZZING.md): one guest query goes through
 * {@link DnsServer#answer} as a UDP message, and into a {@link DnsTcpSession} twice, as a raw stream (so the
 * bytes are also length prefixes) and correctly framed. Names outside the zones are forwarded to a
 * {@link FakeUpstream} on 127.0.0.1, whose answers the test waits for. Properties: no exception escapes,
 * {@code dns.internalError} (a bug the server caught and turned into SERVFAIL) stays 0, every UDP answer fits
 * 65535 bytes, and no {@code ByteBuf} leaks. Seeds: queries sent by dig ({@code fuzz/make-seeds.py dns}).
 */
class DnsFuzzTest {
    static final int LEAK_CHECK_EVERY = 20_000;
    private static Fixture fixture;
    private static int runs;

    /** One server for all inputs: answering keeps no per-query state but the in-flight count. */
    static final class Fixture {
        final Counters counters = new Counters();
        final TestLoop loop = new TestLoop();
        final FakeUpstream upstream;
        final DnsServer server;

        Fixture() throws IOException {
            upstream = FakeUpstream.standard();
            Path dir = Files.createTempDirectory("dns-fuzz");
            dir.toFile().deleteOnExit();
            Path resolv = Files.writeString(dir.resolve("resolv.conf"), "search test\noptions ndots:1\n");
            Path hosts = Files.writeString(dir.resolve("hosts"), "192.168.127.20 fuzz.host fuzz\n::1 six.host\n");
            server = new DnsServer(DnsConfig.builder()
                    .zones(Zone.legacyDefaults(Ipv4Address.parse("192.168.127.1"), Ipv4Address.parse("192.168.127.254")))
                    .resolvConf(resolv).hostsFile(hosts).upstreams(List.of(upstream.address()))
                    .timeout(Duration.ofSeconds(2)).attempts(1).build(), counters, loop, () -> 0L);
        }
    }

    @FuzzTest(maxDuration = "60s")
    void queries(byte[] query) {
        if (fixture == null) {
            try {
                fixture = new Fixture();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        Fixture fx = fixture;
        CompletableFuture<byte[]> udp = fx.server.answer(query, false).toCompletableFuture();
        fx.loop.runUntil(udp::isDone, Duration.ofSeconds(10));
        byte[] resp = udp.join();
        if (resp != null && resp.length > 65535) {
            throw new AssertionError("UDP answer of " + resp.length + " bytes");
        }

        List<ByteBuf> written = new ArrayList<>();
        framedAndRaw(fx, query, written);
        for (ByteBuf b : written) {
            b.release();
        }
        assertEquals(0, fx.counters.get("dns.internalError"), "the server caught a bug: " + fx.counters.snapshot());
        if (++runs % LEAK_CHECK_EVERY == 0) {
            List<String> leaks = LeakTracking.collect();
            assertEquals(List.of(), leaks, "ByteBuf leaks during the last " + LEAK_CHECK_EVERY + " inputs");
        }
    }

    private static void framedAndRaw(Fixture fx, byte[] query, List<ByteBuf> written) {
        DnsTcpSession session = new DnsTcpSession(fx.server, fx.counters, written::add, PooledByteBufAllocator.DEFAULT,
                4);
        ByteBuf raw = Unpooled.wrappedBuffer(query);
        session.received(raw);
        byte[] framed = new byte[query.length + 2];
        framed[0] = (byte) (query.length >>> 8);
        framed[1] = (byte) query.length;
        System.arraycopy(query, 0, framed, 2, query.length);
        // In two reads, split inside the message, as TCP may deliver it.
        int cut = Math.min(framed.length, 3);
        session.received(Unpooled.wrappedBuffer(framed, 0, cut));
        session.received(Unpooled.wrappedBuffer(framed, cut, framed.length - cut));
        fx.loop.runUntil(() -> session.pending() == 0, Duration.ofSeconds(10));
        session.close();
    }
}
