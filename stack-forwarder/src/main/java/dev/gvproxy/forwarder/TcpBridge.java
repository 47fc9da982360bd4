package dev.gvproxy.forwarder;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.tcp.TcpState;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;

/**
 * Relays one guest TCP connection and one host socket, both ways, on the network's event loop.
 *
 * <p>Backpressure without unbounded queues:
 * <ul>
 *   <li>guest -> host: in-order data is written to the host channel as it arrives (a retained slice, no
 *       copy); the connection is told the bytes are {@link TcpConnection#consumed consumed} only when the
 *       write completed, so a host that stops reading closes the guest's receive window;</li>
 *   <li>host -> guest: the host channel runs with auto-read off and is read only while the connection's
 *       send buffer has space; acknowledgements from the guest free space and trigger the next read.</li>
 * </ul>
 * Half-close is propagated both ways (guest FIN -> host {@code shutdownOutput} after pending writes; host
 * EOF -> guest FIN after queued data); resets map to resets (guest RST -> host RST via SO_LINGER 0; host
 * error -> guest RST).
 */
final class TcpBridge extends ChannelInboundHandlerAdapter implements TcpConnection.Handler {
    private final NetworkStack stack;
    private final Channel host;
    private final Counters.Counter toHost;
    private final Counters.Counter toGuest;
    private final Counters.Counter copied;
    private final Counters.Counter hostError;
    private TcpConnection conn;
    private boolean guestFin;
    private boolean hostEof;
    private boolean reading;
    private boolean flushScheduled;
    /** Guest bytes written to the host channel since the last {@link #flushBatch}. */
    private int batchBytes;

    TcpBridge(NetworkStack stack, Channel host) {
        this.stack = stack;
        this.host = host;
        this.toHost = stack.counters().counter("tcp.bridge.bytesToHost");
        this.toGuest = stack.counters().counter("tcp.bridge.bytesToGuest");
        this.copied = stack.counters().counter("tcp.bridge.bytesCopiedWhileBlocked");
        this.hostError = stack.counters().counter("tcp.bridge.hostError");
    }

    /** Called once the guest connection exists (SYN-ACK sent); starts reading the host. */
    void attach(TcpConnection c) {
        this.conn = c;
        if (host.pipeline().get(TcpForwarder.HOST_ERRORS) != null) {
            host.pipeline().addBefore(TcpForwarder.HOST_ERRORS, null, this);
        } else {
            host.pipeline().addLast(this);
        }
        if (!host.isActive()) {
            // The host side closed between connect and accept.
            hostEof = true;
            c.shutdownOutput(stack.now());
        }
    }

    // ---- guest side (TcpConnection.Handler) -----------------------------------------------------

    @Override
    public void onEstablished(TcpConnection c) {
        maybeRead();
    }

    /** @param data <b>taken</b> */
    @Override
    public void onData(TcpConnection c, ByteBuf data) {
        int n = data.readableBytes();
        toHost.add(n);
        if (!host.isActive()) {
            data.release();
            c.consumed(n, stack.now());
            return;
        }
        if (!host.isWritable()) {
            // The host is not keeping up, so these bytes will wait. A guest frame is a slice of a transport
            // read buffer many times its size: copy the payload so a stalled host pins what it holds, not
            // whole receive buffers (the TCP memory budget counts payload bytes).
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
                    conn.consumed(n, stack.now());
                    stack.virtualSwitch().flush();
                }
            });
        }
        host.flush();
    }

    @Override
    public void onFin(TcpConnection c) {
        guestFin = true;
        if (host.isActive()) {
            if (batchBytes > 0) {
                flushBatch(); // account for the batch before output is shut down
            }
            host.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f -> {
                if (host instanceof DuplexChannel d && host.isActive()) {
                    d.shutdownOutput();
                }
                closeHostIfDone();
            });
        }
    }

    @Override
    public void onReset(TcpConnection c) {
        if (host.isOpen()) {
            host.config().setOption(ChannelOption.SO_LINGER, 0); // tell the host side with a RST too
            host.close();
        }
    }

    @Override
    public void onSendSpace(TcpConnection c) {
        maybeRead();
    }

    @Override
    public void onClosed(TcpConnection c) {
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
        if (!reading && !hostEof && conn != null && conn.sendSpace() > 0 && host.isActive()
                && conn.state().synchronizedState()) {
            reading = true;
            host.read();
        }
    }

    // ---- host side (Netty) ----------------------------------------------------------------------

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf data = (ByteBuf) msg;
        toGuest.add(data.readableBytes());
        if (conn.state() == TcpState.CLOSED) {
            data.release();
            return;
        }
        conn.send(data, stack.now());
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        reading = false;
        stack.virtualSwitch().flush();
        maybeRead();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            hostEof = true;
            conn.shutdownOutput(stack.now());
            stack.virtualSwitch().flush();
            closeHostIfDone();
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (!hostEof) {
            hostEof = true;
            conn.shutdownOutput(stack.now());
            stack.virtualSwitch().flush();
        }
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
        conn.abort(stack.now());
        stack.virtualSwitch().flush();
        ctx.close();
    }
}
