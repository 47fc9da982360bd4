package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The guest's sequence space wrapping through 2^32 while we receive, reassemble, SACK, close. */
class TcpSequenceWrapTest {
    /** 300 bytes before the wrap. */
    static final int GUEST_ISN = -301;
    static final int G1 = GUEST_ISN + 1;

    TcpHarness h = new TcpHarness();
    final byte[] stream = h.bytes(4000, 11);

    @AfterEach
    void tearDown() {
        h.close();
    }

    void establish() {
        h.send(TcpHarness.syn().seq(GUEST_ISN));
        Segment synAck = h.recv();
        assertEquals(G1, synAck.ack());
        h.send(h.ack(G1, ISS + 1));
        assertEquals(TcpState.ESTABLISHED, h.conn.state());
    }

    void data(int from, int len) {
        h.send(h.ack(G1 + from, ISS + 1), Arrays.copyOfRange(stream, from, from + len));
    }

    @Test
    void inOrderDataAcrossTheWrap() {
        establish();
        data(0, 1000);
        data(1000, 1000);
        Segment a = h.recv();
        assertEquals(G1 + 2000, a.ack());
        assertEquals(1700, a.ack(), "past zero");
        assertArrayEquals(Arrays.copyOf(stream, 2000), h.app.received.toByteArray());
    }

    @Test
    void outOfOrderAcrossTheWrapWithSack() {
        establish();
        data(1000, 500); // entirely after the wrap
        Segment dup = h.recv();
        assertEquals(G1, dup.ack());
        assertArrayEquals(new int[] {G1 + 1000, G1 + 1500}, dup.tcp().sackBlocks());
        data(200, 900); // straddles zero, overlaps the held piece
        h.drain();
        data(0, 200);
        Segment a = h.drain().getLast();
        assertEquals(G1 + 1500, a.ack());
        assertArrayEquals(Arrays.copyOf(stream, 1500), h.app.received.toByteArray());
    }

    @Test
    void duplicateAcrossTheWrapGetsADsack() {
        establish();
        data(0, 1000);
        h.drain();
        data(0, 1000);
        Segment a = h.recv();
        assertArrayEquals(new int[] {G1, G1 + 1000}, a.tcp().sackBlocks());
    }

    @Test
    void finAfterTheWrap() {
        establish();
        data(0, 500);
        h.send(h.ack(G1 + 500, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
        assertEquals(TcpState.CLOSE_WAIT, h.conn.state());
        h.advance(h.config.delayedAck());
        assertEquals(G1 + 501, h.drain().getLast().ack());
    }

    @Test
    void exactRstAfterTheWrapResets() {
        establish();
        data(0, 500);
        h.send(TcpHarness.fromGuest().seq(G1 + 500).flags(TcpFlags.RST).noTimestamps());
        assertEquals(TcpState.CLOSED, h.conn.state());
    }

    @Test
    void oldSegmentFromBeforeTheWrapIsRejected() {
        establish();
        data(0, 1000);
        h.drain();
        h.send(h.ack(G1 - 5000, ISS + 1), new byte[10]);
        Segment a = h.recv();
        assertEquals(G1 + 1000, a.ack());
        assertEquals(1000, h.app.received.size());
    }
}
