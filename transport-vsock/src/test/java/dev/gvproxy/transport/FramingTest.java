package dev.gvproxy.transport;

import static dev.gvproxy.transport.TestFrames.A;
import static dev.gvproxy.transport.TestFrames.B;
import static dev.gvproxy.transport.TestFrames.GW;
import static dev.gvproxy.transport.TestFrames.concat;
import static dev.gvproxy.transport.TestFrames.frame;
import static dev.gvproxy.transport.TestFrames.framed;
import static dev.gvproxy.transport.TestFrames.header;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.MacAddress;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Stream framing and {@link ChannelPort} on {@link EmbeddedChannel}s attached to a real switch. */
class FramingTest {
    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final TestFrames.RecordingGateway gw = new TestFrames.RecordingGateway();
    EmbeddedChannel ch;
    EmbeddedChannel other;

    FramingTest() {
        sw.setGateway(gw);
    }

    EmbeddedChannel vm(Framing framing) {
        return new EmbeddedChannel(framing.newDecoder(counters), framing.newEncoder(counters),
                new ChannelPort(sw, counters, framing + "-test"));
    }

    @AfterEach
    void tearDown() {
        for (EmbeddedChannel c : new EmbeddedChannel[] {ch, other}) {
            if (c != null) {
                c.finishAndReleaseAll();
            }
        }
    }

    /** Everything written outbound so far, concatenated (header and frame arrive as separate buffers). */
    static byte[] outbound(EmbeddedChannel c) {
        ByteBuf all = Unpooled.buffer();
        for (ByteBuf b; (b = c.readOutbound()) != null; ) {
            all.writeBytes(b);
            b.release();
        }
        byte[] out = ByteBufUtil.getBytes(all);
        all.release();
        return out;
    }

    @ParameterizedTest
    @EnumSource(Framing.class)
    void goodFramesBothDirections(Framing framing) throws Exception {
        ch = vm(framing);
        byte[] toGw = frame(GW, A, 50, 1);
        ch.writeInbound(Unpooled.wrappedBuffer(framed(framing, toGw)));
        assertArrayEquals(toGw, gw.take());
        assertEquals(1, gw.flushes.get(), "one flush per read batch");
        assertEquals(0, sw.portOf(A).id());

        byte[] fromGw = frame(A, GW, 60, 7);
        sw.transmitFromGateway(Unpooled.wrappedBuffer(fromGw.clone()));
        assertTrue(outbound(ch).length == 0, "nothing leaves before the switch flushes");
        sw.flush();
        assertArrayEquals(framed(framing, fromGw), outbound(ch));
    }

    @Test
    void headerAndFrameAreWrittenAsSeparateBuffersWithoutCopy() {
        ch = vm(Framing.QEMU);
        ch.writeInbound(Unpooled.wrappedBuffer(framed(Framing.QEMU, frame(GW, A, 10, 0))));
        ByteBuf f = Unpooled.directBuffer().writeBytes(frame(A, GW, 10, 0));
        sw.transmitFromGateway(f);
        sw.flush();
        ByteBuf h = ch.readOutbound();
        ByteBuf body = ch.readOutbound();
        assertEquals(4, h.readableBytes());
        assertEquals(24, h.getInt(0));
        assertTrue(body == f, "the frame itself is written, not a copy");
        h.release();
        body.release();
    }

