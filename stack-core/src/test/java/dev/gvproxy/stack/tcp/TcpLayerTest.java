package dev.gvproxy.stack.tcp;

import dev.gvproxy.stack.ip.FlowKey;
import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * {@link TcpLayer}: demultiplexing, RFC 9293 3.10.7.1 resets for segments that match no connection, the
 * pending-SYN gate, TIME-WAIT reuse, the connection table, and the timer queue across many connections.
 */
@org.junit.jupiter.params.ParameterizedClass(name = "{0}")
@org.junit.jupiter.params.provider.EnumSource(TcpHarness.Family.class)
class TcpLayerTest {
    static final int R1 = REMOTE_SEQ + 1;

    TcpHarness h;

    /** Runs for both address families: the behaviour may not depend on it. */
    @org.junit.jupiter.params.Parameter
    TcpHarness.Family family;

    @org.junit.jupiter.api.BeforeEach
    void bench() {
        h = new TcpHarness(family);
    }

    @AfterEach
    void tearDown() {
        h.close();
    }

    @Nested
    class NoConnection {
        @Test
        void segmentWithAckGetsRstCarryingThatAck() {
            h.send(TcpHarness.fromGuest().seq(5000).ack(7777).flags(TcpFlags.ACK).noTimestamps(), "abc".getBytes());
            Segment r = h.recv();
            // <SEQ=SEG.ACK><CTL=RST>
            assertEquals(TcpFlags.RST, r.tcp().flags());
            assertEquals(7777, r.seq());
            assertEquals(0, r.len());
            assertEquals(h.dstAddr, r.src(), "from the address the guest wrote to");
            assertEquals(h.guestAddr, r.dst());
            assertEquals(TcpHarness.DST_PORT, r.tcp().srcPort());
            assertEquals(TcpHarness.GUEST_PORT, r.tcp().dstPort());
            assertEquals(1, h.counters.get("tcp.noConnection"));
            assertEquals(1, h.counters.get("tcp.out.resets"));
        }

        @Test
        void dataWithoutAckGetsRstAckCoveringIt() {
            h.send(TcpHarness.fromGuest().seq(5000).flags(TcpFlags.PSH).noTimestamps(), "0123456789".getBytes());
            Segment r = h.recv();
            // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
            assertEquals(TcpFlags.RST | TcpFlags.ACK, r.tcp().flags());
            assertEquals(0, r.seq());
            assertEquals(5010, r.ack());
        }

        @Test
        void finWithoutAckCountsOne() {
            h.send(TcpHarness.fromGuest().seq(5000).flags(TcpFlags.FIN).noTimestamps());
            assertEquals(5001, h.recv().ack());
        }

        @Test
        void resetIsNeverAnswered() {
            h.send(TcpHarness.fromGuest().seq(5000).ack(1).flags(TcpFlags.RST | TcpFlags.ACK).noTimestamps());
            h.send(TcpHarness.fromGuest().seq(5000).flags(TcpFlags.RST).noTimestamps());
            h.expectNothing();
            assertEquals(2, h.counters.get("tcp.noConnection"));
            assertEquals(0, h.counters.get("tcp.out.resets"));
        }

        @Test
        void synWithFinIsDropped() {
            h.send(TcpHarness.syn().flags(TcpFlags.SYN | TcpFlags.FIN));
            h.expectNothing();
            assertEquals(1, h.counters.get("tcp.badSynFlags"));
            assertNull(h.lastSyn);
        }

        @Test
        void synAckForNoConnectionGetsRst() {
            h.send(TcpHarness.syn().ack(4242).flags(TcpFlags.SYN | TcpFlags.ACK));
            Segment r = h.recv();
            assertEquals(TcpFlags.RST, r.tcp().flags());
            assertEquals(4242, r.seq());
            assertNull(h.lastSyn, "a SYN-ACK is not a connection request");
        }

        @Test
        void withoutASynHandlerSynsAreRefused() {
            h.stack.tcp().setSynHandler(null);
            h.send(TcpHarness.syn());
            Segment r = h.recv();
            assertEquals(TcpFlags.RST | TcpFlags.ACK, r.tcp().flags());
            assertEquals(R1, r.ack());
            assertEquals(1, h.counters.get("tcp.noListener"));
            assertEquals(0, h.stack.tcp().pendingSyns().size());
        }
    }

    @Nested
    class PendingSyns {
        @Test
        void retransmittedSynWhileConnectingIsAbsorbed() {
            h.autoAccept = false;
            h.send(TcpHarness.syn());
            h.send(TcpHarness.syn());
            h.send(TcpHarness.syn());
            h.expectNothing();
            assertEquals(2, h.counters.get("tcp.synWhileConnecting"));
            assertEquals(1, h.stack.tcp().pendingSyns().size());
            h.acceptPending();
            Segment synAck = h.recv();
            assertEquals(TcpFlags.SYN | TcpFlags.ACK, synAck.tcp().flags());
            assertEquals(R1, synAck.ack());
            assertEquals(0, h.stack.tcp().pendingSyns().size());
        }

