package dev.gvproxy.network;

import dev.gvproxy.forwarder.GuestStream;
import dev.gvproxy.forwarder.TunnelStream;
import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.tcp.TcpConnection;
import io.netty.buffer.ByteBuf;
import io.netty.channel.AbstractChannel;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPromise;
import io.netty.channel.DefaultChannelConfig;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.DuplexChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A Netty {@link io.netty.channel.Channel} over a TCP connection that the gateway stack terminated itself
 * (a guest connecting to an in-stack service such as the in-VM API on gateway:80), so any Netty pipeline
 * (HTTP codec, relays...) can serve guests without a host socket.
 *
 * <p>Theory of operation. The channel consumes the connection's {@link GuestStream} (the one application side
 * of guest TCP connections, see {@code dev.gvproxy.forwarder}) from the SYN on; it is
 * registered on the network's event loop (the only loop it is compatible with) when the handshake completes,
 * then becomes active. Everything runs on that loop, so Netty's own thread hops (a handler completing a future
 * on another thread and writing) land on the stack's thread.
 * <ul>
 * <li>Guest to pipeline: {@code onData} queues the taken buffers; a {@code read()} (auto-read or explicit) delivers
 * the queue as one batch on a later loop task (never re-entering the TCP state machine). While auto-read is off
 * the data stays queued and unacknowledged to the application, so the advertised window closes (backpressure).
 * Delivered bytes are reported {@link TcpConnection#consumed} only while the channel is writable: a pipeline
 * whose outbound to the guest is backed up stops the guest's sending too.
 * <li>Pipeline to guest: {@code doWrite} moves flushed buffers into the connection's send buffer as far as
 * {@link TcpConnection#sendSpace()} allows; the rest stays in the {@link ChannelOutboundBuffer} (making the
 * channel unwritable past its high-water mark) until {@code onSendSpace} flushes again. A write succeeds once the
 * stack accepted its bytes (as with a kernel socket's send buffer).
 * <li>The guest's FIN is seen after the queued data, on a read, as with a socket: with
 * {@link ChannelOption#ALLOW_HALF_CLOSURE} (default off) a {@link ChannelInputShutdownEvent} is fired, otherwise
 * the channel closes. {@link #shutdownOutput()} sends a FIN after the queued data.
 * <li>{@code close()} sends a FIN after the queued data, or a RST when guest data is still undelivered or
 * arrives later (as Linux does for an orphaned socket). A guest RST or the connection's end closes the channel.
 * </ul>
 */
public final class StackChannel extends AbstractChannel implements DuplexChannel {
    private static final ChannelMetadata METADATA = new ChannelMetadata(false, 16);

    private final EventLoop networkLoop;
    private final ChannelHandler initializer;
    private final Counters.Counter dataAfterClose;
    private final Config config;
    private final ArrayDeque<ByteBuf> inbound = new ArrayDeque<>();
    /** The guest connection's stream; {@code conn} is set once it is established. */
    private GuestStream conn;
    private InetSocketAddress local;
    private InetSocketAddress remote;
    private boolean open = true;
    private boolean connClosed;
    private boolean readPending;
    private boolean deliverScheduled;
    private boolean finReceived;
    private boolean inputShutdown;
    private boolean outputShutdown;
    /** Bytes handed to the pipeline but not yet reported consumed (held while the channel is not writable). */
    private int unconsumed;

    private StackChannel(EventLoop loop, ChannelHandler initializer, Counters.Counter dataAfterClose) {
        super(null);
        this.networkLoop = loop;
        this.initializer = initializer;
        this.dataAfterClose = dataAfterClose;
        this.config = new Config(this);
    }

    /**
     * Connection handlers for {@code TcpLayer.listen}: each accepted guest connection's {@link GuestStream} feeds a
     * {@code StackChannel} whose pipeline starts with {@code initializer} (which must be {@code @Sharable}, as a
     * {@link io.netty.channel.ChannelInitializer} is).
     */
    static Supplier<TcpConnection.Handler> acceptor(NetworkStack stack, EventLoop loop, ChannelHandler initializer) {
        Counters.Counter dataAfterClose = stack.counters().counter("tcp.instack.dataAfterClose");
        return () -> {
            GuestStream stream = new GuestStream(stack, loop);
            StackChannel ch = new StackChannel(loop, initializer, dataAfterClose);
            stream.start(ch.new Adapter(stream));
            stream.established().thenRun(() -> ch.established(stream));
            return stream;
        };
    }

    /** The handshake completed: the channel registers on the network's loop and becomes active. */
    private void established(GuestStream stream) {
        TcpConnection c = stream.connection();
        conn = stream;
        local = address(c.localIp(), c.localPort());
        remote = address(c.remoteIp(), c.remotePort());
        pipeline().addLast(initializer);
        ChannelFuture f = networkLoop.register(this);
        if (f.isDone() && !f.isSuccess()) {
            stream.abort();
        }
    }

    // --- TcpConnection side ----------------------------------------------------------------------------------

    /** The connection's events; all on the network's loop. */
    private final class Adapter implements TunnelStream.Handler {
        private final GuestStream c;

        Adapter(GuestStream c) {
            this.c = c;
        }

        /** @param data <b>taken</b> */
        @Override
        public void onData(ByteBuf data) {
            if (!open) {
                // Nobody will read it: reset, as a kernel does for data to a closed socket.
                data.release();
                dataAfterClose.inc();
                c.abort();
                return;
            }
            if (inputShutdown) {
                int n = data.readableBytes();
                data.release();
                c.consumed(n);
                return;
            }
            inbound.add(data);
            scheduleDeliver();
        }

        @Override
        public void onFin() {
            finReceived = true;
            scheduleDeliver();
        }

        @Override
        public void onSendSpace() {
            if (open && isRegistered()) {
                ((StackUnsafe) unsafe()).flushNow();
                releaseConsumed();
            }
        }

        @Override
        public void onClosed() {
            connClosed = true;
            if (open) {
                if (isRegistered()) {
                    unsafe().close(unsafe().voidPromise());
                } else {
                    open = false;
                    releaseInbound();
                }
            }
        }
    }

    /** An IPv4-mapped address becomes an IPv4 socket address, an IPv6 one an IPv6 socket address. */
    private static InetSocketAddress address(dev.gvproxy.stack.wire.Ipv6Address a, int port) {
        if (!a.isIpv4Mapped()) {
            return new InetSocketAddress(a.toInet(), port);
        }
        int ip = a.ipv4();
        byte[] b = {(byte) (ip >>> 24), (byte) (ip >>> 16), (byte) (ip >>> 8), (byte) ip};
        try {
            return new InetSocketAddress(InetAddress.getByAddress(b), port);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e); // 4 bytes is always a valid address
        }
    }

    private void scheduleDeliver() {
        if (!deliverScheduled && isRegistered()) {
            deliverScheduled = true;
            networkLoop.execute(this::deliver);
        }
    }

    /** One read: the queued data as a batch (stopping if auto-read is turned off), then a pending FIN. */
    private void deliver() {
        deliverScheduled = false;
        if (!open || !readPending || inputShutdown) {
            return;
        }
        readPending = false;
        boolean any = false;
        boolean stopped = false;
        for (ByteBuf b; open && (b = inbound.pollFirst()) != null; ) {
            any = true;
            unconsumed += b.readableBytes();
            pipeline().fireChannelRead(b);
            if (!config.isAutoRead() && !readPending) {
                stopped = true;
                break;
            }
        }
        if (any && open) {
            pipeline().fireChannelReadComplete();
        }
        releaseConsumed();
        if (open && !stopped && inbound.isEmpty() && finReceived && !inputShutdown) {
            inputShutdown = true;
            if (config.allowHalfClosure) {
                pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                pipeline().fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
            } else {
                unsafe().close(unsafe().voidPromise());
            }
        } else if (readPending && !inbound.isEmpty()) {
            scheduleDeliver();
        }
    }

    /** Opens the guest's window by what the pipeline took, unless our own output is backed up. */
    private void releaseConsumed() {
        if (unconsumed > 0 && conn != null && !connClosed && isWritable()) {
            int n = unconsumed;
            unconsumed = 0;
            conn.consumed(n);
        }
    }

    private int releaseInbound() {
        int n = 0;
        for (ByteBuf b; (b = inbound.pollFirst()) != null; ) {
            n += b.readableBytes();
            b.release();
        }
        return n;
    }

    // --- Channel side ----------------------------------------------------------------------------------------

    @Override
    protected AbstractUnsafe newUnsafe() {
        return new StackUnsafe();
    }

    private final class StackUnsafe extends AbstractUnsafe {
        @Override
        public void connect(SocketAddress remoteAddress, SocketAddress localAddress, ChannelPromise promise) {
            safeSetFailure(promise, new UnsupportedOperationException("in-stack channels are accepted, not connected"));
        }

        void flushNow() {
            flush0();
        }
    }

    @Override
    protected boolean isCompatible(EventLoop loop) {
        return loop == networkLoop;
    }

    @Override
    protected SocketAddress localAddress0() {
        return local;
    }

    @Override
    protected SocketAddress remoteAddress0() {
        return remote;
    }

    @Override
    public InetSocketAddress localAddress() {
        return (InetSocketAddress) super.localAddress();
    }

    @Override
    public InetSocketAddress remoteAddress() {
        return (InetSocketAddress) super.remoteAddress();
    }

    @Override
    protected void doBind(SocketAddress localAddress) {
        throw new UnsupportedOperationException("in-stack channels cannot be bound");
    }

    @Override
    protected void doDisconnect() {
        doClose();
    }

    @Override
    protected void doClose() {
        if (!open) {
            return;
        }
        open = false;
        int undelivered = releaseInbound();
        if (conn != null && !connClosed) {
            if (undelivered > 0) {
                dataAfterClose.inc();
                conn.abort();
            } else {
                conn.shutdownOutput();
            }
        }
    }

    @Override
    protected void doShutdownOutput() {
        outputShutdown = true;
        if (conn != null && !connClosed) {
            conn.shutdownOutput();
        }
    }

    @Override
    protected void doBeginRead() {
        if (!open || inputShutdown) {
            return;
        }
        readPending = true;
        if (!inbound.isEmpty() || finReceived) {
            scheduleDeliver();
        }
    }

    @Override
    protected Object filterOutboundMessage(Object msg) {
        if (msg instanceof ByteBuf) {
            return msg;
        }
        throw new UnsupportedOperationException("unsupported message type: " + msg.getClass().getName()
                + " (in-stack channels carry ByteBufs only)");
    }

    @Override
    protected void doWrite(ChannelOutboundBuffer in) throws Exception {
        if (conn == null || connClosed || outputShutdown) {
            throw new ClosedChannelException();
        }
        for (Object msg; (msg = in.current()) != null; ) {
            ByteBuf buf = (ByteBuf) msg;
            int len = buf.readableBytes();
            if (len == 0) {
                in.remove();
                continue;
            }
            int space = conn.sendSpace();
            if (space <= 0) {
                break; // onSendSpace flushes the rest
            }
            if (len <= space) {
                ByteBuf whole = buf.retain();
                in.remove(); // releases the outbound buffer's reference; ours goes to the connection
                conn.send(whole); // the stream flushes the switch once this loop task ends
            } else {
                ByteBuf part = buf.readRetainedSlice(space);
                in.progress(space);
                conn.send(part);
            }
        }
        releaseConsumed();
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public boolean isActive() {
        return open && conn != null && !connClosed;
    }

    @Override
    public ChannelMetadata metadata() {
        return METADATA;
    }

    @Override
    public ChannelConfig config() {
        return config;
    }

    // --- DuplexChannel ---------------------------------------------------------------------------------------

    @Override
    public boolean isInputShutdown() {
        return inputShutdown || !isActive();
    }

    @Override
    public ChannelFuture shutdownInput() {
        return shutdownInput(newPromise());
    }

    /** Stops reading: queued and later guest data is discarded (and acknowledged, so the guest is not stalled). */
    @Override
    public ChannelFuture shutdownInput(ChannelPromise promise) {
        if (networkLoop.inEventLoop()) {
            shutdownInput0(promise);
        } else {
            networkLoop.execute(() -> shutdownInput0(promise));
        }
        return promise;
    }

    private void shutdownInput0(ChannelPromise promise) {
        if (!inputShutdown) {
            inputShutdown = true;
            int n = releaseInbound();
            if (n > 0 && conn != null && !connClosed) {
                conn.consumed(n);
            }
        }
        promise.trySuccess();
    }

    @Override
    public boolean isOutputShutdown() {
        return outputShutdown || !isActive();
    }

    @Override
    public ChannelFuture shutdownOutput() {
        return shutdownOutput(newPromise());
    }

    @Override
    public ChannelFuture shutdownOutput(ChannelPromise promise) {
        if (networkLoop.inEventLoop()) {
            ((AbstractUnsafe) unsafe()).shutdownOutput(promise);
        } else {
            networkLoop.execute(() -> ((AbstractUnsafe) unsafe()).shutdownOutput(promise));
        }
        return promise;
    }

    @Override
    public boolean isShutdown() {
        return isInputShutdown() && isOutputShutdown();
    }

    @Override
    public ChannelFuture shutdown() {
        return shutdown(newPromise());
    }

    @Override
    public ChannelFuture shutdown(ChannelPromise promise) {
        ChannelPromise out = newPromise();
        shutdownOutput(out);
        out.addListener(f -> shutdownInput(promise));
        return promise;
    }

    /** Default options plus {@link ChannelOption#ALLOW_HALF_CLOSURE}. */
    private static final class Config extends DefaultChannelConfig {
        volatile boolean allowHalfClosure;

        Config(StackChannel ch) {
            super(ch);
        }

        @Override
        protected void autoReadCleared() {
            StackChannel ch = (StackChannel) channel;
            if (ch.networkLoop.inEventLoop()) {
                ch.readPending = false;
            } else {
                ch.networkLoop.execute(() -> ch.readPending = false);
            }
        }

        @Override
        public Map<ChannelOption<?>, Object> getOptions() {
            return getOptions(super.getOptions(), ChannelOption.ALLOW_HALF_CLOSURE);
        }

        @Override
        @SuppressWarnings("unchecked")
        public <T> T getOption(ChannelOption<T> option) {
            if (option == ChannelOption.ALLOW_HALF_CLOSURE) {
                return (T) Boolean.valueOf(allowHalfClosure);
            }
            return super.getOption(option);
        }

        @Override
        public <T> boolean setOption(ChannelOption<T> option, T value) {
            validate(option, value);
            if (option == ChannelOption.ALLOW_HALF_CLOSURE) {
                allowHalfClosure = (Boolean) value;
                return true;
            }
            return super.setOption(option, value);
        }
    }
}
