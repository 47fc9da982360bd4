package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpRepr;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * RFC 9293 3.10.7.4 and RFC 5961 as a table: every state the passive side can reach, times every kind of
 * segment that matters for validation, with the exact answer (nothing, an ACK, a RST) and the state after.
 * Then timer behaviour and abort() per state.
 */
@org.junit.jupiter.params.ParameterizedClass(name = "{0}")
@org.junit.jupiter.params.provider.EnumSource(TcpHarness.Family.class)
class TcpStateMatrixTest {
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

    /**
     * Where a connection stands after a state factory: the guest's next sequence number (our RCV.NXT), our
     * SND.NXT, and an ACK value that is acceptable without acknowledging anything new (or, in SYN-RECEIVED,
     * the one that completes the handshake).
     */
    record Ctx(int rcv, int snd, int una, int ackOk, boolean finReceived) {}

    /** Drives {@code h} into {@code s} and drains what the stack sent on the way. */
    static Ctx enter(TcpHarness h, TcpState s) {
        int r1 = REMOTE_SEQ + 1;
        int r2 = REMOTE_SEQ + 2;
        Ctx c = switch (s) {
            case SYN_RECEIVED -> {
                h.send(TcpHarness.syn());
                h.recv();
                yield new Ctx(r1, ISS + 1, ISS, ISS + 1, false);
            }
            case ESTABLISHED -> {
                h.establish();
                yield new Ctx(r1, ISS + 1, ISS + 1, ISS + 1, false);
            }
            case FIN_WAIT_1 -> {
                h.establish();
                h.conn.shutdownOutput(h.now);
                yield new Ctx(r1, ISS + 2, ISS + 1, ISS + 1, false);
            }
            case FIN_WAIT_2 -> {
                h.establish();
                h.conn.shutdownOutput(h.now);
                h.send(h.ack(r1, ISS + 2));
                yield new Ctx(r1, ISS + 2, ISS + 2, ISS + 2, false);
            }
            case CLOSE_WAIT -> {
                h.establish();
                h.send(h.ack(r1, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
                h.advance(h.config.delayedAck()); // the ACK of the FIN, which waited for a FIN of ours
                yield new Ctx(r2, ISS + 1, ISS + 1, ISS + 1, true);
            }
            case CLOSING -> {
                h.establish();
                h.conn.shutdownOutput(h.now);
                h.send(h.ack(r1, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
                yield new Ctx(r2, ISS + 2, ISS + 1, ISS + 1, true);
            }
            case LAST_ACK -> {
                h.establish();
                h.send(h.ack(r1, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
                h.conn.shutdownOutput(h.now);
                yield new Ctx(r2, ISS + 2, ISS + 1, ISS + 1, true);
            }
            case TIME_WAIT -> {
                h.establish();
                h.conn.shutdownOutput(h.now);
                h.send(h.ack(r1, ISS + 2));
                h.send(h.ack(r1, ISS + 2).flags(TcpFlags.ACK | TcpFlags.FIN));
                yield new Ctx(r2, ISS + 2, ISS + 2, ISS + 2, true);
            }
            default -> throw new IllegalArgumentException(s.toString());
        };
        assertEquals(s, h.conn.state(), "factory reached " + s);
        h.drain();
        h.app.events.clear();
        return c;
    }

    /** The segments of the matrix. */
    enum Probe {
        RST_EXACT, RST_IN_WINDOW, RST_OUT_OF_WINDOW, SYN, ANCIENT_ACK, OLD_ACK, FUTURE_ACK, DATA, FIN, PURE_ACK;

        TcpRepr.Builder build(TcpHarness h, Ctx c) {
            return switch (this) {
                case RST_EXACT -> TcpHarness.fromGuest().seq(c.rcv()).flags(TcpFlags.RST).noTimestamps();
                case RST_IN_WINDOW -> TcpHarness.fromGuest().seq(c.rcv() + 100).flags(TcpFlags.RST).noTimestamps();
                case RST_OUT_OF_WINDOW -> TcpHarness.fromGuest().seq(c.rcv() + 100_000_000).flags(TcpFlags.RST)
                        .noTimestamps();
                case SYN -> TcpHarness.fromGuest().seq(c.rcv()).flags(TcpFlags.SYN).timestamps(200, 0);
                // Older than SND.UNA - MAX.SND.WND: RFC 5961 5.2 asks for an ACK and a drop.
                case ANCIENT_ACK -> h.ack(c.rcv(), c.una() - 1_000_000_000);
                // A plain duplicate from the past, within the window: ignored (RFC 9293 "can be ignored").
                case OLD_ACK -> h.ack(c.rcv(), c.una() - 100);
                case FUTURE_ACK -> h.ack(c.rcv(), c.snd() + 1000);
                case DATA -> h.ack(c.rcv(), c.ackOk());
                // Before the guest's FIN a fresh FIN; after it, a retransmission of the same FIN.
                case FIN -> h.ack(c.finReceived() ? c.rcv() - 1 : c.rcv(), c.ackOk())
                        .flags(TcpFlags.ACK | TcpFlags.FIN);
                case PURE_ACK -> h.ack(c.rcv(), c.ackOk());
            };
        }

        byte[] payload() {
            return this == DATA ? "0123456789".getBytes() : new byte[0];
        }
    }

    /** What the stack answers. */
    enum Answer {
        NOTHING, ACK, ACK_OF_FIN, RST,
        /** Nothing at once; the ACK of the FIN when the delayed-ACK timer fires (our side is still open). */
        DELAYED_ACK_OF_FIN
    }

    static Arguments row(TcpState s, Probe p, Answer a, TcpState after) {
        return Arguments.of(s, p, a, after);
    }

    static Stream<Arguments> matrix() {
        List<Arguments> rows = new ArrayList<>();
        TcpState[] synced = {TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2, TcpState.CLOSE_WAIT,
            TcpState.CLOSING, TcpState.LAST_ACK, TcpState.TIME_WAIT};
        for (TcpState s : synced) {
            rows.add(row(s, Probe.RST_EXACT, Answer.NOTHING, TcpState.CLOSED)); // RFC 5961 3.2: exact RST resets
            rows.add(row(s, Probe.RST_IN_WINDOW, Answer.ACK, s)); // RFC 5961 3.2: challenge ACK
            rows.add(row(s, Probe.RST_OUT_OF_WINDOW, Answer.NOTHING, s)); // silently dropped
            rows.add(row(s, Probe.SYN, Answer.ACK, s)); // RFC 5961 4.2: challenge ACK
            rows.add(row(s, Probe.ANCIENT_ACK, Answer.ACK, s)); // RFC 5961 5.2
            rows.add(row(s, Probe.OLD_ACK, Answer.NOTHING, s));
            rows.add(row(s, Probe.FUTURE_ACK, Answer.ACK, s)); // RFC 9293: ACK of unsent data -> ACK, drop
            rows.add(row(s, Probe.PURE_ACK, Answer.NOTHING, s));
        }
        // Data: delivered (ACK delayed) while the guest may send; ignored once its FIN arrived (RFC 9293
        // "this should not occur ... ignore the segment text").
        for (TcpState s : synced) {
            rows.add(row(s, Probe.DATA, Answer.NOTHING, s));
        }
        // FIN: the first FIN moves the state; it is acknowledged at once when our FIN is out already (the guest
        // waits for that ACK to finish), else by the delayed-ACK timer unless our FIN carries it first (as Linux);
        // a retransmitted FIN is acknowledged again at once.
        rows.add(row(TcpState.ESTABLISHED, Probe.FIN, Answer.DELAYED_ACK_OF_FIN, TcpState.CLOSE_WAIT));
        rows.add(row(TcpState.FIN_WAIT_1, Probe.FIN, Answer.ACK_OF_FIN, TcpState.CLOSING));
        rows.add(row(TcpState.FIN_WAIT_2, Probe.FIN, Answer.ACK_OF_FIN, TcpState.TIME_WAIT));
        rows.add(row(TcpState.CLOSE_WAIT, Probe.FIN, Answer.ACK, TcpState.CLOSE_WAIT));
        rows.add(row(TcpState.CLOSING, Probe.FIN, Answer.ACK, TcpState.CLOSING));
        rows.add(row(TcpState.LAST_ACK, Probe.FIN, Answer.ACK, TcpState.LAST_ACK));
        rows.add(row(TcpState.TIME_WAIT, Probe.FIN, Answer.ACK, TcpState.TIME_WAIT));
        // SYN-RECEIVED (passive open): an unacceptable ACK is answered with <SEQ=SEG.ACK><CTL=RST>.
        TcpState sr = TcpState.SYN_RECEIVED;
        rows.add(row(sr, Probe.RST_EXACT, Answer.NOTHING, TcpState.CLOSED));
        rows.add(row(sr, Probe.RST_IN_WINDOW, Answer.ACK, sr));
        rows.add(row(sr, Probe.RST_OUT_OF_WINDOW, Answer.NOTHING, sr));
        rows.add(row(sr, Probe.SYN, Answer.ACK, sr));
        rows.add(row(sr, Probe.ANCIENT_ACK, Answer.RST, sr));
        rows.add(row(sr, Probe.OLD_ACK, Answer.RST, sr));
        rows.add(row(sr, Probe.FUTURE_ACK, Answer.RST, sr));
        rows.add(row(sr, Probe.DATA, Answer.NOTHING, TcpState.ESTABLISHED));
        rows.add(row(sr, Probe.FIN, Answer.DELAYED_ACK_OF_FIN, TcpState.CLOSE_WAIT));
        rows.add(row(sr, Probe.PURE_ACK, Answer.NOTHING, TcpState.ESTABLISHED));
        return rows.stream();
    }

    @ParameterizedTest(name = "{0} + {1} -> {2}, {3}")
    @MethodSource("matrix")
    void segmentValidation(TcpState state, Probe probe, Answer answer, TcpState after) {
        Ctx c = enter(h, state);
        TcpRepr seg = probe.build(h, c).build();
        h.send(seg, probe.payload());
        List<Segment> out = h.drain();
        if (answer == Answer.DELAYED_ACK_OF_FIN) {
            assertEquals(List.of(), out, "the ACK of the FIN waits");
            h.advance(h.config.delayedAck() - 1);
            assertEquals(List.of(), h.drain(), "until the delayed-ACK timer");
            h.advance(1);
            out = h.drain();
            answer = Answer.ACK_OF_FIN;
        }
        switch (answer) {
            case NOTHING -> assertEquals(List.of(), out, "silence");
            case DELAYED_ACK_OF_FIN -> throw new AssertionError("handled above");
            case ACK, ACK_OF_FIN -> {
                assertEquals(1, out.size(), "one segment: " + out);
                Segment a = out.get(0);
                assertEquals(TcpFlags.ACK, a.tcp().flags() & ~TcpFlags.PSH, "a bare ACK: " + a);
                assertEquals(0, a.len());
                assertEquals(c.snd(), a.seq(), "SEQ = SND.NXT");
                assertEquals(answer == Answer.ACK_OF_FIN ? c.rcv() + 1 : c.rcv(), a.ack(), "ACK = RCV.NXT");
            }
            case RST -> {
                assertEquals(1, out.size(), "one segment: " + out);
                Segment r = out.get(0);
                assertEquals(TcpFlags.RST, r.tcp().flags(), "RST without ACK: " + r);
                assertEquals(seg.ack(), r.seq(), "<SEQ=SEG.ACK>");
            }
        }
        assertEquals(after, h.conn.state());
        if (after == TcpState.CLOSED) {
            assertEquals(0, h.stack.tcp().connectionCount(), "removed from the table");
            assertTrue(h.app.events.contains("closed"), h.app.events.toString());
        }
    }

    @ParameterizedTest(name = "{0}: in-window RST counts a challenge ACK")
    @MethodSource("syncStates")
    void challengeAcksAreCounted(TcpState state) {
        Ctx c = enter(h, state);
        long before = h.counters.get("tcp.out.challengeAcks");
        h.send(Probe.RST_IN_WINDOW.build(h, c));
        h.send(Probe.SYN.build(h, c));
        assertEquals(before + 2, h.counters.get("tcp.out.challengeAcks"));
    }

    static Stream<TcpState> syncStates() {
        return Stream.of(TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2, TcpState.CLOSE_WAIT,
                TcpState.CLOSING, TcpState.LAST_ACK, TcpState.TIME_WAIT);
    }

    static Stream<TcpState> allStates() {
        return Stream.concat(Stream.of(TcpState.SYN_RECEIVED), syncStates());
    }

    @ParameterizedTest(name = "abort() in {0}")
    @MethodSource("allStates")
    void abortSendsRstExceptFromTimeWait(TcpState state) {
        Ctx c = enter(h, state);
        h.conn.abort(h.now);
        List<Segment> out = h.drain();
        if (state == TcpState.TIME_WAIT) {
            assertEquals(List.of(), out, "nothing to reset: the peer already closed");
        } else {
            assertEquals(1, out.size());
            Segment r = out.get(0);
            assertEquals(TcpFlags.RST | TcpFlags.ACK, r.tcp().flags());
            assertEquals(c.snd(), r.seq());
            assertEquals(c.rcv(), r.ack());
        }
        assertEquals(TcpState.CLOSED, h.conn.state());
        assertEquals(List.of("closed"), h.app.events, "no onReset for a local abort");
        assertEquals(0, h.stack.tcp().connectionCount());
        assertEquals(Long.MAX_VALUE, h.conn.nextDeadline(), "no timer left");
        h.advanceMs(120_000);
        assertEquals(List.of(), h.drain(), "silence after abort");
        h.conn.abort(h.now);
        assertEquals(List.of(), h.drain(), "a second abort does nothing");
    }

    @ParameterizedTest(name = "segments after an abort in {0} get a RST from the layer")
    @MethodSource("syncStates")
    void segmentAfterAbortIsAnsweredByTheLayer(TcpState state) {
        Ctx c = enter(h, state);
        h.conn.abort(h.now);
        h.drain();
        h.send(h.ack(c.rcv(), c.snd()), "x".getBytes());
        Segment r = h.recv();
        assertEquals(TcpFlags.RST, r.tcp().flags());
        assertEquals(c.snd(), r.seq());
    }

    // ---------------------------------------------------------------------------------------------
    // Timers per state

    @Nested
    class FinWait1 {
        @Test
        void finIsRetransmittedWithBackoffUntilAcked() {
            Ctx c = enter(h, TcpState.FIN_WAIT_1);
            long rto = h.conn.rto();
            h.advance(rto - 1);
            h.expectNothing();
            h.advance(1);
            Segment fin = h.recv();
            assertTrue(fin.has(TcpFlags.FIN));
            assertEquals(ISS + 1, fin.seq());
            assertEquals(c.rcv(), fin.ack());
            h.advance(2 * rto - 1);
            h.expectNothing();
            h.advance(1);
            assertTrue(h.recv().has(TcpFlags.FIN), "second retransmission after twice the RTO");
            h.send(h.ack(c.rcv(), ISS + 2));
            assertEquals(TcpState.FIN_WAIT_2, h.conn.state());
            h.advanceMs(60_000);
            h.expectNothing();
        }

        @Test
        void finAfterQueuedDataTakesTheNextSequenceNumber() {
            h.establish();
            h.appSend(h.bytes(3000, 1));
            h.conn.shutdownOutput(h.now);
            List<Segment> out = h.drain();
            Segment last = out.get(out.size() - 1);
            assertTrue(last.has(TcpFlags.FIN), "the FIN follows the last data segment: " + out);
            assertEquals(ISS + 1 + 3000, last.seq() + last.len());
            long fins = out.stream().filter(s -> s.has(TcpFlags.FIN)).count();
            assertEquals(1, fins);
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1 + 3000));
            assertEquals(TcpState.FIN_WAIT_1, h.conn.state(), "data acked, FIN not yet");
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 2 + 3000));
            assertEquals(TcpState.FIN_WAIT_2, h.conn.state());
        }

        @Test
        void finAndDataAckedTogetherMovesToFinWait2() {
            h.establish();
            h.appSend(h.bytes(100, 1));
            h.conn.shutdownOutput(h.now);
            h.drain();
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 102));
            assertEquals(TcpState.FIN_WAIT_2, h.conn.state());
        }

        @Test
        void finAckedTogetherWithThePeersFinGoesStraightToTimeWait() {
            Ctx c = enter(h, TcpState.FIN_WAIT_1);
            h.send(h.ack(c.rcv(), ISS + 2).flags(TcpFlags.ACK | TcpFlags.FIN));
            assertEquals(TcpState.TIME_WAIT, h.conn.state());
            assertEquals(c.rcv() + 1, h.recv().ack());
        }

        @Test
        void tooManyFinRetransmissionsAbort() {
            enter(h, TcpState.FIN_WAIT_1);
            for (int i = 0; i < 40 && h.conn.state() != TcpState.CLOSED; i++) {
                h.advanceMs(60_000);
            }
            assertEquals(TcpState.CLOSED, h.conn.state());
            List<Segment> out = h.drain();
            assertTrue(out.get(out.size() - 1).has(TcpFlags.RST), "gives up with a RST");
            assertEquals(h.config.maxRetransmissions(), out.stream().filter(s -> s.has(TcpFlags.FIN)).count());
        }
    }

