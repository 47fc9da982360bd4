package dev.gvproxy.transport.tap;

import dev.gvproxy.platform.Libc;
import dev.gvproxy.platform.NativeException;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Real TAP devices in a throw-away network namespace (needs root and /dev/net/tun; skipped otherwise). */
class TapDeviceTest {
    private String ns;

    static boolean isRoot() {
        try {
            return Files.readString(Path.of("/proc/self/status")).lines()
                    .filter(l -> l.startsWith("Uid:"))
                    .anyMatch(l -> l.split("\\s+")[2].equals("0"));
        } catch (IOException e) {
            return false;
        }
    }

    static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("timeout: " + List.of(cmd));
        }
        String text = new String(out, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IOException(List.of(cmd) + " exited " + p.exitValue() + ": " + text);
        }
        return text;
    }

    @BeforeEach
    void createNamespace() throws Exception {
        Assumptions.assumeTrue(isRoot(), "needs root to create network namespaces and TAP devices");
        Assumptions.assumeTrue(Files.exists(Path.of("/dev/net/tun")), "needs /dev/net/tun");
        ns = "gvj-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 20);
        run("ip", "netns", "add", ns);
    }

    @AfterEach
    void deleteNamespace() throws Exception {
        if (ns != null) {
            run("ip", "netns", "del", ns);
        }
    }

    @Test
    void createsTapInNamespaceSetsMacAndLinkUp() throws Exception {
        try (TapDevice tap = TapDevice.open("tap0", ns)) {
            assertEquals("tap0", tap.name());
            assertFalse(tap.isUp());
            tap.setMac("5a:94:ef:e4:0c:ee");
            tap.setUp();
            tap.setMtu(1400);
            assertTrue(tap.isUp());
            String link = run("ip", "-n", ns, "link", "show", "tap0");
            assertTrue(link.contains("link/ether 5a:94:ef:e4:0c:ee"), link);
            assertTrue(link.contains("<BROADCAST,MULTICAST,UP"), link);
            assertTrue(link.contains("mtu 1400"), link);
            assertTrue(Netns.interfaceExists(ns, "tap0"));
            assertFalse(Netns.interfaceExists(ns, "eth0"));
        }
        // A non-persistent TAP disappears with its fd.
        assertFalse(Netns.interfaceExists(ns, "tap0"));
        assertThrows(IOException.class, () -> run("ip", "-n", ns, "link", "show", "tap0"));
    }

    @Test
    void calledThreadIsBackInHostNamespace() throws Exception {
        String before = Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString();
        String inside = Netns.call(ns, () -> Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString());
        assertFalse(before.equals(inside), "task ran in " + inside);
        assertEquals(before, Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString());
    }

    @Test
    void unknownNamespaceIsANativeError() {
        IOException e = assertThrows(IOException.class, () -> TapDevice.open("tap0", ns + "-missing"));
        NativeException n = assertInstanceOf(NativeException.class, e);
        assertEquals(2, n.errno()); // ENOENT
        assertTrue(e.getMessage().contains("No such file or directory"), e.getMessage());
    }

    @Test
    void rejectsBadNames() {
        assertThrows(IllegalArgumentException.class, () -> TapDevice.open("sixteen-chars-xx", ns));
        assertThrows(IllegalArgumentException.class, () -> TapDevice.open("a/b", ns));
        assertThrows(IllegalArgumentException.class, () -> TapDevice.parseMac("5a:94:ef:e4:0c"));
        assertThrows(IllegalArgumentException.class, () -> TapDevice.parseMac("5a:94:ef:e4:0c:zz"));
    }

    /** The kernel answers an ARP request we write, and the reply comes back through read(). */
    @Test
    void framesRoundTripThroughTheKernel() throws Exception {
        try (TapDevice tap = TapDevice.open("tap0", ns)) {
            tap.setMac("5a:94:ef:e4:0c:ee");
            tap.setUp();
            run("ip", "-n", ns, "addr", "add", "198.18.0.1/24", "dev", "tap0");
            byte[] peerMac = HexFormat.ofDelimiter(":").parseHex("02:00:00:00:00:42");
            byte[] req = arpRequest(peerMac, new byte[] {(byte) 198, 18, 0, 2}, new byte[] {(byte) 198, 18, 0, 1});
            tap.write(ByteBuffer.wrap(req)); // heap buffer: goes through the bounce segment

            try (Arena arena = Arena.ofShared()) {
                MemorySegment buf = arena.allocate(65536);
                // Skip unrelated frames (IPv6 router solicitations etc.) until the ARP reply shows up.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (true) {
                    assertTrue(System.nanoTime() < deadline, "no ARP reply");
                    int n = readWithTimeout(tap, buf, deadline);
                    byte[] f = buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                    if (n >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2) {
                        assertArrayEquals(peerMac, java.util.Arrays.copyOfRange(f, 0, 6));
                        assertArrayEquals(TapDevice.parseMac("5a:94:ef:e4:0c:ee"),
                                java.util.Arrays.copyOfRange(f, 22, 28)); // sender hardware address
                        break;
                    }
                }
            }
            // Direct ByteBuffer read path as well: ping the peer, the kernel ARPs for it.
            ByteBuffer direct = ByteBuffer.allocateDirect(65536);
            run("ip", "-n", ns, "neigh", "flush", "dev", "tap0");
            CompletableFuture<Void> ping = CompletableFuture.runAsync(() -> {
                try {
                    new ProcessBuilder("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", "198.18.0.3")
                            .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
                            .waitFor();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            boolean sawArp = false;
            while (!sawArp && System.nanoTime() < deadline) {
                direct.clear();
                int n = tap.read(direct);
                assertEquals(n, direct.position());
                sawArp = n >= 42 && direct.get(12) == 0x08 && direct.get(13) == 0x06 && direct.get(21) == 1
                        && direct.get(41) == 3;
            }
            assertTrue(sawArp, "no ARP request for 198.18.0.3");
            ping.get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * A pump that saw the queue empty ({@code readNow} returned 0) reads with {@code drained}: it waits in poll
     * first, without a read the kernel would refuse, and still takes the next frame that arrives.
     */
    @Test
    void aDrainedReadWaitsForTheNextFrame() throws Exception {
        // No IPv6 in the namespace: no router solicitation or DAD frame that would end the read before it waits.
        run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1");
        try (TapDevice tap = TapDevice.open("tap0", ns); Arena arena = Arena.ofShared()) {
            tap.setMac("5a:94:ef:e4:0c:ee");
            tap.setUp();
            run("ip", "-n", ns, "addr", "add", "198.18.0.1/24", "dev", "tap0");
            MemorySegment buf = arena.allocate(65536);
            while (tap.readNow(buf) > 0) {
                // whatever the kernel queued while the link came up
            }
            String threadName = "tapdrained-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000));
            CompletableFuture<Integer> reader = CompletableFuture.supplyAsync(() -> {
                try {
                    return tap.read(buf, true);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, r -> Thread.ofPlatform().name(threadName).daemon(true).start(r));
            assertTrue(awaitBlockedInPoll(threadName, TimeUnit.SECONDS.toNanos(10)), "reader never blocked in poll");
            byte[] peerMac = HexFormat.ofDelimiter(":").parseHex("02:00:00:00:00:42");
            tap.write(ByteBuffer.wrap(arpRequest(peerMac, new byte[] {(byte) 198, 18, 0, 2},
                    new byte[] {(byte) 198, 18, 0, 1})));
            assertTrue(reader.get(10, TimeUnit.SECONDS) >= 42, "a frame (the ARP reply or another) was read");
        }
    }

    private static int readWithTimeout(TapDevice tap, MemorySegment buf, long deadlineNanos) throws Exception {
        CompletableFuture<Integer> f = CompletableFuture.supplyAsync(() -> {
            try {
                return tap.read(buf);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, r -> Thread.ofPlatform().daemon(true).start(r));
        return f.get(Math.max(1, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
    }

    @Test
    void closeWakesABlockedReader() throws Exception {
        TapDevice tap = TapDevice.open("tap0", ns); // link down: nothing will ever arrive
        String threadName = "tapwake-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000));
        CompletableFuture<Integer> reader = CompletableFuture.supplyAsync(() -> {
            try {
                return tap.read(ByteBuffer.allocateDirect(2048));
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, r -> Thread.ofPlatform().name(threadName).daemon(true).start(r));
        assertTrue(awaitBlockedInPoll(threadName, TimeUnit.SECONDS.toNanos(10)), "reader never blocked in poll");
        tap.close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> reader.get(5, TimeUnit.SECONDS));
        assertInstanceOf(ClosedChannelException.class, e.getCause().getCause());
        assertTrue(tap.isClosed());
        tap.close(); // idempotent
        assertThrows(ClosedChannelException.class, () -> tap.write(ByteBuffer.allocate(60)));
        assertFalse(Netns.interfaceExists(ns, "tap0"));
    }

    /** Deleting the interface under a blocked reader ends the read with an error (no spinning, no hang). */
    @Test
    void deletedInterfaceFailsTheReader() throws Exception {
        try (TapDevice tap = TapDevice.open("tap0", ns)) {
            tap.setUp();
            String threadName = "tapdel-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000));
            CompletableFuture<Integer> reader = CompletableFuture.supplyAsync(() -> {
                try {
                    ByteBuffer b = ByteBuffer.allocateDirect(65536);
                    while (true) {
                        b.clear();
                        tap.read(b); // IPv6 router solicitations may arrive first: keep reading
                    }
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, r -> Thread.ofPlatform().name(threadName).daemon(true).start(r));
            assertTrue(awaitBlockedInPoll(threadName, TimeUnit.SECONDS.toNanos(10)), "reader never blocked in poll");
            run("ip", "-n", ns, "link", "del", "tap0");
            ExecutionException e = assertThrows(ExecutionException.class, () -> reader.get(10, TimeUnit.SECONDS));
            assertInstanceOf(IOException.class, e.getCause().getCause());
        }
    }

    /** Polls /proc until the native thread named {@code name} sleeps in poll(2) (its wchan names a poll function). */
    static boolean awaitBlockedInPoll(String name, long timeoutNanos) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        while (System.nanoTime() < deadline) {
            try (var tasks = Files.list(Path.of("/proc/self/task"))) {
                for (Path t : tasks.toList()) {
                    try {
                        if (Files.readString(t.resolve("comm")).strip().equals(name)
                                && Files.readString(t.resolve("wchan")).contains("poll")) {
                            return true;
                        }
                    } catch (IOException gone) {
                        // the task exited while we looked
                    }
                }
            }
            Thread.onSpinWait();
            Thread.yield();
        }
        return false;
    }

    /** Ethernet + ARP request (who-has target, tell sender) from {@code mac}. */
    static byte[] arpRequest(byte[] mac, byte[] senderIp, byte[] targetIp) {
        ByteBuffer b = ByteBuffer.allocate(42);
        b.put(new byte[] {-1, -1, -1, -1, -1, -1}).put(mac).putShort((short) 0x0806);
        b.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 1);
        b.put(mac).put(senderIp).put(new byte[6]).put(targetIp);
        return b.array();
    }
}
