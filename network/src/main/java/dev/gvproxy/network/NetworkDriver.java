package dev.gvproxy.network;

import dev.gvproxy.stack.DeadlineSource;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.link.PcapWriter;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The one flush and deadline driver of a network (issue 10 deliverable 3): nothing else in the code base flushes
 * the switch or runs a timer of the stack.
 *
 * <p><b>Flush.</b> Output code only writes. The first frame a loop task queues for a switch port (or hands the
 * gateway) asks the driver, through {@link VirtualSwitch#setFlushRequest}, for one flush; the driver queues
 * {@link #endOfTask} on the loop, which Netty runs right after the task that asked (after the I/O events of the
 * current loop iteration, or after the task that was running). So everything one socket read, one host-channel
 * event or one timer produced leaves in one flush per port, with no timer and no later loop iteration in
 * between: a host connect completing and the SYN-ACK leaving are one task.
 *
 * <p><b>Deadlines.</b> {@link NetworkStack#nextDeadline()} gathers the stack's timers (TCP, fragment
 * reassembly, ARP, switch ageing) and its {@link DeadlineSource}s (DHCP, guest budgets' leave grace, the UDP and
 * ICMP flow tables, UDP port forwards, and the pcap file here). One Netty timer is armed at the earliest of them;
 * it runs {@link NetworkStack#poll} and re-arms. The deadline is re-read at the end of every task that wrote a
 * frame, and sources that gain an earlier deadline without writing one say so with {@link NetworkStack#wakeup}
 * (TCP's own timers do the same through the stack's wakeup). A timer that fires early finds nothing due and is
 * re-armed; there is no polling tick.
 *
 * <p>Event loop only, except construction.
 */
final class NetworkDriver {
    /** Frames recorded to a pcap file reach the disk at most this long after the first of a batch. */
    private static final long PCAP_FLUSH_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private final EventLoop loop;
    private final VirtualSwitch sw;
    private final NetworkStack stack;
    private final LongSupplier clock;
    private final PcapWriter pcap;
    private final Runnable endOfTask = this::endOfTask;
    private final Runnable fire = this::fire;
    private long armedAt = Long.MAX_VALUE;
    private ScheduledFuture<?> timer;
    private long pcapDue = Long.MAX_VALUE;
    private boolean closed;

    NetworkDriver(EventLoop loop, VirtualSwitch sw, NetworkStack stack, LongSupplier clock, PcapWriter pcap) {
        this.loop = loop;
        this.sw = sw;
        this.stack = stack;
        this.clock = clock;
        this.pcap = pcap;
        sw.setFlushRequest(() -> loop.execute(endOfTask));
        stack.setWakeup(this::wakeup);
        if (pcap != null) {
            stack.addDeadlineSource(new DeadlineSource() {
                @Override
                public long nextDeadline() {
                    return pcapDue;
                }

                @Override
                public void poll(long now) {
                    pcapDue = Long.MAX_VALUE;
                    pcap.flush();
                }
            });
        }
    }

    /** After a task that wrote frames: one flush of every written port, then the deadline re-read. */
    private void endOfTask() {
        sw.flush();
        if (pcap != null && pcapDue == Long.MAX_VALUE && pcap.buffered()) {
            pcapDue = clock.getAsLong() + PCAP_FLUSH_NANOS;
        }
        wakeup(stack.nextDeadline());
    }

    /** Arms the one timer at {@code deadline} (monotonic nanoseconds) unless it is armed earlier already. */
    private void wakeup(long deadline) {
        if (closed || deadline == Long.MAX_VALUE || deadline - armedAt >= 0) {
            return;
        }
        if (timer != null) {
            timer.cancel(false);
        }
        armedAt = deadline;
        timer = loop.schedule(fire, Math.max(0, deadline - clock.getAsLong()), TimeUnit.NANOSECONDS);
    }

    private void fire() {
        armedAt = Long.MAX_VALUE;
        timer = null;
        if (closed) {
            return;
        }
        stack.poll(clock.getAsLong());
        endOfTask();
    }

    /** Stops the timer (the network is closing). On the loop. */
    void close() {
        closed = true;
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        sw.flush();
        if (pcap != null) {
            pcap.flush();
        }
    }
}