    @Nested
    class FinWait2 {
        @Test
        void noTimerRunsWhileWaitingForThePeer() {
            enter(h, TcpState.FIN_WAIT_2);
            assertEquals(Long.MAX_VALUE, h.conn.nextDeadline());
        }

        @Test
        void dataIsStillDeliveredAndAcked() {
            Ctx c = enter(h, TcpState.FIN_WAIT_2);
            h.send(h.ack(c.rcv(), ISS + 2), h.bytes(100, 1));
            h.send(h.ack(c.rcv() + 100, ISS + 2), h.bytes(100, 2));
            Segment a = h.recv();
            assertEquals(c.rcv() + 200, a.ack(), "every second segment is acked at once");
            assertEquals(ISS + 2, a.seq());
            assertEquals(200, h.app.received.size());
        }

        @Test
        void delayedAckFiresInFinWait2() {
            Ctx c = enter(h, TcpState.FIN_WAIT_2);
            h.send(h.ack(c.rcv(), ISS + 2), h.bytes(10, 1));
            h.expectNothing();
            h.advance(h.config.delayedAck());
            assertEquals(c.rcv() + 10, h.recv().ack());
        }
    }

    @Nested
    class CloseWait {
        @Test
        void appMaySendAndDataIsRetransmitted() {
            Ctx c = enter(h, TcpState.CLOSE_WAIT);
            h.appSend(h.bytes(100, 1));
            Segment d = h.recv();
            assertEquals(ISS + 1, d.seq());
            assertEquals(c.rcv(), d.ack());
            h.advance(h.conn.rto());
            Segment again = h.recv();
            assertEquals(ISS + 1, again.seq());
            assertEquals(100, again.len());
        }

