package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.Headroom;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoEvent;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One accepted BESS connection (an {@code AF_UNIX}/{@code SOCK_SEQPACKET} socket, one message = one frame) as a
 * switch port, registered with the network's epoll loop as an {@link EpollIoHandle} (level-triggered).
 *
 * <p>Inbound: up to {@link #READS_PER_EVENT} messages per wakeup are received into one native 128 KiB buffer and
 * copied into right-sized {@code ByteBuf}s (a message must be read whole, so the buffer must be frame-sized; the
 * copy keeps it from being pinned), then the batch ends ({@code VirtualSwitch.readComplete}). Outbound: frames queue until the switch's
 * {@link #flush()}, then each is one {@code send}; on {@code EAGAIN} the rest waits for {@code EPOLLOUT}. Past
 * {@link ChannelPort#MAX_QUEUED_BYTES} frames are dropped ({@code transport.txQueueFull}).
 *
 * <p>Everything runs on the loop; EOF or an error closes this port only.
 */
final class BessPort implements EpollIoHandle, LinkEndpoint {
    private static final Logger LOG = Logger.getLogger(BessPort.class.getName());
    static final int READS_PER_EVENT = 64;
    /** Above this many queued bytes the port reports not writable (the channels' high water mark). */
    static final int HIGH_WATER = 1 << 20;

    private final VirtualSwitch sw;
    private final FileDescriptor fd;
    private final String name;
    private final ByteBufAllocator alloc;
    private final Consumer<BessPort> onClose;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment rx;
    private final MemorySegment tx;
    private final ArrayDeque<ByteBuf> pending = new ArrayDeque<>();
    private final Counters.Counter badLength;
    private final TxQueueFull txQueueFull;
    private final Counters.Counter txClosed;
    private final Counters.Counter txTooBig;
    private final Counters.Counter portError;
    private long pendingBytes;
    private IoRegistration registration;
    private boolean waitingForOut;
    private SwitchPort port;
    private boolean closed;

    BessPort(int fd, VirtualSwitch sw, Counters counters, String name, ByteBufAllocator alloc, Consumer<BessPort> onClose) {
        this.fd = new FileDescriptor(fd);
        this.sw = sw;
        this.name = name;
        this.alloc = alloc;
        this.onClose = onClose;
        this.rx = arena.allocate(VirtualSwitch.MAX_FRAME);
        this.tx = arena.allocate(VirtualSwitch.MAX_FRAME);
        this.badLength = counters.counter("transport.badFrameLength");
        this.txQueueFull = new TxQueueFull(counters);
        this.txClosed = counters.counter("transport.txClosedPort");
        this.txTooBig = counters.counter("transport.datagramSendError");
        this.portError = counters.counter("transport.portError");
    }

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    /** The switch port, null until registered. */
    SwitchPort port() {
        return port;
    }

    /** Called on the loop once the epoll registration exists: start reading and attach to the switch. */
    void registered(IoRegistration reg) {
        if (closed) {
            reg.cancel();
            return;
        }
        registration = reg;
        reg.submit(EpollIoOps.EPOLLIN);
        port = sw.attach(name, this);
        LOG.log(Level.INFO, "{0} attached (bess)", port);
    }

    @Override
    public void handle(IoRegistration registration, IoEvent event) {
        if (closed) {
            return;
        }
        EpollIoOps ops = ((EpollIoEvent) event).ops();
        if (ops.contains(EpollIoOps.EPOLLOUT)) {
            flush();
        }
        if (!closed && !ops.equals(EpollIoOps.EPOLLOUT)) {
            // EPOLLIN, or an error/hangup: recv tells which
            read();
        }
    }

    private void read() {
        int delivered = 0;
        for (int i = 0; i < READS_PER_EVENT && !closed; i++) {
            long n = SeqPacket.recv(fd.intValue(), rx, rx.byteSize());
            if (n == -SeqPacket.EAGAIN) {
                break;
            }
            if (n == -SeqPacket.EINTR) {
                continue;
            }
            if (n == 0) {
                close("peer closed the connection");
                break;
            }
            if (n < 0) {
                portError.inc();
                close("recv: " + SeqPacket.strerror((int) -n));
                break;
            }
            if (n > rx.byteSize()) {
                // MSG_TRUNC reported a message larger than any frame: drop it, keep the connection.
                badLength.inc();
                continue;
            }
            // Room in front: switched to a guest on a stream transport, the frame leaves with its framing as one
            // buffer.
            ByteBuf frame = Headroom.ioBuffer(alloc, (int) n);
            frame.writeBytes(rx.asSlice(0, n).asByteBuffer());
            sw.deliver(port, frame);
            delivered++;
        }
        if (delivered > 0) {
            sw.readComplete();
        }
    }

    /** @param frame <b>taken</b> */
    @Override
    public void transmit(ByteBuf frame) {
        if (closed) {
            txClosed.inc();
            frame.release();
            return;
        }
        if (pendingBytes > ChannelPort.MAX_QUEUED_BYTES) {
            txQueueFull.inc(port);
            frame.release();
            return;
        }
        pending.add(frame);
        pendingBytes += frame.readableBytes();
    }

    @Override
    public void flush() {
        while (!closed && !pending.isEmpty()) {
            ByteBuf f = pending.peek();
            long n = send(f);
            if (n == -SeqPacket.EINTR) {
                continue;
            }
            if (n == -SeqPacket.EAGAIN || n == -SeqPacket.ENOBUFS) {
                wantOut(true);
                return;
            }
            pending.poll();
            boolean wasFull = pendingBytes >= HIGH_WATER;
            pendingBytes -= f.readableBytes();
            f.release();
            if (wasFull && pendingBytes < HIGH_WATER && port != null) {
                sw.portWritable(port); // TCP senders paused on this port resume
            }
            if (n == -SeqPacket.EMSGSIZE) {
                txTooBig.inc(); // larger than the peer's socket can take: drop this frame only
            } else if (n < 0) {
                portError.inc();
                close("send: " + SeqPacket.strerror((int) -n));
                return;
            }
        }
        wantOut(false);
    }

    /** @param f <b>borrowed</b> */
    private long send(ByteBuf f) {
        int len = f.readableBytes();
        if (f.nioBufferCount() == 1) {
            ByteBuffer nio = f.internalNioBuffer(f.readerIndex(), len);
            if (nio.isDirect()) {
                return SeqPacket.send(fd.intValue(), MemorySegment.ofBuffer(nio), len);
            }
        }
        // heap or composite: one copy into the native send buffer
        if (len > tx.byteSize()) {
            return -SeqPacket.EMSGSIZE;
        }
        f.getBytes(f.readerIndex(), tx.asSlice(0, len).asByteBuffer());
        return SeqPacket.send(fd.intValue(), tx, len);
    }

    private void wantOut(boolean out) {
        if (out != waitingForOut && registration != null && registration.isValid()) {
            waitingForOut = out;
            registration.submit(out ? EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLOUT) : EpollIoOps.EPOLLIN);
        }
    }

    @Override
    public boolean isWritable() {
        return !closed && pendingBytes < HIGH_WATER;
    }

    @Override
    public void close(String reason) {
        if (closed) {
            return;
        }
        closed = true;
        if (port != null && port.isAttached()) {
            sw.detach(port);
        }
        LOG.log(Level.INFO, "{0}: closing: {1}", new Object[] {port == null ? name : port, reason});
        // Deregister before closing so the descriptor number cannot be reused while still in epoll.
        if (registration != null) {
            registration.cancel();
        }
        try {
            fd.close();
        } catch (IOException ignored) {
            // the descriptor is gone either way
        }
        for (ByteBuf f; (f = pending.poll()) != null; ) {
            f.release();
        }
        pendingBytes = 0;
        arena.close();
        onClose.accept(this);
    }

    /** Also called by the loop when it shuts down with the socket still registered. */
    @Override
    public void close() {
        close("event loop shut down");
    }

    @Override
    public String toString() {
        return port != null ? port.toString() : name;
    }
}
