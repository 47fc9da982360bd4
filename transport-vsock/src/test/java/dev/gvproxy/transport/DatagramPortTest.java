package dev.gvproxy.transport;

import static dev.gvproxy.transport.TestFrames.A;
import static dev.gvproxy.transport.TestFrames.B;
import static dev.gvproxy.transport.TestFrames.GW;
import static dev.gvproxy.transport.TestFrames.frame;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import java.net.PortUnreachableException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several VMs on one vfkit datagram socket (upstream issue #383), packet by packet on an embedded channel: each
 * sender address is a port with its own hello, frames reach the gateway and the other VM, and peers that are gone,
 * restarted or idle lose their port. Time is a manual clock.
 */
class DatagramPortTest {
    @TempDir
    Path dir;

    final Counters counters = new Counters();
    final AtomicLong now = new AtomicLong(1_000_000_000L);
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, now::get);
    final TestFrames.RecordingGateway gw = new TestFrames.RecordingGateway();
    /** Recipients whose sends fail as if nobody were bound there (ECONNREFUSED). */
    final Set<String> unbound = new HashSet<>();
    DatagramPort port;
    EmbeddedChannel ch;
    DomainSocketAddress a;
    DomainSocketAddress b;
    final DomainSocketAddress self = new DomainSocketAddress("/run/gvproxy-test/vfkit.sock");

    @BeforeEach
    void setUp() throws Exception {
        sw.setGateway(gw);
        port = new DatagramPort(sw, counters, "vfkit:test", new DatagramPort.Options(3, TimeUnit.MINUTES.toNanos(10)),
                now::get);
        ch = new EmbeddedChannel(new ChannelOutboundHandlerAdapter() {
            @Override
            public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
                if (msg instanceof DomainDatagramPacket p && unbound.contains(p.recipient().path())) {
                    p.release();
                    promise.setFailure(new PortUnreachableException("sendToAddress(..) failed: Connection refused"));
                    return;
                }
                ctx.write(msg, promise);
            }
        }, port);
        gw.loop = ch.eventLoop();
        a = new DomainSocketAddress(Files.createFile(dir.resolve("a.sock")).toString());
        b = new DomainSocketAddress(Files.createFile(dir.resolve("b.sock")).toString());
    }

    @AfterEach
    void tearDown() {
        ch.finishAndReleaseAll();
    }

    private void send(DomainSocketAddress from, byte[] datagram) {
        ch.writeInbound(new DomainDatagramPacket(Unpooled.wrappedBuffer(datagram), self, from));
        ch.runPendingTasks();
    }

    private void hello(DomainSocketAddress from) {
        send(from, "VFKT".getBytes(StandardCharsets.US_ASCII));
    }

    /** From the gateway to {@code dst}, flushed. */
    private void fromGateway(byte[] frame) {
        sw.transmitFromGateway(Unpooled.wrappedBuffer(frame));
        sw.flush();
        ch.runPendingTasks();
    }

    /** The next datagram the socket sent: its recipient path and bytes; null when none. */
    private String[] sent() {
        DomainDatagramPacket p = ch.readOutbound();
        if (p == null) {
            return null;
        }
        try {
            return new String[] {p.recipient().path(), ByteBufUtil.hexDump(p.content())};
        } finally {
            p.release();
        }
    }

    private static String hex(byte[] f) {
        return ByteBufUtil.hexDump(f);
    }

    @Test
    void twoVmsEachWithTheirHelloExchangeFramesWithTheGatewayAndEachOther() throws Exception {
        hello(a);
        hello(b);
        assertEquals(2, counters.get("transport.vfkitHello"), "each sender's hello is consumed");
        assertEquals(2, sw.ports().size(), "two senders, two ports");

        byte[] fromA = frame(GW, A, 100, 1);
        byte[] fromB = frame(GW, B, 100, 2);
        send(a, fromA);
        send(b, fromB);
        assertArrayEquals(fromA, gw.take());
        assertArrayEquals(fromB, gw.take());
        SwitchPort pa = port.portOf(a.path());
        SwitchPort pb = port.portOf(b.path());
        assertEquals(pa, sw.portOf(A));
        assertEquals(pb, sw.portOf(B));
        assertNotEquals(pa.id(), pb.id());

        // the gateway answers each VM at its own address, never the other one
        byte[] toA = frame(A, GW, 60, 3);
        byte[] toB = frame(B, GW, 60, 4);
        fromGateway(toA);
        assertArrayEquals(new String[] {a.path(), hex(toA)}, sent());
        fromGateway(toB);
        assertArrayEquals(new String[] {b.path(), hex(toB)}, sent());
        assertNull(sent());

        // VM to VM through the switch: A's frame for B's MAC goes to B's address only
        byte[] aToB = frame(B, A, 200, 5);
        send(a, aToB);
        assertArrayEquals(new String[] {b.path(), hex(aToB)}, sent());
        byte[] bToA = frame(A, B, 200, 6);
        send(b, bToA);
        assertArrayEquals(new String[] {a.path(), hex(bToA)}, sent());
        assertNull(sent());
        assertTrue(gw.frames.isEmpty(), "VM to VM frames do not reach the gateway");

        // a broadcast from the gateway reaches both
        byte[] bcast = frame(MacAddress.BROADCAST, GW, 60, 7);
        fromGateway(bcast);
        Set<String> to = new HashSet<>();
        to.add(sent()[0]);
        to.add(sent()[0]);
        assertEquals(Set.of(a.path(), b.path()), to);
        assertEquals(0, counters.get("switch.macMoveDenied"));
    }

    @Test
    void aPeerNobodyIsBoundToLosesItsPortAndItsMacMayMove() throws Exception {
        send(a, frame(GW, A, 100, 1));
        send(b, frame(GW, B, 100, 2));
        gw.take();
        gw.take();
        // A's VM exits; the gateway's next frame for it finds nobody bound there
        unbound.add(a.path());
        fromGateway(frame(A, GW, 60, 3));
        assertEquals(1, counters.get("transport.datagramPeerGone"));
        assertNull(port.portOf(a.path()));
        assertNull(sw.portOf(A), "its MAC left the switch");
        assertEquals(1, sw.ports().size());

        // the VM comes back on a new path with the same MAC: learned at once, no move refused
        DomainSocketAddress a2 = new DomainSocketAddress(Files.createFile(dir.resolve("a2.sock")).toString());
        byte[] again = frame(GW, A, 100, 4);
        send(a2, again);
        assertArrayEquals(again, gw.take());
        assertEquals(port.portOf(a2.path()), sw.portOf(A));
        assertEquals(0, counters.get("switch.macMoveDenied"));
        // B was never disturbed
        byte[] toB = frame(B, GW, 60, 5);
        fromGateway(toB);
        assertArrayEquals(new String[] {b.path(), hex(toB)}, sent());
    }

    @Test
    void aPeerWhoseSocketFileIsGoneIsDroppedWhenAnotherArrives() throws Exception {
        send(a, frame(GW, A, 100, 1));
        gw.take();
        Files.delete(Path.of(a.path()));
        DomainSocketAddress a2 = new DomainSocketAddress(Files.createFile(dir.resolve("a2.sock")).toString());
        byte[] f = frame(GW, A, 100, 2);
        send(a2, f);
        assertArrayEquals(f, gw.take(), "the restarted VM's MAC is free at once");
        assertEquals(1, counters.get("transport.datagramPeerGone"));
        assertEquals(1, sw.ports().size());
    }

    @Test
    void helloAgainFromAKnownPathIsARestart() throws Exception {
        hello(a);
        send(a, frame(GW, A, 100, 1));
        gw.take();
        int first = sw.portOf(A).id();
        hello(a);
        send(a, frame(GW, A, 100, 2));
        gw.take();
        assertNotEquals(first, sw.portOf(A).id());
        assertEquals(1, sw.ports().size());
    }

    @Test
    void idlePeersAreRemovedAndComeBackWhenTheySpeak() throws Exception {
        send(a, frame(GW, A, 100, 1));
        gw.take();
        now.addAndGet(TimeUnit.MINUTES.toNanos(6));
        send(b, frame(GW, B, 100, 2));
        gw.take();
        now.addAndGet(TimeUnit.MINUTES.toNanos(5)); // A silent 11 min, B 5 min
        port.expire(now.get());
        assertEquals(1, counters.get("transport.datagramPeerIdle"));
        assertNull(port.portOf(a.path()));
        assertNotNull(port.portOf(b.path()));
        byte[] f = frame(GW, A, 100, 3);
        send(a, f);
        assertArrayEquals(f, gw.take(), "an idle VM that speaks again gets a new port");
        assertEquals(2, sw.ports().size());
    }

    @Test
    void unnamedSendersAndSendersBeyondTheLimitAreDroppedAndCounted() throws Exception {
        send(null, frame(GW, A, 100, 1));
        assertEquals(1, counters.get("transport.unnamedPeer"));
        for (int i = 0; i < 3; i++) {
            DomainSocketAddress s = new DomainSocketAddress(Files.createFile(dir.resolve("v" + i + ".sock")).toString());
            hello(s);
        }
        hello(a);
        assertEquals(1, counters.get("transport.datagramPeerLimit"));
        assertEquals(3, sw.ports().size());
        assertTrue(gw.frames.isEmpty());
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(FramingTest.Wire.class)
    void aFrameCopiedOutOfTheReadBufferReachesAStreamGuestAsOneBuffer(FramingTest.Wire wire) throws Exception {
        // The copy out of the MAX_FRAME read buffer keeps room in front (Headroom): switched to a guest on a stream
        // transport, its framing goes there. Buffers as in production, where leak detection does not wrap them.
        ch.config().setAllocator(FramingTest.UNWRAPPED);
        EmbeddedChannel stream = wire.channel(sw, counters, FramingTest.UNWRAPPED);
        try {
            stream.writeInbound(wire.wire(FramingTest.UNWRAPPED, FramingTest.NO_VNET, frame(GW, B, 20, 0)));
            gw.take();
            hello(a);
            byte[] f = frame(B, A, 1000, 5);
            io.netty.buffer.ByteBuf read = FramingTest.UNWRAPPED.directBuffer(VirtualSwitch.MAX_FRAME).writeBytes(f);
            ch.writeInbound(new DomainDatagramPacket(read, self, a));
            ch.runPendingTasks();
            FramingTest.Outbound out = FramingTest.drain(stream);
            assertEquals(1, out.messages(), "prefix (and virtio-net header) in the frame's own buffer");
            assertEquals(0, out.composites());
            assertArrayEquals(wire.bytes(FramingTest.NO_VNET, f), out.bytes());
        } finally {
            stream.finishAndReleaseAll();
        }
    }
}