        @Test
        void noTimerWhileIdle() {
            enter(h, TcpState.CLOSE_WAIT);
            assertEquals(Long.MAX_VALUE, h.conn.nextDeadline());
        }

        @Test
        void shutdownMovesToLastAckWithFin() {
            Ctx c = enter(h, TcpState.CLOSE_WAIT);
            h.conn.shutdownOutput(h.now);
            Segment fin = h.recv();
            assertEquals(TcpFlags.ACK | TcpFlags.FIN, fin.tcp().flags() & ~TcpFlags.PSH);
            assertEquals(c.snd(), fin.seq());
            assertEquals(c.rcv(), fin.ack());
            assertEquals(TcpState.LAST_ACK, h.conn.state());
            h.conn.shutdownOutput(h.now);
            h.expectNothing();
        }
    }

    @Nested
    class LastAck {
        @Test
        void finIsRetransmittedUntilAckedThenClosed() {
            Ctx c = enter(h, TcpState.LAST_ACK);
            h.advance(h.conn.rto());
            Segment fin = h.recv();
            assertTrue(fin.has(TcpFlags.FIN));
            assertEquals(ISS + 1, fin.seq());
            h.send(h.ack(c.rcv(), ISS + 2));
            assertEquals(TcpState.CLOSED, h.conn.state());
            assertEquals(List.of("closed"), h.app.events);
            assertEquals(0, h.stack.tcp().connectionCount());
        }

