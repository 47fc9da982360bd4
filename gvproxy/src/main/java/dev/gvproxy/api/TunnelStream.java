package dev.gvproxy.api;

import io.netty.buffer.ByteBuf;

/**
 * A TCP connection from the gateway into the virtual network, as {@code /tunnel} and TCP port forwards relay it.
 * Modelled on {@code TcpConnection}'s application side, so the adapter over the stack's active open is thin.
 * Every method is called on the network's event loop, and every {@link Handler} callback must run there too.
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
