package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;

/**
 * The one place TCP headers are laid out: every segment the stack sends (connections, the layer's resets) and
 * every {@link TcpRepr#emit} goes through it. A reusable template: the sender sets the fields for one segment
 * and writes it; nothing is allocated but the header buffer, and writing changes no state but the output.
 *
 * <p><b>Option layout.</b> Known options are written the way Linux writes them ({@code tcp_options_write}):
 * MSS; timestamps (prefixed by SACK-permitted when both are present, else by two NOPs); SACK-permitted alone as
 * {@code NOP NOP 4 2}; {@code NOP} + window scale; {@code NOP NOP} + SACK blocks; then {@link #extraOptions};
 * then END bytes up to a multiple of 4. Segments built by Linux therefore re-emit byte for byte. If that layout
 * would not fit in 40 bytes (possible for valid but densely packed options from other stacks) the options are
 * written without the NOP padding, which always fits for options that came from a parsed header.
 *
 * <p>Field names follow RFC 9293 3.1; {@code window} is the raw (already scaled down) field.
 */
public final class TcpSegmentWriter {
    private static final int MAX_OPTIONS = TcpPacket.MAX_HEADER_LEN - TcpPacket.MIN_HEADER_LEN;

    public int srcPort;
    public int dstPort;
    public int seq;
    public int ack;
    /** The 12 bits of {@link TcpFlags}. */
    public int flags;
    public int window;
    public int urgent;
    /** -1 for none. */
    public int mss = -1;
    /** -1 for none. */
    public int windowScale = -1;
    public boolean sackPermitted;
    public boolean timestamps;
    public int tsVal;
    public int tsEcr;
    /** SACK blocks as {@code [left0, right0, left1, right1, ...]}; {@link #sackCount} pairs are written. */
    public final int[] sack = new int[2 * TcpOptions.MAX_SACK_BLOCKS];
    public int sackCount;
    /** Raw options of other kinds, written after the known ones; null for none. */
    public byte[] extraOptions;

    /** Sets the fixed header fields and clears every option. */
    public TcpSegmentWriter header(int srcPort, int dstPort, int seq, int ack, int flags, int window) {
        this.srcPort = srcPort;
        this.dstPort = dstPort;
        this.seq = seq;
        this.ack = ack;
        this.flags = flags;
        this.window = window;
        this.urgent = 0;
        this.mss = -1;
        this.windowScale = -1;
        this.sackPermitted = false;
        this.timestamps = false;
        this.sackCount = 0;
        this.extraOptions = null;
        return this;
    }

    /** Option bytes {@link #writeHeader} writes, padding included (a multiple of 4). */
    public int optionsLength() {
        int canonical = pad(linuxOptionsLength());
        return canonical <= MAX_OPTIONS ? canonical : pad(compactOptionsLength());
    }

    /** Header bytes {@link #writeHeader} writes. */
    public int headerLength() {
        return TcpPacket.MIN_HEADER_LEN + optionsLength();
    }

    /**
     * Appends the header at the writer index of {@code out}, with a checksum (IPv4 pseudo-header from
     * {@code srcIp} to {@code dstIp}) that already covers {@code payload}, which the caller sends after it.
     *
     * @param out borrowed
     * @param payload borrowed; only summed (null for none)
     * @throws IllegalArgumentException when the options do not fit in 40 bytes (only for hand-built values)
     */
    public void writeHeader(ByteBuf out, int srcIp, int dstIp, ByteBuf payload) {
        writeHeader(out, Checksums.pseudoHeader(srcIp, dstIp, 0, 0), payload);
    }

    /**
     * {@link #writeHeader(ByteBuf, int, int, ByteBuf)} for either family: addresses as the family-neutral layers
     * carry them (IPv4-mapped for IPv4), the pseudo-header of their family.
     */
    public void writeHeader(ByteBuf out, Ipv6Address src, Ipv6Address dst, ByteBuf payload) {
        writeHeader(out, Checksums.pseudoHeader(src, dst, 0, 0), payload);
    }

