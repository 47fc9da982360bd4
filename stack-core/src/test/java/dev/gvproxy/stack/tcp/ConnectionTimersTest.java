package dev.gvproxy.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link ConnectionTimers}: under random queueing, moving (earlier and later), removal from anywhere and taking the
 * first, the heap agrees with a map model: its first entry has the smallest deadline, every connection knows its
 * place, and a removed connection is out of it entirely.
 */
class ConnectionTimersTest {
    private final TcpConfig cfg = TcpConfig.forMtu(1500);
    private final TcpCounters counters = new TcpCounters(new Counters());

    private TcpConnection conn(int port) {
        return new TcpConnection(Ipv6Address.ofIpv4(0xc0a87ffe), 80, Ipv6Address.ofIpv4(0xc0a87f02), port, cfg,
                PooledByteBufAllocator.DEFAULT, (c, seg, now) -> seg.release(), counters,
                (c, data) -> data.release(), 1);
    }

    @Test
    void agreesWithAModelUnderRandomOperations() {
        SplittableRandom rnd = new SplittableRandom(13);
        List<TcpConnection> all = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            all.add(conn(40000 + i));
        }
        ConnectionTimers timers = new ConnectionTimers();
        Map<TcpConnection, Long> model = new HashMap<>();
        for (int step = 0; step < 20_000; step++) {
            TcpConnection c = all.get(rnd.nextInt(all.size()));
            switch (rnd.nextInt(4)) {
                case 0, 1 -> {
                    long d = rnd.nextLong(1000); // ties too
                    timers.set(c, d);
                    model.put(c, d);
                }
                case 2 -> {
                    timers.remove(c);
                    model.remove(c);
                }
                default -> {
                    TcpConnection first = timers.first();
                    if (first != null) {
                        timers.remove(first);
                        long d = model.remove(first);
                        for (long other : model.values()) {
                            assertEquals(true, d <= other, "the first entry has the earliest deadline");
                        }
                    }
                }
            }
            assertEquals(model.size(), timers.size());
            assertEquals(model.values().stream().mapToLong(Long::longValue).min().orElse(Long.MAX_VALUE),
                    timers.earliest());
            for (TcpConnection x : all) {
                Long d = model.get(x);
                assertEquals(d == null ? TcpConnection.NEVER : d, x.scheduledDeadline);
                assertEquals(d == null, x.timerIndex < 0);
            }
        }
    }

    @Test
    void removingTheLastOneEmptiesIt() {
        ConnectionTimers timers = new ConnectionTimers();
        TcpConnection a = conn(1);
        TcpConnection b = conn(2);
        timers.set(a, 5);
        timers.set(b, 3);
        assertSame(b, timers.first());
        timers.set(b, 9); // later: a comes first
        assertSame(a, timers.first());
        timers.remove(a);
        timers.remove(a); // twice is harmless
        assertSame(b, timers.first());
        timers.clear();
        assertNull(timers.first());
        assertEquals(-1, b.timerIndex);
        assertEquals(Long.MAX_VALUE, timers.earliest());
    }
}
