package dev.gvproxy.stack.link;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import org.junit.jupiter.api.Test;

/** The one impairment model's meanings, and {@link LinkImpairment} applying it on a manual clock. */
class ImpairmentTest {
    static final long MS = 1_000_000L;

    /** A manual clock and scheduler: events run in time order, ties in insertion order. */
    static final class Sim {
        record Event(long at, long order, Runnable task) {}

        final PriorityQueue<Event> events = new PriorityQueue<>((a, b) -> a.at != b.at ? Long.compare(a.at, b.at)
                : Long.compare(a.order, b.order));
        long now;
        long order;
        final List<long[]> out = new ArrayList<>(); // {frame number, time sent}

        LinkImpairment link(Impairment spec) {
            return new LinkImpairment(spec, () -> now, (task, delay) -> events.add(new Event(now + delay, order++,
                    task)), () -> { }, 1 << 16);
        }

        void offer(LinkImpairment l, int n) {
            l.egress(Unpooled.buffer(4).writeInt(n), f -> {
                out.add(new long[] {f.getInt(0), now});
                f.release();
            });
        }

        void runAll() {
            for (Event e; (e = events.poll()) != null; ) {
                now = e.at();
                e.task().run();
            }
        }
    }

    @Test
    void noneDropsDuplicatesAndDelaysNothing() {
        Sim sim = new Sim();
        LinkImpairment l = sim.link(Impairment.none());
        for (int i = 0; i < 100; i++) {
            sim.offer(l, i);
        }
        assertEquals(100, sim.out.size());
        for (int i = 0; i < 100; i++) {
            assertEquals(i, sim.out.get(i)[0]);
        }
        assertTrue(sim.events.isEmpty(), "no timer without a delay");
    }

    @Test
    void reorderIsTheShareSentAheadOfTheDelay() {
        Sim sim = new Sim();
        LinkImpairment l = sim.link(Impairment.none().withSeed(9).withDelay(Duration.ofMillis(5)).withReorder(0.25));
        for (int i = 0; i < 4000; i++) {
            sim.offer(l, i);
        }
        long atOnce = sim.out.size();
        assertTrue(atOnce > 800 && atOnce < 1200, "sent at once: " + atOnce);
        sim.runAll();
        assertEquals(4000, sim.out.size());
        assertEquals(4000 - atOnce, l.delayed());
        for (long[] f : sim.out.subList((int) atOnce, 4000)) {
            assertEquals(5 * MS, f[1], "a held frame waits exactly the delay");
        }
    }

    @Test
    void jitterReleasesEachFrameWithinItsOwnDelay() {
        Sim sim = new Sim();
        LinkImpairment l = sim.link(Impairment.none().withSeed(4).withDelay(Duration.ofMillis(5),
                Duration.ofMillis(10)));
        List<Long> offeredAt = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            sim.now = i * 100_000L; // one frame every 0.1 ms, offered between timer events
            while (!sim.events.isEmpty() && sim.events.peek().at() <= sim.now) {
                Sim.Event e = sim.events.poll();
                long t = sim.now;
                sim.now = e.at();
                e.task().run();
                sim.now = t;
            }
            offeredAt.add(sim.now);
            sim.offer(l, i);
        }
        sim.runAll();
        assertEquals(200, sim.out.size());
        List<Integer> order = new ArrayList<>();
        for (long[] f : sim.out) {
            long waited = f[1] - offeredAt.get((int) f[0]);
            assertTrue(waited >= 5 * MS && waited < 15 * MS + MS / 10, "frame " + f[0] + " waited " + waited);
            order.add((int) f[0]);
        }
        assertNotEquals(order.stream().sorted().toList(), order, "jitter lets frames overtake each other");
    }

    @Test
    void sameSeedSameDecisions() {
        Impairment spec = Impairment.none().withSeed(7).withLoss(0.1).withDuplicate(0.1).withReorder(0.3)
                .withDelay(Duration.ofMillis(1), Duration.ofMillis(1));
        Impairment.Dice a = spec.dice();
        Impairment.Dice b = spec.dice();
        for (int i = 0; i < 1000; i++) {
            assertEquals(a.lose(), b.lose());
            assertEquals(a.duplicate(), b.duplicate());
            assertEquals(a.delayNanos(), b.delayNanos());
        }
    }

    @Test
    void rejectsNonsense() {
        assertThrows(IllegalArgumentException.class, () -> Impairment.none().withReorder(-0.1));
        assertThrows(IllegalArgumentException.class, () -> Impairment.none().withDuplicate(Double.NaN));
        assertThrows(IllegalArgumentException.class,
                () -> Impairment.none().withDelay(Duration.ZERO, Duration.ofMillis(-1)));
    }

    @Test
    void closeReleasesHeldFrames() {
        Sim sim = new Sim();
        LinkImpairment l = sim.link(Impairment.none().withDelay(Duration.ofMillis(5)));
        ByteBuf f = Unpooled.buffer(4).writeInt(1);
        l.egress(f, x -> { });
        assertEquals(1, l.held());
        l.close();
        assertEquals(0, f.refCnt());
        sim.runAll();
        assertEquals(0, l.held());
    }
}
