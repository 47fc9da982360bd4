package dev.gvproxy.notify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each message arrives on its own connection, as one JSON line, in order (spec 1.11, upstream sender_test.go). */
class NotificationSenderTest {
    @TempDir
    Path dir;

    /** A consumer: accepts connections and records each one's complete content. */
    static final class Receiver implements AutoCloseable {
        final ServerSocketChannel server;
        final LinkedBlockingQueue<String> messages = new LinkedBlockingQueue<>();
        final Thread thread;

        Receiver(Path path) throws IOException {
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(path));
            thread = Thread.ofPlatform().daemon().start(() -> {
                while (true) {
                    try (SocketChannel c = server.accept()) {
                        messages.add(new String(readAll(c), StandardCharsets.UTF_8));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        static byte[] readAll(SocketChannel c) throws IOException {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1024);
            while (c.read(b) >= 0) {
                b.flip();
                out.write(b.array(), 0, b.limit());
                b.clear();
            }
            return out.toByteArray();
        }

        String next() throws InterruptedException {
            return messages.poll(2, TimeUnit.SECONDS);
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }

    @Test
    void messagesArriveInOrderOnePerConnection() throws Exception {
        Path sock = dir.resolve("n.sock");
        try (Receiver r = new Receiver(sock); NotificationSender s = new NotificationSender(sock)) {
            s.send(Notification.READY);
            s.send(new Notification(Notification.CONNECTION_ESTABLISHED, "5a:94:ef:e4:0c:ee"));
            s.send(Notification.HYPERVISOR_ERROR);
            s.send(new Notification(Notification.CONNECTION_CLOSED, "5a:94:ef:e4:0c:ee"));
            List<String> got = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                got.add(r.next());
            }
            assertEquals(List.of("{\"notification_type\":\"ready\"}\n",
                    "{\"notification_type\":\"connection_established\",\"mac_address\":\"5a:94:ef:e4:0c:ee\"}\n",
                    "{\"notification_type\":\"hypervisor_error\"}\n",
                    "{\"notification_type\":\"connection_closed\",\"mac_address\":\"5a:94:ef:e4:0c:ee\"}\n"), got);
        }
    }

    @Test
    void noSocketIsANoOpAndAMissingConsumerLosesTheMessage() throws Exception {
        NotificationSender none = NotificationSender.none();
        none.send(Notification.READY);
        none.close();
        Path sock = dir.resolve("late.sock");
        try (NotificationSender s = new NotificationSender(sock)) {
            s.send(Notification.READY); // nobody listens: logged and lost
            s.drainAndClose(2000);
        }
        try (Receiver r = new Receiver(sock); NotificationSender s = new NotificationSender(sock)) {
            s.send(Notification.HYPERVISOR_ERROR);
            assertEquals("{\"notification_type\":\"hypervisor_error\"}\n", r.next());
        }
    }

    @Test
    void queueIsBoundedAt100() throws Exception {
        Path sock = dir.resolve("slow.sock");
        // Nobody accepts: the backlog fills, then connects block/fail; sends must never block the caller.
        try (NotificationSender s = new NotificationSender(sock)) {
            long t0 = System.nanoTime();
            for (int i = 0; i < 1000; i++) {
                s.send(Notification.READY);
            }
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(2));
        }
    }
}
