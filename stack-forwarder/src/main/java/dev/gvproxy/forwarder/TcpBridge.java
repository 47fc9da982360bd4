package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;
import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;

/**
 * The one relay between a guest TCP connection ({@link TunnelStream}, i.e. a {@link GuestStream}) and a host
 * channel, both ways, on the network's event loop: outbound connections (the SYN gate's host socket), port
 * forwards (the accepted client), {@code /tunnel} (the hijacked HTTP connection).
 *
 * <p>Backpressure without unbounded queues:
 * <ul>
 *   <li>guest -> host: in-order data is written to the host channel as it arrives (a retained slice, no
 *       copy, unless the host is behind: see {@link #onData}); the connection is told the bytes are
 *       {@link TunnelStream#consumed consumed} only when the write completed, so a host that stops reading
 *       closes the guest's receive window;</li>
 *   <li>host -> guest: the host channel runs with auto-read off and is read only while the stream has
 *       send space, each read at most that space ({@link HostReadBuffer}); acknowledgements from the guest free
 *       space and trigger the next read.</li>
 * </ul>
 * Half-close is propagated both ways (guest FIN -> host {@code shutdownOutput} after pending writes; host
 * EOF -> guest FIN after queued data); resets map to resets (guest RST -> host RST via SO_LINGER 0; host
 * error -> guest RST). Host bytes read before the stream is {@link #connect connected} (those that came
 * with a {@code /tunnel} request) wait, in order, and go first.
 */
public final class TcpBridge extends ChannelInboundHandlerAdapter implements TunnelStream.Handler {
    private final Channel host;
    private final Counters.Counter toHost;
    private final Counters.Counter toGuest;
    private final Counters.Counter copied;
    private final Counters.Counter hostError;
    private TunnelStream stream;
    private java.util.ArrayDeque<ByteBuf> early;
    private boolean guestFin;
    private boolean hostEof;
    private boolean reading;
    private boolean flushScheduled;
    /** Guest bytes written to the host channel since the last {@link #flushBatch}. */
    private int batchBytes;
    /**
     * The last flush left more than the host channel's high-water mark unwritten, and it has not drained below
     * the low mark since: new guest bytes will wait, so they are copied out of the transport's read buffers.
     */
    private boolean hostBehind;

    private final HostReadBuffer reads = new HostReadBuffer();

    private TcpBridge(Counters counters, Channel host) {
        this.host = host;
        this.toHost = counters.counter("tcp.bridge.bytesToHost");
        this.toGuest = counters.counter("tcp.bridge.bytesToGuest");
        this.copied = counters.counter("tcp.bridge.bytesCopiedWhileBlocked");
        this.hostError = counters.counter("tcp.bridge.hostError");
    }

    /**
     * Puts a bridge into {@code host}'s pipeline (before the forwarder's error handler, else last), with
     * auto-read off and half-closure allowed; host bytes wait until {@link #connect}. Call on the loop.
     *
     * @param counters the network's: {@code tcp.bridge.*} count bytes both ways, copies and host errors
     */
    public static TcpBridge attach(Counters counters, Channel host) {
        TcpBridge b = new TcpBridge(counters, host);
        host.config().setAutoRead(false);
        host.config().setRecvByteBufAllocator(b.reads);
        host.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        if (host.pipeline().get(TcpForwarder.HOST_ERRORS) != null) {
            host.pipeline().addBefore(TcpForwarder.HOST_ERRORS, null, b);
        } else {
            host.pipeline().addLast(b);
        }
        return b;
    }

    /** Starts relaying {@code s}; reads the host once the stream has send space. Call on the loop. */
    public void connect(TunnelStream s) {
        this.stream = s;
        s.start(this);
        if (early != null) {
            for (ByteBuf b; (b = early.pollFirst()) != null; ) {
                s.send(b);
            }
            early = null;
        }
        if (!host.isActive() || hostEof) {
            // The host side closed between connect and accept.
            hostEof = true;
            s.shutdownOutput();
        } else {
            maybeRead();
        }
    }

    /**
     * {@link #connect} once {@code connecting} completes on the loop; a failure closes the host channel
     * (the client sees EOF, as with gvproxy, which accepts first and closes when its dial fails).
     */
    public void connect(java.util.concurrent.CompletionStage<? extends TunnelStream> connecting) {
        connecting.whenComplete((s, err) -> {
            Runnable r = () -> {
                if (err != null || s == null) {
                    releaseEarly();
                    host.close();
                } else if (!host.isOpen()) {
                    releaseEarly();
                    s.abort();
                } else {
                    connect(s);
                }
            };
            if (host.eventLoop().inEventLoop()) {
                r.run();
            } else {
                host.eventLoop().execute(r);
            }
        });
    }

    private void releaseEarly() {
        if (early != null) {
            early.forEach(ByteBuf::release);
            early = null;
        }
    }

