package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.util.Objects;

/**
 * What a transport needs to attach VMs to one virtual network.
 *
 * @param boss group that runs listening sockets' accept loops; null means {@code loop} accepts too
 * @param loop the network's single event loop: the switch, and every accepted or bound channel, run on it
 * @param sw the network's switch (touched only on {@code loop})
 * @param counters the network's counters ({@code transport.*})
 */
public record NetworkContext(EventLoopGroup boss, EventLoop loop, VirtualSwitch sw, Counters counters) {
    public NetworkContext {
        Objects.requireNonNull(loop, "loop");
        Objects.requireNonNull(sw, "sw");
        Objects.requireNonNull(counters, "counters");
    }

    /** {@link #boss()} or, when none was given, the network loop. */
    EventLoopGroup acceptGroup() {
        return boss != null ? boss : loop;
    }
}
