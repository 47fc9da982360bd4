package dev.gvproxy.api;

import dev.gvproxy.model.InMemoryDnsZones;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.gvproxy.testing.LeakTracking;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;

/**
 * Coverage-guided fuzzing of the HTTP API's request path (FUZZING.md): the same raw bytes go into both
 * surfaces' real Netty pipelines on an {@link EmbeddedChannel}: the in-VM API as {@link ApiServer#inVm} builds
 * it (the peer is a guest address) and the host API ({@code HttpServerCodec} plus
 * {@link ApiServer#hostFallback}, full surface). Forwards go to a registry over a fake opener, so exposes
 * open nothing. Properties: no exception reaches the end of a pipeline (EmbeddedChannel rethrows it), and no
 * {@code ByteBuf} leaks. Seeds: requests sent by curl, among them podman's expose/unexpose JSON as its Go
 * client sends it ({@code fuzz/make-seeds.py http}).
 */
class ApiFuzzTest {
    static final int LEAK_CHECK_EVERY = 20_000;
    private static int runs;

    @FuzzTest(maxDuration = "60s")
    void requests(byte[] request) {
        ApiContext api = ApiContext.builder()
                .stats(() -> 1, () -> 2, () -> Map.of("ipv4.badChecksum", 3L))
                .cam(() -> Map.of("5a:94:ef:e4:0c:ee", 0))
                .leases(() -> Map.of("192.168.127.2", "5a:94:ef:e4:0c:ee"))
                .dns(new InMemoryDnsZones())
                .forwards(new FakeForwards().registry)
                // The parsing hop, deterministic: what would run on a virtual thread runs between the reads
                // (on a real thread it races EmbeddedChannel, whose every thread counts as its event loop).
                .offload(OFFLOADED::add)
                .build();

        EmbeddedChannel inVm = new ApiHandlerTest.AddressedChannel(new InetSocketAddress("192.168.127.2", 40000));
        inVm.pipeline().addLast(ApiServer.inVm(api));
        run(inVm, request);

        EmbeddedChannel host = new EmbeddedChannel(false, false);
        host.pipeline().addLast(new HttpServerCodec(), ApiServer.hostFallback(api, ApiHandler.Surface.FULL).get());
        run(host, request);

        if (++runs % LEAK_CHECK_EVERY == 0) {
            List<String> leaks = LeakTracking.collect();
            assertEquals(List.of(), leaks, "ByteBuf leaks during the last " + LEAK_CHECK_EVERY + " inputs");
        }
    }

    private static final java.util.ArrayDeque<Runnable> OFFLOADED = new java.util.ArrayDeque<>();

    /** Runs the offloaded parsing and the loop tasks it hands back until both are idle. */
    private static void drain(EmbeddedChannel ch) {
        do {
            Runnable r;
            while ((r = OFFLOADED.poll()) != null) {
                r.run();
            }
            ch.runPendingTasks();
        } while (!OFFLOADED.isEmpty());
    }

    private static void run(EmbeddedChannel ch, byte[] request) {
        try {
            ch.register();
            // In two reads, as a socket may deliver it: the cut moves with the input's length.
            int cut = request.length / 3;
            ch.writeInbound(Unpooled.wrappedBuffer(request, 0, cut));
            drain(ch);
            // The handler may have closed the connection after a bad first part: a peer's write then goes nowhere.
            if (ch.isOpen()) {
                ch.writeInbound(Unpooled.wrappedBuffer(request, cut, request.length - cut));
            }
            drain(ch);
            ch.checkException();
        } catch (Exception e) {
            throw new AssertionError("exception out of the API pipeline", e);
        } finally {
            drain(ch);
            ch.finishAndReleaseAll();
            OFFLOADED.clear();
            ByteBuf b;
            while ((b = ch.readOutbound()) != null) {
                b.release();
            }
        }
    }
}
