package dev.gvproxy.agent;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A blocking byte stream to gvproxy (socket, vsock or a child's stdio). One thread reads while another writes;
 * {@link #close} from any thread wakes both.
 */
interface ByteStream extends Closeable {
    /**
     * Reads at least one byte into {@code dst} (position advanced).
     *
     * @return the count, or -1 at end of stream
     */
    int read(ByteBuffer dst) throws IOException;

    /** Writes all remaining bytes of {@code src}. */
    void writeFully(ByteBuffer src) throws IOException;

    /** Reads exactly {@code dst.remaining()} bytes or throws {@link java.io.EOFException}. */
    default void readFully(ByteBuffer dst) throws IOException {
        while (dst.hasRemaining()) {
            if (read(dst) < 0) {
                throw new java.io.EOFException("connection closed by gvproxy");
            }
        }
    }

    /** @return a description for logs */
    String describe();
}
