package dev.gvproxy.stack;

/**
 * Something with timers that the network's one deadline serves: DHCP lease and offer expiry, the UDP and ICMP
 * flow tables' idle expiry, the guest budgets' leave grace. Registered with {@link NetworkStack#addDeadlineSource};
 * {@link NetworkStack#nextDeadline()} is the earliest over the stack's own timers (TCP, fragment reassembly, ARP,
 * switch ageing) and every source, and {@link NetworkStack#poll} runs each source that is due. Event loop only.
 *
 * <p>A source whose deadline moves <em>earlier</em> outside a frame's processing (a new flow, a guest that left)
 * tells the stack with {@link NetworkStack#wakeup(long)}, so the one timer is re-armed; later deadlines need no
 * word (a timer that fires early finds nothing due and is re-armed).
 */
public interface DeadlineSource {
    /** The earliest monotonic time (nanoseconds) {@link #poll} has work, or {@code Long.MAX_VALUE}. */
    long nextDeadline();

    /** Runs whatever is due at {@code now} (monotonic nanoseconds). */
    void poll(long now);
}
