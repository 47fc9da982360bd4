package dev.gvproxy.stack.link;

import dev.gvproxy.stack.wire.Checksums;
import io.netty.buffer.ByteBuf;

/**
 * The virtio-net header ({@code struct virtio_net_hdr_v1}, 12 bytes, little-endian; virtio spec 5.1.6) that an
 * offload port carries in front of every frame: what a TAP opened with {@code IFF_VNET_HDR} and a 12-byte
 * {@code TUNSETVNETHDRSZ} reads and writes.
 *
 * <pre>
 *  0 flags        u8   NEEDS_CSUM (1): the checksum at csum_start + csum_offset is only seeded
 *  1 gso_type     u8   NONE 0, TCPV4 1, UDP 3, TCPV6 4, UDP_L4 5, | ECN 0x80
 *  2 hdr_len      u16  bytes of Ethernet + IP + TCP headers (a hint)
 *  4 gso_size     u16  payload bytes per segment when the kernel segments the frame
 *  6 csum_start   u16  where the checksummed range starts (the L4 header)
 *  8 csum_offset  u16  where, from csum_start, the checksum field is
 * 10 num_buffers  u16  0 (mergeable buffers are a virtqueue matter)
 * </pre>
 *
 * <p>Both directions happen at the port boundary, so the switch and the stack only ever see plain Ethernet frames
 * whose checksums are complete; what an offload port adds is that they may be larger than the MTU:
 * <ul>
 *   <li>{@link #receive}: from the guest. The header is checked (the guest is untrusted: every reason to drop
 *       is a result the transport counts), a partial checksum ({@code NEEDS_CSUM}) is completed in software, and
 *       a GSO frame stays one large frame: the gateway stack takes large TCP segments as they are, and the switch
 *       segments them in software ({@link SoftwareGso}) for a port without offloads.
 *   <li>{@link #write}: to the guest. A TCP frame longer than the MTU gets a GSO header (the guest's kernel then
 *       takes it as one large segment, as after GRO); its checksum is already complete, so flags stay 0 and the
 *       frame is never modified (a flooded frame is shared between ports).
 * </ul>
 */
public final class VirtioNetHeader {
    /** Bytes of {@code struct virtio_net_hdr_v1}. */
    public static final int LENGTH = 12;
    public static final int F_NEEDS_CSUM = 1;
    public static final int F_DATA_VALID = 2;
    public static final int GSO_NONE = 0;
    public static final int GSO_TCPV4 = 1;
    public static final int GSO_UDP = 3;
    public static final int GSO_TCPV6 = 4;
    public static final int GSO_UDP_L4 = 5;
    public static final int GSO_ECN = 0x80;

    private static final int ETH = 14;

    /** Why {@link #receive} refused a frame; the name is the counter's suffix. */
    public enum Error {
        /** Shorter than the header plus an Ethernet header. */
        RUNT("vnet.runt"),
        /** A flag other than NEEDS_CSUM / DATA_VALID. */
        BAD_FLAGS("vnet.badFlags"),
        /** A GSO type we never enable (UDP fragmentation/segmentation) or an unknown one. */
        UNSUPPORTED_GSO("vnet.unsupportedGso"),
        /** GSO with a zero segment size, or on a frame that is not TCP of the family the type says. */
        BAD_GSO("vnet.badGso"),
        /** csum_start / csum_offset outside the frame. */
        BAD_CHECKSUM_OFFSETS("vnet.badChecksumOffsets");

        private final String counter;

        Error(String counter) {
            this.counter = counter;
        }

        /** @return the counter name, {@code vnet.<reason>} */
        public String counter() {
            return counter;
        }
    }

    private VirtioNetHeader() {}

    /**
     * Checks the header at {@code frame}'s reader index, completes a partial checksum and skips the header.
     *
     * @param frame <b>borrowed</b>: header + Ethernet frame between reader and writer index; on success its
     *              reader index moves past the header and the checksum field may have been written
     * @return null when the frame may go to the switch, else why it must be dropped (frame untouched)
     */
    public static Error receive(ByteBuf frame) {
        int h = frame.readerIndex();
        int len = frame.readableBytes() - LENGTH;
        if (len < ETH) {
            return Error.RUNT;
        }
        int flags = frame.getUnsignedByte(h);
        int gsoType = frame.getUnsignedByte(h + 1);
        int gsoSize = frame.getUnsignedShortLE(h + 4);
        int csumStart = frame.getUnsignedShortLE(h + 6);
        int csumOffset = frame.getUnsignedShortLE(h + 8);
        if ((flags & ~(F_NEEDS_CSUM | F_DATA_VALID)) != 0) {
            return Error.BAD_FLAGS;
        }
        int f = h + LENGTH;
        if (gsoType != GSO_NONE) {
            int type = gsoType & ~GSO_ECN;
            if (type != GSO_TCPV4 && type != GSO_TCPV6) {
                return Error.UNSUPPORTED_GSO;
            }
            if (gsoSize == 0 || !isTcp(frame, f, len, type == GSO_TCPV4)) {
                return Error.BAD_GSO;
            }
        }
        if ((flags & F_NEEDS_CSUM) != 0) {
            if (csumStart < ETH || csumOffset > 0xFFFF - 2 || csumStart + csumOffset + 2 > len) {
                return Error.BAD_CHECKSUM_OFFSETS;
            }
            // The field holds the seed (the pseudo-header sum); summing from csum_start to the end with it in
            // place and complementing gives the checksum (Linux's skb_checksum_help).
            int sum = Checksums.partial(frame, f + csumStart, len - csumStart, 0);
            frame.setShort(f + csumStart + csumOffset, Checksums.finish(sum));
        }
        frame.readerIndex(f);
        return null;
    }

