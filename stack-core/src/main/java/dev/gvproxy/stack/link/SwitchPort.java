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
    /** Learned MACs on this port (usually one). */
    final java.util.Set<Long> macs = new java.util.HashSet<>();

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

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("port ").append(id).append(" (").append(name).append(')');
        for (long m : macs) {
            sb.append(' ').append(MacAddress.format(m));
        }
        return sb.toString();
    }
}
