package dev.gvproxy;

import dev.gvproxy.api.TunnelStream;
import dev.gvproxy.api.Tunneler;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.wire.Ipv4Address;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.ConnectException;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * TCP connections from the gateway into the virtual network (the stack's active open), for {@code /tunnel}
 * and TCP/unix port forwards: source = the gateway IP and an ephemeral port, a connect timeout, and a thin
 * adapter from {@link TcpConnection}'s application side to the API's {@link TunnelStream}.
 */
final class StackTunneler implements Tunneler {
    private final NetworkStack stack;
    private final EventLoop loop;
    private final long connectTimeoutMillis;

    StackTunneler(NetworkStack stack, EventLoop loop, long connectTimeoutMillis) {
        this.stack = stack;
        this.loop = loop;
        this.connectTimeoutMillis = connectTimeoutMillis;
    }

    @Override
    public CompletionStage<TunnelStream> connect(int ip, int port) {
        CompletableFuture<TunnelStream> result = new CompletableFuture<>();
        loop.execute(() -> open(ip, port, result));
        return result;
    }

    private void open(int ip, int port, CompletableFuture<TunnelStream> result) {
        int src = stack.tcp().ephemeralPort(stack.config().gatewayIp(), ip, port);
        if (src < 0) {
            result.completeExceptionally(new IOException("no free source port towards " + Ipv4Address.format(ip)));
            return;
        }
        Stream s = new Stream(result);
        try {
            s.conn = stack.tcp().connect(stack.config().gatewayIp(), src, ip, port, s, stack.now());
        } catch (RuntimeException e) {
            result.completeExceptionally(e);
            return;
        }
        stack.virtualSwitch().flush();
        s.timeout = loop.schedule(() -> {
            if (!result.isDone()) {
                result.completeExceptionally(new ConnectException("connect to " + Ipv4Address.format(ip) + ":" + port
                        + " timed out"));
                s.conn.abort(stack.now());
                stack.virtualSwitch().flush();
            }
        }, connectTimeoutMillis, TimeUnit.MILLISECONDS);
    }

    /** Adapter: TcpConnection events -> TunnelStream.Handler; data arriving before start() is held. */
    private final class Stream implements TunnelStream, TcpConnection.Handler {
        private final CompletableFuture<TunnelStream> result;
        private TcpConnection conn;
        private ScheduledFuture<?> timeout;
        private TunnelStream.Handler handler;
        private ArrayDeque<ByteBuf> early;
        private boolean earlyFin;
        private boolean earlyClosed;

        Stream(CompletableFuture<TunnelStream> result) {
            this.result = result;
        }

        @Override
        public void onEstablished(TcpConnection c) {
            if (timeout != null) {
                timeout.cancel(false);
            }
            result.complete(this);
        }

        @Override
        public void onData(TcpConnection c, ByteBuf data) {
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
            if (handler != null) {
                handler.onFin();
            } else {
                earlyFin = true;
            }
        }

        @Override
        public void onSendSpace(TcpConnection c) {
            if (handler != null) {
                handler.onSendSpace();
            }
        }

        @Override
        public void onReset(TcpConnection c) {
            if (!result.isDone()) {
                result.completeExceptionally(new ConnectException("connection refused by "
                        + Ipv4Address.format(c.remoteIp()) + ":" + c.remotePort()));
            }
        }

        @Override
        public void onClosed(TcpConnection c) {
            if (timeout != null) {
                timeout.cancel(false);
            }
            if (!result.isDone()) {
                result.completeExceptionally(new ConnectException("connection closed before it was established"));
            }
            if (handler != null) {
                handler.onClosed();
            } else {
                earlyClosed = true;
                if (early != null) {
                    early.forEach(ByteBuf::release);
                    early = null;
                }
            }
        }

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
            if (earlyClosed) {
                h.onClosed();
            }
        }

        @Override
        public int sendSpace() {
            return conn.sendSpace();
        }

        @Override
        public void send(ByteBuf data) {
            conn.send(data, stack.now());
            stack.virtualSwitch().flush();
        }

        @Override
        public void shutdownOutput() {
            conn.shutdownOutput(stack.now());
            stack.virtualSwitch().flush();
        }

        @Override
        public void consumed(int n) {
            conn.consumed(n, stack.now());
            stack.virtualSwitch().flush();
        }

        @Override
        public void abort() {
            conn.abort(stack.now());
            stack.virtualSwitch().flush();
        }
    }
}
