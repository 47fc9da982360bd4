package dev.gvproxy.transport;

import dev.gvproxy.platform.Libc;
import dev.gvproxy.platform.SocketTransport;
import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.transport.tap.TapDevice;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoop;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Reference;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A TAP device as a switch port, read and written by the network's own event loop: this process holds the TAP's
 * file descriptor and the interface is the guest's (a network namespace's {@code tap0}), with no guest agent and no
 * {@code /connect} socket in between. pasta's shape: a frame from the guest wakes the loop once (the TAP fd is in
 * the loop's epoll set), and a frame to the guest is one {@code write(2)} from the loop (a {@code writev(2)} for a
 * large segment whose payload is views of the host socket's reads), where an agent costs a thread wake-up and a
 * socket crossing each way.
 *
 * <p>Reading: whenever the fd has input (epoll, level triggered: {@link SocketTransport#watchReadable}) the loop reads
 * up to {@link #READ_BUDGET} frames without blocking and hands each to the switch; frames left over wake the next
 * loop iteration. Each read lands in a buffer as large as the largest frame; a frame of more than
 * {@link #COPY_BELOW} bytes keeps that buffer (no copy of a large segment), a smaller one is copied out to a buffer
 * of its size and the large buffer is read into again. Where the loop cannot watch an fd (NIO, kqueue) a platform
 * thread waits in {@code poll(2)} and asks the loop to read, one read batch at a time.
 *
 * <p>Writing: {@link #transmit} writes the frame at once, non-blocking; a TAP takes a frame or refuses it whole,
 * and a refused one ({@code EAGAIN}) is dropped and counted as a full queue, as Ethernet does. With a virtio-net
 * header ({@code IFF_VNET_HDR}, offloads on) the port reads and writes through {@link VnetCodec}: the guest's
 * kernel hands over TCP segments of up to 64 KiB with partial checksums and takes large segments back.
 *
 * <p>The port ends when the interface is deleted (the fd then polls as an error and the read fails with
 * {@code EBADFD}) or on {@link #close()}; {@link #closeFuture()} completes then. Deleting the namespace alone does
 * not end it: an open TAP fd holds a reference to its namespace, which lives on until the port closes.
 */
final class TapPort implements LinkEndpoint, Listener {
    private static final Logger LOG = Logger.getLogger(TapPort.class.getName());
    /** Frames read per wake-up before the loop serves its other channels. */
    static final int READ_BUDGET = 64;
    /** Frames up to this size are copied out of the read buffer; larger ones keep it. */
    static final int COPY_BELOW = 2048;
    /** The largest frame a TAP hands over: a 64 KiB IP packet, its Ethernet and VLAN headers, a virtio-net header. */
    static final int READ_BUFFER = TapDevice.VNET_HDR_LEN + 18 + 65535;
    /**
     * Most pieces a frame is written in ({@code writev}; the kernel takes 1024): a segment's header, the views of
     * the host socket's read buffers it spans, and the virtio-net header's buffer when it had no room.
     */
    static final int MAX_PIECES = 64;

    private final TapDevice tap;
    private final EventLoop loop;
    private final VirtualSwitch sw;
    private final String name;
    private final VnetCodec vnet; // null without a virtio-net header
    private final ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;
    private final Counters.Counter writeError;
    private final Counters.Counter txClosed;
    private final TxQueueFull txQueueFull;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final CompletableFuture<Void> closeFuture = new CompletableFuture<>();
    private final Runnable readBatch = this::readBatch;
    private SwitchPort port; // loop only
    private AutoCloseable watch; // loop only; null with the fallback thread
    private ByteBuf spare; // loop only: the read buffer
    private MemorySegment spareSegment; // its memory
    private ByteBuffer scratch; // loop only: a frame that cannot be gathered is copied here to be written
    private MemorySegment iov; // loop only: the iovecs of a gathered frame
    private Thread waiter;

    /** @param tap taken: the port closes it */
    TapPort(TapDevice tap, NetworkContext ctx, String name) {
        this.tap = tap;
        this.loop = ctx.loop();
        this.sw = ctx.sw();
        this.name = name;
        this.vnet = tap.hasVnetHeader() ? new VnetCodec(sw.mtu(), ctx.counters()) : null;
        this.writeError = ctx.counters().counter("transport.tap.writeError");
        this.txClosed = ctx.counters().counter("transport.txClosedPort");
        this.txQueueFull = new TxQueueFull(ctx.counters());
    }

    /** Attaches the port and starts reading, on the loop; off the loop. */
    TapPort start() throws IOException {
        io.netty.util.concurrent.Future<?> attached = loop.submit(() -> {
            port = sw.attach(name, this);
            watch = SocketTransport.get().watchReadable(loop, tap.fd(), readBatch);
            LOG.log(Level.INFO, "{0} attached{1}", new Object[] {port, vnet != null ? " with offloads" : ""});
            return null;
        }).awaitUninterruptibly();
        if (!attached.isSuccess()) {
            close();
            Throwable cause = attached.cause();
            throw cause instanceof IOException io ? io : new IOException(name + ": " + cause, cause);
        }
        if (watch == null) {
            Semaphore done = new Semaphore(0);
            Runnable task = () -> {
                try {
                    readBatch();
                } finally {
                    done.release();
                }
            };
            waiter = Thread.ofPlatform().daemon().name(name + "-poll").start(() -> pollLoop(task, done));
        }
        return this;
    }

    /** The fallback's thread: wait for input, let the loop read one batch, wait again. */
    private void pollLoop(Runnable task, Semaphore done) {
        try {
            while (!closed.get()) {
                tap.awaitReadable();
                loop.execute(task);
                done.acquire();
            }
        } catch (ClosedChannelException | InterruptedException e) {
            // closing
        } catch (IOException | RuntimeException e) {
            close("poll failed: " + e);
        }
    }

    /** Reads what is waiting, up to the budget; on the loop. */
    private void readBatch() {
        if (closed.get()) {
            return;
        }
        try {
            for (int i = 0; i < READ_BUDGET; i++) {
                if (spare == null) {
                    spare = alloc.directBuffer(READ_BUFFER, READ_BUFFER);
                    spareSegment = MemorySegment.ofBuffer(spare.nioBuffer(0, READ_BUFFER));
                }
                int n = tap.readNow(spareSegment);
                if (n == 0) {
                    break;
                }
                ByteBuf frame;
                if (n <= COPY_BELOW) {
                    frame = alloc.directBuffer(n);
                    frame.writeBytes(spare, 0, n);
                } else {
                    frame = spare.setIndex(0, n);
                    spare = null;
                    spareSegment = null;
                }
                if (vnet == null || vnet.receive(frame)) {
                    sw.deliver(port, frame);
                }
            }
            sw.readComplete();
        } catch (ClosedChannelException e) {
            // closing
        } catch (IOException | RuntimeException e) {
            close("read failed: " + e);
        }
    }

    /** @param frame <b>taken</b>: written now or dropped and counted */
    @Override
    public void transmit(ByteBuf frame) {
        if (closed.get()) {
            txClosed.inc();
            frame.release();
            return;
        }
        ByteBuf out = vnet != null ? vnet.send(frame, alloc) : frame;
        try {
            if (!write(out)) {
                txQueueFull.inc(port);
            }
        } catch (ClosedChannelException e) {
            txClosed.inc();
        } catch (IOException e) {
            // e.g. EIO while the guest has the link down: Ethernet drops, the guest retransmits
            writeError.inc();
        } finally {
            out.release();
        }
    }

    /**
     * One write of one frame: a buffer as it is, a frame in pieces (a large TCP segment's header and payload views,
     * {@code TcpSegmentWriter#VIEWS_FROM}) gathered by {@code writev}; a heap buffer, or more pieces than
     * {@link #MAX_PIECES}, copied into one.
     *
     * @param out <b>borrowed</b>
     * @return false when the TAP's queue is full
     */
    private boolean write(ByteBuf out) throws IOException {
        int length = out.readableBytes();
        if (out.hasMemoryAddress()) {
            return tap.writeNow(MemorySegment.ofAddress(out.memoryAddress() + out.readerIndex()).reinterpret(length));
        }
        int pieces = out.nioBufferCount();
        if (out.isDirect() && pieces == 1) {
            return tap.writeNow(MemorySegment.ofBuffer(out.nioBuffer()));
        }
        if (out.isDirect() && pieces > 1 && pieces <= MAX_PIECES) {
            if (iov == null) {
                iov = Arena.ofAuto().allocate((long) Libc.IOVEC_SIZE * MAX_PIECES, 8);
            }
            ByteBuffer[] parts = out.nioBuffers();
            for (int i = 0; i < parts.length; i++) {
                MemorySegment part = MemorySegment.ofBuffer(parts[i]);
                iov.set(ValueLayout.JAVA_LONG, (long) Libc.IOVEC_SIZE * i, part.address());
                iov.set(ValueLayout.JAVA_LONG, (long) Libc.IOVEC_SIZE * i + 8, part.byteSize());
            }
            boolean written = tap.writeNow(iov, parts.length, length);
            Reference.reachabilityFence(parts); // the memory the iovecs point into
            return written;
        }
        if (scratch == null || scratch.capacity() < length) {
            scratch = ByteBuffer.allocateDirect(Math.max(length, READ_BUFFER));
        }
        scratch.clear().limit(length);
        out.getBytes(out.readerIndex(), scratch);
        return tap.writeNow(MemorySegment.ofBuffer(scratch.flip()));
    }

    @Override
    public void flush() {
        // every frame was written when it was transmitted
    }

    @Override
    public boolean offloads() {
        return vnet != null;
    }

    @Override
    public void close(String reason) {
        if (!closed.get()) {
            LOG.log(Level.INFO, "{0}: closing: {1}", new Object[] {port == null ? name : port, reason});
        }
        close();
    }

    @Override
    public SocketAddress localAddress() {
        return null;
    }

    @Override
    public CompletableFuture<Void> closeFuture() {
        return closeFuture;
    }

    /**
     * Stops reading, detaches the port and closes the TAP (an interface the port created disappears with it). The
     * watch is removed on the loop before the fd closes; off the loop this waits for that.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        Runnable stop = () -> {
            if (watch != null) {
                try {
                    watch.close();
                } catch (Exception e) {
                    LOG.log(Level.FINE, "{0}: stopping the watch: {1}", new Object[] {name, e});
                }
                watch = null;
            }
            if (port != null && port.isAttached()) {
                sw.detach(port);
                LOG.log(Level.INFO, "{0} disconnected", port);
            }
            if (spare != null) {
                spare.release();
                spare = null;
                spareSegment = null;
            }
        };
        if (loop.inEventLoop()) {
            stop.run();
        } else if (!loop.isShuttingDown()) {
            try {
                loop.submit(stop).syncUninterruptibly();
            } catch (RuntimeException e) {
                LOG.log(Level.FINE, "{0}: the loop ended first: {1}", new Object[] {name, e});
            }
        }
        tap.close(); // wakes the fallback thread
        if (waiter != null) {
            waiter.interrupt();
        }
        closeFuture.complete(null);
    }
}
