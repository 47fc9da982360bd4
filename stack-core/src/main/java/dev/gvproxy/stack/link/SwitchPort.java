package dev.gvproxy.stack.link;

import dev.gvproxy.stack.wire.MacAddress;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One attachment to the {@link VirtualSwitch}: an id that is never reused, a human-readable name, the
 * endpoint frames are written to, and per-port counters. Created by {@link VirtualSwitch#attach}.
 */
public final class SwitchPort {
    private final int id;
    private final String name;
    final LinkEndpoint endpoint;
    boolean attached = true;
    boolean dirty;
    /**
     * MACs learned on this port (usually one), bounded by {@code PortSecurity.macsPerPort}. Replaced, never
     * modified, by the event loop, so any thread can read a consistent copy (the API's {@code /cam}).
     */
    volatile long[] macs = new long[0];
    /**
     * MACs of this port that aged out of the CAM (an idle VM): they still belong to the port for the
     * listeners (flows, notifications) until the port detaches or the MAC shows up elsewhere. Oldest first,
     * at most {@code macsPerPort}. Event loop only.
     */
    long[] dormant = new long[0];

    // Counters are written by the event loop and read by the API; AtomicLong keeps reads tear-free.
    final AtomicLong framesIn = new AtomicLong();
    final AtomicLong bytesIn = new AtomicLong();
    final AtomicLong framesOut = new AtomicLong();
    final AtomicLong bytesOut = new AtomicLong();

    SwitchPort(int id, String name, LinkEndpoint endpoint) {
        this.id = id;
        this.name = name;
        this.endpoint = endpoint;
    }

    public int id() {
        return id;
    }

    public String name() {
        return name;
    }

    public boolean isAttached() {
        return attached;
    }

    /**
     * True when the port's transport can take more frames now (its queue is below its high mark). A detached
     * port reads as writable: what is sent to it is dropped, and whoever waited on it must not wait for ever.
     */
    public boolean isWritable() {
        return !attached || endpoint.isWritable();
    }

    /** True when the port's peer takes large TCP segments ({@link LinkEndpoint#offloads()}). */
    public boolean offloads() {
        return endpoint.offloads();
    }

    public long framesIn() {
        return framesIn.get();
    }

    public long bytesIn() {
        return bytesIn.get();
    }

    public long framesOut() {
        return framesOut.get();
    }

    public long bytesOut() {
        return bytesOut.get();
    }

    /** Number of MACs learned on this port. */
    public int macCount() {
        return macs.length;
    }

    /** Logged when a port opens and closes: the id, the name and at most a few MACs with their count. */
    @Override
    public String toString() {
        long[] m = macs;
        StringBuilder sb = new StringBuilder("port ").append(id).append(" (").append(name).append(')');
        for (int i = 0; i < Math.min(m.length, SHOWN_MACS); i++) {
            sb.append(' ').append(MacAddress.format(m[i]));
        }
        if (m.length > SHOWN_MACS) {
            sb.append(" and ").append(m.length - SHOWN_MACS).append(" more MACs");
        }
        return sb.toString();
    }

    private static final int SHOWN_MACS = 4;
}
