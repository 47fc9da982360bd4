package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.DeadlineSource;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.udp.UdpDatagram;
import dev.gvproxy.stack.udp.UdpHandler;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DatagramPacket;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A {@code udp} port forward: one host UDP socket; each host client address ({@code ip:port}) gets a flow
 * with its own gateway-side source port (gateway IP, ephemeral port; or the client's address, see
 * {@link PortForwarder.Options#preserveClientAddress}) bound in the stack's UDP demux, so the guest's
 * replies to that port go back to exactly that client. A flow closes after the idle timeout (90 s) without
 * a datagram either way; the forward is one of the stack's {@link DeadlineSource}s, so the network's one timer
 * runs the sweep when the earliest flow can time out. Unexposing closes the socket and every flow.
 *
 * <p>Datagrams are not queued: one the host socket cannot take at once (socket buffer full) is dropped and
 * counted, as UDP may be.
 */
final class UdpPortForward implements PortForwarder.Active, DeadlineSource {

    private final PortForwarder owner;
    private final NetworkStack stack;
    private final PortForwarder.Forward forward;
    private final PortForwarder.GuestAddress remote;
    private final HashMap<InetSocketAddress, Flow> flows = new HashMap<>();
    private Channel socket;
    /** The socket's read buffer (see {@link DatagramReadBuffer}). */
    final DatagramReadBuffer reads = new DatagramReadBuffer(UdpForwarder.MAX_PAYLOAD + 1);
    /** No flow can time out before this (a lower bound: activity only moves flows' deadlines later). */
    private long nextDue = Long.MAX_VALUE;
    private boolean registered;
    private boolean closed;

    private final Counters.Counter toGuest;
    private final Counters.Counter toHost;
    private final Counters.Counter flowLimit;
    private final Counters.Counter noSourcePort;
    private final Counters.Counter hostBackpressure;
    private final Counters.Counter tooBig;
    private final Counters.Counter expired;
    private final Counters.Counter unexpectedPeer;
    private final Counters.Counter hostError;

    private UdpPortForward(PortForwarder owner, PortForwarder.Forward forward, PortForwarder.GuestAddress remote) {
        this.owner = owner;
        this.stack = owner.stack();
        this.forward = forward;
        this.remote = remote;
        Counters c = stack.counters();
        this.toGuest = c.counter("udp.portfwd.toGuest");
        this.toHost = c.counter("udp.portfwd.toHost");
        this.flowLimit = c.counter("udp.portfwd.flowLimit");
        this.noSourcePort = c.counter("udp.portfwd.noSourcePort");
        this.hostBackpressure = c.counter("udp.portfwd.hostBackpressure");
        this.tooBig = c.counter("udp.portfwd.tooBig");
        this.expired = c.counter("udp.portfwd.flowsExpired");
        this.unexpectedPeer = c.counter("udp.portfwd.unexpectedPeer");
        this.hostError = c.counter("udp.portfwd.hostError");
    }

    static void start(PortForwarder owner, PortForwarder.Forward forward, SocketAddress local,
            PortForwarder.GuestAddress remote, CompletableFuture<PortForwarder.Listener> result) {
        UdpPortForward f = new UdpPortForward(owner, forward, remote);
        // One socket carries every client's datagrams: the forwarder's socket buffers (see there), and once bound its
        // read buffer.
        Bootstrap b = new Bootstrap().group(owner.loop()).channelFactory(SocketTransport.get().datagramChannel())
                .option(io.netty.channel.ChannelOption.SO_RCVBUF, UdpForwarder.SOCKET_BUFFER)
                .option(io.netty.channel.ChannelOption.SO_SNDBUF, UdpForwarder.SOCKET_BUFFER)
                .option(io.netty.channel.ChannelOption.SO_REUSEADDR, true)
                .handler(f.new HostHandler());
        b.bind(local).addListener((ChannelFuture bf) -> {
            if (!bf.isSuccess()) {
                bf.channel().close();
                result.completeExceptionally(PortForwarder.listenFailure("udp", forward.local(), bf.cause()));
                return;
            }
            f.socket = bf.channel();
            f.reads.install((io.netty.channel.socket.DatagramChannel) f.socket);
            // Level-triggered: Netty ends a read batch at an empty datagram (see UdpForwarder).
            SocketTransport.get().levelTriggered(f.socket);
            f.stack.addDeadlineSource(f);
            f.registered = true;
            owner.registered(f, result);
        });
    }

    @Override
    public PortForwarder.Forward forward() {
        return forward;
    }

    @Override
    public PortForwarder.Forward bound() {
        return socket == null ? forward() : PortForwarder.withBoundPort(forward(), socket.localAddress());
    }

    int flowCount() {
        return flows.size();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (registered) {
            stack.removeDeadlineSource(this);
        }
        for (Flow f : new ArrayList<>(flows.values())) {
            f.close();
        }
        flows.clear();
        if (socket != null) {
            socket.close();
        }
        reads.close();
    }

    @Override
    public long nextDeadline() {
        return nextDue;
    }

    @Override
    public void poll(long now) {
        sweep(now);
    }

    /** Closes flows idle for the timeout, and computes when the next one can be. */
    void sweep(long now) {
        long limit = owner.options().udpIdleTimeoutNanos();
        List<Flow> idle = null;
        long next = Long.MAX_VALUE;
        for (Flow f : flows.values()) {
            if (now - f.lastActive >= limit) {
                if (idle == null) {
                    idle = new ArrayList<>();
                }
                idle.add(f);
            } else {
                next = Math.min(next, f.lastActive + limit);
            }
        }
        nextDue = next;
        if (idle != null) {
            for (Flow f : idle) {
                expired.inc();
                flows.remove(f.client);
                f.close();
            }
        }
    }

    /**
     * A datagram from a host client.
     *
     * @param data <b>taken</b>
     */
    private void fromHost(InetSocketAddress client, ByteBuf data) {
        if (closed) {
            data.release();
            return;
        }
        long now = stack.now();
        Flow f = flows.get(client);
        if (f == null) {
            if (flows.size() >= owner.options().maxUdpFlows()) {
                flowLimit.inc();
                data.release();
                return;
            }
            f = open(client);
            if (f == null) {
                noSourcePort.inc();
                data.release();
                return;
            }
        }
        f.lastActive = now;
        toGuest.inc();
        stack.udp().send(f.src, f.srcPort, remote.address(), remote.port(), data, now);
    }

    private Flow open(InetSocketAddress client) {
        // To a guest's IPv6 address datagrams come from the gateway's IPv6 address (as TCP forwards' connections
        // do); to an IPv4 one from the gateway, or the client with preserveClientAddress.
        int srcIp4 = remote.isIpv6() ? 0 : owner.sourceIpFor(client);
        Ipv6Address srcIp = remote.isIpv6() ? owner.ipv6Source() : Ipv6Address.ofIpv4(srcIp4);
        int preferred = remote.isIpv6() ? -1 : owner.sourcePortFor(client, srcIp4);
        if (preferred > 0) {
            Flow f = tryBind(client, srcIp, preferred);
            if (f != null) {
                return f;
            }
        }
        for (int i = 0; i <= PortForwarder.EPHEMERAL_LAST - PortForwarder.EPHEMERAL_FIRST; i++) {
            Flow f = tryBind(client, srcIp, owner.nextUdpPort());
            if (f != null) {
                return f;
            }
        }
        return null;
    }

    private Flow tryBind(InetSocketAddress client, Ipv6Address srcIp, int srcPort) {
        Flow f = new Flow(client, srcIp, srcPort);
        try {
            stack.udp().bind(srcIp, srcPort, f);
        } catch (IllegalStateException taken) {
            return null;
        }
        flows.put(client, f);
        long due = stack.now() + owner.options().udpIdleTimeoutNanos();
        if (due < nextDue) {
            nextDue = due;
            stack.wakeup(due);
        }
        return f;
    }

    /** One host client's conversation with the guest. */
    private final class Flow implements UdpHandler {
        final InetSocketAddress client;
        /** The guest-side source: the gateway's address of the remote's family (or the client's, see open). */
        final Ipv6Address src;
        final int srcPort;
        long lastActive;
        boolean flowClosed;

        Flow(InetSocketAddress client, Ipv6Address src, int srcPort) {
            this.client = client;
            this.src = src;
            this.srcPort = srcPort;
        }

        /** A reply from the guest. @param payload <b>borrowed</b> */
        @Override
        public void datagram(UdpDatagram d, ByteBuf payload, long now) {
            if (flowClosed || !d.src().equals(remote.address()) || d.srcPort() != remote.port()) {
                unexpectedPeer.inc();
                return;
            }
            if (payload.readableBytes() > UdpForwarder.MAX_PAYLOAD) {
                tooBig.inc();
                return;
            }
            if (!socket.isWritable()) {
                hostBackpressure.inc();
                return;
            }
            lastActive = now;
            toHost.inc();
            if (payload.isReadable()) {
                socket.writeAndFlush(new DatagramPacket(payload.retainedDuplicate(), client), socket.voidPromise());
            } else {
                writeEmpty();
            }
        }

        /** Netty's epoll datagram channel skips empty buffers: an empty datagram goes to the socket directly. */
        private void writeEmpty() {
            try {
                SocketTransport.get().sendEmpty((io.netty.channel.socket.DatagramChannel) socket, client);
            } catch (java.io.IOException e) {
                hostError.inc();
            }
        }

        void close() {
            if (!flowClosed) {
                flowClosed = true;
                stack.udp().unbind(src, srcPort);
            }
        }

        @Override
        public String toString() {
            return client + " -> " + (src.isIpv4Mapped() ? Ipv4Address.format(src.ipv4()) : "[" + src + "]") + ":"
                    + srcPort + " -> " + remote;
        }
    }

    private final class HostHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof DatagramPacket p) {
                fromHost(p.sender(), p.content());
            } else {
                io.netty.util.ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // ICMP errors on an unconnected socket are not reported; anything else is transient for UDP.
            hostError.inc();
        }
    }
}
