package dev.gvproxy.forwarder;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.tcp.TcpState;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One host stream (a TCP or unix socket client of a port forward, or a hijacked {@code /tunnel} HTTP
 * connection) joined to a connection actively opened into a guest: the guest-bound half of a port forward.
 *
 * <p>The gateway sends the SYN at once and attaches a {@link TcpBridge} to the host channel; the bridge
 * reads the host only once the handshake completed and its send buffer has room, so bytes the client
 * sends early simply wait in the host socket. A guest that refuses (RST) or does not answer within the
 * dial timeout makes the host connection end with a plain close (the client sees EOF, as with gvproxy,
 * which accepts first and closes when its dial fails); a reset of an established connection is relayed
 * as a reset (SO_LINGER 0).
 *
 * <p>Runs on the network's event loop only.
 */
final class GuestTcpStream implements TcpConnection.Handler {
    private final NetworkStack stack;
    private final Channel host;
    private final TcpBridge bridge;
    private final CompletableFuture<TcpConnection> established = new CompletableFuture<>();
    private final Counters.Counter refused;
    private final Counters.Counter timedOut;
    private ScheduledFuture<?> dialTimer;
    private boolean isEstablished;

    private GuestTcpStream(NetworkStack stack, Channel host) {
        this.stack = stack;
        this.host = host;
        this.bridge = new TcpBridge(stack, host);
        Counters c = stack.counters();
        this.refused = c.counter("tcp.portfwd.guestRefused");
        this.timedOut = c.counter("tcp.portfwd.dialTimeout");
    }

    /**
     * Opens {@code srcIp:srcPort -> guestIp:guestPort} and bridges it to {@code host}. The host channel must
     * be registered on the network's loop and have auto-read off; half-closure should be allowed.
     *
     * @param initial <b>taken</b>: bytes the host client already sent (queued for the guest first), or null
     * @return completes with the connection once ESTABLISHED, exceptionally when the guest refused or the
     *     dial timed out (the host channel is then closed)
     * @throws IllegalStateException when that 4-tuple is in use (the caller picks free source ports)
     */
    static CompletableFuture<TcpConnection> open(NetworkStack stack, Channel host, int srcIp, int srcPort, int guestIp,
            int guestPort, ByteBuf initial, long dialTimeoutMillis) {
        GuestTcpStream s = new GuestTcpStream(stack, host);
        TcpConnection c;
        try {
            c = stack.tcp().connect(srcIp, srcPort, guestIp, guestPort, s, stack.now());
        } catch (RuntimeException e) {
            if (initial != null) {
                initial.release();
            }
            host.close();
            throw e;
        }
        if (initial != null) {
            if (initial.isReadable()) {
                c.send(initial, stack.now());
            } else {
                initial.release();
            }
        }
        s.bridge.attach(c);
        stack.virtualSwitch().flush();
        if (c.state() == TcpState.SYN_SENT) {
            s.dialTimer = host.eventLoop().schedule(() -> s.dialTimeout(c), dialTimeoutMillis, TimeUnit.MILLISECONDS);
        }
        return s.established;
    }

    private void dialTimeout(TcpConnection c) {
        if (c.state() == TcpState.SYN_SENT) {
            timedOut.inc();
            established.completeExceptionally(new java.net.SocketTimeoutException("dial timeout: no answer from "
                    + dev.gvproxy.stack.wire.Ipv4Address.format(c.remoteIp()) + ":" + c.remotePort()));
            c.abort(stack.now()); // onClosed follows and closes the host side
            stack.virtualSwitch().flush();
        }
    }

    @Override
    public void onEstablished(TcpConnection c) {
        isEstablished = true;
        if (dialTimer != null) {
            dialTimer.cancel(false);
        }
        established.complete(c);
        bridge.onEstablished(c);
    }

    /** @param data <b>taken</b> */
    @Override
    public void onData(TcpConnection c, ByteBuf data) {
        bridge.onData(c, data);
    }

    @Override
    public void onFin(TcpConnection c) {
        bridge.onFin(c);
    }

    @Override
    public void onReset(TcpConnection c) {
        if (isEstablished) {
            bridge.onReset(c);
            return;
        }
        // Refused (or the handshake was reset): close the client normally, as gvproxy does.
        refused.inc();
        established.completeExceptionally(new java.net.ConnectException("connection refused by "
                + dev.gvproxy.stack.wire.Ipv4Address.format(c.remoteIp()) + ":" + c.remotePort()));
    }

    @Override
    public void onSendSpace(TcpConnection c) {
        bridge.onSendSpace(c);
    }

    @Override
    public void onClosed(TcpConnection c) {
        if (dialTimer != null) {
            dialTimer.cancel(false);
        }
        if (!established.isDone()) {
            established.completeExceptionally(new java.net.ConnectException("connection to "
                    + dev.gvproxy.stack.wire.Ipv4Address.format(c.remoteIp()) + ":" + c.remotePort() + " closed"));
        }
        bridge.onClosed(c);
    }
}
