package dev.gvproxy.it.netns;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A minimal stand-in for gvproxy's {@code /connect} endpoint: an L2 hub on a unix socket. Each client's HTTP
 * preamble is skipped (bytes after it are kept as frame data), then every 2-byte little-endian framed frame is
 * copied to all other clients. Only for testing the netns harness without the real stack.
 */
public final class TestHub implements AutoCloseable {
    private final Path socket;
    private final ServerSocketChannel server;
    private final List<SocketChannel> clients = new CopyOnWriteArrayList<>();
    private final AtomicLong relayed = new AtomicLong();

    public TestHub(Path socket) throws IOException {
        this.socket = socket;
        this.server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        Thread.ofPlatform().daemon(true).name("test-hub-accept").start(this::acceptLoop);
    }

    /** @return the URL gvforwarder-java connects to */
    public String url() {
        return "unix://" + socket;
    }

    /** @return frames copied so far (counting each frame once) */
    public long relayed() {
        return relayed.get();
    }

    /** @return currently attached clients */
    public int clients() {
        return clients.size();
    }

    private void acceptLoop() {
        try {
            while (true) {
                SocketChannel c = server.accept();
                Thread.ofPlatform().daemon(true).name("test-hub-client").start(() -> serve(c));
            }
        } catch (IOException e) {
            // closed
        }
    }

    private void serve(SocketChannel c) {
        ByteBuffer in = ByteBuffer.allocate(256 * 1024).order(ByteOrder.LITTLE_ENDIAN);
        try {
            // Skip the request up to the blank line; anything after it already belongs to the frame stream.
            int headerEnd;
            while ((headerEnd = indexOfBlankLine(in)) < 0) {
                if (!in.hasRemaining() || c.read(in) < 0) {
                    return;
                }
            }
            in.flip().position(headerEnd);
            clients.add(c);
            while (true) {
                if (in.remaining() >= 2) {
                    int len = in.getShort(in.position()) & 0xffff;
                    if (len == 0) {
                        return;
                    }
                    if (in.remaining() >= 2 + len) {
                        ByteBuffer frame = in.slice(in.position(), 2 + len);
                        in.position(in.position() + 2 + len);
                        broadcast(c, frame);
                        continue;
                    }
                }
                in.compact();
                if (c.read(in) < 0) {
                    return;
                }
                in.flip();
            }
        } catch (IOException e) {
            // client gone
        } finally {
            clients.remove(c);
            try {
                c.close();
            } catch (IOException ignored) {
                // closing
            }
        }
    }

    private static int indexOfBlankLine(ByteBuffer b) {
        for (int i = 3; i < b.position(); i++) {
            if (b.get(i - 3) == '\r' && b.get(i - 2) == '\n' && b.get(i - 1) == '\r' && b.get(i) == '\n') {
                return i + 1;
            }
        }
        return -1;
    }

    private void broadcast(SocketChannel from, ByteBuffer frameWithHeader) {
        relayed.incrementAndGet();
        for (SocketChannel to : clients) {
            if (to == from) {
                continue;
            }
            ByteBuffer b = frameWithHeader.duplicate();
            try {
                synchronized (to) { // frames from several senders must not interleave
                    while (b.hasRemaining()) {
                        to.write(b);
                    }
                }
            } catch (IOException e) {
                clients.remove(to);
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (SocketChannel c : clients) {
            c.close();
        }
        Files.deleteIfExists(socket);
    }
}
