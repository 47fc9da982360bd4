package dev.gvproxy.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** {@code -debug}'s 5 s traffic summary, driven with injected time (issue 12 item 3). */
class TrafficSummaryTest {
    private static final long S = 1_000_000_000L;

    private static TrafficSummary.Sample sample(long framesIn, long bytesIn, long tcpOpened, int tcpOpen, long drops) {
        return new TrafficSummary.Sample(
                List.of(new TrafficSummary.PortSample(0, "qemu", framesIn, bytesIn, framesIn / 2, bytesIn / 2)),
                Map.of("tcp", tcpOpened, "udp", 0L, "icmp", 0L), Map.of("tcp", tcpOpen, "udp", 0, "icmp", 0),
                Map.of("ipv4.badChecksum", drops, "tcp.in.segments", framesIn));
    }

    @Test
    void logsWhatChangedEveryPeriodOnTheInjectedClock() {
        AtomicReference<TrafficSummary.Sample> now = new AtomicReference<>(sample(0, 0, 0, 0, 0));
        List<String> lines = new ArrayList<>();
        TrafficSummary t = new TrafficSummary(now::get, lines::add, TrafficSummary.DEFAULT_PERIOD_NANOS, 100 * S);
        assertEquals(105 * S, t.nextDeadline());

        now.set(sample(10, 1000, 3, 1, 2));
        t.poll(104 * S); // early: nothing
        assertTrue(lines.isEmpty());
        t.poll(105 * S);
        assertEquals(List.of("traffic in the last 5.0 s: port 0 (qemu) in 10 frames 1000 B, out 5 frames 500 B."
                + " Flows tcp +3 -2 (1 open) udp +0 -0 (0 open) icmp +0 -0 (0 open)."
                + " Counters ipv4.badChecksum +2 tcp.in.segments +10."), lines);
        assertEquals(110 * S, t.nextDeadline());

        t.poll(110 * S); // a quiet period logs nothing
        assertEquals(1, lines.size());
        assertEquals(115 * S, t.nextDeadline());
    }
}
