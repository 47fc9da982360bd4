package dev.gvproxy.cli;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * The training run behind the distribution's JDK 25 AOT cache: the build runs this once on the bundled runtime
 * with {@code -XX:AOTCacheOutput}, and the launchers start gvproxy-java with {@code -XX:AOTCache}, so the classes
 * this run loads and links, and the method profiles it gathers, are ready at the next start.
 *
 * <p>A representative start is what podman machine does: a QEMU listener and an API socket, a guest that attaches
 * and sends a frame (here an ARP request for the gateway, answered by the stack), and one {@code GET /stats} on the
 * API; then a clean stop. Everything lives in a temporary directory; nothing listens on TCP. Not a user command
 * (not in the usage text): {@code java -XX:AOTCacheOutput=F -cp gvproxy-java.jar dev.gvproxy.cli.AotTraining}.
 */
public final class AotTraining {
    private AotTraining() {}

    public static void main(String[] args) throws IOException {
        Path dir = Files.createTempDirectory("gvproxy-java-aot");
        Path qemu = dir.resolve("qemu.sock");
        Path api = dir.resolve("api.sock");
        AtomicReference<Throwable> failed = new AtomicReference<>();
        // A build must not hang on a training run that goes wrong (say, a frame the stack does not answer).
        Thread.ofPlatform().daemon().name("aot-training-watchdog").start(() -> {
            try {
                Thread.sleep(60_000);
                System.err.println("AOT training run did not finish in 60 s");
                Runtime.getRuntime().halt(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        int status;
        try {
            String[] gvproxyArgs = {"-mtu", "1500", "-ssh-port", "-1", "-listen-qemu", "unix://" + qemu,
                "-listen", "unix://" + api, "-pid-file", dir.resolve("gvproxy.pid").toString()};
            status = GvproxyMain.run(gvproxyArgs, System.out, System.err, running -> {
                try {
                    guestArp(qemu);
                    String stats = get(api, "/stats");
                    if (!stats.startsWith("HTTP/1.1 200")) {
                        throw new IOException("GET /stats answered: " + stats.lines().findFirst().orElse(""));
                    }
                } catch (IOException | RuntimeException e) {
                    failed.set(e);
                }
                running.stop("training done");
            });
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        if (failed.get() != null) {
            System.err.println("AOT training run failed: " + failed.get());
            status = 1;
        }
        System.exit(status);
    }

    /** A guest on the QEMU socket (4-byte big-endian frame lengths) asks who has the gateway; reads the reply. */
    private static void guestArp(Path qemu) throws IOException {
        byte[] frame = HexFormat.of().parseHex("ffffffffffff" + "5a94efe40cee" + "0806" // Ethernet
                + "0001" + "0800" + "06" + "04" + "0001" // ARP request
                + "5a94efe40cee" + "c0a87f02" + "000000000000" + "c0a87f01");
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(qemu))) {
            ch.write(ByteBuffer.allocate(4 + frame.length).putInt(frame.length).put(frame).flip());
            ByteBuffer len = ByteBuffer.allocate(4);
            while (len.hasRemaining() && ch.read(len) >= 0) {
                // the reply's length prefix
            }
            if (len.hasRemaining()) {
                throw new IOException("no ARP reply from the gateway");
            }
            ByteBuffer reply = ByteBuffer.allocate(len.flip().getInt());
            while (reply.hasRemaining() && ch.read(reply) >= 0) {
                // the reply
            }
        }
    }

    /**
     * One {@code GET} on an API unix socket, as a client that closes after the answer.
     *
     * @return the whole response: status line, headers and body
     */
    public static String get(Path socket, String path) throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ch.write(StandardCharsets.US_ASCII.encode("GET " + path + " HTTP/1.1\r\nHost: gvproxy\r\n"
                    + "Connection: close\r\n\r\n"));
            StringBuilder out = new StringBuilder();
            ByteBuffer buf = ByteBuffer.allocate(8192);
            while (ch.read(buf) >= 0) {
                out.append(StandardCharsets.UTF_8.decode(buf.flip()));
                buf.clear();
            }
            return out.toString();
        }
    }
}
