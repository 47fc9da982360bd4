package dev.gvproxy.stack;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Named event counters of one virtual network, {@code <layer>.<reason>} (e.g. {@code ipv4.badChecksum}).
 *
 * <p>Counters are created once (usually in a constructor) and then bumped on the network's event loop
 * without locks; readers on other threads (the HTTP API) see slightly stale values, which is fine for
 * statistics. Looking a counter up by name is for set-up and tests, not for the data path.
 */
public final class Counters {
    private final ConcurrentHashMap<String, Counter> byName = new ConcurrentHashMap<>();

    /** Returns the counter with this name, creating it at zero the first time. */
    public Counter counter(String name) {
        return byName.computeIfAbsent(name, Counter::new);
    }

    /** Current value of a counter, 0 if it was never created. */
    public long get(String name) {
        Counter c = byName.get(name);
        return c == null ? 0 : c.get();
    }

    /** A sorted copy of every counter's value. */
    public Map<String, Long> snapshot() {
        TreeMap<String, Long> out = new TreeMap<>();
        byName.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    /** Sum of all counters whose name starts with {@code prefix}. */
    public long sum(String prefix) {
        long total = 0;
        for (Map.Entry<String, Counter> e : byName.entrySet()) {
            if (e.getKey().startsWith(prefix)) {
                total += e.getValue().get();
            }
        }
        return total;
    }

    /** One named counter. Written by the event loop only; read from anywhere. */
    public static final class Counter {
        private final String name;
        private volatile long value;

        Counter(String name) {
            this.name = name;
        }

        public String name() {
            return name;
        }

        /** Adds one. Single writer (the event loop), so a plain read-modify-write of a volatile is safe. */
        @SuppressWarnings("NonAtomicOperationOnVolatileField")
        public void inc() {
            value = value + 1;
        }

        @SuppressWarnings("NonAtomicOperationOnVolatileField")
        public void add(long n) {
            value = value + n;
        }

        public long get() {
            return value;
        }

        @Override
        public String toString() {
            return name + "=" + value;
        }
    }
}
