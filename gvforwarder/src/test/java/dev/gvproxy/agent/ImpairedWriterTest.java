package dev.gvproxy.agent;

import dev.gvproxy.stack.link.Impairment;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class ImpairedWriterTest {
    private final List<Integer> out = new CopyOnWriteArrayList<>();
    private final ImpairedWriter.Stats stats = new ImpairedWriter.Stats();

    private ImpairedWriter writer(Impairment imp) {
        return new ImpairedWriter(imp, f -> out.add(f.getInt(f.position())), "test", stats, e -> { });
    }

    private static ByteBuffer frame(int n) {
        return ByteBuffer.allocate(4).putInt(0, n);
    }

    private void awaitOutputs(int n) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (out.size() < n && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000); // poll the condition, do not spin on 2 cores
        }
        assertTrue(out.size() >= n, "only " + out.size() + " of " + n + " frames came out");
    }

    @Test
    void noImpairmentPassesInOrderInline() throws Exception {
        try (ImpairedWriter w = writer(Impairment.none())) {
            for (int i = 0; i < 100; i++) {
                w.submit(frame(i));
            }
        }
        assertEquals(100, out.size());
        for (int i = 0; i < 100; i++) {
            assertEquals(i, out.get(i));
        }
    }

    @Test
    void lossIsSeededAndRoughlyTheRate() throws Exception {
        try (ImpairedWriter w = writer(Impairment.none().withSeed(42).withLoss(0.25))) {
            for (int i = 0; i < 4000; i++) {
                w.submit(frame(i));
            }
        }
        long dropped = stats.dropped().get();
        assertEquals(4000, out.size() + dropped);
        assertTrue(dropped > 800 && dropped < 1200, "dropped " + dropped);
        // Same seed, same decisions.
        List<Integer> first = new ArrayList<>(out);
        out.clear();
        try (ImpairedWriter w = writer(Impairment.none().withSeed(42).withLoss(0.25))) {
            for (int i = 0; i < 4000; i++) {
                w.submit(frame(i));
            }
        }
        assertEquals(first, out);
    }

    @Test
    void duplicatesSendTwice() throws Exception {
        try (ImpairedWriter w = writer(Impairment.none().withDuplicate(1.0))) {
            w.submit(frame(7));
        }
        assertEquals(List.of(7, 7), out);
    }

    /** netem's reorder: 80% of the frames skip the 20 ms delay, so the other 20% are overtaken. */
    private static Impairment reorder20PercentBy20Ms() {
        return Impairment.none().withSeed(3).withDelay(Duration.ofMillis(20)).withReorder(0.8);
    }

    @Test
    void reorderLetsLaterFramesOvertake() throws Exception {
        try (ImpairedWriter w = writer(reorder20PercentBy20Ms())) {
            for (int i = 0; i < 200; i++) {
                w.submit(frame(i));
            }
            awaitOutputs(200);
        }
        assertEquals(200, out.size());
        assertEquals(200, out.stream().distinct().count());
        assertNotEquals(out.stream().sorted().toList(), out, "nothing was reordered");
        assertTrue(stats.delayed().get() > 0);
    }

    @Test
    void delayHoldsFramesBack() throws Exception {
        long start = System.nanoTime();
        try (ImpairedWriter w = writer(Impairment.none().withDelay(Duration.ofMillis(50), Duration.ZERO))) {
            w.submit(frame(1));
            w.submit(frame(2));
            assertTrue(out.isEmpty());
            awaitOutputs(2);
        }
        assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(50));
        assertEquals(List.of(1, 2), out); // equal delays keep the order
    }

    @Test
    void rejectsNonsense() {
        assertThrows(IllegalArgumentException.class, () -> Impairment.none().withLoss(1.5));
        assertThrows(IllegalArgumentException.class, () -> Impairment.none().withLoss(Double.NaN));
        assertThrows(IllegalArgumentException.class,
                () -> Impairment.none().withDelay(Duration.ofMillis(-1), Duration.ZERO));
    }
}