        @Test
        void droppedSynLeavesNoTraceAndMayComeAgain() {
            h.autoAccept = false;
            h.send(TcpHarness.syn());
            TcpLayer.SynRequest first = h.lastSyn;
            h.stack.tcp().drop(first);
            h.expectNothing();
            assertEquals(0, h.stack.tcp().pendingSyns().size());
            h.send(TcpHarness.syn());
            assertNotSame(first, h.lastSyn, "a fresh request");
            assertEquals(1, h.stack.tcp().pendingSyns().size());
        }

        @Test
        void acceptOfARequestNoLongerPendingReturnsNull() {
            h.autoAccept = false;
            h.send(TcpHarness.syn());
            TcpLayer.SynRequest req = h.lastSyn;
            h.stack.tcp().reject(req, h.now);
            Segment r = h.recv();
            assertEquals(TcpFlags.RST | TcpFlags.ACK, r.tcp().flags());
            assertNull(h.stack.tcp().accept(req, h.app, h.now));
            h.expectNothing();
            assertEquals(0, h.stack.tcp().connectionCount());
        }

        @Test
        void pendingRequestsAreKeyedByTuple() {
            h.autoAccept = false;
            for (int p = 0; p < 5; p++) {
                h.send(TcpHarness.syn().srcPort(41000 + p));
            }
            assertEquals(5, h.stack.tcp().pendingSyns().size());
            assertEquals(0, h.counters.get("tcp.synWhileConnecting"));
        }

        @Test
        void synDataIsNotKeptInThePendingRequest() {
            h.autoAccept = false;
            h.send(TcpHarness.syn(), "early".getBytes());
            assertNull(h.lastSyn.syn().payload, "data on a SYN is retransmitted by the guest after the handshake");
        }
    }

    @Nested
    class Table {
        @Test
        void closedConnectionsLeaveTheTableAndTheTupleIsFreeAgain() {
            h.establish();
            TcpConnection first = h.conn;
            h.send(TcpHarness.fromGuest().seq(R1).flags(TcpFlags.RST).noTimestamps());
            assertEquals(TcpState.CLOSED, first.state());
            assertEquals(0, h.stack.tcp().connectionCount());
            h.send(TcpHarness.syn().seq(REMOTE_SEQ + 50_000));
            assertEquals(TcpFlags.SYN | TcpFlags.ACK, h.recv().tcp().flags());
            assertNotSame(first, h.conn);
            assertEquals(1, h.stack.tcp().connectionCount());
        }

        @Test
        void connectToAnExistingTupleIsRefused() {
            h.stack.tcp().connect(h.dstAddr, TcpHarness.DST_PORT, h.guestAddr, TcpHarness.GUEST_PORT,
                    h.app, h.now);
            assertThrows(IllegalStateException.class, () -> h.stack.tcp().connect(h.dstAddr,
                    TcpHarness.DST_PORT, h.guestAddr, TcpHarness.GUEST_PORT, h.app, h.now));
            assertEquals(1, h.stack.tcp().connectionCount());
            assertEquals(1, h.drain().size(), "one SYN");
        }

        @Test
        void connectionsAreFoundByTheirKey() {
            h.establish();
            FlowKey key = new FlowKey(h.guestAddr, TcpHarness.GUEST_PORT, h.dstAddr, TcpHarness.DST_PORT);
            assertEquals(h.conn, h.stack.tcp().connection(key));
            assertEquals(List.of(h.conn), List.copyOf(h.stack.tcp().connections()));
        }

        @Test
        void segmentsAreDemultiplexedByPort() {
            List<TcpConnection> conns = new ArrayList<>();
            for (int p = 0; p < 3; p++) {
                h.send(TcpHarness.syn().srcPort(42000 + p));
                h.recv();
                h.send(h.ack(R1, ISS + 1).srcPort(42000 + p));
                conns.add(h.conn);
            }
            h.send(h.ack(R1, ISS + 1).srcPort(42001), "hello".getBytes());
            assertEquals(R1 + 5, conns.get(1).rcvNxt());
            assertEquals(R1, conns.get(0).rcvNxt());
            assertEquals(R1, conns.get(2).rcvNxt());
        }
    }

    @Nested
    class Timers {
        /** Opens a connection from {@code port} and takes it to TIME-WAIT now. */
        TcpConnection toTimeWait(int port) {
            h.send(TcpHarness.syn().srcPort(port));
            h.recv();
            h.send(h.ack(R1, ISS + 1).srcPort(port));
            TcpConnection c = h.conn;
            c.shutdownOutput(h.now);
            h.send(h.ack(R1, ISS + 2).srcPort(port).flags(TcpFlags.ACK | TcpFlags.FIN));
            assertEquals(TcpState.TIME_WAIT, c.state());
            h.drain();
            return c;
        }

