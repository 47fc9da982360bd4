package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Makes one stream channel a {@link VirtualSwitch} port. It sits last in the pipeline, after a frame
 * decoder; an encoder for the same framing sits before it for the outbound direction.
 *
 * <p>Attaches when the channel is (or becomes) active, detaches when it goes inactive or the handler is
 * removed. Each decoded frame goes to {@link VirtualSwitch#deliver}; the network's driver flushes the switch at
 * the end of the loop task, so all frames switched by one socket read leave in one flush per port (the end of a
 * read batch is told with {@link VirtualSwitch#readComplete()}, which flushes only when no driver is installed).
 * Must run on the network's event loop (the channel must be registered on it).
 */
public final class ChannelPort extends ChannelInboundHandlerAdapter implements LinkEndpoint {
    private static final Logger LOG = Logger.getLogger(ChannelPort.class.getName());

    /** Pending outbound bytes past which frames are dropped instead of queued (Ethernet is lossy). */
    static final int MAX_QUEUED_BYTES = 4 << 20;

    private final VirtualSwitch sw;
    private final String name;
    private final Consumer<SwitchPort> onAttach;
    private final boolean offloads;
    private final TxQueueFull txQueueFull;
    private final Counters.Counter txClosed;
    private final Counters.Counter notFrame;
    private final Counters.Counter portError;
    private Channel channel;
    private SwitchPort port;
    private boolean detached;

    /**
     * @param name port name shown in logs and {@code /stats}-like views (e.g. {@code qemu:/run/x.sock})
     */
    public ChannelPort(VirtualSwitch sw, Counters counters, String name) {
        this(sw, counters, name, p -> {});
    }

    /** @param onAttach told the port once it is attached (on the loop), e.g. for logging or tests */
    public ChannelPort(VirtualSwitch sw, Counters counters, String name, Consumer<SwitchPort> onAttach) {
        this(sw, counters, name, onAttach, false);
    }

    /**
     * @param offloads the peer takes large TCP frames (the channel carries the virtio-net header framing, see
     *                 {@link VnetCodec})
     */
    public ChannelPort(VirtualSwitch sw, Counters counters, String name, Consumer<SwitchPort> onAttach,
            boolean offloads) {
        this.offloads = offloads;
        this.sw = sw;
        this.name = name;
        this.onAttach = onAttach;
        this.txQueueFull = new TxQueueFull(counters);
        this.txClosed = counters.counter("transport.txClosedPort");
        this.notFrame = counters.counter("transport.unexpectedMessage");
        this.portError = counters.counter("transport.portError");
    }

    /** The switch port, or null before the channel is active. */
    public SwitchPort port() {
        return port;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        if (channel.isActive()) {
            attach();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        attach();
        ctx.fireChannelActive();
    }

    private void attach() {
        if (port == null && !detached) {
            port = sw.attach(name, this);
            LOG.log(Level.FINE, "{0} attached to {1}", new Object[] {port, channel});
            onAttach.accept(port);
        }
    }

    /** @param msg <b>taken</b>: a frame goes to the switch; anything else is released and counted. */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf frame && port != null) {
            sw.deliver(port, frame);
        } else {
            // e.g. the LastHttpContent that trails a /connect request
            notFrame.inc();
            ReferenceCountUtil.release(msg);
        }
    }

    /** Below the write buffer's low mark again: TCP senders paused on this port resume. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable() && port != null) {
            sw.portWritable(port);
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        sw.readComplete();
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        detach();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        detach();
    }

    private void detach() {
        detached = true;
        if (port != null && port.isAttached()) {
            sw.detach(port);
            LOG.log(Level.INFO, "{0} disconnected", port);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // A transport error ends this port only; the switch and the other ports carry on.
        if (ctx.channel().isOpen()) {
            portError.inc();
            LOG.log(Level.WARNING, "{0}: closing after error: {1}", new Object[] {port == null ? name : port, cause.toString()});
            ctx.close();
        }
    }

    /** @param frame <b>taken</b> */
    @Override
    public void transmit(ByteBuf frame) {
        Channel ch = channel;
        if (ch == null || !ch.isActive()) {
            txClosed.inc();
            frame.release();
            return;
        }
        if (!ch.isWritable() && ch.bytesBeforeWritable() > MAX_QUEUED_BYTES) {
            txQueueFull.inc(port);
            frame.release();
            return;
        }
        ch.write(frame, ch.voidPromise());
    }

    @Override
    public void flush() {
        Channel ch = channel;
        if (ch != null) {
            ch.flush();
        }
    }

    @Override
    public boolean offloads() {
        return offloads;
    }

    @Override
    public boolean isWritable() {
        Channel ch = channel;
        return ch != null && ch.isWritable();
    }

    @Override
    public void close(String reason) {
        Channel ch = channel;
        if (ch != null && ch.isOpen()) {
            LOG.log(Level.INFO, "{0}: closing: {1}", new Object[] {port == null ? name : port, reason});
            ch.close();
        }
    }
}
