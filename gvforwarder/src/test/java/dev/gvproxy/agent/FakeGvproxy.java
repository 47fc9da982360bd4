package dev.gvproxy.agent;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A test stand-in for gvproxy's {@code /connect}: accepts on a unix socket, records the request preamble, queues
 * received frames and can send frames (2-byte little-endian framing).
 */
final class FakeGvproxy implements AutoCloseable {
    final Path socket;
    final BlockingQueue<String> preambles = new LinkedBlockingQueue<>();
    final BlockingQueue<byte[]> frames = new LinkedBlockingQueue<>();
    private final BlockingQueue<SocketChannel> connections = new LinkedBlockingQueue<>();
    private final ServerSocketChannel server;
    private volatile SocketChannel current;

    FakeGvproxy(Path dir) throws IOException {
        socket = dir.resolve("gvproxy.sock");
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        Thread.ofPlatform().daemon(true).name("fake-gvproxy-accept").start(this::acceptLoop);
    }

    String url() {
        return "unix://" + socket;
    }

    private void acceptLoop() {
        try {
            while (true) {
                SocketChannel c = server.accept();
                current = c;
                connections.add(c);
                Thread.ofPlatform().daemon(true).name("fake-gvproxy-conn").start(() -> serve(c));
            }
        } catch (IOException e) {
            // closed
        }
    }

    private void serve(SocketChannel c) {
        try {
            ByteArrayOutputStream pre = new ByteArrayOutputStream();
            ByteBuffer one = ByteBuffer.allocate(1);
            while (!pre.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
                one.clear();
                if (c.read(one) < 0) {
                    return;
                }
                pre.write(one.array()[0]);
            }
            preambles.add(pre.toString(StandardCharsets.US_ASCII));
            ByteBuffer hdr = ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN);
            while (true) {
                hdr.clear();
                readFully(c, hdr);
                ByteBuffer f = ByteBuffer.allocate(hdr.getShort(0) & 0xffff);
                readFully(c, f);
                frames.add(f.array());
            }
        } catch (IOException e) {
            // connection over
        }
    }

    private static void readFully(SocketChannel c, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (c.read(b) < 0) {
                throw new EOFException();
            }
        }
    }

    /** Waits for the n-th accepted connection (1-based count of all accepted so far). */
    SocketChannel awaitConnection(long timeoutSeconds) throws InterruptedException {
        return connections.poll(timeoutSeconds, TimeUnit.SECONDS);
    }

    /** Sends one frame on the latest connection. */
    void send(byte[] frame) throws IOException {
        sendRaw(frame.length, frame);
    }

    /** Sends a header with an arbitrary length followed by {@code body}. */
    void sendRaw(int length, byte[] body) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(2 + body.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) length).put(body).flip();
        SocketChannel c = current;
        while (b.hasRemaining()) {
            c.write(b);
        }
    }

    /** Drops the latest connection (the agent must reconnect). */
    void disconnect() throws IOException {
        current.close();
    }

    @Override
    public void close() throws IOException {
        server.close();
        SocketChannel c;
        while ((c = connections.poll()) != null) {
            c.close();
        }
        Files.deleteIfExists(socket);
    }
}
