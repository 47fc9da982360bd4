package dev.gvproxy.stack.link;

import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Records frames in the classic pcap format with nanosecond timestamps (magic {@code 0xa1b23c4d}, version
 * 2.4, {@code LINKTYPE_ETHERNET}), readable by {@code tcpdump --nano -r} and {@code tshark -r}.
 *
 * <p>Installed as the switch's {@link VirtualSwitch.FrameTap}, it sees every frame crossing the switch.
 * Records are gathered in a 256 KiB buffer and written when it fills, on {@link #flush()} and on
 * {@link #close()}; a file error disables the recorder (logged once by the caller) rather than
 * disturbing the network. Not thread-safe: used from the network's event loop.
 */
public final class PcapWriter implements VirtualSwitch.FrameTap, AutoCloseable {
    static final int MAGIC_NANOS = 0xa1b23c4d;
    static final int LINKTYPE_ETHERNET = 1;
    private static final int RECORD_HEADER = 16;

    private final FileChannel file;
    private final ByteBuffer buf = ByteBuffer.allocateDirect(256 * 1024).order(ByteOrder.nativeOrder());
    private final int snapLen;
    private IOException failure;
    private long frames;

    /** Creates (truncates) the file and writes the global header. */
    public PcapWriter(Path path, int snapLen) throws IOException {
        this.file = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
        this.snapLen = snapLen;
        buf.putInt(MAGIC_NANOS).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0)
                .putInt(snapLen).putInt(LINKTYPE_ETHERNET);
        drain();
    }

    /** @param frame <b>borrowed</b> */
    @Override
    public void frame(ByteBuf frame, long epochNanos) {
        if (failure != null) {
            return;
        }
        int len = frame.readableBytes();
        int caplen = Math.min(len, snapLen);
        if (buf.remaining() < RECORD_HEADER + caplen) {
            drain();
            if (buf.remaining() < RECORD_HEADER + caplen) { // a record bigger than the buffer: write through
                writeLarge(frame, epochNanos, len, caplen);
                return;
            }
        }
        buf.putInt((int) (epochNanos / 1_000_000_000L)).putInt((int) (epochNanos % 1_000_000_000L))
                .putInt(caplen).putInt(len);
        int lim = buf.limit();
        buf.limit(buf.position() + caplen);
        frame.getBytes(frame.readerIndex(), buf);
        buf.limit(lim);
        frames++;
    }

    private void writeLarge(ByteBuf frame, long epochNanos, int len, int caplen) {
        ByteBuffer hdr = ByteBuffer.allocate(RECORD_HEADER).order(ByteOrder.nativeOrder());
        hdr.putInt((int) (epochNanos / 1_000_000_000L)).putInt((int) (epochNanos % 1_000_000_000L))
                .putInt(caplen).putInt(len).flip();
        try {
            while (hdr.hasRemaining()) {
                file.write(hdr);
            }
            frame.getBytes(frame.readerIndex(), file, file.position(), caplen);
            file.position(file.position() + caplen);
            frames++;
        } catch (IOException e) {
            failure = e;
        }
    }

    /** Number of frames recorded so far. */
    public long frames() {
        return frames;
    }

    /** The first write error, or null. */
    public IOException failure() {
        return failure;
    }

    /** True when recorded frames wait in the buffer for {@link #flush}. */
    public boolean buffered() {
        return failure == null && buf.position() > 0;
    }

    /** Writes the buffered frames to the file. */
    public void flush() {
        drain();
    }

    private void drain() {
        if (failure != null) {
            return;
        }
        buf.flip();
        try {
            while (buf.hasRemaining()) {
                file.write(buf);
            }
        } catch (IOException e) {
            failure = e;
        }
        buf.clear();
    }

    @Override
    public void close() {
        drain();
        try {
            file.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
