package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.DefaultMaxMessagesRecvByteBufAllocator;
import io.netty.channel.socket.DatagramChannel;

/**
 * The read buffer of host datagram sockets. Where the transport {@linkplain SocketTransport#batchesDatagramReads
 * batches datagram reads} (epoll: {@code recvmmsg}), one buffer of {@link #SLOTS} datagram-sized slots, reused by
 * every read of every socket it is installed on (all on one event loop): a read allocates nothing, and one system
 * call takes up to {@link #SLOTS} datagrams. Elsewhere each read gets a buffer of one slot, as Netty's
 * {@code FixedRecvByteBufAllocator} would give.
 *
 * <p>Why: a host socket must be able to receive a 64 KiB datagram, so each read needed a 64 KiB buffer; the
 * allocator hands buffers that large out of a fresh chunk, and allocating and zeroing 64 KiB per 1400-byte
 * datagram took a fifth of the loop's time at 1 Gbit/s, besides one {@code recv} per datagram.
 *
 * <p>Reuse is safe because a reader copies each datagram out before its read handler returns (the forwarders
 * build the guest's frame from it and release it): the buffer is handed out again only when nothing holds a view
 * of it any more (reference count back to this object's own); otherwise this read gets a fresh buffer and the
 * old one is left to whoever holds it. Event loop only.
 */
final class DatagramReadBuffer extends DefaultMaxMessagesRecvByteBufAllocator implements AutoCloseable {
    /** Datagrams one {@code recvmmsg} may take. */
    static final int SLOTS = 8;
    /** Datagrams one readiness event may take from one socket (then the loop serves the others). */
    static final int MAX_DATAGRAMS_PER_EVENT = 4 * SLOTS;

    private final int slot;
    private final boolean batched = SocketTransport.get().batchesDatagramReads();
    private ByteBuf buffer;
    private long fresh;

    /** @param slot the largest datagram a socket may receive, plus one */
    DatagramReadBuffer(int slot) {
        super(MAX_DATAGRAMS_PER_EVENT);
        this.slot = slot;
    }

    /** Makes {@code ch} read into this buffer, several datagrams per system call where the transport can. */
    void install(DatagramChannel ch) {
        ch.config().setRecvByteBufAllocator(this);
        SocketTransport.get().batchedDatagramReads(ch, slot);
    }

    /** How many shared buffers were allocated: the first, and one each time a reader still held the last. */
    long allocations() {
        return fresh;
    }

    @Override
    public Handle newHandle() {
        return new MaxMessageHandle() {
            @Override
            public int guess() {
                return batched ? SLOTS * slot : slot;
            }

            @Override
            public ByteBuf allocate(ByteBufAllocator alloc) {
                return batched ? take(alloc) : alloc.ioBuffer(slot);
            }
        };
    }

    /** @return a view of the whole shared buffer, <b>taken</b> by the caller (Netty releases it after the read) */
    private ByteBuf take(ByteBufAllocator alloc) {
        if (buffer == null || buffer.refCnt() != 1) {
            if (buffer != null) {
                buffer.release(); // a reader kept a view: the memory stays theirs until they release it
            }
            buffer = alloc.directBuffer(SLOTS * slot, SLOTS * slot);
            fresh++;
        }
        return buffer.retainedDuplicate().clear();
    }

    /** Releases the shared buffer (views still held keep it alive until released). */
    @Override
    public void close() {
        if (buffer != null) {
            buffer.release();
            buffer = null;
        }
    }
}