    /** @param payload <b>borrowed</b>; only summed (null for none) */
    private void writeHeader(ByteBuf out, long addressSum, ByteBuf payload) {
        writeHeader(out, addressSum, payload, payload == null ? 0 : payload.readerIndex(),
                payload == null ? 0 : payload.readableBytes());
    }

    /**
     * @param addressSum the pseudo-header's unfolded address sum (protocol and length are added here)
     * @param payload <b>borrowed</b>; its {@code plen} bytes at {@code payloadOff} are only summed (may be
     *     {@code out} itself, the payload already behind the room for this header)
     */
    private void writeHeader(ByteBuf out, long addressSum, ByteBuf payload, int payloadOff, int plen) {
        int start = out.writerIndex();
        boolean linux = pad(linuxOptionsLength()) <= MAX_OPTIONS;
        int hl = TcpPacket.MIN_HEADER_LEN + (linux ? pad(linuxOptionsLength()) : pad(compactOptionsLength()));
        out.ensureWritable(hl);
        out.writeShort(srcPort).writeShort(dstPort).writeInt(seq).writeInt(ack);
        out.writeShort(((hl >>> 2) << 12) | (flags & TcpFlags.MASK));
        out.writeShort(window).writeShort(0).writeShort(urgent);
        int optStart = out.writerIndex();
        if (linux) {
            writeLinuxOptions(out);
        } else {
            writeCompactOptions(out);
        }
        int written = out.writerIndex() - optStart;
        if (written > MAX_OPTIONS) {
            out.writerIndex(start);
            throw new IllegalArgumentException("TCP options do not fit in 40 bytes");
        }
        out.writeZero(hl - TcpPacket.MIN_HEADER_LEN - written);
        // The header length is a multiple of 4, so the payload's words line up with the header's.
        long sum = addressSum + IpProtocol.TCP + hl + plen
                + Checksums.partial(out, start, hl, 0)
                + (plen > 0 ? Checksums.partial(payload, payloadOff, plen, 0) : 0);
        TcpPacket.setChecksum(out, start, Checksums.finish(sum));
    }

    /**
     * Where a segment's payload comes from when it is not a buffer of its own: the TCP send buffer, whose bytes are
     * copied straight into the segment, with no view (slice, or composite across the application's buffers) per
     * segment.
     */
    @FunctionalInterface
    public interface Payload {
        /**
         * Appends the {@code len} bytes that start {@code offset} bytes into this payload to {@code dst}.
         *
         * @param dst <b>borrowed</b>: written at its writer index, which moves by {@code len}
         */
        void copyTo(int offset, int len, ByteBuf dst);

        /**
         * The {@code len} bytes that start {@code offset} bytes into this payload as views of its own buffers
         * (retained slices, no copy), for a payload of at least {@link #VIEWS_FROM} bytes.
         *
         * @return a new composite of the views that the caller owns, or null when this payload lends no views (the
         *     segment then copies)
         */
        default CompositeByteBuf views(int offset, int len, ByteBufAllocator alloc) {
            return null;
        }
    }

    /**
     * Payloads of at least this many bytes are not copied into the segment: the segment is a composite of a header
     * buffer and views of the payload's buffers ({@link Payload#views}). The copy that is cheaper than a composite
     * for an MSS of 1460 bytes is the largest cost of a 64 KiB segment (an offload port's or a 65520-byte MTU's):
     * it was 17% of the loop's time moving data to a guest at 9 Gbit/s. Transports write such a frame with one
     * gathering write.
     */
    public static final int VIEWS_FROM = 8192;

    /**
     * A whole segment in one new buffer ({@link Headroom#buffer}): {@link Ipv4Packet#FRAME_HEADROOM} bytes of room
     * (before the reader index) for the output to write the Ethernet and IPv4 headers into, the transport's room in
     * front of them, the TCP header, and a copy of the payload. Copying an MSS of payload costs less than the two
     * composites and their components a frame of header buffers and payload views needs, and the transport then
     * writes one contiguous buffer.
     *
     * @param payload <b>taken</b> (null for none)
     * @return a new buffer the caller owns
     */
    public ByteBuf segment(ByteBufAllocator alloc, int srcIp, int dstIp, ByteBuf payload) {
        return segment(alloc, Ipv4Packet.FRAME_HEADROOM, Checksums.pseudoHeader(srcIp, dstIp, 0, 0), payload);
    }

