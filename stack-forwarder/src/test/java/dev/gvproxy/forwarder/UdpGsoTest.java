package dev.gvproxy.forwarder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.DatagramPacket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** How {@link UdpGso} cuts a flow's writes into runs, with an embedded channel standing for the host socket. */
class UdpGsoTest {
    static final InetSocketAddress PEER = new InetSocketAddress(InetAddress.getLoopbackAddress(), 5201);

    /** What the handler hands the transport for a run of several datagrams. */
    record Run(ByteBuf content, int segmentSize, InetSocketAddress recipient) {}

    Counters counters;
    EmbeddedChannel ch;

    @BeforeEach
    void setUp() {
        counters = new Counters();
        ch = new EmbeddedChannel(new UdpGso(PEER, Run::new, counters.counter("udp.fwd.gsoWrites")));
    }

    @AfterEach
    void tearDown() {
        ch.finishAndReleaseAll();
    }

    /** A datagram of {@code len} bytes, each its {@code tag}. */
    static ByteBuf datagram(int len, int tag) {
        ByteBuf b = Unpooled.buffer(len);
        for (int i = 0; i < len; i++) {
            b.writeByte(tag);
        }
        return b;
    }

    void write(int len, int tag) {
        ch.write(datagram(len, tag), ch.voidPromise());
    }

    /** The writes that reached the transport, each as the list of datagram lengths it carries. */
    List<List<Integer>> sent() {
        List<List<Integer>> out = new ArrayList<>();
        for (Object m; (m = ch.readOutbound()) != null; ) {
            List<Integer> lens = new ArrayList<>();
            if (m instanceof Run r) {
                assertSame(PEER, r.recipient());
                ByteBuf c = r.content();
                while (c.isReadable()) {
                    int n = Math.min(r.segmentSize(), c.readableBytes());
                    int tag = c.getByte(c.readerIndex());
                    for (int i = 0; i < n; i++) {
                        assertEquals(tag, c.readByte(), "one datagram's bytes are contiguous");
                    }
                    lens.add(n);
                }
                c.release();
            } else {
                ByteBuf b = (ByteBuf) m;
                lens.add(b.readableBytes());
                b.release();
            }
            out.add(lens);
        }
        return out;
    }

    @Test
    void nothingLeavesBeforeTheFlush() {
        write(1400, 1);
        write(1400, 2);
        assertNull(ch.readOutbound());
        ch.flush();
        assertEquals(List.of(List.of(1400, 1400)), sent());
        assertEquals(1, counters.get("udp.fwd.gsoWrites"));
    }

    @Test
    void aRunOfOneLeavesAsItCame() {
        ByteBuf only = datagram(100, 7);
        ch.writeAndFlush(only, ch.voidPromise());
        Object m = ch.readOutbound();
        assertSame(only, m, "no copy, no segmented packet");
        only.release();
        assertEquals(0, counters.get("udp.fwd.gsoWrites"));
    }

    @Test
    void aShorterDatagramEndsTheRunAndALongerOneStartsTheNext() {
        for (int len : new int[] {1000, 1000, 600, 1000, 1000, 1200, 1200, 1200, 800, 800}) {
            write(len, len / 100);
        }
        ch.flush();
        assertEquals(List.of(List.of(1000, 1000, 600), List.of(1000, 1000), List.of(1200, 1200, 1200, 800),
                List.of(800)), sent());
        assertEquals(3, counters.get("udp.fwd.gsoWrites"), "the last run, of one, leaves as it came");
    }

    @Test
    void aRunStopsAtTheKernelsSegmentAndByteLimits() {
        for (int i = 0; i < UdpGso.MAX_SEGMENTS + 6; i++) {
            write(100, i % 100);
        }
        ch.flush();
        List<List<Integer>> runs = sent();
        assertEquals(2, runs.size());
        assertEquals(UdpGso.MAX_SEGMENTS, runs.get(0).size(), "64 segments at most");
        assertEquals(6, runs.get(1).size());

        int big = 10_000;
        for (int i = 0; i < 8; i++) {
            write(big, i);
        }
        ch.flush();
        runs = sent();
        assertEquals(List.of(List.of(big, big, big, big, big, big), List.of(big, big)), runs,
                "at most 65,507 bytes per write");
    }

    @Test
    void aPacketWithAnAddressOrAPromiseGoesAfterTheRunBeforeIt() {
        write(500, 1);
        write(500, 2);
        DatagramPacket addressed = new DatagramPacket(datagram(10, 3), PEER);
        ch.write(addressed, ch.voidPromise());
        ch.flush();
        Object first = ch.readOutbound();
        assertInstanceOf(Run.class, first);
        ((Run) first).content().release();
        assertSame(addressed, ch.readOutbound());
        addressed.release();

        write(500, 4);
        var promise = ch.newPromise();
        ByteBuf withPromise = datagram(500, 5);
        ch.write(withPromise, promise);
        ch.flush();
        assertEquals(List.of(List.of(500), List.of(500)), sent(), "a write someone waits for is not merged");
        assertTrue(promise.isSuccess());
    }

    @Test
    void closingReleasesWhatWaitsForTheFlush() {
        write(1400, 1);
        write(1400, 2);
        write(1400, 3);
        ch.close();
        assertNull(ch.readOutbound());
        // the leak detector (paranoid in unit tests) fails the test if the held run was not released
    }
}
