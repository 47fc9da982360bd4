package dev.gvproxy.stack;

import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.testing.Frames;
import dev.gvproxy.stack.wire.Headroom;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.ArrayDeque;

/** A stack on a switch with one recording guest port and a manual clock; no threads, no sockets. */
final class StackHarness implements LinkEndpoint {
    long now = 1_000_000_000L;
    final Counters counters = new Counters();
    final StackConfig config;
    final VirtualSwitch sw;
    final NetworkStack stack;
    final SwitchPort guest;
    final ArrayDeque<byte[]> out = new ArrayDeque<>();
    /** Frames transmitted as composite buffers (a header buffer in front of the payload's). */
    int compositeFrames;
    /**
     * Frames transmitted without {@link Headroom#TRANSPORT} bytes of room of their own in front: a stream transport
     * would write its length prefix into a buffer of its own for them. Meaningful with an allocator whose buffers
     * are not leak-detection wrappers ({@link #StackHarness(StackConfig, ByteBufAllocator)}).
     */
    int roomlessFrames;

    /** An IPv4-only network (no router advertisements among the frames the IPv4 tests read). */
    StackHarness() {
        this(ipv4Only());
    }

    static StackConfig ipv4Only() {
        return StackConfig.builder().ipv6(Ipv6Config.builder().enabled(false).build()).build();
    }

    StackHarness(StackConfig config) {
        this(config, PooledByteBufAllocator.DEFAULT);
    }

    /** @param alloc the stack's allocator */
    StackHarness(StackConfig config, ByteBufAllocator alloc) {
        this.config = config;
        this.sw = new VirtualSwitch(config.gatewayMac(), counters, () -> now);
        this.stack = new NetworkStack(config, sw, counters, alloc, () -> now);
        this.guest = sw.attach("guest", this);
    }

    /** @param frame taken */
    void send(ByteBuf frame) {
        sw.deliver(guest, frame);
        sw.flush();
    }

    void send(byte[] frame) {
        send(io.netty.buffer.Unpooled.wrappedBuffer(frame));
    }

    byte[] poll() {
        return out.pollFirst();
    }

    void advance(long nanos) {
        now += nanos;
        stack.poll(now);
    }

    @Override
    public void transmit(ByteBuf frame) {
        if (frame instanceof io.netty.buffer.CompositeByteBuf) {
            compositeFrames++;
        }
        if (!Headroom.isOwn(frame, Headroom.TRANSPORT)) {
            roomlessFrames++;
        }
        out.addLast(Frames.bytes(frame));
        frame.release();
    }

    @Override
    public void flush() {}

    long count(String name) {
        return counters.get(name);
    }
}
