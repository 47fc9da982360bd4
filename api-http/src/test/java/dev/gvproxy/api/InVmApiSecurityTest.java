package dev.gvproxy.api;

import dev.gvproxy.model.PortForwardRegistry;
import dev.gvproxy.forwarder.TunnelStream;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The in-VM API as a guest sees it (issue 9): it manages only guest-created forwards, follows the guest policy,
 * never replaces gvproxy-java's own files, bounds what it parses, parses off the loop and closes idle connections.
 */
class InVmApiSecurityTest {
    private static final InetSocketAddress GUEST = new InetSocketAddress("192.168.127.2", 40000);

    @TempDir
    Path dir;

    private FakeForwards fwd = new FakeForwards();
    private final Counters apiCounters = new Counters();

    private ApiContext.Builder api() {
        return ApiContext.builder().forwards(fwd.registry).apiCounters(apiCounters).offload(Runnable::run);
    }

    /** An embedded channel whose peer has an address. */
    static final class AddressedChannel extends EmbeddedChannel {
        private final SocketAddress remote;

        AddressedChannel(SocketAddress remote) {
            super(false, false);
            this.remote = remote;
        }

        @Override
        protected SocketAddress remoteAddress0() {
            return remote;
        }
    }

    record Resp(int status, String body) {}

    private EmbeddedChannel channel(ApiContext ctx, ApiHandler.Surface surface, SocketAddress remote) {
        EmbeddedChannel ch = new AddressedChannel(remote);
        ch.pipeline().addLast(new HttpServerCodec(), new ApiHandler(ctx, surface));
        try {
            ch.register();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return ch;
    }

    private static Resp send(EmbeddedChannel ch, String raw) {
        ch.writeInbound(Unpooled.copiedBuffer(raw, StandardCharsets.UTF_8));
        ch.runPendingTasks();
        return read(ch);
    }

    private static Resp read(EmbeddedChannel ch) {
        StringBuilder out = new StringBuilder();
        ByteBuf b;
        while ((b = ch.readOutbound()) != null) {
            out.append(b.toString(StandardCharsets.UTF_8));
            b.release();
        }
        String s = out.toString();
        int end = s.indexOf("\r\n\r\n");
        if (end < 0) {
            return new Resp(-1, s);
        }
        return new Resp(Integer.parseInt(s.substring(0, end).split(" ")[1]), s.substring(end + 4));
    }

    private static String post(String path, String body) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return "POST " + path + " HTTP/1.1\r\nHost: gateway.containers.internal\r\nContent-Length: " + b.length
                + "\r\n\r\n" + body;
    }

