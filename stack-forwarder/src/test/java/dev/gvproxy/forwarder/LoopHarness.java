package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;
import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.util.concurrent.Callable;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A stack on a real event loop (of the process's {@link SocketTransport}) with one in-memory guest port that records the frames it is sent, and a
 * manual clock. Stack operations run on the loop ({@link #onLoop}); replies from host sockets arrive
 * asynchronously, so tests wait for frames with {@link #take} (bounded waits, never sleeps).
 */
final class LoopHarness implements LinkEndpoint, AutoCloseable {
    volatile long now = 1_000_000_000L;
    final Counters counters = new Counters();
    final StackConfig config;
    final EventLoopGroup group = SocketTransport.get().newEventLoopGroup(1);
    final EventLoop loop = group.next();
    final VirtualSwitch sw;
    final NetworkStack stack;
    final SwitchPort guest;
    final LinkedBlockingQueue<byte[]> out = new LinkedBlockingQueue<>();

    /** An IPv4-only network: no router advertisements among the frames, no RA timer among the deadlines. */
    LoopHarness() throws Exception {
        this(StackConfig.builder().ipv6(dev.gvproxy.stack.Ipv6Config.builder().enabled(false).build()).build());
    }

    LoopHarness(StackConfig config) throws Exception {
        this.config = config;
        this.sw = new VirtualSwitch(config.gatewayMac(), counters, () -> now);
        this.stack = new NetworkStack(config, sw, counters, PooledByteBufAllocator.DEFAULT, () -> now);
        this.guest = onLoop(() -> sw.attach("guest", this));
    }

    <T> T onLoop(Callable<T> task) throws Exception {
        return loop.submit(task).get(10, TimeUnit.SECONDS);
    }

    void run(Runnable task) throws Exception {
        onLoop(() -> {
            task.run();
            return null;
        });
    }

    /** Delivers a guest frame to the switch on the loop. */
    void send(byte[] frame) throws Exception {
        run(() -> {
            sw.deliver(guest, Unpooled.wrappedBuffer(frame));
            sw.flush();
        });
    }

    /** A guest UDP datagram frame (DF set, TTL 64). */
    static byte[] udpFrame(int srcIp, int srcPort, int dstIp, int dstPort, byte[] data) {
        return Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x0800,
                Frames.ipv4(srcIp, dstIp, 17, 1, 0x4000, 64, Frames.udp(srcIp, dstIp, srcPort, dstPort, data)));
    }

    /** The next frame sent to the guest, or null after {@code millis}. */
    byte[] take(long millis) throws InterruptedException {
        return out.poll(millis, TimeUnit.MILLISECONDS);
    }

    /** The next frame that is not an ARP frame (the stack may ARP for the guest). */
    byte[] takeIp(long millis) throws InterruptedException {
        return takeMatching(millis, f -> Frames.getShort(f, 12) == 0x0800);
    }

    /** The next frame {@code wanted} accepts (others are skipped: ARP, NDP, router advertisements), or null. */
    byte[] takeMatching(long millis, java.util.function.Predicate<byte[]> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (true) {
            long left = deadline - System.nanoTime();
            byte[] f = out.poll(Math.max(0, left), TimeUnit.NANOSECONDS);
            if (f == null || wanted.test(f)) {
                return f;
            }
        }
    }

    long count(String name) {
        return counters.get(name);
    }

    @Override
    public void transmit(ByteBuf frame) {
        out.add(Frames.bytes(frame));
        frame.release();
    }

    @Override
    public void flush() {}

    @Override
    public void close() throws Exception {
        run(stack::close);
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
