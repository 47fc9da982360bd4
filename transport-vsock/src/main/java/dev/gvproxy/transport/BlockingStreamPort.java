package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.Headroom;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoop;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Frames over a pair of blocking byte channels (stdin/stdout for {@code -listen-stdio}, or pipes).
 *
 * <p>Why threads and not Netty: stdin/stdout are usually pipes (gvforwarder starts gvproxy with
 * {@code exec.Cmd} pipes) or a tty, and Netty's epoll transport has no channel type for a non-socket file
 * descriptor. So one platform thread reads and one writes; the switch stays on the event loop:
 * <ul>
 *   <li>The reader fills a buffer with whatever one {@code read} returns, cuts it into frames (retained
 *       slices, no copy) and hands the batch to the loop with {@code loop.execute}, which delivers and
 *       flushes once. A semaphore bounds the batches in flight, so a fast writer cannot flood the loop.</li>
 *   <li>{@link #transmit} (on the loop) collects frames; {@link #flush} hands the batch to the writer thread,
 *       which writes prefixes and frames with one gathering write where it can (a frame with room of its own in
 *       front, as the gateway's have, gets its prefix there: one buffer), then releases them. Frames are
 *       dropped and counted when more than {@link ChannelPort#MAX_QUEUED_BYTES} are pending.</li>
 * </ul>
 * End of input or any I/O error ends the port; {@link #closeFuture()} then completes.
 */
final class BlockingStreamPort implements LinkEndpoint, Listener {
    private static final Logger LOG = Logger.getLogger(BlockingStreamPort.class.getName());
    private static final int READ_CHUNK = 256 * 1024;
    private static final int MAX_BATCHES_IN_FLIGHT = 16;
    private static final int WRITABLE_BELOW = 1 << 20;

    private final ReadableByteChannel in;
    private final WritableByteChannel out;
    private final Framing framing;
    private final EventLoop loop;
    private final VirtualSwitch sw;
    private final String name;
    private final ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;
    private final Counters.Counter badLength;
    private final Counters.Counter tooLarge;
    private final TxQueueFull txQueueFull;
    private final Counters.Counter txClosed;
    private final Semaphore inFlight = new Semaphore(MAX_BATCHES_IN_FLIGHT);
    private final LinkedBlockingQueue<List<ByteBuf>> toWriter = new LinkedBlockingQueue<>();
    private final AtomicLong pendingBytes = new AtomicLong();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final CompletableFuture<Void> closeFuture = new CompletableFuture<>();
    private List<ByteBuf> batch = new ArrayList<>(); // loop only
    private SwitchPort port; // loop only
    private Thread reader;
    private Thread writer;

    BlockingStreamPort(ReadableByteChannel in, WritableByteChannel out, Framing framing, NetworkContext ctx, String name) {
        this.in = in;
        this.out = out;
        this.framing = framing;
        this.loop = ctx.loop();
        this.sw = ctx.sw();
        this.name = name;
        this.badLength = ctx.counters().counter("transport.badFrameLength");
        this.tooLarge = ctx.counters().counter("transport.frameTooLargeForFraming");
        this.txQueueFull = new TxQueueFull(ctx.counters());
        this.txClosed = ctx.counters().counter("transport.txClosedPort");
    }

    /** Attaches the port on the loop, then starts the threads. */
    BlockingStreamPort start() {
        loop.submit(() -> {
            port = sw.attach(name, this);
            LOG.log(Level.INFO, "{0} attached", port);
        }).syncUninterruptibly();
        reader = Thread.ofPlatform().daemon().name(name + "-reader").start(this::readLoop);
        writer = Thread.ofPlatform().daemon().name(name + "-writer").start(this::writeLoop);
        return this;
    }

    private void readLoop() {
        ByteBuf cum = alloc.directBuffer(READ_CHUNK);
        int hdr = framing.headerLength();
        try {
            while (!closed.get()) {
                if (cum.writableBytes() < hdr + VirtualSwitch.MAX_FRAME / 2) {
                    // Frames already cut are slices of cum: never compact in place, move the tail to a new buffer.
                    ByteBuf next = alloc.directBuffer(Math.max(READ_CHUNK, cum.readableBytes() + hdr + VirtualSwitch.MAX_FRAME));
                    next.writeBytes(cum);
                    cum.release();
                    cum = next;
                }
                int n = in.read(cum.nioBuffer(cum.writerIndex(), cum.writableBytes()));
                if (n > 0) {
                    cum.writerIndex(cum.writerIndex() + n);
                }
                if (n < 0) {
                    LOG.log(Level.INFO, "{0}: end of input", name);
                    break;
                }
                List<ByteBuf> frames = null;
                while (cum.readableBytes() >= hdr) {
                    long length = framing.getLength(cum, cum.readerIndex());
                    if (length == 0 || length > VirtualSwitch.MAX_FRAME) {
                        badLength.inc();
                        LOG.log(Level.WARNING, "{0}: invalid packet size: {1} is zero or exceeds maximum {2}; closing the port",
                                new Object[] {name, Long.toString(length), Integer.toString(VirtualSwitch.MAX_FRAME)});
                        handOver(frames); // frames before the bad header are good
                        return;
                    }
                    if (cum.readableBytes() < hdr + length) {
                        break;
                    }
                    cum.skipBytes(hdr);
                    if (frames == null) {
                        frames = new ArrayList<>();
                    }
                    frames.add(cum.readRetainedSlice((int) length));
                }
                handOver(frames);
            }
        } catch (IOException | RuntimeException e) {
            if (!closed.get()) {
                LOG.log(Level.WARNING, "{0}: read failed: {1}", new Object[] {name, e.toString()});
            }
        } finally {
            cum.release();
            close();
        }
    }

    private void handOver(List<ByteBuf> frames) {
        if (frames != null) {
            inFlight.acquireUninterruptibly();
            loop.execute(() -> deliverBatch(frames));
        }
    }

    private void deliverBatch(List<ByteBuf> frames) {
        try {
            for (ByteBuf f : frames) {
                if (port != null && port.isAttached()) {
                    sw.deliver(port, f);
                } else {
                    f.release();
                }
            }
            sw.readComplete();
        } finally {
            inFlight.release();
        }
    }

    private void writeLoop() {
        int hdr = framing.headerLength();
        try {
            while (true) {
                List<ByteBuf> frames = toWriter.poll(1, TimeUnit.SECONDS);
                if (frames == null) {
                    if (closed.get()) {
                        return;
                    }
                    continue;
                }
                long bytes = 0;
                try {
                    ByteBuffer[] bufs = new ByteBuffer[frames.size() * 2];
                    int i = 0;
                    for (ByteBuf f : frames) {
                        int len = f.readableBytes();
                        if (Headroom.isOwn(f, hdr)) {
                            // The gateway's frames keep room in front (Headroom): the prefix goes there, and the
                            // frame is one buffer of the gathering write. The writer holds the only reference.
                            int at = f.readerIndex() - hdr;
                            framing.setLength(f, at, len);
                            bufs[i++] = f.nioBuffer(at, hdr + len);
                        } else {
                            ByteBuffer h = ByteBuffer.allocate(hdr).order(framing.order());
                            if (hdr == 4) {
                                h.putInt(0, len);
                            } else {
                                h.putShort(0, (short) len);
                            }
                            bufs[i++] = h;
                            bufs[i++] = f.nioBuffer();
                        }
                        bytes += len;
                    }
                    writeFully(i == bufs.length ? bufs : Arrays.copyOf(bufs, i));
                } finally {
                    releaseAll(frames);
                    long left = pendingBytes.addAndGet(-bytes);
                    if (left < WRITABLE_BELOW && left + bytes >= WRITABLE_BELOW) {
                        loop.execute(this::drained); // TCP senders paused on this port resume, on the loop
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            if (!closed.get()) {
                LOG.log(Level.WARNING, "{0}: write failed: {1}", new Object[] {name, e.toString()});
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            close();
            List<ByteBuf> rest;
            while ((rest = toWriter.poll()) != null) {
                releaseAll(rest);
            }
        }
    }

    private void writeFully(ByteBuffer[] bufs) throws IOException {
        if (out instanceof GatheringByteChannel g) {
            int first = 0;
            while (first < bufs.length) {
                g.write(bufs, first, bufs.length - first);
                while (first < bufs.length && !bufs[first].hasRemaining()) {
                    first++;
                }
            }
        } else {
            for (ByteBuffer b : bufs) {
                while (b.hasRemaining()) {
                    out.write(b);
                }
            }
        }
    }

    /** @param frame <b>taken</b> */
    @Override
    public void transmit(ByteBuf frame) {
        int length = frame.readableBytes();
        if (closed.get()) {
            txClosed.inc();
            frame.release();
        } else if (length > framing.maxEncodable()) {
            tooLarge.inc();
            frame.release();
        } else if (pendingBytes.get() > ChannelPort.MAX_QUEUED_BYTES) {
            txQueueFull.inc(port);
            frame.release();
        } else {
            pendingBytes.addAndGet(length);
            batch.add(frame);
        }
    }

    @Override
    public void flush() {
        if (!batch.isEmpty()) {
            toWriter.add(batch);
            batch = new ArrayList<>();
        }
    }

    private void drained() {
        if (port != null) {
            sw.portWritable(port);
        }
    }

    @Override
    public boolean isWritable() {
        return pendingBytes.get() < WRITABLE_BELOW;
    }

    @Override
    public void close(String reason) {
        LOG.log(Level.INFO, "{0}: closing: {1}", new Object[] {name, reason});
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

    /** Detaches the port and closes both channels; the threads end when their blocking call returns. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        Runnable detach = () -> {
            if (port != null) {
                sw.detach(port);
                LOG.log(Level.INFO, "{0} disconnected", port);
            }
            releaseAll(batch);
            batch = new ArrayList<>();
        };
        if (loop.inEventLoop()) {
            detach.run();
        } else if (!loop.isShuttingDown()) {
            loop.execute(detach);
        }
        closeQuietly(in);
        closeQuietly(out);
        closeFuture.complete(null);
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // already closing
        }
    }

    private static void releaseAll(List<ByteBuf> frames) {
        if (frames != null) {
            for (ByteBuf f : frames) {
                f.release();
            }
        }
    }
}