    /**
     * {@link #segment(ByteBufAllocator, int, int, ByteBuf)} for either family (IPv4-mapped addresses for IPv4):
     * the headroom and the pseudo-header of the family ({@link Ipv6Packet#FRAME_HEADROOM} for IPv6).
     *
     * @param payload <b>taken</b> (null for none)
     */
    public ByteBuf segment(ByteBufAllocator alloc, Ipv6Address src, Ipv6Address dst, ByteBuf payload) {
        boolean v4 = src.isIpv4Mapped();
        return segment(alloc, v4 ? Ipv4Packet.FRAME_HEADROOM : Ipv6Packet.FRAME_HEADROOM,
                Checksums.pseudoHeader(src, dst, 0, 0), payload);
    }

    /**
     * {@link #segment(ByteBufAllocator, Ipv6Address, Ipv6Address, ByteBuf)} with the {@code len} bytes of
     * {@code payload} that start {@code offset} bytes into it (the send buffer's data): copied straight into the
     * segment, or from {@link #VIEWS_FROM} bytes on, viewed where the payload lends views.
     *
     * @param payload <b>borrowed</b> (null, with {@code len} 0, for none)
     * @return a new buffer the caller owns
     */
    public ByteBuf segment(ByteBufAllocator alloc, Ipv6Address src, Ipv6Address dst, Payload payload, int offset,
            int len) {
        boolean v4 = src.isIpv4Mapped();
        return segment(alloc, v4 ? Ipv4Packet.FRAME_HEADROOM : Ipv6Packet.FRAME_HEADROOM,
                Checksums.pseudoHeader(src, dst, 0, 0), payload, offset, len);
    }

    /** @param payload <b>taken</b> (null for none) */
    private ByteBuf segment(ByteBufAllocator alloc, int headroom, long addressSum, ByteBuf payload) {
        if (payload == null) {
            return segment(alloc, headroom, addressSum, null, 0, 0);
        }
        try {
            return segment(alloc, headroom, addressSum,
                    (offset, len, out) -> out.writeBytes(payload, payload.readerIndex() + offset, len), 0,
                    payload.readableBytes());
        } finally {
            payload.release();
        }
    }

    private ByteBuf segment(ByteBufAllocator alloc, int headroom, long addressSum, Payload payload, int offset,
            int plen) {
        if (plen >= VIEWS_FROM) {
            CompositeByteBuf views = payload.views(offset, plen, alloc);
            if (views != null) {
                return segment(alloc, headroom, addressSum, views);
            }
        }
        int hl = headerLength();
        ByteBuf b = Headroom.buffer(alloc, headroom, hl + plen);
        try {
            // The payload goes in first, behind room for the header, so the header's checksum sums the copy: one
            // contiguous range of the segment's own buffer, whatever the source was made of.
            int start = b.writerIndex();
            b.writerIndex(start + hl);
            if (plen > 0) {
                payload.copyTo(offset, plen, b);
            }
            int end = b.writerIndex();
            b.writerIndex(start);
            writeHeader(b, addressSum, b, start + hl, plen);
            b.writerIndex(end);
        } catch (RuntimeException e) {
            b.release();
            throw e;
        }
        return b;
    }

    /**
     * A segment whose payload is views: the header, with the room of {@link Headroom#buffer} in front of it, in a
     * buffer of its own that becomes the composite's first component. That room is part of the component but lies
     * before the composite's reader index, so the IP output and the transport write their headers into it as they
     * do into a one-buffer segment ({@link Headroom#isOwn} holds for the composite).
     *
     * @param views <b>taken</b>: the payload; it is the returned buffer
     */
    private ByteBuf segment(ByteBufAllocator alloc, int headroom, long addressSum, CompositeByteBuf views) {
        int plen = views.readableBytes();
        ByteBuf h = null;
        try {
            h = Headroom.buffer(alloc, headroom, headerLength());
            int room = h.readerIndex();
            writeHeader(h, addressSum, views, views.readerIndex(), plen);
            views.addComponent(true, 0, h.readerIndex(0));
            h = null;
            return views.readerIndex(room);
        } catch (RuntimeException e) {
            if (h != null) {
                h.release();
            }
            views.release();
            throw e;
        }
    }

