package dev.gvproxy.agent;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/** A unix or TCP stream socket (JDK {@link SocketChannel}, blocking; close wakes a blocked reader). */
final class SocketStream implements ByteStream {
    private final SocketChannel ch;
    private final String description;

    private SocketStream(SocketChannel ch, String description) {
        this.ch = ch;
        this.description = description;
    }

    static SocketStream connect(SocketAddress address, String description) throws IOException {
        SocketChannel ch = SocketChannel.open(address);
        ch.configureBlocking(true);
        return new SocketStream(ch, description);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return ch.read(dst);
    }

    @Override
    public void writeFully(ByteBuffer src) throws IOException {
        while (src.hasRemaining()) {
            ch.write(src); // a blocking channel writes everything in one call; the loop is belt and braces
        }
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }
}
