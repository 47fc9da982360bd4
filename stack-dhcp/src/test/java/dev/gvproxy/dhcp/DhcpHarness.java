package dev.gvproxy.dhcp;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.PortSecurity;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.ArrayDeque;
import java.util.function.UnaryOperator;

/**
 * A real stack on a switch with one recording guest port (every client MAC lives behind it), a manual clock
 * and the DHCP server installed. No threads, no sockets.
 */
final class DhcpHarness implements LinkEndpoint {
    static final long SECOND = 1_000_000_000L;

    long now = 1_000 * SECOND;
    final Counters counters = new Counters();
    final StackConfig net;
    final VirtualSwitch sw;
    final NetworkStack stack;
    final SwitchPort guest;
    final DhcpServer server;
    final ArrayDeque<byte[]> out = new ArrayDeque<>();

    DhcpHarness() {
        this(StackConfig.defaults(), b -> b);
    }

    DhcpHarness(UnaryOperator<DhcpConfig.Builder> cfg) {
        this(StackConfig.defaults(), cfg);
    }

    DhcpHarness(StackConfig net, UnaryOperator<DhcpConfig.Builder> cfg) {
        this(net, cfg, false);
    }

    /**
     * @param portLimits false: the one guest port may hold any number of MACs and leases (most tests stand
     *     for many clients behind it); true: the network's limits as configured
     */
    DhcpHarness(StackConfig net, UnaryOperator<DhcpConfig.Builder> cfg, boolean portLimits) {
        this.net = net;
        PortSecurity security = portLimits ? net.portSecurity()
                : net.portSecurity().withMacsPerPort(1 << 16).withMacsTotal(1 << 16);
        this.sw = new VirtualSwitch(net.gatewayMac(), counters, () -> now, () -> now, security);
        this.stack = new NetworkStack(net, sw, counters, PooledByteBufAllocator.DEFAULT, () -> now);
        this.guest = sw.attach("guest", this);
        DhcpConfig.Builder b = DhcpConfig.builder(net);
        if (!portLimits) {
            b.leasesPerPort(1 << 16);
        }
        this.server = DhcpServer.install(stack, cfg.apply(b).build());
    }

    /** Another guest port; frames to it are recorded in {@code into}. */
    SwitchPort attach(String name, ArrayDeque<byte[]> into) {
        return sw.attach(name, new LinkEndpoint() {
            @Override
            public void transmit(ByteBuf frame) {
                if (!isIpv6(frame)) {
                    into.addLast(Frames.bytes(frame));
                }
                frame.release();
            }

            @Override
            public void flush() {}
        });
    }

    /** Sends a client message as a frame from {@code port}. */
    void sendFrom(SwitchPort port, ClientMsg m) {
        sw.deliver(port, Unpooled.wrappedBuffer(m.frame()));
        sw.flush();
    }

    /** Sends a client message as a frame from the guest port. */
    void send(ClientMsg m) {
        sendFrame(m.frame());
    }

    void sendFrame(byte[] frame) {
        ByteBuf b = Unpooled.wrappedBuffer(frame);
        sw.deliver(guest, b);
        sw.flush();
    }

    /** Sends and returns the single reply (or null), asserting nothing else came out. */
    Reply exchange(ClientMsg m) {
        send(m);
        byte[] f = out.pollFirst();
        if (!out.isEmpty()) {
            throw new AssertionError("more than one frame out: " + out.size() + 1);
        }
        return f == null ? null : Reply.parse(f);
    }

    void advance(long nanos) {
        now += nanos;
        stack.poll(now);
        if (server.nextDeadline() - now <= 0) {
            server.poll(now);
        }
    }

    @Override
    public void transmit(ByteBuf frame) {
        if (!isIpv6(frame)) {
            out.addLast(Frames.bytes(frame));
        }
        frame.release();
    }

    /** The gateway's router advertisements: DHCPv4 tests ignore them, as an IPv4-only client would. */
    private static boolean isIpv6(ByteBuf frame) {
        return frame.getUnsignedShort(frame.readerIndex() + 12) == 0x86DD;
    }

    @Override
    public void flush() {}

    long count(String name) {
        return counters.get(name);
    }
}