    private static int pad(int n) {
        return (n + 3) & ~3;
    }

    private int extraLength() {
        return extraOptions == null ? 0 : extraOptions.length;
    }

    private int linuxOptionsLength() {
        int n = 0;
        if (mss >= 0) {
            n += 4;
        }
        if (timestamps) {
            n += 12;
        } else if (sackPermitted) {
            n += 4;
        }
        if (windowScale >= 0) {
            n += 4;
        }
        if (sackCount > 0) {
            n += 4 + 8 * sackCount;
        }
        return n + extraLength();
    }

    private int compactOptionsLength() {
        int n = 0;
        if (mss >= 0) {
            n += TcpOptions.MSS_LEN;
        }
        if (timestamps) {
            n += TcpOptions.TIMESTAMPS_LEN;
        }
        if (sackPermitted) {
            n += TcpOptions.SACK_PERMITTED_LEN;
        }
        if (windowScale >= 0) {
            n += TcpOptions.WINDOW_SCALE_LEN;
        }
        if (sackCount > 0) {
            n += 2 + 8 * sackCount;
        }
        return n + extraLength();
    }

    private void writeLinuxOptions(ByteBuf out) {
        if (mss >= 0) {
            out.writeByte(TcpOptions.MSS).writeByte(TcpOptions.MSS_LEN).writeShort(mss);
        }
        if (timestamps) {
            if (sackPermitted) {
                out.writeByte(TcpOptions.SACK_PERMITTED).writeByte(TcpOptions.SACK_PERMITTED_LEN);
            } else {
                out.writeByte(TcpOptions.NOP).writeByte(TcpOptions.NOP);
            }
            writeTimestamps(out);
        } else if (sackPermitted) {
            out.writeByte(TcpOptions.NOP).writeByte(TcpOptions.NOP);
            out.writeByte(TcpOptions.SACK_PERMITTED).writeByte(TcpOptions.SACK_PERMITTED_LEN);
        }
        if (windowScale >= 0) {
            out.writeByte(TcpOptions.NOP);
            out.writeByte(TcpOptions.WINDOW_SCALE).writeByte(TcpOptions.WINDOW_SCALE_LEN).writeByte(windowScale);
        }
        if (sackCount > 0) {
            out.writeByte(TcpOptions.NOP).writeByte(TcpOptions.NOP);
            writeSack(out);
        }
        writeExtra(out);
    }

    private void writeCompactOptions(ByteBuf out) {
        if (mss >= 0) {
            out.writeByte(TcpOptions.MSS).writeByte(TcpOptions.MSS_LEN).writeShort(mss);
        }
        if (sackPermitted) {
            out.writeByte(TcpOptions.SACK_PERMITTED).writeByte(TcpOptions.SACK_PERMITTED_LEN);
        }
        if (timestamps) {
            writeTimestamps(out);
        }
        if (windowScale >= 0) {
            out.writeByte(TcpOptions.WINDOW_SCALE).writeByte(TcpOptions.WINDOW_SCALE_LEN).writeByte(windowScale);
        }
        if (sackCount > 0) {
            writeSack(out);
        }
        writeExtra(out);
    }

    private void writeTimestamps(ByteBuf out) {
        out.writeByte(TcpOptions.TIMESTAMPS).writeByte(TcpOptions.TIMESTAMPS_LEN).writeInt(tsVal).writeInt(tsEcr);
    }

    private void writeSack(ByteBuf out) {
        out.writeByte(TcpOptions.SACK).writeByte(2 + 8 * sackCount);
        for (int i = 0; i < 2 * sackCount; i++) {
            out.writeInt(sack[i]);
        }
    }

    private void writeExtra(ByteBuf out) {
        if (extraOptions != null) {
            out.writeBytes(extraOptions);
        }
    }
}
