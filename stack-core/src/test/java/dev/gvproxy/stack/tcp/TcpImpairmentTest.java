package dev.gvproxy.stack.tcp;

import dev.gvproxy.stack.wire.Ipv6Address;
import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.Impairment;
import dev.gvproxy.stack.link.LinkImpairment;
import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.PriorityQueue;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * TCP over a bad link: focused regressions for bugs the real-guest impairment tests found, and a seeded
 * netsim (two {@link TcpConnection}s joined by a lossy, reordering, duplicating, delaying link on a manual
 * clock) that must deliver byte-exact.
 */
class TcpImpairmentTest {

    /** Found by the stalled-reader netns test: the held right edge crept up by a scale unit per ACK. */
    @Nested
    class ReceiveWindowEdge {
        final TcpHarness h = new TcpHarness(); // 64 KiB receive buffer, window scale 7 (128-byte units)

        @AfterEach
        void close() {
            h.close();
        }

        @Test
        void roundingNeverLetsTheStackAcceptMoreThanItsBuffer() {
            h.establish();
            h.app.consumeImmediately = false;
            int seq = REMOTE_SEQ + 1;
            int edge = seq + 65535; // what the SYN-ACK offered (unscaled)
            // A sender that always fills the advertised window with odd-sized segments, as Linux does when
            // it probes a closing window; each segment is ACKed at once (the delayed-ACK timer runs).
            for (int i = 0; i < 2000 && seq - edge < 0; i++) {
                int len = Math.min(1000, edge - seq);
                h.send(h.ack(seq, ISS + 1), h.bytes(len, i));
                seq += len;
                h.advanceMs(50);
                for (Segment s : h.drain()) {
                    int offered = s.ack() + (s.tcp().window() << 7);
                    if (offered - edge > 0) {
                        edge = offered;
                    }
                }
            }
            int accepted = h.conn.unconsumedBytes();
            assertTrue(accepted <= 65536, "accepted " + accepted + " bytes into a 65536-byte buffer");
            assertTrue(accepted + h.conn.rcvWnd() <= 65536 + 127, "offered beyond the buffer: " + accepted + " + "
                    + h.conn.rcvWnd());
            assertTrue(accepted > 65536 - 1000, "the buffer filled: " + accepted);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Seeded netsim

    static final long MS = 1_000_000L;

    static Impairment link(long seed) {
        return Impairment.none().withSeed(seed);
    }

    /** Loss, duplicate and reorder with a 5 ms delay, as the netns test's stack side. */
    static Impairment all(long seed, double loss, double duplicate) {
        return link(seed).withLoss(loss).withDuplicate(duplicate).withReorder(0.25).withDelay(Duration.ofMillis(5));
    }

    static Stream<Arguments> links() {
        return Stream.of(
                Arguments.of("clean", link(1)),
                Arguments.of("loss 3%", link(2).withLoss(0.03).withDelay(Duration.ofMillis(1))),
                Arguments.of("reorder 25% delay 5ms", link(3).withReorder(0.25).withDelay(Duration.ofMillis(5))),
                Arguments.of("duplicate 1%", link(4).withDuplicate(0.01).withDelay(Duration.ofMillis(1))),
                Arguments.of("all (netns test)", all(5, 0.03, 0.01)),
                Arguments.of("all, seed 6", all(6, 0.03, 0.01)),
                Arguments.of("heavy loss 10%", all(7, 0.10, 0.02)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("links")
    void bulkTransferIsByteExact(String name, Impairment spec) throws Exception {
        NetSim sim = new NetSim(spec, 8 << 20);
        try {
            sim.run(3_600_000 * MS);
            assertTrue(sim.finished(), name + ": did not finish: " + sim);
            assertEquals(sim.sentDigest(), sim.receivedDigest(), name + ": byte-exact");
            double secs = sim.finishedAt / 1e9;
            System.out.printf("netsim %-22s %8.2f simulated s %8.1f Mbit/s  retransmits %5d  timeouts %4d  fast %4d%n",
                    name, secs, sim.total * 8 / secs / 1e6, sim.counters.counter("tcp.out.retransmits").get(),
                    sim.counters.counter("tcp.retransmitTimeout").get(),
                    sim.counters.counter("tcp.fastRetransmit").get());
        } finally {
            sim.close();
        }
    }

    /**
     * Two connections on a manual clock: A connects and sends {@code total} seeded bytes, then closes; B
     * receives, consumes at once and closes after A's FIN. Each direction has its own {@link LinkImpairment}
     * followed by a 0.5 ms propagation delay; events run in time order (ties in insertion order).
     */
    static final class NetSim implements TcpConnection.Output {
        static final int A_IP = 0x0a000001;
        static final int B_IP = 0x0a000002;

        record Event(long at, long order, Runnable action) {}

        final Counters counters = new Counters();
        final TcpCounters tcpCounters = new TcpCounters(counters);
        final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
        final PriorityQueue<Event> events = new PriorityQueue<>((x, y) -> x.at != y.at ? Long.compare(x.at, y.at)
                : Long.compare(x.order, y.order));
        long order;
        long now = 1_000 * MS;
        final long start = now;
        long finishedAt = -1;
        final long total;
        long queued;
        final SplittableRandom data = new SplittableRandom(99);
        final MessageDigest sent = sha();
        final MessageDigest received = sha();
        long receivedBytes;
        boolean bGotFin;
        final TcpConnection a;
        final TcpConnection b;
        final LinkImpairment aToB;
        final LinkImpairment bToA;
        final TcpSegment segA = new TcpSegment();
        final TcpSegment segB = new TcpSegment();

        NetSim(Impairment spec, long total) {
            this.total = total;
            TcpConfig cfg = TcpConfig.forMtu(1500);
            a = new TcpConnection(Ipv6Address.ofIpv4(A_IP), 40000, Ipv6Address.ofIpv4(B_IP), 80, cfg, alloc, this, tcpCounters, new Sender(), 1);
            b = new TcpConnection(Ipv6Address.ofIpv4(B_IP), 80, Ipv6Address.ofIpv4(A_IP), 40000, cfg, alloc, this, tcpCounters, new Receiver(), 1 << 30);
            LinkImpairment.Scheduler sched = (task, delay) -> at(now + delay, task);
            aToB = new LinkImpairment(spec, () -> now, sched, () -> { }, 1 << 20);
            bToA = new LinkImpairment(spec.withSeed(spec.seed() * 31 + 7), () -> now, sched, () -> { }, 1 << 20);
        }

        static MessageDigest sha() {
            try {
                return MessageDigest.getInstance("SHA-256");
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }

        void at(long when, Runnable r) {
            events.add(new Event(when, order++, r));
        }

        /** @param segment <b>taken</b> */
        @Override
        public void transmit(TcpConnection c, ByteBuf segment, long t) {
            boolean fromA = c == a;
            (fromA ? aToB : bToA).egress(segment, s -> at(now + MS / 2, () -> arrive(fromA ? b : a, s)));
        }

        /** @param s <b>taken</b> */
        void arrive(TcpConnection to, ByteBuf s) {
            try {
                TcpSegment seg = (to == a ? segA : segB).parse(s, s.readerIndex(), s.readableBytes());
                if (to == b && b.state() == TcpState.CLOSED && seg.syn() && !seg.ackFlag() && !bStarted) {
                    bStarted = true;
                    b.acceptSyn(seg, now);
                } else {
                    to.onSegment(seg, now);
                }
            } finally {
                s.release();
            }
        }

        boolean bStarted;

        final class Sender implements TcpConnection.Handler {
            @Override
            public void onEstablished(TcpConnection c) {
                fill(c);
            }

            @Override
            public void onData(TcpConnection c, ByteBuf d) {
                d.release();
            }

            @Override
            public void onSendSpace(TcpConnection c) {
                fill(c);
            }
        }

        void fill(TcpConnection c) {
            while (queued < total && c.sendSpace() >= 65536) {
                byte[] chunk = new byte[(int) Math.min(65536, total - queued)];
                for (int i = 0; i < chunk.length; i++) {
                    chunk[i] = (byte) data.nextInt();
                }
                sent.update(chunk);
                queued += chunk.length;
                c.send(Unpooled.wrappedBuffer(chunk), now);
            }
            if (queued == total) {
                c.shutdownOutput(now);
            }
        }

        final class Receiver implements TcpConnection.Handler {
            @Override
            public void onData(TcpConnection c, ByteBuf d) {
                int n = d.readableBytes();
                received.update(d.nioBuffer());
                d.release();
                receivedBytes += n;
                c.consumed(n, now);
            }

            @Override
            public void onFin(TcpConnection c) {
                bGotFin = true;
                if (receivedBytes == total && finishedAt < 0) {
                    finishedAt = now - start;
                }
                c.shutdownOutput(now);
            }
        }

        void run(long limit) {
            a.connect(now);
            long end = now + limit;
            while (now < end) {
                long next = Math.min(a.nextDeadline(), b.nextDeadline());
                Event e = events.peek();
                if (e != null && e.at <= next) {
                    events.poll();
                    now = Math.max(now, e.at);
                    e.action.run();
                } else if (next != Long.MAX_VALUE) {
                    now = Math.max(now, next);
                    if (a.nextDeadline() <= now) {
                        a.poll(now);
                    }
                    if (b.nextDeadline() <= now) {
                        b.poll(now);
                    }
                } else {
                    break; // nothing left to happen
                }
                if (finished() && done()) {
                    break;
                }
            }
        }

        boolean done() {
            return (a.state() == TcpState.CLOSED || a.state() == TcpState.TIME_WAIT) && b.state() == TcpState.CLOSED;
        }

        boolean finished() {
            return finishedAt >= 0;
        }

        String sentDigest() {
            return HexFormat.of().formatHex(sent.digest());
        }

        String receivedDigest() {
            return HexFormat.of().formatHex(received.digest());
        }

        void close() {
            a.abort(now);
            b.abort(now);
            for (Event e; (e = events.poll()) != null; ) {
                now = Math.max(now, e.at);
                e.action.run(); // releases in-flight segments (arrivals at closed connections are no-ops)
            }
            aToB.close();
            bToA.close();
        }

        @Override
        public String toString() {
            return "t=" + (now - start) / MS + " ms, queued " + queued + ", received " + receivedBytes + ", a " + a
                    + " una " + a.sndUna() + " nxt " + a.sndNxt() + " cwnd " + a.cwnd() + ", b " + b + ", fin "
                    + bGotFin + ", events " + events.size() + ", " + aToB + " / " + bToA + ", "
                    + counters.snapshot();
        }
    }
}
