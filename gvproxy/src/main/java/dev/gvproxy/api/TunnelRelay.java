package dev.gvproxy.api;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import java.util.concurrent.CompletionStage;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Relays bytes between a host channel and a {@link TunnelStream} into the guest, both ways, with half-close:
 * end of input on one side becomes a FIN/shutdown on the other; the host channel closes when both directions
 * finished or the guest side is gone.
 *
 * <p>Backpressure: the host channel runs with auto-read off and is read only while the stream has send space
 * ({@link TunnelStream#sendSpace()}); guest bytes are acknowledged to the stream ({@link TunnelStream#consumed})
 * only once the host socket took them, which keeps the guest's window tied to the host reader.
 *
 * <p>Bytes the host sends before the stream is connected are queued (they are what arrived with the
 * {@code /tunnel} request, plus at most one read). Runs on the host channel's event loop, which must be the
 * network's loop.
 */
public final class TunnelRelay extends ChannelInboundHandlerAdapter implements TunnelStream.Handler {
    private static final Logger LOG = Logger.getLogger(TunnelRelay.class.getName());

    private final String description;
    private final ArrayDeque<ByteBuf> pending = new ArrayDeque<>();
    private ChannelHandlerContext ctx;
    private TunnelStream stream;
    private boolean hostEof;
    private boolean guestEof;
    private boolean done;
    private ChannelFuture lastWrite;

    /** @param description for logs, e.g. {@code tunnel to 192.168.127.2:22} */
    public TunnelRelay(String description) {
        this.description = description;
    }

    /**
     * Puts a relay into {@code ch}'s pipeline (last), with auto-read off and half-closure allowed. Bytes that
     * arrive before {@link #connect} are queued. Call on the channel's event loop.
     */
    public static TunnelRelay attach(Channel ch, String description) {
        TunnelRelay relay = new TunnelRelay(description);
        ch.config().setAutoRead(false);
        ch.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        ch.pipeline().addLast("tunnelRelay", relay);
        return relay;
    }

    /** {@link #attach} and {@link #connect} at once (port forwards: nothing to write first). */
    public static TunnelRelay attach(Channel ch, String description, CompletionStage<TunnelStream> connect) {
        TunnelRelay relay = attach(ch, description);
        relay.connect(connect);
        return relay;
    }

    /** Relays to the stream once {@code connect} completes; closes the host side if it fails. */
    public void connect(CompletionStage<TunnelStream> connect) {
        Channel ch = ctx.channel();
        connect.whenComplete((s, err) -> {
            if (ch.eventLoop().inEventLoop()) {
                connected(s, err);
            } else {
                ch.eventLoop().execute(() -> connected(s, err));
            }
        });
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    private void connected(TunnelStream s, Throwable err) {
        if (err != null || s == null) {
            LOG.log(Level.INFO, "{0}: {1}", new Object[] {description, err == null ? "no stream" : err.getMessage()});
            releasePending();
            done = true;
            ctx.channel().close();
            return;
        }
        if (done || !ctx.channel().isActive()) {
            releasePending();
            done = true;
            s.abort();
            return;
        }
        stream = s;
        s.start(this);
        while (!pending.isEmpty()) {
            stream.send(pending.poll());
        }
        if (hostEof) {
            stream.shutdownOutput();
        } else {
            maybeRead();
        }
    }

    private void maybeRead() {
        if (stream != null && !hostEof && !done && stream.sendSpace() > 0) {
            ctx.read();
        }
    }

    private void releasePending() {
        ByteBuf b;
        while ((b = pending.poll()) != null) {
            b.release();
        }
    }

    /** @param msg <b>taken</b> */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf buf)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (done || hostEof) {
            buf.release();
        } else if (stream == null) {
            pending.add(buf);
        } else {
            stream.send(buf);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        maybeRead();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            hostEof = true;
            if (stream != null) {
                stream.shutdownOutput();
            }
            closeIfFinished();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releasePending();
        if (!done) {
            done = true;
            if (stream != null) {
                if (guestEof && hostEof) {
                    stream.shutdownOutput();
                } else {
                    stream.abort();
                }
            }
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.log(Level.FINE, description + ": host side failed", cause);
        ctx.close();
    }

    // --- guest side -------------------------------------------------------------------------------------

    /** @param data <b>taken</b> */
    @Override
    public void onData(ByteBuf data) {
        if (done) {
            data.release();
            return;
        }
        int n = data.readableBytes();
        lastWrite = ctx.writeAndFlush(data);
        lastWrite.addListener(f -> {
            if (f.isSuccess()) {
                if (stream != null) {
                    stream.consumed(n);
                }
            } else {
                ctx.close();
            }
        });
    }

    @Override
    public void onFin() {
        guestEof = true;
        afterWrites(() -> {
            Channel ch = ctx.channel();
            if (ch instanceof DuplexChannel d && ch.isActive()) {
                d.shutdownOutput();
            } else {
                ch.close();
            }
            closeIfFinished();
        });
    }

    @Override
    public void onSendSpace() {
        maybeRead();
    }

    @Override
    public void onClosed() {
        guestEof = true;
        done = true;
        afterWrites(() -> ctx.close());
    }

    private void afterWrites(Runnable r) {
        if (lastWrite == null || lastWrite.isDone()) {
            r.run();
        } else {
            lastWrite.addListener((ChannelFutureListener) f -> r.run());
        }
    }

    private void closeIfFinished() {
        if (hostEof && guestEof) {
            afterWrites(() -> ctx.close());
        }
    }
}
