package dev.gvproxy.stack.link;

import dev.gvproxy.stack.wire.Checksums;
import dev.gvproxy.stack.wire.Headroom;
import io.netty.buffer.ByteBuf;
import java.util.function.Consumer;

/**
 * Segmentation offload in software: cuts a TCP frame longer than the MTU (what an offload port sends and what the
 * gateway sends to one) into MTU-sized TCP segments for a port that cannot take it whole (QEMU stream, vfkit,
 * BESS, the Go gvforwarder). What Linux's {@code tcp_gso_segment} does: every segment gets a copy of the Ethernet,
 * IP and TCP headers with its own IP length (IPv4: identification + i and a fresh header checksum), sequence
 * number and TCP checksum; FIN and PSH stay on the last segment only, CWR on the first only.
 *
 * <p>Handles IPv4 (unfragmented) and IPv6 (TCP right after the fixed header). The switch calls it at the one
 * place a frame leaves for a port ({@link VirtualSwitch}), so every path that can make a large frame is covered.
 */
public final class SoftwareGso {
    private static final int ETH = 14;
    private static final int FIN = 0x01;
    private static final int PSH = 0x08;
    private static final int CWR = 0x80;

    private SoftwareGso() {}

    /** What {@link #segment} did. */
    public enum Result {
        /** The frame was cut; the segments went to {@code out}. */
        SEGMENTED,
        /** Not a TCP frame this can cut (not TCP, fragmented, IPv6 extension headers): the caller decides. */
        NOT_TCP,
        /** The MTU leaves no room for payload after the headers. */
        MTU_TOO_SMALL
    }

    /**
     * Cuts {@code frame} into segments of at most {@code mtu} IP bytes.
     *
     * @param frame <b>borrowed</b>, not modified: a whole Ethernet frame between reader and writer index
     * @param out   <b>takes</b> each segment (a new buffer from the frame's allocator, with {@link Headroom#TRANSPORT}
     *              bytes of room in front)
     */
    public static Result segment(ByteBuf frame, int mtu, Consumer<ByteBuf> out) {
        int f = frame.readerIndex();
        int len = frame.readableBytes();
        boolean v4 = VirtioNetHeader.isTcp(frame, f, len, true);
        if (!v4 && !VirtioNetHeader.isTcp(frame, f, len, false)) {
            return Result.NOT_TCP;
        }
        int ipLen = v4 ? (frame.getUnsignedByte(f + ETH) & 0xF) * 4 : 40;
        int l4Len = v4 ? frame.getUnsignedShort(f + ETH + 2) - ipLen : frame.getUnsignedShort(f + ETH + 4);
        int tcp = f + ETH + ipLen;
        int thl = (frame.getUnsignedByte(tcp + 12) >>> 4) * 4;
        int hdrLen = ETH + ipLen + thl;
        int mss = mtu - ipLen - thl;
        if (mss <= 0) {
            return Result.MTU_TOO_SMALL;
        }
        int payload = l4Len - thl;
        int seq = frame.getInt(tcp + 4);
        int flags = frame.getUnsignedByte(tcp + 13);
        int id = v4 ? frame.getUnsignedShort(f + ETH + 4) : 0;
        long addrSum = v4
                ? Checksums.pseudoHeader(frame.getInt(f + ETH + 12), frame.getInt(f + ETH + 16), 6, 0)
                : Checksums.ipv6PseudoHeader(frame, f + ETH, 6, 0);
        int i = 0;
        for (int off = 0; off < payload || (payload == 0 && off == 0); off += mss, i++) {
            int n = Math.min(mss, payload - off);
            boolean first = off == 0;
            boolean last = off + n >= payload;
            // With the transport's room in front, as every frame the gateway builds: the segment leaves a stream
            // transport as this one buffer, its length prefix (and virtio-net header) written before it.
            ByteBuf s = Headroom.buffer(frame.alloc(), 0, hdrLen + n);
            int ip = s.readerIndex() + ETH;
            s.writeBytes(frame, f, hdrLen);
            s.writeBytes(frame, f + hdrLen + off, n);
            int segL4 = thl + n;
            if (v4) {
                s.setShort(ip + 2, ipLen + segL4);
                s.setShort(ip + 4, id + i);
                s.setShort(ip + 10, 0);
                s.setShort(ip + 10, Checksums.ipv4Header(s, ip, ipLen));
            } else {
                s.setShort(ip + 4, segL4);
            }
            int t = ip + ipLen;
            s.setInt(t + 4, seq + off);
            int segFlags = flags;
            if (!last) {
                segFlags &= ~(FIN | PSH);
            }
            if (!first) {
                segFlags &= ~CWR;
            }
            s.setByte(t + 13, segFlags);
            s.setShort(t + 16, 0);
            s.setShort(t + 16, Checksums.finish(addrSum + segL4 + Checksums.partial(s, t, segL4, 0)));
            out.accept(s);
            if (payload == 0) {
                break;
            }
        }
        return Result.SEGMENTED;
    }
}
