package dev.gvproxy.forwarder;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.function.ToLongFunction;

/**
 * A flow table in access order (a lookup moves a flow to the most recent end), so idle expiry stops at the
 * first flow that is still live instead of scanning them all. Shared by the UDP NAT flows and the ping
 * sockets. Event-loop only.
 *
 * @param <K> flow key
 * @param <F> flow
 */
final class IdleFlows<K, F> extends LinkedHashMap<K, F> {
    private static final long serialVersionUID = 1L;
    private final transient ToLongFunction<F> lastActive;

    IdleFlows(int initialCapacity, ToLongFunction<F> lastActive) {
        super(initialCapacity, 0.75f, true);
        this.lastActive = lastActive;
    }

    /**
     * Removes and returns the flows last active at or before {@code limit}; the caller closes them outside
     * the iteration, since closing may call back into the table.
     */
    List<F> removeIdle(long limit) {
        List<F> expired = List.of();
        for (Iterator<F> it = values().iterator(); it.hasNext(); ) {
            F f = it.next();
            if (lastActive.applyAsLong(f) - limit > 0) {
                break; // access order: every later flow is more recent
            }
            it.remove();
            if (expired.isEmpty()) {
                expired = new ArrayList<>();
            }
            expired.add(f);
        }
        return expired;
    }

    /** When the least recently active flow becomes idle, or {@code Long.MAX_VALUE}. */
    long nextDeadline(long idleTimeout) {
        Iterator<F> it = values().iterator();
        return it.hasNext() ? lastActive.applyAsLong(it.next()) + idleTimeout : Long.MAX_VALUE;
    }

    /** Removes and returns every flow (shutdown). */
    List<F> removeAll() {
        List<F> all = new ArrayList<>(values());
        clear();
        return all;
    }
}
