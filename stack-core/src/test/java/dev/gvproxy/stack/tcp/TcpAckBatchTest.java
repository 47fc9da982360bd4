package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * ACKs coalesced per read batch: the in-order segments of one batch (frames a transport read in one go, ended by
 * the switch's flush) get one ACK at its end, per connection, covering all of them; out-of-order data is
 * acknowledged at once (RFC 5681 4.2); a lone segment waits for the delayed-ACK timer (RFC 1122 4.2.3.2).
 * Scripted segments, a manual clock.
 */
@org.junit.jupiter.params.ParameterizedClass(name = "{0}")
@org.junit.jupiter.params.provider.EnumSource(TcpHarness.Family.class)
class TcpAckBatchTest {
    static final int R1 = REMOTE_SEQ + 1;
    static final int LEN = 1000;

    @org.junit.jupiter.params.Parameter
    TcpHarness.Family family;

    TcpHarness h;
    /** The guest's byte stream: byte i sits at sequence number R1 + i. */
    byte[] stream;

    @org.junit.jupiter.api.BeforeEach
    void bench() {
        h = new TcpHarness(family);
        stream = h.bytes(64 * 1024, 7);
    }

    @AfterEach
    void tearDown() {
        h.close();
    }

    /** Segment {@code i} of the stream ({@link #LEN} bytes), into the current batch. */
    void segment(int i) {
        h.sendInBatch(h.ack(R1 + i * LEN, ISS + 1).build(), Arrays.copyOfRange(stream, i * LEN, (i + 1) * LEN));
    }

    @Test
    void inOrderSegmentsOfOneBatchGetOneAckCoveringAll() {
        h.establish();
        for (int i = 0; i < 10; i++) {
            segment(i);
        }
        h.expectNothing(); // the application consumed all of it too: the window update waits for the batch end
        h.endBatch();
        List<Segment> acks = h.drain();
        assertEquals(1, acks.size(), "one ACK for the batch: " + acks);
        Segment a = acks.getFirst();
        assertEquals(R1 + 10 * LEN, a.ack());
        assertEquals(0, a.len());
        assertEquals(0, a.tcp().sackBlocks().length);
        assertArrayEquals(Arrays.copyOf(stream, 10 * LEN), h.app.received.toByteArray());
        h.advance(h.config.delayedAck());
        h.expectNothing(); // nothing owed: no delayed ACK follows
    }

    @Test
    void outOfOrderSegmentIsAcknowledgedAtOnceWithinTheBatch() {
        h.establish();
        segment(0);
        segment(1);
        h.expectNothing();
        segment(3); // segment 2 is missing
        Segment dup = h.recv();
        assertEquals(R1 + 2 * LEN, dup.ack(), "the immediate ACK points at the hole");
        assertArrayEquals(new int[] {R1 + 3 * LEN, R1 + 4 * LEN}, dup.tcp().sackBlocks());
        segment(3); // a duplicate of held data: acknowledged at once too, with a DSACK
        Segment again = h.recv();
        assertEquals(R1 + 2 * LEN, again.ack());
        h.endBatch();
        h.expectNothing(); // the duplicate ACKs already covered the in-order data
        segment(2); // fills the hole
        assertEquals(R1 + 4 * LEN, h.recv().ack());
        h.endBatch();
        h.expectNothing();
    }

    @Test
    void loneSegmentIsAcknowledgedAfterTheDelayedAckDeadline() {
        h.establish();
        segment(0);
        h.endBatch();
        h.expectNothing();
        h.advance(h.config.delayedAck() - 1);
        h.expectNothing();
        h.advance(1);
        assertEquals(R1 + LEN, h.recv().ack());
        h.advanceMs(1000);
        h.expectNothing();
    }

    @Test
    void segmentsOfTwoBatchesAreAcknowledgedAtTheSecondBatchEnd() {
        h.establish();
        segment(0);
        h.endBatch();
        h.expectNothing(); // a lone segment: delayed
        segment(1);
        h.endBatch();
        assertEquals(R1 + 2 * LEN, h.recv().ack(), "the second unacknowledged segment is acknowledged at its batch end");
        h.expectNothing();
    }

    @Test
    void oneAckPerConnectionForABatchCarryingTwoConnections() {
        h.establish();
        TcpConnection first = h.conn;
        int port2 = TcpHarness.GUEST_PORT + 1;
        h.send(TcpHarness.syn().srcPort(port2));
        Segment synAck = h.recv();
        h.send(TcpHarness.fromGuest().srcPort(port2).seq(REMOTE_SEQ + 1).ack(ISS + 1).flags(TcpFlags.ACK)
                .timestamps(101, synAck.tcp().tsVal()));
        TcpConnection second = h.conn;
        assertNotSame(first, second);
        h.expectNothing();
        for (int i = 0; i < 3; i++) {
            segment(i);
            h.sendInBatch(h.ack(R1 + i * LEN, ISS + 1).srcPort(port2).build(),
                    Arrays.copyOfRange(stream, i * LEN, (i + 1) * LEN));
        }
        h.expectNothing();
        h.endBatch();
        List<Segment> acks = h.drain();
        assertEquals(2, acks.size(), "one ACK per connection: " + acks);
        assertEquals(List.of(TcpHarness.GUEST_PORT, port2), acks.stream().map(s -> s.tcp().dstPort()).sorted().toList());
        for (Segment a : acks) {
            assertEquals(R1 + 3 * LEN, a.ack());
        }
    }

    @Test
    void dataSentDuringTheBatchCarriesTheAck() {
        h.establish();
        segment(0);
        segment(1);
        h.conn.send(io.netty.buffer.Unpooled.wrappedBuffer(new byte[100]), h.now); // a response, mid-batch
        Segment data = h.recv();
        assertEquals(100, data.len());
        assertEquals(R1 + 2 * LEN, data.ack());
        h.endBatch();
        h.expectNothing(); // no bare ACK after it
    }
}