    /**
     * Writes the header for an outgoing frame: GSO for a TCP frame of more than {@code mtu} IP bytes (segment size
     * = MTU minus the IP and TCP headers, the MSS the guest uses on that link), none otherwise.
     *
     * @param frame <b>borrowed</b>, not modified: the Ethernet frame between reader and writer index
     * @param out   <b>borrowed</b>: {@link #LENGTH} bytes are appended
     */
    public static void write(ByteBuf frame, int mtu, ByteBuf out) {
        out.ensureWritable(LENGTH);
        set(frame, mtu, out, out.writerIndex());
        out.writerIndex(out.writerIndex() + LENGTH);
    }

    /**
     * {@link #write} at {@code index} of {@code out}, without moving indexes: {@code out} may be the frame's own
     * buffer, the header going into the room before the frame.
     *
     * @param frame <b>borrowed</b>: the Ethernet frame between reader and writer index, not modified (the
     *              header's bytes must lie outside it)
     * @param out   <b>borrowed</b>
     */
    public static void set(ByteBuf frame, int mtu, ByteBuf out, int index) {
        int f = frame.readerIndex();
        int len = frame.readableBytes();
        int gsoType = GSO_NONE;
        int hdrLen = 0;
        int gsoSize = 0;
        if (len > ETH + mtu) {
            boolean v4 = isTcp(frame, f, len, true);
            if (v4 || isTcp(frame, f, len, false)) {
                int ipLen = v4 ? (frame.getUnsignedByte(f + ETH) & 0xF) * 4 : 40;
                int thl = (frame.getUnsignedByte(f + ETH + ipLen + 12) >>> 4) * 4;
                hdrLen = ETH + ipLen + thl;
                gsoSize = mtu - ipLen - thl;
                if (gsoSize > 0) {
                    gsoType = v4 ? GSO_TCPV4 : GSO_TCPV6;
                } else {
                    hdrLen = 0;
                    gsoSize = 0;
                }
            }
        }
        out.setByte(index, 0);
        out.setByte(index + 1, gsoType);
        out.setShortLE(index + 2, hdrLen);
        out.setShortLE(index + 4, gsoSize);
        out.setShortLE(index + 6, 0);
        out.setShortLE(index + 8, 0);
        out.setShortLE(index + 10, 0);
    }

    /**
     * True when the frame at {@code f} ({@code len} bytes) is an unfragmented TCP segment of the family asked for
     * (IPv6: TCP directly after the fixed header) whose IP and TCP headers fit in the frame.
     */
    static boolean isTcp(ByteBuf frame, int f, int len, boolean v4) {
        int etherType = frame.getUnsignedShort(f + 12);
        if (v4) {
            if (etherType != 0x0800 || len < ETH + 20) {
                return false;
            }
            int vihl = frame.getUnsignedByte(f + ETH);
            int ihl = (vihl & 0xF) * 4;
            if ((vihl >>> 4) != 4 || ihl < 20 || frame.getUnsignedByte(f + ETH + 9) != 6
                    || (frame.getUnsignedShort(f + ETH + 6) & 0x3FFF) != 0) {
                return false;
            }
            int total = frame.getUnsignedShort(f + ETH + 2);
            return total <= len - ETH && total >= ihl + 20 && tcpHeaderFits(frame, f + ETH + ihl, total - ihl);
        }
        if (etherType != 0x86DD || len < ETH + 40 + 20 || (frame.getUnsignedByte(f + ETH) >>> 4) != 6
                || frame.getUnsignedByte(f + ETH + 6) != 6) {
            return false;
        }
        int payload = frame.getUnsignedShort(f + ETH + 4);
        return payload <= len - ETH - 40 && tcpHeaderFits(frame, f + ETH + 40, payload);
    }

    private static boolean tcpHeaderFits(ByteBuf frame, int tcp, int l4Len) {
        if (l4Len < 20) {
            return false;
        }
        int thl = (frame.getUnsignedByte(tcp + 12) >>> 4) * 4;
        return thl >= 20 && thl <= l4Len;
    }
}
