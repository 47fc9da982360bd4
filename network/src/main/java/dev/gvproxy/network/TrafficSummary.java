package dev.gvproxy.network;

import dev.gvproxy.stack.DeadlineSource;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * {@code -debug}'s traffic summary (issue 12 item 3): every period (5 s by default) one log line with what changed
 * since the last one: frames and bytes per switch port each way, flows opened and closed per protocol (and how
 * many are open), and every counter that moved (drops among them, by {@code <layer>.<reason>}). Nothing is logged
 * for a period without traffic or counter change.
 *
 * <p>It is one of the stack's {@link DeadlineSource}s, so the network's one deadline driver runs it on the event
 * loop (no executor of its own), and its time is the stack's injected clock: tests call {@link #poll} with the
 * times they choose.
 */
final class TrafficSummary implements DeadlineSource {
    /** The default period, as upstream's {@code -debug} statistics. */
    static final long DEFAULT_PERIOD_NANOS = 5_000_000_000L;

    /** One switch port's totals. */
    record PortSample(int id, String name, long framesIn, long bytesIn, long framesOut, long bytesOut) {}

    /**
     * What the summary compares between two periods; every number is a running total except {@code open}.
     *
     * @param ports every attached port's totals
     * @param opened flows ever opened, by protocol ({@code tcp}, {@code udp}, {@code icmp})
     * @param open flows open now, by protocol
     * @param counters every named counter
     */
    record Sample(List<PortSample> ports, Map<String, Long> opened, Map<String, Integer> open,
                  Map<String, Long> counters) {}

    private final Supplier<Sample> sampler;
    private final Consumer<String> log;
    private final long period;
    private Sample last;
    private long due;

    /**
     * @param sampler reads the network's totals (on the event loop)
     * @param log where the summary line goes
     * @param periodNanos how often
     * @param now the stack's clock now: the first summary is due one period later
     */
    TrafficSummary(Supplier<Sample> sampler, Consumer<String> log, long periodNanos, long now) {
        if (periodNanos <= 0) {
            throw new IllegalArgumentException("the summary period must be positive");
        }
        this.sampler = sampler;
        this.log = log;
        this.period = periodNanos;
        this.last = sampler.get();
        this.due = now + periodNanos;
    }

    @Override
    public long nextDeadline() {
        return due;
    }

    @Override
    public void poll(long now) {
        if (now - due < 0) {
            return;
        }
        due = now + period;
        Sample cur = sampler.get();
        String line = line(last, cur, period);
        last = cur;
        if (line != null) {
            log.accept(line);
        }
    }

    /** The summary of what changed from {@code a} to {@code b}, or null when nothing did. */
    static String line(Sample a, Sample b, long periodNanos) {
        boolean changed = false;
        StringBuilder s = new StringBuilder("traffic in the last ").append(periodNanos / 1_000_000_000.0)
                .append(" s:");
        Map<Integer, PortSample> before = new HashMap<>();
        for (PortSample p : a.ports()) {
            before.put(p.id(), p);
        }
        List<String> ports = new ArrayList<>();
        for (PortSample p : b.ports()) {
            PortSample o = before.getOrDefault(p.id(), new PortSample(p.id(), p.name(), 0, 0, 0, 0));
            long fi = p.framesIn() - o.framesIn();
            long fo = p.framesOut() - o.framesOut();
            if (fi != 0 || fo != 0) {
                changed = true;
            }
            ports.add("port " + p.id() + " (" + p.name() + ") in " + fi + " frames " + (p.bytesIn() - o.bytesIn())
                    + " B, out " + fo + " frames " + (p.bytesOut() - o.bytesOut()) + " B");
        }
        s.append(ports.isEmpty() ? " no ports" : " " + String.join("; ", ports)).append(". Flows");
        for (String proto : List.of("tcp", "udp", "icmp")) {
            long opened = b.opened().getOrDefault(proto, 0L) - a.opened().getOrDefault(proto, 0L);
            int openBefore = a.open().getOrDefault(proto, 0);
            int openNow = b.open().getOrDefault(proto, 0);
            // Per table: open now = open before + opened - closed.
            long closed = openBefore + opened - openNow;
            if (opened != 0 || closed != 0) {
                changed = true;
            }
            s.append(' ').append(proto).append(" +").append(opened).append(" -").append(closed).append(" (")
                    .append(openNow).append(" open)");
        }
        TreeMap<String, Long> moved = new TreeMap<>();
        b.counters().forEach((k, v) -> {
            long d = v - a.counters().getOrDefault(k, 0L);
            if (d != 0) {
                moved.put(k, d);
            }
        });
        if (!moved.isEmpty()) {
            changed = true;
            s.append(". Counters");
            moved.forEach((k, d) -> s.append(' ').append(k).append(" +").append(d));
        }
        return changed ? s.append('.').toString() : null;
    }
}
