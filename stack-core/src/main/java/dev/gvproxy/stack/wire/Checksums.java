package dev.gvproxy.stack.wire;

import io.netty.buffer.ByteBuf;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The Internet checksum (RFC 1071): the 16-bit ones'-complement of the ones'-complement sum of 16-bit big-endian
 * words.
 *
 * <p>Vocabulary used by every method here:
 * <ul>
 *   <li>a <em>sum</em> is a non-negative accumulation of 16-bit words that has not been folded; {@code long}
 *       sums may simply be added together ({@code pseudoHeader(...) + partial(...)}), as long as fewer than
 *       2^47 of them are added;
 *   <li>{@link #fold(long)} reduces a sum to 16 bits with end-around carry (not complemented);
 *   <li>{@link #finish(long)} folds and complements: the value to store in a checksum field.
 * </ul>
 *
 * <p>Typical use, UDP/TCP: zero the checksum field, then
 * {@code buf.setShort(ckOff, Checksums.finish(Checksums.pseudoHeader(src, dst, proto, l4Len)
 * + Checksums.partial(buf, l4Off, l4Len, 0)))}. Verification of a received segment: the same sum taken over
 * the segment <em>including</em> its stored checksum folds to {@code 0xFFFF} ({@link #verify}).
 *
 * <p>Speed: the bytes are summed eight at a time through {@link VarHandle} views of the buffer's backing
 * array or NIO buffer, as little-endian (native on x86/arm) 64-bit words split into 32-bit halves,
 * and the folded result is byte-swapped once at the end (RFC 1071 section 2(B): the sum is byte-order
 * independent). Heap buffers allocate nothing. Direct buffers with a memory address (Netty on Unsafe, as the
 * daemon runs it) are read through one {@link MemorySegment} spanning the address space, which allocates
 * nothing either; other direct buffers cost one short-lived NIO duplicate (not always scalar-replaced: it
 * showed up as a third of the TCP receive path's allocation in {@code CpuTimeReport}). Nothing is mutated, so concurrent checksums of one buffer are safe. Composite
 * buffers are summed per component; buffers without NIO access, and ranges of 64 bytes or less (headers), go
 * through {@link ByteBuf#getLong(int)}. All paths give identical results.
 *
 * <p>All {@code ByteBuf} parameters are <b>borrowed</b>: indexes are absolute, reader/writer indexes are not
 * touched. The ranges passed are the caller's responsibility (check the packet first); an out-of-range request
 * is a programming error and throws {@link IndexOutOfBoundsException}.
 */
public final class Checksums {
    // Little-endian views: native on x86/arm, so no byte swap per word (the sum is swapped once at the end).
    private static final VarHandle ARR_LONG = MethodHandles.byteArrayViewVarHandle(long[].class,
            ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle ARR_INT = MethodHandles.byteArrayViewVarHandle(int[].class,
            ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle NIO_LONG = MethodHandles.byteBufferViewVarHandle(long[].class,
            ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle NIO_INT = MethodHandles.byteBufferViewVarHandle(int[].class,
            ByteOrder.LITTLE_ENDIAN);

    /** Up to this many bytes are summed through the buffer's own accessors (see {@link #partial}). */
    private static final int SMALL = 64;

    private Checksums() {}

    /**
     * Ones'-complement sum of {@code len} bytes at absolute index {@code off}, added to {@code initial}.
     * The byte at {@code off} is taken as the high-order byte of a 16-bit word (an odd {@code len} is padded
     * with a zero byte), so a range that starts at an odd distance from the start of the checksummed data must
     * be combined with {@link #swap(int)} (see {@link #add(long, int, boolean)}).
     *
     * @param buf borrowed
     * @param initial a sum to start from (treated as unsigned 32-bit), e.g. {@code (int) pseudoHeader(...)} or 0
     * @return the sum folded to 16 bits (0..0xFFFF), not complemented; safe to add further sums to
     */
    public static int partial(ByteBuf buf, int off, int len, int initial) {
        checkRange(buf, off, len);
        long sum;
        if (len <= SMALL) {
            // Headers: a few bounds-checked reads beat setting up a view of the buffer.
            sum = sumGeneric(buf, off, len);
        } else if (buf.hasArray()) {
            sum = sumArray(buf.array(), buf.arrayOffset() + off, len);
        } else if (buf.hasMemoryAddress() && Native.ALL != null) {
            sum = sumAddress(buf.memoryAddress() + off, len);
        } else {
            int n = buf.nioBufferCount();
            if (n == 1) {
                // nioBuffer() makes a private duplicate. internalNioBuffer() would save that small allocation but
                // moves the position of a view that Netty shares between slices of one buffer, which another
                // thread (a transport writing an earlier frame that shares the payload) may be using.
                ByteBuffer nio = buf.nioBuffer(off, len);
                sum = sumNio(nio, nio.position(), len);
            } else if (n > 1) {
                sum = sumComponents(buf.nioBuffers(off, len));
            } else {
                sum = sumGeneric(buf, off, len);
            }
        }
        return fold(sum + (initial & 0xFFFF_FFFFL));
    }

    /** Ones'-complement sum of a byte array range, same conventions as {@link #partial(ByteBuf, int, int, int)}. */
    public static int partial(byte[] bytes, int off, int len, int initial) {
        java.util.Objects.checkFromIndexSize(off, len, bytes.length);
        return fold(sumArray(bytes, off, len) + (initial & 0xFFFF_FFFFL));
    }

    /**
     * Adds a folded 16-bit sum of a range to {@code sum}; {@code oddPosition} says that the range started at an
     * odd distance from the start of the checksummed data (its bytes then sit in the other half of each word).
     */
    public static long add(long sum, int rangeSum, boolean oddPosition) {
        return sum + (oddPosition ? swap(rangeSum) : rangeSum);
    }

    /** Swaps the two bytes of a 16-bit value. */
    public static int swap(int v) {
        return ((v & 0xFF) << 8) | ((v >>> 8) & 0xFF);
    }

    /** Folds a sum to 16 bits with end-around carry. Not complemented; 0..0xFFFF. */
    public static int fold(long sum) {
        long s = (sum & 0xFFFF_FFFFL) + (sum >>> 32);
        s = (s & 0xFFFF) + (s >>> 16);
        s = (s & 0xFFFF) + (s >>> 16);
        s = (s & 0xFFFF) + (s >>> 16);
        return (int) s;
    }

    /** The checksum value to store for a sum: {@code ~fold(sum) & 0xFFFF}. */
    public static int finish(long sum) {
        return ~fold(sum) & 0xFFFF;
    }

    /**
     * Sum of the IPv4 pseudo-header (RFC 768, RFC 9293 section 3.1): source, destination, zero+protocol and the
     * upper-layer length. Unfolded; add it to {@link #partial} results.
     */
    public static long pseudoHeader(int srcIp, int dstIp, int protocol, int l4Len) {
        return (long) (srcIp >>> 16) + (srcIp & 0xFFFF) + (dstIp >>> 16) + (dstIp & 0xFFFF)
                + (protocol & 0xFF) + (l4Len & 0xFFFF);
    }

    /**
     * The IPv4 header checksum value to store, computed over {@code headerLen} bytes at {@code off} <em>as they
     * are</em>: the caller zeroes the checksum field (offset 10) first. To check a received header use
     * {@link #verifyIpv4Header}.
     *
     * @param buf borrowed
     */
    public static int ipv4Header(ByteBuf buf, int off, int headerLen) {
        return finish(partial(buf, off, headerLen, 0));
    }

    /** True when the IPv4 header at {@code off} (checksum field included) sums to 0xFFFF. buf: borrowed. */
    public static boolean verifyIpv4Header(ByteBuf buf, int off, int headerLen) {
        return partial(buf, off, headerLen, 0) == 0xFFFF;
    }

    /**
     * True when {@code len} bytes at {@code off}, checksum field included, plus {@code initial} (e.g. a
     * pseudo-header sum) fold to 0xFFFF, i.e. the stored checksum is right. buf: borrowed.
     */
    public static boolean verify(ByteBuf buf, int off, int len, long initial) {
        return fold(initial + partial(buf, off, len, 0)) == 0xFFFF;
    }

    /** {@link #verify} with the IPv4 pseudo-header of a TCP/UDP segment of {@code len} bytes. buf: borrowed. */
    public static boolean verifyWithPseudoHeader(ByteBuf buf, int off, int len, int srcIp, int dstIp, int protocol) {
        return verify(buf, off, len, pseudoHeader(srcIp, dstIp, protocol, len));
    }

    /**
     * Checksum value to store for a TCP/UDP segment of {@code len} bytes at {@code off} whose checksum field
     * has been zeroed. buf: borrowed.
     */
    public static int withPseudoHeader(ByteBuf buf, int off, int len, int srcIp, int dstIp, int protocol) {
        return finish(pseudoHeader(srcIp, dstIp, protocol, len) + partial(buf, off, len, 0));
    }

    /**
     * Sum of the IPv6 pseudo-header (RFC 8200 section 8.1): source, destination, the 32-bit upper-layer length
     * and the upper-layer protocol (the final Next Header, not the fixed header's field when extension headers
     * sit in between). Unfolded; add it to {@link #partial} results. Valid for TCP, UDP and ICMPv6 alike.
     */
    public static long ipv6PseudoHeader(Ipv6Address src, Ipv6Address dst, int protocol, int l4Len) {
        return ipv6AddressSum(src, dst) + (protocol & 0xFF) + (l4Len & 0xFFFF_FFFFL);
    }

    /** {@link #ipv6PseudoHeader(Ipv6Address, Ipv6Address, int, int)} of addresses given as their halves. */
    public static long ipv6PseudoHeader(long srcHi, long srcLo, long dstHi, long dstLo, int protocol, int l4Len) {
        return words(srcHi) + words(srcLo) + words(dstHi) + words(dstLo) + (protocol & 0xFF) + (l4Len & 0xFFFF_FFFFL);
    }

    /**
     * The pseudo-header sum of either family for addresses as the family-neutral layers carry them: IPv4's
     * (RFC 9293 3.1) when both are IPv4-mapped ({@link Ipv6Address#ofIpv4}), else IPv6's (RFC 8200 8.1).
     */
    public static long pseudoHeader(Ipv6Address src, Ipv6Address dst, int protocol, int l4Len) {
        return src.isIpv4Mapped() && dst.isIpv4Mapped() ? pseudoHeader(src.ipv4(), dst.ipv4(), protocol, l4Len)
                : ipv6PseudoHeader(src.hi(), src.lo(), dst.hi(), dst.lo(), protocol, l4Len);
    }

    /**
     * {@link #ipv6PseudoHeader(Ipv6Address, Ipv6Address, int, int)} with the addresses read in place from the
     * IPv6 header at {@code ipOff}, without allocating. buf: borrowed.
     */
    public static long ipv6PseudoHeader(ByteBuf buf, int ipOff, int protocol, int l4Len) {
        return ipv6AddressSum(buf, ipOff) + (protocol & 0xFF) + (l4Len & 0xFFFF_FFFFL);
    }

    /**
     * The addresses' part of the IPv6 pseudo-header (unfolded): add the protocol and the length to get
     * {@link #ipv6PseudoHeader}. Lets a check take its addresses from the packet or, for a reassembled payload,
     * from values.
     */
    public static long ipv6AddressSum(Ipv6Address src, Ipv6Address dst) {
        return words(src.hi()) + words(src.lo()) + words(dst.hi()) + words(dst.lo());
    }

    /** {@link #ipv6AddressSum(Ipv6Address, Ipv6Address)} read in place from the IPv6 header at {@code ipOff}. */
    public static long ipv6AddressSum(ByteBuf buf, int ipOff) {
        return words(buf.getLong(ipOff + 8)) + words(buf.getLong(ipOff + 16)) + words(buf.getLong(ipOff + 24))
                + words(buf.getLong(ipOff + 32));
    }

    /**
     * True when the {@code len}-byte upper-layer message at {@code off} (checksum field included) is right under
     * the pseudo-header of the IPv6 header at {@code ipOff}. buf: borrowed.
     */
    public static boolean verifyWithIpv6PseudoHeader(ByteBuf buf, int off, int len, int ipOff, int protocol) {
        return verify(buf, off, len, ipv6PseudoHeader(buf, ipOff, protocol, len));
    }

    /**
     * Checksum value to store for a TCP/UDP/ICMPv6 message of {@code len} bytes at {@code off} whose checksum
     * field has been zeroed. UDP over IPv6 must store 0xFFFF for a computed 0 (RFC 8200 section 8.1): the
     * caller's rule, as for IPv4. buf: borrowed.
     */
    public static int withIpv6PseudoHeader(ByteBuf buf, int off, int len, Ipv6Address src, Ipv6Address dst,
            int protocol) {
        return finish(ipv6PseudoHeader(src, dst, protocol, len) + partial(buf, off, len, 0));
    }

    /** The four 16-bit words of a 64-bit value, summed (at most 4 * 0xFFFF). */
    private static long words(long v) {
        return ((v >>> 48) & 0xFFFF) + ((v >>> 32) & 0xFFFF) + ((v >>> 16) & 0xFFFF) + (v & 0xFFFF);
    }

    // ---- internals -------------------------------------------------------------------------------------------

    private static void checkRange(ByteBuf buf, int off, int len) {
        if (off < 0 || len < 0 || off > buf.capacity() - len) {
            throw new IndexOutOfBoundsException(
                    "checksum range off=" + off + " len=" + len + " outside capacity " + buf.capacity());
        }
    }

    /**
     * Sum of a byte-array range as a little-endian word sum, converted to big-endian order and folded
     * (0..0xFFFF). Two accumulators keep the adds independent; adding 32-bit halves to 64-bit accumulators
     * cannot overflow for any range below 2^31 bytes.
     */
    private static long sumArray(byte[] a, int base, int len) {
        long s0 = 0;
        long s1 = 0;
        int i = base;
        int end = base + len;
        int end16 = base + (len & ~15);
        for (; i < end16; i += 16) {
            long w0 = (long) ARR_LONG.get(a, i);
            long w1 = (long) ARR_LONG.get(a, i + 8);
            s0 += (w0 >>> 32) + (w0 & 0xFFFF_FFFFL);
            s1 += (w1 >>> 32) + (w1 & 0xFFFF_FFFFL);
        }
        s0 += s1;
        if (end - i >= 8) {
            long w = (long) ARR_LONG.get(a, i);
            s0 += (w >>> 32) + (w & 0xFFFF_FFFFL);
            i += 8;
        }
        if (end - i >= 4) {
            s0 += (int) ARR_INT.get(a, i) & 0xFFFF_FFFFL;
            i += 4;
        }
        if (end - i >= 2) {
            s0 += (a[i] & 0xFF) | ((a[i + 1] & 0xFF) << 8);
            i += 2;
        }
        if (i < end) {
            // A trailing byte is the high half of a big-endian word, i.e. the low half of a little-endian one.
            s0 += a[i] & 0xFF;
        }
        return swap(fold(s0));
    }

    /** {@link #sumArray} for a heap or direct NIO buffer, by absolute index (position and limit unused). */
    private static long sumNio(ByteBuffer b, int base, int len) {
        long s0 = 0;
        long s1 = 0;
        int i = base;
        int end = base + len;
        int end16 = base + (len & ~15);
        for (; i < end16; i += 16) {
            long w0 = (long) NIO_LONG.get(b, i);
            long w1 = (long) NIO_LONG.get(b, i + 8);
            s0 += (w0 >>> 32) + (w0 & 0xFFFF_FFFFL);
            s1 += (w1 >>> 32) + (w1 & 0xFFFF_FFFFL);
        }
        s0 += s1;
        if (end - i >= 8) {
            long w = (long) NIO_LONG.get(b, i);
            s0 += (w >>> 32) + (w & 0xFFFF_FFFFL);
            i += 8;
        }
        if (end - i >= 4) {
            s0 += (int) NIO_INT.get(b, i) & 0xFFFF_FFFFL;
            i += 4;
        }
        if (end - i >= 2) {
            s0 += (b.get(i) & 0xFF) | ((b.get(i + 1) & 0xFF) << 8);
            i += 2;
        }
        if (i < end) {
            s0 += b.get(i) & 0xFF;
        }
        return swap(fold(s0));
    }

    /**
     * The whole address space as one segment, made once; null when this module may not use restricted
     * methods (an embedder that did not pass {@code --enable-native-access}): the NIO path serves then.
     */
    private static final class Native {
        static final MemorySegment ALL = Checksums.class.getModule().isNativeAccessEnabled()
                ? MemorySegment.NULL.reinterpret(Long.MAX_VALUE) : null;
        static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * {@link #sumArray} for {@code len} bytes of native memory at {@code address} (a live Netty buffer's).
     * Three copies of one loop (array, NIO, address) on purpose: one loop over a {@link MemorySegment} of each
     * kind was tried and fell from ~26 to ~5 GB/s per core at 64 KiB, the segment kinds meeting in one call
     * site defeat the JIT's specialisation.
     */
    static long sumAddress(long address, int len) {
        MemorySegment m = Native.ALL;
        long s0 = 0;
        long s1 = 0;
        long i = address;
        long end = address + len;
        long end16 = address + (len & ~15);
        for (; i < end16; i += 16) {
            long w0 = m.get(Native.LONG, i);
            long w1 = m.get(Native.LONG, i + 8);
            s0 += (w0 >>> 32) + (w0 & 0xFFFF_FFFFL);
            s1 += (w1 >>> 32) + (w1 & 0xFFFF_FFFFL);
        }
        s0 += s1;
        if (end - i >= 8) {
            long w = m.get(Native.LONG, i);
            s0 += (w >>> 32) + (w & 0xFFFF_FFFFL);
            i += 8;
        }
        if (end - i >= 4) {
            s0 += m.get(Native.INT, i) & 0xFFFF_FFFFL;
            i += 4;
        }
        if (end - i >= 2) {
            s0 += (m.get(ValueLayout.JAVA_BYTE, i) & 0xFF) | ((m.get(ValueLayout.JAVA_BYTE, i + 1) & 0xFF) << 8);
            i += 2;
        }
        if (i < end) {
            s0 += m.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
        }
        return swap(fold(s0));
    }

    private static long sumComponents(ByteBuffer[] parts) {
        long sum = 0;
        boolean odd = false;
        for (ByteBuffer p : parts) {
            int n = p.remaining();
            if (n == 0) {
                continue;
            }
            sum = add(sum, (int) sumNio(p, p.position(), n), odd);
            odd ^= (n & 1) != 0;
        }
        return sum;
    }

    /** Slow but universal path, through the buffer's own big-endian accessors. */
    private static long sumGeneric(ByteBuf buf, int off, int len) {
        long sum = 0;
        int i = off;
        int end = off + len;
        for (; end - i >= 8; i += 8) {
            long w = buf.getLong(i);
            sum += (w >>> 32) + (w & 0xFFFF_FFFFL);
        }
        if (end - i >= 4) {
            sum += buf.getUnsignedInt(i);
            i += 4;
        }
        if (end - i >= 2) {
            sum += buf.getUnsignedShort(i);
            i += 2;
        }
        if (i < end) {
            sum += (buf.getUnsignedByte(i) << 8);
        }
        return fold(sum);
    }
}