    // ---- guest side (TunnelStream.Handler) ------------------------------------------------------

    /** @param data <b>taken</b> */
    @Override
    public void onData(ByteBuf data) {
        int n = data.readableBytes();
        toHost.add(n);
        if (!host.isActive()) {
            data.release();
            stream.consumed(n);
            return;
        }
        if (hostBehind) {
            // The host is not keeping up, so these bytes will wait. A guest frame is a slice of a transport
            // read buffer many times its size: copy the payload so a stalled host pins what it holds, not
            // whole receive buffers (the TCP memory budget counts payload bytes). Only then: the batch's own
            // writes pass the high-water mark before its flush (one 64 KiB segment from an offload port does),
            // and copying because of them copied three quarters of a bulk upload that the host took at once.
            ByteBuf copy = host.alloc().directBuffer(n);
            copy.writeBytes(data, data.readerIndex(), n);
            data.release();
            data = copy;
            copied.add(n);
        }
        // No promise per segment: the batch's bytes are reported consumed together, in scheduleFlush.
        host.write(data, host.voidPromise());
        batchBytes += n;
        scheduleFlush();
    }

    private void scheduleFlush() {
        if (!flushScheduled) {
            flushScheduled = true;
            // Runs after the current read batch: one flush (one writev) for all segments of the batch.
            host.eventLoop().execute(this::flushBatch);
        }
    }

    /**
     * Flushes the batch and, once all of it is written (writes complete in order, so an empty write queued
     * behind it completes last), reopens the guest's window once for the whole batch: one window update and
     * one switch flush per batch instead of one per segment.
     */
    private void flushBatch() {
        flushScheduled = false;
        int n = batchBytes;
        batchBytes = 0;
        if (n > 0) {
            host.write(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f -> {
                if (f.isSuccess()) {
                    stream.consumed(n);
                }
            });
        }
        host.flush();
        // What the flush could not write now waits for the socket: past the high-water mark the host is behind.
        hostBehind = !host.isWritable();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (host.isWritable()) {
            hostBehind = false; // drained below the low-water mark
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void onFin() {
        guestFin = true;
        if (host.isActive()) {
            if (batchBytes > 0) {
                flushBatch(); // account for the batch before output is shut down
            }
            host.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f -> {
                if (hostEof) {
                    closeHostIfDone(); // both sides done: a close, not a half-close and then a close
                    return;
                }
                if (host instanceof DuplexChannel d && host.isActive()) {
                    SocketTransport.get().shutdownOutput(d);
                    // Our output is shut, so the host's EOF can only end the connection: Netty then closes
                    // the channel instead of half-closing its input, which on a socket that has sent and
                    // received a FIN fails with ENOTCONN (an exception with a stack trace per connection).
                    // channelInactive carries the EOF to the guest.
                    host.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, false);
                }
                closeHostIfDone();
            });
        }
    }

    @Override
    public void onReset() {
        if (host.isOpen()) {
            host.config().setOption(ChannelOption.SO_LINGER, 0); // tell the host side with a RST too
            host.close();
        }
    }

    @Override
    public void onSendSpace() {
        maybeRead();
    }

    @Override
    public void onClosed() {
        if (host.isOpen()) {
            host.close();
        }
    }

    private void closeHostIfDone() {
        if (guestFin && hostEof && host.isOpen()) {
            host.close();
        }
    }

    private void maybeRead() {
        if (reading || hostEof || stream == null) {
            return;
        }
        // Asked once: under the network's TCP budget each asking that is capped counts tcp.memoryPressure.
        int space = stream.sendSpace();
        if (space > 0 && host.isActive()) {
            reading = true;
            reads.limit(space);
            host.read();
        }
    }

    // ---- host side (Netty) ----------------------------------------------------------------------

    /** @param msg <b>taken</b> */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf data)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        toGuest.add(data.readableBytes());
        if (stream == null) {
            if (early == null) {
                early = new java.util.ArrayDeque<>();
            }
            early.add(data);
            return;
        }
        stream.send(data);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        reading = false; // the stream flushes what this read batch sent once the loop task ends
        maybeRead();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            hostEof = true;
            if (stream != null) {
                stream.shutdownOutput();
            }
            closeHostIfDone();
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releaseEarly();
        if (!hostEof) {
            hostEof = true;
            if (stream != null) {
                stream.shutdownOutput();
            }
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // A reset or error on the host socket (including a failed write: NotYetConnectedException and
        // ClosedChannelException come through the void promises of onData): the guest's bytes did not all
        // arrive, so reset the guest connection rather than end it with a FIN that would claim they did.
        hostError.inc();
        java.util.logging.Logger.getLogger(TcpBridge.class.getName()).log(java.util.logging.Level.FINE,
                () -> host + ": " + cause);
        hostEof = true;
        if (stream != null) {
            stream.abort();
        }
        ctx.close();
    }
}