    @ParameterizedTest
    @EnumSource(Framing.class)
    void frameSplitAcrossReads(Framing framing) throws Exception {
        ch = vm(framing);
        byte[] f = frame(GW, A, 100, 3);
        byte[] wire = framed(framing, f);
        // one byte of the header, the rest of the header plus part of the frame, then the rest
        ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(wire, 0, 1)));
        ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(wire, 1, 20)));
        assertTrue(gw.frames.isEmpty());
        ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(wire, 20, wire.length)));
        assertArrayEquals(f, gw.take());
        assertTrue(gw.frames.isEmpty());
    }

    @ParameterizedTest
    @EnumSource(Framing.class)
    void severalFramesInOneReadAreFlushedOnce(Framing framing) throws Exception {
        ch = vm(framing);
        other = vm(framing);
        other.writeInbound(Unpooled.wrappedBuffer(framed(framing, frame(GW, B, 20, 0))));
        gw.take();
        outbound(ch);
        byte[] f1 = frame(GW, A, 30, 1);
        byte[] f2 = frame(B, A, 40, 2);
        byte[] f3 = frame(GW, A, 50, 3);
        byte[] f4 = frame(B, A, 60, 4);
        int flushesBefore = gw.flushes.get();
        ch.writeInbound(Unpooled.wrappedBuffer(framed(framing, f1, f2, f3, f4)));
        assertArrayEquals(f1, gw.take());
        assertArrayEquals(f3, gw.take());
        assertEquals(flushesBefore + 1, gw.flushes.get());
        // B got both unicast frames, in order, in one flush
        assertArrayEquals(framed(framing, f2, f4), outbound(other));
    }

    @ParameterizedTest
    @EnumSource(Framing.class)
    void zeroLengthClosesThePortAndCounts(Framing framing) throws Exception {
        ch = vm(framing);
        other = vm(framing);
        byte[] good = frame(GW, A, 20, 0);
        ch.writeInbound(Unpooled.wrappedBuffer(concat(framed(framing, good), header(framing, 0), new byte[] {1, 2, 3})));
        assertArrayEquals(good, gw.take(), "frames before the bad header still count");
        assertFalse(ch.isOpen());
        assertEquals(1, counters.get("transport.badFrameLength"));
        assertNull(sw.portOf(A), "MACs of the closed port are forgotten");
        assertEquals(1, sw.ports().size());
        // the other port keeps working
        byte[] f = frame(GW, B, 20, 9);
        other.writeInbound(Unpooled.wrappedBuffer(framed(framing, f)));
        assertArrayEquals(f, gw.take());
    }

    @ParameterizedTest
    @EnumSource(Framing.class)
    void oversizedLengthClosesThePortAndCounts(Framing framing) {
        ch = vm(framing);
        long tooBig = framing == Framing.QEMU ? VirtualSwitch.MAX_FRAME + 1L : 0; // 2 bytes cannot exceed max
        if (framing == Framing.HYPERKIT) {
            return; // a 16-bit length is never above 131072; the zero case covers hyperkit
        }
        ch.writeInbound(Unpooled.wrappedBuffer(header(framing, tooBig)));
        assertFalse(ch.isOpen());
        assertEquals(1, counters.get("transport.badFrameLength"));
        assertTrue(sw.ports().isEmpty());
    }

    @Test
    void hugeQemuLengthIsRejectedBeforeAnyPayloadArrives() {
        ch = vm(Framing.QEMU);
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff}));
        assertFalse(ch.isOpen());
        assertEquals(1, counters.get("transport.badFrameLength"));
    }

    @Test
    void maximumFrameIsAccepted() throws Exception {
        ch = vm(Framing.QEMU);
        byte[] big = frame(GW, A, VirtualSwitch.MAX_FRAME - 14, 0);
        ch.writeInbound(Unpooled.wrappedBuffer(framed(Framing.QEMU, big)));
        assertArrayEquals(big, gw.take());
        assertTrue(ch.isOpen());
    }

    @Test
    void hyperkitDropsFramesItCannotEncode() {
        ch = vm(Framing.QEMU);
        other = vm(Framing.HYPERKIT);
        other.writeInbound(Unpooled.wrappedBuffer(framed(Framing.HYPERKIT, frame(GW, B, 20, 0))));
        ch.writeInbound(Unpooled.wrappedBuffer(framed(Framing.QEMU, frame(B, A, 70000, 0))));
        assertEquals(0, outbound(other).length);
        assertEquals(1, counters.get("transport.frameTooLargeForFraming"));
        assertTrue(other.isOpen());
    }

    @Test
    void runtFramesAreDroppedByTheSwitchNotFatal() {
        ch = vm(Framing.HYPERKIT);
        ch.writeInbound(Unpooled.wrappedBuffer(framed(Framing.HYPERKIT, new byte[5])));
        assertTrue(ch.isOpen());
        assertEquals(1, counters.get("switch.runtFrame"));
    }

    @Test
    void closingTheChannelDetachesAndAReconnectGetsANewPort() throws Exception {
        ch = vm(Framing.QEMU);
        ch.writeInbound(Unpooled.wrappedBuffer(framed(Framing.QEMU, frame(MacAddress.BROADCAST, A, 30, 0))));
        gw.take();
        int first = sw.portOf(A).id();
        ch.close();
        assertNull(sw.portOf(A));
        assertTrue(sw.ports().isEmpty());
        other = vm(Framing.QEMU);
        other.writeInbound(Unpooled.wrappedBuffer(framed(Framing.QEMU, frame(GW, A, 30, 0))));
        gw.take();
        assertNotNull(sw.portOf(A));
        assertTrue(sw.portOf(A).id() > first);
    }

    @Test
    void aPortThatDoesNotDrainIsBoundedAndReportsNotWritable() {
        ch = vm(Framing.QEMU);
        ch.writeInbound(Unpooled.wrappedBuffer(framed(Framing.QEMU, frame(GW, A, 10, 0))));
        ChannelPort port = ch.pipeline().get(ChannelPort.class);
        assertTrue(port.isWritable());
        byte[] big = frame(A, GW, 65000, 0);
        for (int i = 0; i < 200; i++) { // 13 MB offered, never flushed
            sw.transmitFromGateway(Unpooled.wrappedBuffer(big));
        }
        assertFalse(port.isWritable());
        assertFalse(sw.isWritable(A), "the stack sees the backpressure through the switch");
        long dropped = counters.get("transport.txQueueFull");
        assertTrue(dropped > 100 && dropped < 200, "dropped " + dropped);
        assertEquals(dropped, counters.get("transport.port" + port.port().id() + ".txQueueFull"), "counted per port too");
        sw.flush();
        assertTrue(port.isWritable());
        assertEquals((200 - dropped) * (4 + big.length), outbound(ch).length);
    }

    @Test
    void framesForAClosedChannelAreReleasedAndCounted() {
        ch = vm(Framing.QEMU);
        ChannelPort port = ch.pipeline().get(ChannelPort.class);
        ch.close();
        port.transmit(Unpooled.wrappedBuffer(frame(A, GW, 10, 0)));
        assertEquals(1, counters.get("transport.txClosedPort"));
    }

    /**
     * Buffers as the gateway's are in production, where leak detection is off: a leak-aware wrapper (which the
     * tests' paranoid detection puts around every buffer of the default allocators) is a view, and a view's
     * headroom is never written.
     */
    static final io.netty.buffer.ByteBufAllocator UNWRAPPED = new io.netty.buffer.UnpooledByteBufAllocator(true, true);

    /** A buffer holding {@code frame} after {@code headroom} zero bytes. */
    static ByteBuf withHeadroom(byte[] frame, int headroom) {
        ByteBuf b = UNWRAPPED.directBuffer(headroom + frame.length);
        b.writeZero(headroom).readerIndex(headroom);
        return b.writeBytes(frame);
    }

    @ParameterizedTest
    @EnumSource(Framing.class)
    void prefixGoesIntoTheRoomBeforeTheFrame(Framing framing) {
        ch = new EmbeddedChannel(framing.newEncoder(counters));
        byte[] f = frame(A, GW, 100, 3);
        ByteBuf b = withHeadroom(f, dev.gvproxy.stack.wire.Headroom.TRANSPORT);
        ch.writeOutbound(b);
        ByteBuf out = ch.readOutbound();
        org.junit.jupiter.api.Assertions.assertSame(b, out, "the frame's own buffer, no header buffer");
        assertNull(ch.readOutbound());
        assertArrayEquals(framed(framing, f), ByteBufUtil.getBytes(out));
        out.release();
    }

    @ParameterizedTest
    @EnumSource(Framing.class)
    void sharedOrRoomlessFramesGetAPrefixBufferAndStayUntouched(Framing framing) {
        ch = new EmbeddedChannel(framing.newEncoder(counters));
        byte[] f = frame(A, GW, 100, 4);
        ByteBuf roomless = Unpooled.wrappedBuffer(f.clone());
        ByteBuf shared = withHeadroom(f, 16);
        ByteBuf before = shared.retainedDuplicate(); // someone else holds the buffer: its bytes are not ours to write
        ch.writeOutbound(roomless, shared.retainedSlice());
        shared.release();
        assertArrayEquals(concat(framed(framing, f), framed(framing, f)), outbound(ch));
        assertArrayEquals(new byte[16], ByteBufUtil.getBytes(before, 0, 16), "the room before the slice is untouched");
        before.release();
    }

    @Test
    void virtioNetHeaderAndPrefixGoIntoTheRoomBeforeTheFrame() {
        byte[] f = frame(A, GW, 1400, 5);
        EmbeddedChannel composite = new EmbeddedChannel(Framing.HYPERKIT.newEncoder(counters),
                new VnetCodec(1500, counters));
        composite.writeOutbound(Unpooled.wrappedBuffer(f.clone()));
        byte[] expected = outbound(composite);
        composite.finishAndReleaseAll();
        ch = new EmbeddedChannel(Framing.HYPERKIT.newEncoder(counters), new VnetCodec(1500, counters));
        ByteBuf b = withHeadroom(f, dev.gvproxy.stack.wire.Headroom.TRANSPORT);
        ch.writeOutbound(b);
        ByteBuf out = ch.readOutbound();
        org.junit.jupiter.api.Assertions.assertSame(b, out, "one buffer: prefix, virtio-net header and frame");
        assertNull(ch.readOutbound());
        assertEquals(2 + dev.gvproxy.stack.link.VirtioNetHeader.LENGTH + f.length, out.readableBytes());
        assertArrayEquals(expected, ByteBufUtil.getBytes(out), "the same bytes as with a header buffer");
        out.release();
    }

    // ---- one buffer per frame, framing included, for every frame the gateway originates or cuts -------------------

    /** A guest's wire: its stream framing, and whether the virtio-net header of the offload framing follows. */
    enum Wire {
        HYPERKIT(Framing.HYPERKIT, false),
        QEMU(Framing.QEMU, false),
        /** What {@code /connect} with {@code Upgrade: gvproxy-vnet-v1} sets up (ConnectHandler). */
        QEMU_VNET(Framing.QEMU, true);

        final Framing framing;
        final boolean vnet;

        Wire(Framing framing, boolean vnet) {
            this.framing = framing;
            this.vnet = vnet;
        }

        /** A guest's channel on {@code s} as the transports build it; its own buffers come from {@code alloc}. */
        EmbeddedChannel channel(VirtualSwitch s, Counters counters, io.netty.buffer.ByteBufAllocator alloc) {
            EmbeddedChannel c = vnet
                    ? new EmbeddedChannel(framing.newDecoder(counters), framing.newEncoder(counters),
                            new VnetCodec(s.mtu(), counters), new ChannelPort(s, counters, name(), p -> {}, true))
                    : new EmbeddedChannel(framing.newDecoder(counters), framing.newEncoder(counters),
                            new ChannelPort(s, counters, name()));
            c.config().setAllocator(alloc);
            return c;
        }

        /** The bytes of {@code frame} on this wire: prefix, virtio-net header (when it has one), frame. */
        byte[] bytes(byte[] vnetHeader, byte[] frame) {
            return framed(framing, vnet ? concat(vnetHeader, frame) : frame);
        }

        /** What the guest writes for {@code frame}, in a buffer of {@code alloc}. */
        ByteBuf wire(io.netty.buffer.ByteBufAllocator alloc, byte[] vnetHeader, byte[] frame) {
            return alloc.buffer().writeBytes(bytes(vnetHeader, frame));
        }

        /** Frames in a stream of this wire's bytes (each prefix's length skipped over). */
        int frames(byte[] stream) {
            ByteBuf b = Unpooled.wrappedBuffer(stream);
            int n = 0;
            while (b.isReadable()) {
                long len = framing.getLength(b, b.readerIndex());
                b.skipBytes(framing.headerLength() + (int) len);
                n++;
            }
            return n;
        }
    }

    /** What one run wrote to the guest: every outbound message, and how many were not one plain buffer. */
    record Outbound(byte[] bytes, int messages, int composites) {}

    static Outbound drain(EmbeddedChannel c) {
        ByteBuf all = Unpooled.buffer();
        int messages = 0;
        int composites = 0;
        for (Object m; (m = c.readOutbound()) != null; ) {
            ByteBuf b = (ByteBuf) m;
            messages++;
            if (b instanceof io.netty.buffer.CompositeByteBuf) {
                composites++;
            }
            all.writeBytes(b);
            b.release();
        }
        byte[] out = ByteBufUtil.getBytes(all);
        all.release();
        return new Outbound(out, messages, composites);
    }

    static final byte[] NO_VNET = new byte[dev.gvproxy.stack.link.VirtioNetHeader.LENGTH];

    static byte[] data(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 13 + 5);
        }
        return b;
    }

    /**
     * A guest on {@code wire} talks to a gateway stack whose buffers come from {@code stackAlloc}: ARP, UDP to an
     * echo service (small, near the MTU) and to one answering with a datagram the gateway fragments, pings (below
     * and above the outputs' copy threshold), a datagram to a closed port (ICMP unreachable).
     */
    static Outbound talkToTheGateway(Wire wire, io.netty.buffer.ByteBufAllocator stackAlloc) {
        Counters counters = new Counters();
        dev.gvproxy.stack.StackConfig config = dev.gvproxy.stack.StackConfig.builder()
                .ipv6(dev.gvproxy.stack.Ipv6Config.builder().enabled(false).build()).build();
        VirtualSwitch s = new VirtualSwitch(config.gatewayMac(), counters, () -> 0L);
        dev.gvproxy.stack.NetworkStack stack = new dev.gvproxy.stack.NetworkStack(config, s, counters, stackAlloc,
                () -> 1_000_000_000L);
        EmbeddedChannel c = wire.channel(s, counters, UNWRAPPED);
        try {
            stack.udp().bind(config.gatewayIp(), 7, (d, payload, now) ->
                    stack.udp().send(d.dst(), d.dstPort(), d.src(), d.srcPort(), payload.retain(), now));
            stack.udp().bind(config.gatewayIp(), 9, (d, payload, now) ->
                    stack.udp().send(d.dst(), d.dstPort(), d.src(), d.srcPort(), Unpooled.wrappedBuffer(data(4000)),
                            now));
            int gw = config.gatewayIp();
            int guest = Frames.GUEST_IP;
            List<byte[]> in = new ArrayList<>();
            in.add(Frames.ethernet(MacAddress.BROADCAST, A, 0x0806, Frames.arp(1, A, guest, 0, gw)));
            int[][] udp = {{7, 100}, {7, 1400}, {9, 10}, {5, 20}};
            for (int[] u : udp) {
                in.add(Frames.ethernet(GW, A, 0x0800, Frames.ipv4(guest, gw, 17, u[1], 0x4000, 64,
                        Frames.udp(guest, gw, 40000, u[0], data(u[1])))));
            }
            for (int size : new int[] {56, 1000}) {
                ByteBuf p = Frames.ping(gw, 1, size, size);
                in.add(Frames.bytes(p));
                p.release();
            }
            for (byte[] f : in) {
                c.writeInbound(wire.wire(UNWRAPPED, NO_VNET, f));
            }
            return drain(c);
        } finally {
            c.finishAndReleaseAll();
            stack.close();
        }
    }

    @ParameterizedTest
    @EnumSource(Wire.class)
    void everyFrameTheGatewayOriginatesLeavesAsOneBufferFramingIncluded(Wire wire) {
        Outbound own = talkToTheGateway(wire, UNWRAPPED);
        // Views have no room of their own: the gateway's frames take the encoders' other path, a prefix buffer (and
        // a virtio-net header in a composite) beside each frame.
        Outbound before = talkToTheGateway(wire, VIEWS);
        int frames = wire.frames(own.bytes());
        // ARP reply; UDP 100, 1400, 4000 (3 fragments); ICMP unreachable; 2 echo replies.
        assertEquals(9, frames);
        assertEquals(frames, own.messages(), "one buffer per frame: no prefix buffer beside it");
        assertEquals(0, own.composites(), "no composite (virtio-net header in place too)");
        assertTrue(before.messages() > frames, "the baseline took the prefix-buffer path");
        assertArrayEquals(before.bytes(), own.bytes(), "the same bytes on the wire");
    }

    /**
     * An allocator whose every buffer is a view (a duplicate of a fresh one, released with it, whose {@code alloc()}
     * is this allocator, so segments cut from it are views too): whatever the leak
     * detection level (paranoid in unit tests wraps every buffer anyway, the fuzzing profile's sampled level mostly
     * does not), {@code Headroom.isOwn} refuses its buffers, so frames built from them take the prefix-buffer path
     * the one-buffer path is compared against.
     */
    static final io.netty.buffer.ByteBufAllocator VIEWS = new io.netty.buffer.AbstractByteBufAllocator(false) {
        @Override
        protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
            return new io.netty.buffer.UnpooledHeapByteBuf(this, initialCapacity, maxCapacity).duplicate();
        }

        @Override
        protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
            return new io.netty.buffer.UnpooledDirectByteBuf(this, initialCapacity, maxCapacity).duplicate();
        }

        @Override
        public boolean isDirectBufferPooled() {
            return false;
        }
    };

    /** An IPv4 TCP frame from A to B with {@code n} bytes of payload (ports 40000 -> 5201, ACK|PSH). */
    static byte[] tcpFrame(int n) {
        int ipA = Frames.GUEST_IP;
        int ipB = Frames.GUEST_IP + 1;
        dev.gvproxy.stack.wire.TcpRepr r = dev.gvproxy.stack.wire.TcpRepr.builder().srcPort(40000).dstPort(5201)
                .seq(1).ack(77).flags(dev.gvproxy.stack.wire.TcpFlags.ACK | dev.gvproxy.stack.wire.TcpFlags.PSH)
                .window(512).timestamps(1, 2).build();
        ByteBuf l4 = Unpooled.buffer();
        r.emit(l4, dev.gvproxy.stack.wire.Ipv6Address.ofIpv4(ipA), dev.gvproxy.stack.wire.Ipv6Address.ofIpv4(ipB),
                Unpooled.wrappedBuffer(data(n)));
        byte[] tcp = Frames.bytes(l4);
        l4.release();
        return Frames.ethernet(B, A, 0x0800, Frames.ipv4(ipA, ipB, 6, 1000, 0x4000, 64, tcp));
    }

    /**
     * An offload guest's 10 kB TCP frame, cut in software for a guest on {@code wire}; the offload guest's bytes
     * arrive in a buffer of {@code inAlloc}, the allocator SoftwareGso takes each segment's buffer from.
     */
    static Outbound cutForAPortWithoutOffloads(Wire wire, io.netty.buffer.ByteBufAllocator inAlloc) {
        Counters counters = new Counters();
        VirtualSwitch s = new VirtualSwitch(GW, counters, () -> 0L);
        s.setGateway(new TestFrames.RecordingGateway());
        EmbeddedChannel offload = Wire.QEMU_VNET.channel(s, counters, UNWRAPPED);
        EmbeddedChannel plain = wire.channel(s, counters, UNWRAPPED);
        try {
            plain.writeInbound(wire.wire(UNWRAPPED, NO_VNET, frame(A, B, 20, 0)));
            drain(offload);
            // GSO TCPV4, gso_size 1448, hdr_len 66 (14 + 20 + 32): a large segment as a guest kernel hands it over.
            ByteBuf vnet = Unpooled.buffer().writeByte(0).writeByte(dev.gvproxy.stack.link.VirtioNetHeader.GSO_TCPV4)
                    .writeShortLE(66).writeShortLE(1448).writeShortLE(0).writeShortLE(0).writeShortLE(0);
            byte[] header = ByteBufUtil.getBytes(vnet);
            vnet.release();
            offload.writeInbound(Wire.QEMU_VNET.wire(inAlloc, header, tcpFrame(10_000)));
            assertEquals(1, counters.get("switch.gso.frames"));
            return drain(plain);
        } finally {
            offload.finishAndReleaseAll();
            plain.finishAndReleaseAll();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Wire.class, names = {"HYPERKIT", "QEMU"})
    void segmentsCutInSoftwareLeaveAsOneBufferFramingIncluded(Wire wire) {
        Outbound own = cutForAPortWithoutOffloads(wire, UNWRAPPED);
        // Segments cut from a view are views too: the baseline's prefix-buffer path.
        Outbound before = cutForAPortWithoutOffloads(wire, VIEWS);
        int frames = wire.frames(own.bytes());
        assertEquals((10_000 + 1447) / 1448, frames, "ceil(10000 / 1448) segments");
        assertEquals(frames, own.messages(), "one buffer per segment: no prefix buffer beside it");
        assertEquals(0, own.composites());
        assertTrue(before.messages() > frames, "the baseline took the prefix-buffer path");
        assertArrayEquals(before.bytes(), own.bytes(), "the same bytes on the wire");
    }
}
