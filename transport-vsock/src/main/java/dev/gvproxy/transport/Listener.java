package dev.gvproxy.transport;

import java.net.SocketAddress;
import java.util.concurrent.CompletableFuture;

/**
 * A running transport endpoint: a listening socket (with its accepted connections), a bound datagram
 * socket, or the stdio pair. Closing it stops accepting, closes every connection it accepted (their switch
 * ports detach) and deletes the unix socket file it created. {@link #close()} is idempotent and may be
 * called from any thread; off the event loop it waits for the sockets to close.
 */
public interface Listener extends AutoCloseable {

    /** The bound address ({@code InetSocketAddress} for tcp, {@code DomainSocketAddress} for unix); null for stdio. */
    SocketAddress localAddress();

    /**
     * Completes when this endpoint is gone: after {@link #close()}, if the listening socket fails, or (stdio)
     * when stdin reaches end of file. gvproxy exits when its single-connection transports end; callers that
     * want that behaviour watch this future.
     */
    CompletableFuture<Void> closeFuture();

    @Override
    void close();
}
