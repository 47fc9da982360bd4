package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.SwitchPort;

/**
 * Frames dropped because a port's send queue was full ({@link ChannelPort#MAX_QUEUED_BYTES}): the network's
 * total {@code transport.txQueueFull} and one counter per switch port, {@code transport.port<id>.txQueueFull},
 * so {@code /stats} shows which guest is not keeping up. A per-port counter exists only once its port dropped a
 * frame. Event-loop only.
 */
final class TxQueueFull {
    private final Counters counters;
    private final Counters.Counter total;
    private SwitchPort port;
    private Counters.Counter perPort;

    TxQueueFull(Counters counters) {
        this.counters = counters;
        this.total = counters.counter("transport.txQueueFull");
    }

    /** One frame dropped towards {@code p} (null when the port is not attached yet). */
    void inc(SwitchPort p) {
        total.inc();
        if (p == null) {
            return;
        }
        if (p != port) {
            port = p;
            perPort = counters.counter("transport.port" + p.id() + ".txQueueFull");
        }
        perPort.inc();
    }
}
