package dev.gvproxy.forwarder;

import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.ip.FlowKey;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.tcp.TcpLayer;
import dev.gvproxy.stack.tcp.TcpState;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The one application side of a guest TCP connection: the stack's {@link TcpConnection.Handler} turned into a
 * {@link TunnelStream}, for connections the guest opened (the SYN gate's, after the host connect) and for the
 * gateway's active opens into a guest ({@link #open}: port forwards, {@code /tunnel}, SSH forwards).
 *
 * <p>Events that arrive before {@link #start} (data, FIN, the end) are held and replayed to the handler. An
 * active open completes its future once ESTABLISHED; a guest that refuses (RST, {@code tcp.portfwd.guestRefused})
 * or does not answer within the dial timeout ({@code tcp.portfwd.dialTimeout}) fails it, and the connection's
 * end follows. A reset of an established connection reaches the handler as {@link TunnelStream.Handler#onReset}.
 *
 * <p>{@link #send} leaves the switch flush to the end of the loop task (one flush for a batch of host reads);
 * every other call flushes at once. Runs on the network's event loop only.
 */
public final class GuestStream implements TunnelStream, TcpConnection.Handler {
    private final NetworkStack stack;
    private final EventLoop loop;
    private final CompletableFuture<GuestStream> established = new CompletableFuture<>();
    private TcpConnection conn;
    private TunnelStream.Handler handler;
    private ArrayDeque<ByteBuf> early;
    private boolean earlyFin;
    private boolean closed;
    private boolean isEstablished;
    private ScheduledFuture<?> dialTimer;

    /** A stream for a connection the guest opens: pass it to {@link TcpLayer#accept}. */
    public GuestStream(NetworkStack stack, EventLoop loop) {
        this.stack = stack;
        this.loop = loop;
    }

    /**
     * Opens {@code srcIp:srcPort -> guestIp:guestPort} (SYN at once). {@code srcPort} -1, or a 4-tuple in use,
     * picks an ephemeral port. The stream may be {@link #start started} at once: it has no send space until
     * the handshake completed, and {@link #send} queues behind the SYN.
     *
     * @throws IllegalStateException when no source port is free towards the guest
     * @see #established()
     */
    public static GuestStream open(NetworkStack stack, EventLoop loop, int srcIp, int srcPort, int guestIp,
            int guestPort, long dialTimeoutMillis) {
        return open(stack, loop, Ipv6Address.ofIpv4(srcIp), srcPort, Ipv6Address.ofIpv4(guestIp), guestPort,
                dialTimeoutMillis);
    }

    /** {@link #open(NetworkStack, EventLoop, int, int, int, int, long)} for either family (IPv4 IPv4-mapped). */
    public static GuestStream open(NetworkStack stack, EventLoop loop, Ipv6Address srcIp, int srcPort,
            Ipv6Address guestIp, int guestPort, long dialTimeoutMillis) {
        TcpLayer tcp = stack.tcp();
        if (srcPort <= 0 || tcp.connection(new FlowKey(guestIp, guestPort, srcIp, srcPort)) != null) {
            srcPort = tcp.ephemeralPort(srcIp, guestIp, guestPort);
        }
        if (srcPort < 0) {
            stack.counters().counter("tcp.portfwd.noSourcePort").inc();
            throw new IllegalStateException("no free source port towards " + guestIp + ":" + guestPort);
        }
        GuestStream s = new GuestStream(stack, loop);
        s.conn = tcp.connect(srcIp, srcPort, guestIp, guestPort, s, stack.now());
        if (!s.established.isDone() && !s.closed) {
            s.dialTimer = loop.schedule(s::dialTimeout, dialTimeoutMillis, TimeUnit.MILLISECONDS);
        }
        return s;
    }

    /**
     * Completes with this stream once ESTABLISHED; fails when the guest refused, did not answer within the
     * dial timeout, or the connection ended before.
     */
    public CompletableFuture<GuestStream> established() {
        return established;
    }

    /** The connection (null before the stack created it). */
    public TcpConnection connection() {
        return conn;
    }

    private void dialTimeout() {
        if (conn != null && conn.state() == TcpState.SYN_SENT) {
            stack.counters().counter("tcp.portfwd.dialTimeout").inc();
            established.completeExceptionally(new SocketTimeoutException("dial timeout: no answer from "
                    + conn.remoteIp() + ":" + conn.remotePort()));
            conn.abort(stack.now()); // onClosed follows
        }
    }

    // ---- the stack's side (TcpConnection.Handler) ----------------------------------------------------------

    /** The connection this stream is (what {@link TcpLayer#accept} returned); callbacks also tell it. */
    public void bind(TcpConnection c) {
        if (conn == null) {
            conn = c;
        }
    }

    @Override
    public void onEstablished(TcpConnection c) {
        bind(c);
        isEstablished = true;
        if (dialTimer != null) {
            dialTimer.cancel(false);
        }
        established.complete(this);
        if (handler != null) {
            handler.onSendSpace(); // sending may start
        }
    }

    /** @param data <b>taken</b> */
    @Override
    public void onData(TcpConnection c, ByteBuf data) {
        bind(c);
        if (handler != null) {
            handler.onData(data);
            return;
        }
        if (early == null) {
            early = new ArrayDeque<>();
        }
        early.add(data);
    }

    @Override
    public void onFin(TcpConnection c) {
        bind(c);
        if (handler != null) {
            handler.onFin();
        } else {
            earlyFin = true;
        }
    }

    @Override
    public void onReset(TcpConnection c) {
        bind(c);
        if (!isEstablished) {
            // Refused (or the handshake was reset): the host side just closes, as gvproxy's does.
            stack.counters().counter("tcp.portfwd.guestRefused").inc();
            established.completeExceptionally(new ConnectException("connection refused by "
                    + c.remoteIp() + ":" + c.remotePort()));
        } else if (handler != null) {
            handler.onReset();
        }
    }

    @Override
    public void onSendSpace(TcpConnection c) {
        if (handler != null) {
            handler.onSendSpace();
        }
    }

    @Override
    public void onClosed(TcpConnection c) {
        bind(c);
        closed = true;
        if (dialTimer != null) {
            dialTimer.cancel(false);
        }
        if (!established.isDone()) {
            established.completeExceptionally(new ConnectException("connection to "
                    + c.remoteIp() + ":" + c.remotePort() + " closed before it was established"));
        }
        if (handler != null) {
            handler.onClosed();
        } else if (early != null) {
            early.forEach(ByteBuf::release);
            early = null;
        }
    }

    // ---- the relay's side (TunnelStream) -------------------------------------------------------------------

    @Override
    public void start(TunnelStream.Handler h) {
        this.handler = h;
        if (early != null) {
            for (ByteBuf b; (b = early.pollFirst()) != null; ) {
                h.onData(b);
            }
            early = null;
        }
        if (earlyFin) {
            h.onFin();
        }
        if (closed) {
            h.onClosed();
        }
    }

    /** 0 until the handshake completed: bytes wait in the host socket, not in the send buffer. */
    @Override
    public int sendSpace() {
        return conn != null && !closed && conn.state().synchronizedState() ? conn.sendSpace() : 0;
    }

    /** @param data <b>taken</b> */
    @Override
    public void send(ByteBuf data) {
        if (conn == null || closed) {
            data.release();
            return;
        }
        conn.send(data, stack.now()); // the network's driver flushes once at the end of the loop task
    }

    @Override
    public void shutdownOutput() {
        if (conn != null && !closed) {
            conn.shutdownOutput(stack.now());
        }
    }

    @Override
    public void consumed(int n) {
        if (conn != null && !closed) {
            conn.consumed(n, stack.now());
        }
    }

    @Override
    public void abort() {
        if (conn != null && !closed) {
            conn.abort(stack.now());
        }
    }
}
