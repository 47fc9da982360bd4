package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TcpPacketTest {
    static final int A = Ipv4Address.parse("198.18.0.1");
    static final int B = Ipv4Address.parse("198.19.255.254");
    static final TcpRepr SYN = TcpRepr.builder().srcPort(40000).dstPort(80).seq(0xFFFF_FF00).flags(TcpFlags.SYN)
            .window(64240).mss(1460).sackPermitted(true).timestamps(12345, 0).windowScale(7).build();

    final ByteBuf payload = Unpooled.copiedBuffer("hello, tcp", StandardCharsets.US_ASCII);

    @AfterEach
    void release() {
        payload.release();
    }

    static ByteBuf emit(TcpRepr r, ByteBuf payload) {
        ByteBuf b = Unpooled.buffer();
        r.emit(b, A, B, payload);
        return b;
    }

    /** Copies the bytes into a buffer of exactly that capacity. */
    static ByteBuf exact(ByteBuf b) {
        return Unpooled.wrappedBuffer(ByteBufUtil.getBytes(b));
    }

    @Test
    void roundTripsEveryOptionCombination() {
        int[][] sacks = {{}, {1, 2}, {1, 2, 3, 4}, {1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 5, 6, 7, 8}};
        for (int mask = 0; mask < 32; mask++) {
            for (int[] sack : sacks) {
                TcpRepr.Builder bld = TcpRepr.builder().srcPort(1).dstPort(65535).seq(-1).ack(0x8000_0000)
                        .flags(TcpFlags.ACK | TcpFlags.PSH).window(65535).urgent(3).sackBlocks(sack);
                if ((mask & 1) != 0) {
                    bld.mss(536);
                }
                if ((mask & 2) != 0) {
                    bld.windowScale(14);
                }
                if ((mask & 4) != 0) {
                    bld.sackPermitted(true);
                }
                if ((mask & 8) != 0) {
                    bld.timestamps(-5, 7);
                }
                if ((mask & 16) != 0) {
                    bld.unknownOptions(new byte[] {30, 5, 1, 2, 3}); // MPTCP-like, odd length
                }
                TcpRepr r = bld.build();
                ByteBuf b;
                try {
                    b = emit(r, payload);
                } catch (IllegalArgumentException tooBig) {
                    // Only combinations over 40 bytes of options may refuse.
                    assertTrue(tooBig.getMessage().contains("40"), tooBig.getMessage());
                    continue;
                }
                int len = b.readableBytes();
                assertEquals(r.headerLength() + 10, len);
                assertEquals(0, r.headerLength() & 3);
                assertNull(TcpPacket.check(b, 0, len, A, B), r::toString);
                assertEquals(r, TcpRepr.parse(b, 0));
                assertEquals(r.headerLength(), TcpPacket.headerLength(b, 0));
                assertEquals("hello, tcp", b.toString(TcpPacket.payloadOffset(b, 0),
                        TcpPacket.payloadLength(b, 0, len), StandardCharsets.US_ASCII));
                assertEquals(TcpPacket.Error.BAD_CHECKSUM, TcpPacket.check(b, 0, len, A, A));
                b.release();
            }
        }
    }

    @Test
    void linuxLayoutOfASyn() {
        ByteBuf b = emit(SYN, null);
        // mss 1460, sackOK+TS, nop, wscale 7: what Linux sends.
        assertEquals("020405b4" + "0402080a" + "00003039" + "00000000" + "01030307",
                ByteBufUtil.hexDump(b, 20, 20));
        assertEquals(TcpFlags.SYN, TcpPacket.flags(b, 0));
        assertTrue(TcpPacket.syn(b, 0));
        assertFalse(TcpPacket.ack(b, 0));
        assertEquals(1, TcpPacket.segmentLength(b, 0, 40));
        assertEquals(0xFFFF_FF00, TcpPacket.seqNumber(b, 0));
        assertEquals(TcpPacket.findOption(b, 0, TcpOptions.WINDOW_SCALE), 37);
        assertEquals(-1, TcpPacket.findOption(b, 0, TcpOptions.SACK));
        b.release();
    }

    @Test
    void denselyPackedOptionsFromOtherStacksStillRoundTrip() {
        // TS (10) + SACK with 3 blocks (26) + MSS (4) = 40 bytes without a single NOP.
        ByteBuf b = Unpooled.buffer();
        TcpRepr.of(1, 2, 3, 4, TcpFlags.ACK, 5).emit(b, A, B, null);
        ByteBuf opts = Unpooled.buffer();
        opts.writeByte(8).writeByte(10).writeInt(11).writeInt(12);
        opts.writeByte(5).writeByte(26);
        for (int i = 0; i < 6; i++) {
            opts.writeInt(100 + i);
        }
        opts.writeByte(2).writeByte(4).writeShort(1400);
        ByteBuf seg = Unpooled.buffer();
        seg.writeBytes(b, 0, 20).writeBytes(opts);
        TcpPacket.setHeaderLengthAndFlags(seg, 0, 60, TcpFlags.ACK);
        TcpPacket.fillChecksum(seg, 0, 60, A, B);
        assertNull(TcpPacket.check(seg, 0, 60, A, B));
        TcpRepr r = TcpRepr.parse(seg, 0);
        assertEquals(3, r.sackBlockCount());
        assertEquals(1400, r.mss());
        assertEquals(60, r.headerLength());
        ByteBuf again = emit(r, null);
        assertEquals(r, TcpRepr.parse(again, 0));
        b.release();
        opts.release();
        seg.release();
        again.release();
    }

    @Test
    void unknownOptionsAreKeptRaw() {
        ByteBuf b = emit(SYN.toBuilder().unknownOptions(new byte[] {(byte) 253, 4, (byte) 0xAB, (byte) 0xCD})
                .build(), null);
        TcpRepr r = TcpRepr.parse(b, 0);
        assertArrayEquals(new byte[] {(byte) 253, 4, (byte) 0xAB, (byte) 0xCD}, r.unknownOptions());
        assertEquals(TcpPacket.findOption(b, 0, 253), 40);
        b.release();
    }

    /** Builds a 20-byte-header segment plus the given option bytes (padded with END), checksum filled. */
    static ByteBuf withOptions(int... optionBytes) {
        ByteBuf b = Unpooled.buffer();
        TcpRepr.of(1000, 2000, 1, 2, TcpFlags.ACK, 100).emit(b, A, B, null);
        for (int v : optionBytes) {
            b.writeByte(v);
        }
        while ((b.writerIndex() & 3) != 0) {
            b.writeByte(0);
        }
        TcpPacket.setHeaderLengthAndFlags(b, 0, b.writerIndex(), TcpFlags.ACK);
        TcpPacket.fillChecksum(b, 0, b.writerIndex(), A, B);
        return b;
    }

    @Test
    void malformedOptionsAreCounted() {
        int[][] bad = {
            {2, 0, 0, 0}, // length 0
            {2, 1, 0, 0}, // length 1
            {1, 1, 1, 2}, // MSS kind as the last byte: no room for its length
            {1, 1, 30, 9}, // unknown kind running past the header
            {2, 3, 5, 0}, // MSS with length 3
            {3, 4, 7, 0}, // window scale with length 4
            {4, 3, 0, 0}, // SACK-permitted with length 3
            {8, 8, 0, 0, 0, 0, 0, 0}, // timestamps with length 8
            {5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // SACK with a partial block
            {5, 2, 0, 0}, // SACK without blocks
        };
        for (int[] opts : bad) {
            ByteBuf b = withOptions(opts);
            int len = b.readableBytes();
            assertEquals(TcpPacket.Error.BAD_OPTION, TcpPacket.check(b, 0, len, A, B),
                    () -> java.util.Arrays.toString(opts));
            assertEquals("tcp.badOption", TcpPacket.Error.BAD_OPTION.counter());
            // The walkers stay total on unchecked input.
            TcpRepr.parse(b, 0);
            TcpPacket.findOption(b, 0, 99);
            b.release();
        }
        ByteBuf ok = withOptions(1, 1, 0, 2, 1); // END stops the walk; what follows is padding
        assertNull(TcpPacket.check(ok, 0, ok.readableBytes(), A, B));
        ok.release();
    }

    @Test
    void badDataOffsetAndTruncation() {
        ByteBuf b = emit(SYN, payload);
        int len = b.readableBytes();
        for (int l = 0; l < 20; l++) {
            assertEquals(TcpPacket.Error.TRUNCATED, TcpPacket.check(b, 0, l, A, B));
        }
        for (int l = 20; l < 40; l++) {
            assertEquals(TcpPacket.Error.BAD_DATA_OFFSET, TcpPacket.check(b, 0, l, A, B));
        }
        for (int l = 40; l < len; l++) {
            assertEquals(TcpPacket.Error.BAD_CHECKSUM, TcpPacket.check(b, 0, l, A, B));
        }
        for (int doff = 0; doff < 5; doff++) {
            TcpPacket.setHeaderLengthAndFlags(b, 0, doff * 4, TcpFlags.SYN);
            assertEquals(TcpPacket.Error.BAD_DATA_OFFSET, TcpPacket.check(b, 0, len, A, B));
        }
        TcpPacket.setHeaderLengthAndFlags(b, 0, 60, TcpFlags.SYN);
        assertEquals(TcpPacket.Error.BAD_DATA_OFFSET, TcpPacket.check(b, 0, 50, A, B));
        b.release();
    }

    @Test
    void tooManyOptionsIsAProgrammingError() {
        TcpRepr r = SYN.toBuilder().sackBlocks(1, 2, 3, 4, 5, 6, 7, 8).build();
        ByteBuf b = Unpooled.buffer();
        assertThrows(IllegalArgumentException.class, () -> r.emit(b, A, B, null));
        assertThrows(IllegalArgumentException.class, () -> SYN.toBuilder().sackBlocks(1, 2, 3).build());
        b.release();
    }

    @Test
    void flagsToString() {
        assertEquals("S", TcpFlags.toString(TcpFlags.SYN));
        assertEquals("S.", TcpFlags.toString(TcpFlags.SYN | TcpFlags.ACK));
        assertEquals("FP.", TcpFlags.toString(TcpFlags.FIN | TcpFlags.PSH | TcpFlags.ACK));
        assertEquals("none", TcpFlags.toString(0));
        assertEquals("40000 > 80 [S] seq 4294967040 ack 0 win 64240 <mss 1460,sackOK,TS 12345:0,wscale 7>",
                SYN.toString());
    }

    /** Random bytes through every check, then parse and re-emit whatever passes: never an exception. */
    @Test
    void randomGarbageNeverThrows() {
        Random rnd = new Random(1234);
        ByteBuf template = Unpooled.buffer();
        EthernetFrame.writeHeader(template, 1, 2, EtherType.IPV4);
        TcpRepr seg = SYN.toBuilder().sackBlocks(1, 2).noTimestamps().build();
        Ipv4Packet.writeHeader(template, 0, 20 + seg.headerLength() + 10, 1, true, 64, IpProtocol.TCP, A, B);
        seg.emit(template, A, B, payload);
        byte[] base = ByteBufUtil.getBytes(template);
        template.release();
        int accepted = 0;
        for (int iter = 0; iter < 200_000; iter++) {
            byte[] f = base.clone();
            int flips = 1 + rnd.nextInt(4);
            for (int k = 0; k < flips; k++) {
                f[14 + rnd.nextInt(f.length - 14)] = (byte) rnd.nextInt();
            }
            int cut = rnd.nextInt(4) == 0 ? rnd.nextInt(f.length + 1) : f.length;
            ByteBuf b = Unpooled.wrappedBuffer(f, 0, cut);
            // Fix the checksums some of the time, so that the later checks see garbage too.
            if (rnd.nextBoolean() && cut >= 34 && Ipv4Packet.headerLength(b, 14) >= 20
                    && Ipv4Packet.headerLength(b, 14) + 14 <= cut) {
                Ipv4Packet.fillChecksum(b, 14);
                int hl = Ipv4Packet.headerLength(b, 14);
                int tl = Ipv4Packet.totalLength(b, 14);
                if (rnd.nextBoolean() && tl >= hl + 20 && 14 + tl <= cut) {
                    TcpPacket.fillChecksum(b, 14 + hl, tl - hl, Ipv4Packet.src(b, 14), Ipv4Packet.dst(b, 14));
                }
            }
            if (Frames.check(b) == null) {
                accepted++;
                Frames.reemit(b).release();
            }
            b.release();
        }
        assertTrue(accepted > 0);
    }

    @Test
    void emitHeaderOverACompositePayloadWithOddPieces() {
        byte[] data = new byte[1001];
        new Random(5).nextBytes(data);
        io.netty.buffer.CompositeByteBuf composite = Unpooled.compositeBuffer();
        composite.addComponent(true, Unpooled.wrappedBuffer(data, 0, 3));
        composite.addComponent(true, Unpooled.directBuffer(500).writeBytes(data, 3, 500));
        composite.addComponent(true, Unpooled.wrappedBuffer(data, 503, 498));
        composite.readerIndex(1); // start the payload at an odd place, too
        TcpRepr r = SYN.toBuilder().flags(TcpFlags.ACK).mss(-1).windowScale(-1).sackPermitted(false).build();
        ByteBuf header = Unpooled.buffer();
        r.emitHeader(header, A, B, composite);
        ByteBuf whole = Unpooled.buffer();
        r.emit(whole, A, B, composite);
        assertEquals(ByteBufUtil.hexDump(whole, 0, header.readableBytes()), ByteBufUtil.hexDump(header));
        assertNull(TcpPacket.check(whole, 0, whole.readableBytes(), A, B));
        assertEquals(1000, TcpPacket.payloadLength(whole, 0, whole.readableBytes()));
        header.release();
        whole.release();
        composite.release();
    }

    @Test
    void segmentKeepsRoomForEveryHeaderInFrontOfIt() {
        TcpSegmentWriter w = new TcpSegmentWriter().header(40000, 80, 1, 2, TcpFlags.ACK, 512);
        ByteBuf v4 = w.segment(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT, A, B, payload.retain());
        assertEquals(Headroom.TRANSPORT + Ipv4Packet.FRAME_HEADROOM, v4.readerIndex(),
                "the transport's framing, Ethernet and IPv4 go in front, in the same buffer");
        assertNull(TcpPacket.check(v4, v4.readerIndex(), v4.readableBytes(), A, B));
        v4.release();
        Ipv6Address s6 = Ipv6Address.parse("2001:2::1");
        Ipv6Address d6 = Ipv6Address.parse("fd00::2");
        ByteBuf v6 = w.segment(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT, s6, d6, null);
        assertEquals(Headroom.TRANSPORT + Ipv6Packet.FRAME_HEADROOM, v6.readerIndex());
        v6.release();
    }

    /**
     * A large payload is not copied: the segment is a composite of its header and views of the payload's buffers,
     * byte for byte the segment a copy makes, with the same room in front (the IP output and the transport write
     * their headers into it) and the same checksum.
     */
    @Test
    void aLargePayloadIsViewedNotCopied() {
        byte[] data = new byte[3 * TcpSegmentWriter.VIEWS_FROM + 1]; // odd: the checksum's byte order across pieces
        new Random(7).nextBytes(data);
        ByteBuf first = Unpooled.directBuffer(5001).writeBytes(data, 0, 5001);
        ByteBuf second = Unpooled.directBuffer(data.length).writeBytes(data, 5001, data.length - 5001);
        TcpSegmentWriter.Payload copying = (off, len, dst) -> dst.writeBytes(data, off, len);
        TcpSegmentWriter.Payload viewing = new TcpSegmentWriter.Payload() {
            @Override
            public void copyTo(int offset, int len, ByteBuf dst) {
                throw new AssertionError("a large payload is viewed");
            }

            @Override
            public io.netty.buffer.CompositeByteBuf views(int offset, int len, io.netty.buffer.ByteBufAllocator a) {
                assertEquals(0, offset);
                assertEquals(data.length, len);
                return a.compositeDirectBuffer(3).addComponent(true, first.retain())
                        .addComponent(true, second.retain());
            }
        };
        Ipv6Address src = Ipv6Address.ofIpv4(A);
        Ipv6Address dst = Ipv6Address.ofIpv4(B);
        TcpSegmentWriter w = new TcpSegmentWriter().header(40000, 80, 1, 2, TcpFlags.ACK | TcpFlags.PSH, 512);
        w.timestamps = true;
        w.tsVal = 99;
        // Without the leak detector's wrappers, which Headroom.isOwn rightly treats as views of another buffer
        // (the references are counted by hand below).
        io.netty.buffer.ByteBufAllocator alloc = new io.netty.buffer.UnpooledByteBufAllocator(true, true);
        ByteBuf copied = w.segment(alloc, src, dst, copying, 0, data.length);
        ByteBuf viewed = w.segment(alloc, src, dst, viewing, 0, data.length);
        try {
            assertTrue(viewed instanceof io.netty.buffer.CompositeByteBuf, "header and views");
            assertEquals(copied.readerIndex(), viewed.readerIndex(), "the same room in front");
            assertTrue(Headroom.isOwn(viewed, copied.readerIndex()), "the room may be written");
            assertTrue(ByteBufUtil.equals(copied, viewed), "the same bytes, checksum included");
            assertNull(TcpPacket.check(viewed, viewed.readerIndex(), viewed.readableBytes(), A, B));
            assertEquals(2, first.refCnt(), "the payload's buffers are held, not copied");
        } finally {
            copied.release();
            viewed.release();
        }
        assertEquals(1, first.refCnt(), "released with the segment");
        assertEquals(1, second.refCnt());
        first.release();
        second.release();
    }
}