        @Test
        void manyConnectionsExpireInDeadlineOrder() {
            List<TcpConnection> conns = new ArrayList<>(java.util.Collections.nCopies(20, (TcpConnection) null));
            long start = h.now;
            // Port i enters TIME-WAIT at (i * 7 % 20) ms: deadline order unrelated to port or creation order.
            long[] enteredAt = new long[20];
            for (int t = 0; t < 20; t++) {
                for (int i = 0; i < 20; i++) {
                    if (i * 7 % 20 == t) {
                        conns.set(i, toTimeWait(43000 + i));
                        enteredAt[i] = h.now;
                    }
                }
                h.advanceMs(1);
            }
            assertEquals(20, h.stack.tcp().connectionCount());
            // The queue deletes superseded entries lazily, so its head may be an earlier, stale deadline (a
            // harmless early wakeup) but never a later one.
            assertTrue(h.stack.tcp().nextDeadline() <= start + h.config.timeWait());
            for (int t = 0; t < 20; t++) {
                h.now = start + h.config.timeWait() + t * TcpHarness.MS - 1;
                h.advance(1);
                for (int i = 0; i < 20; i++) {
                    boolean due = enteredAt[i] + h.config.timeWait() <= h.now;
                    assertEquals(due, conns.get(i).state() == TcpState.CLOSED, "connection " + i + " at step " + t);
                }
                assertEquals(19 - t, h.stack.tcp().connectionCount());
            }
            assertEquals(Long.MAX_VALUE, h.stack.tcp().nextDeadline());
        }

        @Test
        void aClosedConnectionLeavesTheTimerQueueAtOnce() {
            h.establish(); // the SYN-ACK armed a retransmission timer of a second; the ACK moved it off later
            TcpConnection c = h.conn;
            assertEquals(1, h.stack.tcp().queuedTimers());
            h.send(TcpHarness.fromGuest().seq(R1).flags(TcpFlags.RST).noTimestamps());
            assertEquals(TcpState.CLOSED, c.state());
            assertEquals(0, h.stack.tcp().queuedTimers(), "nothing due keeps the closed connection reachable");
            assertEquals(Long.MAX_VALUE, h.stack.tcp().nextDeadline());
        }

        @Test
        void retransmissionTimersOfDifferentConnectionsAreIndependent() {
            List<TcpConnection> conns = new ArrayList<>();
            for (int p = 0; p < 3; p++) {
                h.send(TcpHarness.syn().srcPort(44000 + p));
                h.recv();
                h.send(h.ack(R1, ISS + 1).srcPort(44000 + p));
                conns.add(h.conn);
            }
            long rto = conns.get(0).rto();
            conns.get(0).send(io.netty.buffer.Unpooled.wrappedBuffer(h.bytes(10, 1)), h.now);
            h.advanceMs(10);
            conns.get(2).send(io.netty.buffer.Unpooled.wrappedBuffer(h.bytes(10, 2)), h.now);
            h.sw.flush();
            assertEquals(2, h.drain().size());
            h.advance(rto - 10 * TcpHarness.MS);
            Segment a = h.recv();
            assertEquals(44000, a.tcp().dstPort(), "the first connection's timer fires first");
            h.expectNothing();
            h.advanceMs(10);
            Segment b = h.recv();
            assertEquals(44002, b.tcp().dstPort());
            h.expectNothing();
        }

        @Test
        void layerDeadlineIsNeverLaterThanAConnections() {
            h.establish();
            h.send(h.ack(R1, ISS + 1), "x".getBytes());
            assertEquals(h.now + h.config.delayedAck(), h.conn.nextDeadline());
            assertTrue(h.stack.tcp().nextDeadline() <= h.conn.nextDeadline());
            // Stale entries (the handshake's SYN-ACK timer) only cause an early, silent wakeup.
            while (h.stack.tcp().nextDeadline() < h.conn.nextDeadline()) {
                h.advance(h.stack.tcp().nextDeadline() - h.now);
                h.expectNothing();
            }
            h.advance(h.conn.nextDeadline() - h.now);
            assertEquals(R1 + 1, h.recv().ack(), "the delayed ACK fires on time");
        }

        @Test
        void closingTheLayerAbortsEveryConnection() {
            for (int p = 0; p < 3; p++) {
                h.send(TcpHarness.syn().srcPort(45000 + p));
                h.recv();
                h.send(h.ack(R1, ISS + 1).srcPort(45000 + p));
            }
            h.stack.tcp().close(h.now);
            h.sw.flush();
            List<Segment> out = h.drain();
            assertEquals(3, out.size());
            out.forEach(s -> assertTrue(s.has(TcpFlags.RST)));
            assertEquals(0, h.stack.tcp().connectionCount());
        }
    }
}