    private Resp guest(String path, String body) {
        EmbeddedChannel ch = channel(api().build(), ApiHandler.Surface.IN_VM, GUEST);
        try {
            return send(ch, body == null ? "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n" : post(path, body));
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    private Resp host(String path, String body) {
        EmbeddedChannel ch = channel(api().build(), ApiHandler.Surface.SERVICES, null);
        try {
            return send(ch, body == null ? "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n" : post(path, body));
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    private long forbidden() {
        return fwd.counters.get("api.guestForbidden");
    }

    private void hostSshForward() {
        assertEquals(200, host("/services/forwarder/expose",
                "{\"local\":\"127.0.0.1:2222\",\"remote\":\"192.168.127.2:22\"}").status());
    }

    @Test
    void guestCannotRemoveOrTakeOverTheHostsSshForward() {
        hostSshForward();
        // The reported attack: unexpose 127.0.0.1:2222, then expose it to the attacker's own sshd.
        Resp un = guest("/services/forwarder/unexpose", "{\"local\":\"127.0.0.1:2222\"}");
        assertEquals(403, un.status(), un.body());
        assertTrue(un.body().contains("not created by a guest"), un.body());
        for (String local : List.of("127.0.0.1:2222", ":2222", "0.0.0.0:2222", "localhost:2222", "[::]:2222",
                "[::1]:2222", "127.0.0.5:2222")) {
            Resp r = guest("/services/forwarder/expose", "{\"local\":\"" + local + "\",\"remote\":\":22\"}");
            assertEquals(403, r.status(), local + ": " + r.body());
        }
        assertEquals(8, forbidden());
        // Still the host's, still pointing at the VM, and the host keeps full power over it.
        assertEquals("[{\"local\":\"127.0.0.1:2222\",\"remote\":\"192.168.127.2:22\",\"protocol\":\"tcp\"}]\n",
                host("/services/forwarder/all", null).body());
        assertEquals(List.of("tcp/127.0.0.1:2222"), fwd.opened);
        // Other addresses and ports, and udp on the same port, are not the host forward's.
        assertEquals(200, guest("/services/forwarder/expose", "{\"local\":\"192.168.50.1:2222\",\"remote\":\":22\"}").status());
        assertEquals(200, guest("/services/forwarder/expose",
                "{\"local\":\"127.0.0.1:2222\",\"remote\":\":22\",\"protocol\":\"udp\"}").status());
        assertEquals(200, host("/services/forwarder/unexpose", "{\"local\":\"127.0.0.1:2222\"}").status());
    }

    @Test
    void guestListsOnlyGuestCreatedForwardsAndTheHostListsAll() {
        hostSshForward();
        assertEquals("[]\n", guest("/services/forwarder/all", null).body());
        assertEquals(200, guest("/services/forwarder/expose", "{\"local\":\":8080\",\"remote\":\":80\"}").status());
        assertEquals("[{\"local\":\":8080\",\"remote\":\"192.168.127.2:80\",\"protocol\":\"tcp\"}]\n",
                guest("/services/forwarder/all", null).body());
        assertEquals("[{\"local\":\"127.0.0.1:2222\",\"remote\":\"192.168.127.2:22\",\"protocol\":\"tcp\"},"
                + "{\"local\":\":8080\",\"remote\":\"192.168.127.2:80\",\"protocol\":\"tcp\"}]\n",
                host("/services/forwarder/all", null).body());
        // The host may remove what guests created.
        assertEquals(200, host("/services/forwarder/unexpose", "{\"local\":\":8080\"}").status());
        assertEquals(0, forbidden());
    }

    @Test
    void podmanRequestsWorkByDefault() {
        // libpod's exact bodies: one per published port and protocol, empty host = all addresses, privileged too.
        for (String proto : List.of("tcp", "udp")) {
            for (String local : List.of(":80", "127.0.0.1:8080", "0.0.0.0:53")) {
                String port = local.substring(local.lastIndexOf(':') + 1);
                Resp r = guest("/services/forwarder/expose", "{\"local\":\"" + local + "\",\"remote\":\":" + port
                        + "\",\"protocol\":\"" + proto + "\"}");
                assertEquals(200, r.status(), proto + " " + local + ": " + r.body());
            }
        }
        assertEquals(6, fwd.opened.size());
        assertTrue(fwd.opened.contains("udp/:80"), fwd.opened::toString);
        for (String proto : List.of("tcp", "udp")) {
            for (String local : List.of(":80", "127.0.0.1:8080", "0.0.0.0:53")) {
                assertEquals(200, guest("/services/forwarder/unexpose", "{\"local\":\"" + local
                        + "\",\"protocol\":\"" + proto + "\"}").status());
            }
        }
        assertEquals(6, fwd.closed.size());
    }

    @Test
    void strictModeAllowsOnlyLoopbackAndUnprivilegedPorts() {
        fwd = new FakeForwards(new PortForwardRegistry.GuestPolicy(true, null));
        for (String local : List.of(":8080", "0.0.0.0:8080", "192.168.1.5:8080", "127.0.0.1:80", "127.0.0.1:1023")) {
            Resp r = guest("/services/forwarder/expose", "{\"local\":\"" + local + "\",\"remote\":\":80\"}");
            assertEquals(403, r.status(), local);
            assertTrue(r.body().contains("strict mode"), r.body());
        }
        assertEquals(5, forbidden());
        assertEquals(200, guest("/services/forwarder/expose", "{\"local\":\"127.0.0.1:8080\",\"remote\":\":80\"}").status());
        assertEquals(200, guest("/services/forwarder/expose", "{\"local\":\"localhost:1024\",\"remote\":\":80\"}").status());
        // The host is not bound by the guest policy.
        assertEquals(200, host("/services/forwarder/expose", "{\"local\":\":80\",\"remote\":\"192.168.127.2:80\"}").status());
    }

    @Test
    void guestUnixExposesAreRefusedWithoutADirectoryAndConfinedWithOne() throws Exception {
        Resp none = guest("/services/forwarder/expose", "{\"local\":\"" + dir.resolve("a.sock")
                + "\",\"remote\":\"tcp://192.168.127.2:80\",\"protocol\":\"unix\"}");
        assertEquals(403, none.status());
        assertTrue(none.body().contains("unix exposes from the VM are disabled"), none.body());

        Path allowed = Files.createDirectory(dir.resolve("guest"));
        fwd = new FakeForwards(new PortForwardRegistry.GuestPolicy(false, allowed));
        for (String local : List.of(dir.resolve("outside.sock").toString(), allowed + "/../outside.sock",
                "relative.sock", "/etc/passwd")) {
            Resp r = guest("/services/forwarder/expose", "{\"local\":\"" + local
                    + "\",\"remote\":\"tcp://192.168.127.2:80\",\"protocol\":\"unix\"}");
            assertEquals(403, r.status(), local + ": " + r.body());
        }
        // ssh-tunnel names a host key file: never from a guest.
        assertEquals(403, guest("/services/forwarder/expose", "{\"local\":\"" + allowed.resolve("k.sock")
                + "\",\"remote\":\"ssh-tunnel://root@192.168.127.2/run/x.sock?key=/root/.ssh/id_ed25519\","
                + "\"protocol\":\"unix\"}").status());
        assertEquals(200, guest("/services/forwarder/expose", "{\"local\":\"" + allowed.resolve("ok.sock")
                + "\",\"remote\":\"tcp://192.168.127.2:80\",\"protocol\":\"unix\"}").status());
        assertEquals(5, forbidden());
    }

    @Test
    void nobodyReplacesAFileGvproxyOwns() {
        Path apiSock = dir.resolve("api.sock");
        fwd.registry.protectPath(apiSock);
        Resp r = host("/services/forwarder/expose", "{\"local\":\"" + apiSock
                + "\",\"remote\":\"tcp://192.168.127.2:80\",\"protocol\":\"unix\"}");
        assertEquals(403, r.status());
        assertTrue(r.body().contains("gvproxy-java itself uses this file"), r.body());
        assertEquals(List.of(), fwd.opened);
    }

    @Test
    void portZeroIsListedAndAnsweredWithTheBoundPort() {
        Resp r = guest("/services/forwarder/expose", "{\"local\":\"127.0.0.1:0\",\"remote\":\":80\"}");
        assertEquals(200, r.status());
        assertEquals("{\"local\":\"127.0.0.1:45678\",\"remote\":\"192.168.127.2:80\",\"protocol\":\"tcp\"}\n", r.body());
        assertEquals("[{\"local\":\"127.0.0.1:45678\",\"remote\":\"192.168.127.2:80\",\"protocol\":\"tcp\"}]\n",
                guest("/services/forwarder/all", null).body());
        assertEquals(200, guest("/services/forwarder/unexpose", "{\"local\":\"127.0.0.1:45678\"}").status());
        assertEquals(List.of("tcp/127.0.0.1:45678"), fwd.closed);
    }

    @Test
    void hugeNumbersAndDeepNestingAreRefusedQuickly() {
        String digits = "9".repeat(60_000);
        long t0 = System.nanoTime();
        Resp r = guest("/services/forwarder/expose", "{\"local\":" + digits + "}");
        long millis = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(400, r.status());
        assertTrue(r.body().startsWith("json: number too long"), r.body());
        assertTrue(millis < 2_000, "took " + millis + " ms");
        Resp exp = guest("/services/forwarder/expose", "{\"local\":1e99999999999999999}");
        assertEquals(400, exp.status(), exp.body());
        Resp deep = guest("/services/forwarder/expose", "[".repeat(10_000));
        assertEquals(400, deep.status());
        assertTrue(deep.body().startsWith("json: nesting too deep"), deep.body());
        assertEquals(3, apiCounters.get("api.badRequest"));
        // Bodies above 64 KiB are refused by the aggregator.
        assertEquals(413, guest("/services/forwarder/expose", "{\"local\":\"" + "a".repeat(70_000) + "\"}").status());
        assertEquals(1, apiCounters.get("api.bodyTooLarge"));
        // A request line beyond the in-VM codec's 4 KiB.
        EmbeddedChannel ch = new AddressedChannel(GUEST);
        ch.pipeline().addLast(ApiServer.inVm(api().build()));
        register(ch);
        Resp longLine = send(ch, "GET /" + "x".repeat(5000) + " HTTP/1.1\r\nHost: x\r\n\r\n");
        ch.finishAndReleaseAll();
        assertEquals(400, longLine.status());
        assertEquals(4, apiCounters.get("api.badRequest"));
    }

    @Test
    void parsingRunsOnTheOffloadExecutorNotTheLoop() {
        ArrayDeque<Runnable> offloaded = new ArrayDeque<>();
        List<Thread> parsedOn = new ArrayList<>();
        ApiContext ctx = api().offload(offloaded::add).build();
        EmbeddedChannel ch = channel(ctx, ApiHandler.Surface.IN_VM, GUEST);
        try {
            ch.writeInbound(Unpooled.copiedBuffer(post("/services/forwarder/expose",
                    "{\"local\":\":8080\",\"remote\":\":80\"}"), StandardCharsets.UTF_8));
            ch.runPendingTasks();
            // Nothing answered and nothing exposed until the offload executor runs the parse.
            assertEquals(-1, read(ch).status());
            assertEquals(List.of(), fwd.opened);
            assertEquals(1, offloaded.size());
            Thread worker = Thread.ofPlatform().start(() -> {
                parsedOn.add(Thread.currentThread());
                offloaded.poll().run();
            });
            worker.join();
            ch.runPendingTasks();
            assertEquals(200, read(ch).status());
            assertEquals(List.of("tcp/:8080"), fwd.opened);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() {
        EmbeddedChannel ch = channel(api().build(), ApiHandler.Surface.IN_VM, GUEST);
        try {
            String two = post("/services/forwarder/expose", "{\"local\":\":8080\",\"remote\":\":80\"}")
                    + "GET /services/forwarder/all HTTP/1.1\r\nHost: x\r\n\r\n";
            ch.writeInbound(Unpooled.copiedBuffer(two, StandardCharsets.UTF_8));
            ch.runPendingTasks();
            String raw = rawOut(ch);
            int first = raw.indexOf("HTTP/1.1 200");
            int second = raw.indexOf("HTTP/1.1 200", first + 1);
            assertTrue(first >= 0 && second > first, raw);
            assertTrue(raw.substring(second).contains("\":8080\""), raw);
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    private static String rawOut(EmbeddedChannel ch) {
        StringBuilder out = new StringBuilder();
        ByteBuf b;
        while ((b = ch.readOutbound()) != null) {
            out.append(b.toString(StandardCharsets.UTF_8));
            b.release();
        }
        return out.toString();
    }

    @Test
    void idleConnectionsAreClosedAndCounted() {
        ApiContext ctx = api().build();
        EmbeddedChannel silent = channel(ctx, ApiHandler.Surface.IN_VM, GUEST);
        silent.freezeTime();
        silent.advanceTimeBy(9, TimeUnit.SECONDS);
        silent.runScheduledPendingTasks();
        assertTrue(silent.isOpen());
        silent.advanceTimeBy(2, TimeUnit.SECONDS);
        silent.runScheduledPendingTasks();
        assertFalse(silent.isOpen());
        silent.finishAndReleaseAll();

        EmbeddedChannel keepAlive = channel(ctx, ApiHandler.Surface.IN_VM, GUEST);
        keepAlive.freezeTime();
        assertEquals(200, send(keepAlive, "GET /services/forwarder/all HTTP/1.1\r\nHost: x\r\n\r\n").status());
        keepAlive.advanceTimeBy(59, TimeUnit.SECONDS);
        keepAlive.runScheduledPendingTasks();
        assertTrue(keepAlive.isOpen());
        keepAlive.advanceTimeBy(2, TimeUnit.SECONDS);
        keepAlive.runScheduledPendingTasks();
        assertFalse(keepAlive.isOpen());
        keepAlive.finishAndReleaseAll();
        assertEquals(2, apiCounters.get("api.idleClosed"));
    }

    @Test
    void inVmConnectionsAreBoundedPerGuestAndPerNetwork() {
        ApiContext ctx = api().maxInVmConnections(5, 3).build();
        var init = ApiServer.inVm(ctx);
        List<EmbeddedChannel> open = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            EmbeddedChannel ch = new AddressedChannel(new InetSocketAddress("192.168.127.2", 1000 + i));
            ch.pipeline().addLast(init);
            register(ch);
            open.add(ch);
        }
        assertEquals(3, open.stream().filter(Channel::isOpen).count());
        assertEquals(1, apiCounters.get("api.inVmGuestConnectionLimit"));
        for (int i = 0; i < 3; i++) {
            EmbeddedChannel ch = new AddressedChannel(new InetSocketAddress("192.168.127.3", 1000 + i));
            ch.pipeline().addLast(init);
            register(ch);
            open.add(ch);
        }
        assertEquals(5, open.stream().filter(Channel::isOpen).count());
        assertEquals(1, apiCounters.get("api.inVmConnectionLimit"));
        // A closed connection makes room again.
        open.get(0).close();
        EmbeddedChannel again = new AddressedChannel(new InetSocketAddress("192.168.127.2", 2000));
        again.pipeline().addLast(init);
        register(again);
        assertTrue(again.isOpen());
        open.add(again);
        open.forEach(EmbeddedChannel::finishAndReleaseAll);
    }

    private static void register(EmbeddedChannel ch) {
        try {
            ch.register();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void tokenGuardsTheInVmApiAndIsCounted() {
        ApiContext ctx = api().inVmToken("0123456789abcdef0123456789abcdef").build();
        EmbeddedChannel ch = channel(ctx, ApiHandler.Surface.IN_VM, GUEST);
        try {
            assertEquals(401, send(ch, post("/services/forwarder/expose", "{\"local\":\":8080\",\"remote\":\":80\"}")).status());
            assertEquals(List.of(), fwd.opened);
            assertEquals(200, send(ch, "POST /services/forwarder/expose HTTP/1.1\r\nHost: x\r\n"
                    + "Authorization: Bearer 0123456789abcdef0123456789abcdef\r\nContent-Length: 32\r\n\r\n"
                    + "{\"local\":\":8080\",\"remote\":\":80\"}").status());
            assertEquals(1, apiCounters.get("api.unauthorized"));
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    /** Bytes sent right behind a /tunnel request reach the guest stream, although other requests are offloaded. */
    @Test
    void tunnelKeepsTheBytesThatCameWithTheRequest() {
        List<String> sent = new ArrayList<>();
        TunnelStream stream = new TunnelStream() {
            @Override
            public void start(Handler handler) {}

            @Override
            public int sendSpace() {
                return 1 << 20;
            }

            @Override
            public void send(ByteBuf data) {
                sent.add(data.toString(StandardCharsets.UTF_8));
                data.release();
            }

            @Override
            public void shutdownOutput() {}

            @Override
            public void consumed(int n) {}

            @Override
            public void abort() {}
        };
        ArrayDeque<Runnable> offloaded = new ArrayDeque<>();
        ApiContext ctx = api().offload(offloaded::add)
                .tunneler((ip, port) -> java.util.concurrent.CompletableFuture.completedFuture(stream)).build();
        EmbeddedChannel ch = channel(ctx, ApiHandler.Surface.SERVICES, null);
        try {
            ch.writeInbound(Unpooled.copiedBuffer("POST /tunnel?ip=192.168.127.2&port=22 HTTP/1.1\r\nHost: \r\n"
                    + "Content-Length: 0\r\n\r\nSSH-2.0-client\r\n", StandardCharsets.UTF_8));
            ch.runPendingTasks();
            assertEquals(0, offloaded.size(), "routed on the loop");
            assertEquals("OK", rawOut(ch));
            assertEquals("SSH-2.0-client\r\n", String.join("", sent));
        } finally {
            ch.finishAndReleaseAll();
        }
    }
}