        @Test
        void ackOfLessThanTheFinKeepsWaiting() {
            h.establish();
            h.appSend(h.bytes(50, 1));
            h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).flags(TcpFlags.ACK | TcpFlags.FIN));
            h.conn.shutdownOutput(h.now);
            h.drain();
            h.send(h.ack(REMOTE_SEQ + 2, ISS + 51));
            assertEquals(TcpState.LAST_ACK, h.conn.state());
            h.send(h.ack(REMOTE_SEQ + 2, ISS + 52));
            assertEquals(TcpState.CLOSED, h.conn.state());
        }
    }

    @Nested
    class Closing {
        @Test
        void finIsRetransmittedInClosing() {
            Ctx c = enter(h, TcpState.CLOSING);
            h.advance(h.conn.rto());
            Segment fin = h.recv();
            assertTrue(fin.has(TcpFlags.FIN));
            assertEquals(c.rcv(), fin.ack(), "the retransmitted FIN acknowledges the peer's FIN");
            h.send(h.ack(c.rcv(), ISS + 2));
            assertEquals(TcpState.TIME_WAIT, h.conn.state());
        }
    }

    @Nested
    class TimeWait {
        @Test
        void lastsExactlyTheConfiguredTime() {
            enter(h, TcpState.TIME_WAIT);
            assertEquals(h.now + h.config.timeWait(), h.conn.nextDeadline());
            h.advance(h.config.timeWait() - 1);
            assertEquals(TcpState.TIME_WAIT, h.conn.state());
            h.advance(1);
            assertEquals(TcpState.CLOSED, h.conn.state());
            assertEquals(0, h.stack.tcp().connectionCount());
            h.expectNothing();
        }

        @Test
        void sendAfterTimeWaitIsRefused() {
            enter(h, TcpState.TIME_WAIT);
            long before = h.counters.get("tcp.dataAfterClose");
            h.appSend(h.bytes(10, 1));
            h.expectNothing();
            assertEquals(before + 1, h.counters.get("tcp.dataAfterClose"));
            assertEquals(0, h.conn.sendSpace());
        }

        @Test
        void newSynWithHigherSequenceReplacesTheOldIncarnation() {
            Ctx c = enter(h, TcpState.TIME_WAIT);
            TcpConnection old = h.conn;
            h.send(TcpHarness.syn().seq(c.rcv() + 100_000));
            assertEquals(TcpState.CLOSED, old.state());
            assertEquals(1, h.counters.get("tcp.timeWaitReuse"));
            Segment synAck = h.recv();
            assertEquals(TcpFlags.SYN | TcpFlags.ACK, synAck.tcp().flags());
            assertEquals(c.rcv() + 100_001, synAck.ack());
            assertEquals(TcpState.SYN_RECEIVED, h.conn.state());
        }

        @Test
        void synWithOldSequenceGetsAChallengeAck() {
            Ctx c = enter(h, TcpState.TIME_WAIT);
            h.send(TcpHarness.syn().seq(c.rcv() - 100));
            Segment a = h.recv();
            assertEquals(TcpFlags.ACK, a.tcp().flags());
            assertEquals(c.rcv(), a.ack());
            assertEquals(TcpState.TIME_WAIT, h.conn.state());
        }
    }

    @Nested
    class SynReceived {
        @Test
        void abortBeforeTheHandshakeCompletesSendsRst() {
            enter(h, TcpState.SYN_RECEIVED);
            h.conn.abort(h.now);
            Segment r = h.recv();
            assertTrue(r.has(TcpFlags.RST));
            assertEquals(ISS + 1, r.seq());
        }

        @Test
        void rstOfTheGuestClosesWithoutSynAckRetransmissions() {
            Ctx c = enter(h, TcpState.SYN_RECEIVED);
            h.send(Probe.RST_EXACT.build(h, c));
            assertEquals(TcpState.CLOSED, h.conn.state());
            h.advanceMs(10_000);
            h.expectNothing();
        }
    }
}
