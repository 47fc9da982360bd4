package dev.gvproxy.forwarder;

import io.netty.buffer.ByteBuf;

/**
 * A guest TCP connection as a byte stream: what every relay of the gateway (host sockets through
 * {@link TcpBridge}: outbound connections, port forwards, {@code /tunnel}; JSch's SSH socket) sees of it.
 * {@link GuestStream} is the one implementation over the stack; tests script their own. Every method is
 * called on the network's event loop, and every {@link Handler} callback runs there too.
 */
public interface TunnelStream {
    /** Events from the guest side. */
    interface Handler {
        /** In-order bytes from the guest. @param data <b>taken</b>; the relay calls {@link #consumed} once written out */
        void onData(ByteBuf data);

        /** The guest half-closed (FIN): no more data. */
        void onFin();

        /** Acknowledgements freed send space: {@link #sendSpace()} grew. */
        void onSendSpace();

        /** The guest reset an established connection (relayed as a reset); {@link #onClosed} follows. */
        default void onReset() {}

        /** The connection is gone (fully closed, reset or aborted); called once, last. */
        void onClosed();
    }

    /** Starts delivering events to {@code handler}; called once, right after the connect completed. */
    void start(Handler handler);

    /** @return bytes the relay may still queue with {@link #send} before it should stop reading the host side */
    int sendSpace();

    /** Queues bytes for the guest. @param data <b>taken</b> */
    void send(ByteBuf data);

    /** Half-close towards the guest (FIN after the queued data). */
    void shutdownOutput();

    /** The relay wrote {@code n} bytes of {@link Handler#onData} out to the host: the receive window may reopen. */
    void consumed(int n);

    /** Resets the connection (RST); {@link Handler#onClosed} follows. */
    void abort();
}
