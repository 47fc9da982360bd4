package dev.gvproxy.forwarder;

import dev.gvproxy.platform.SocketTransport;

import dev.gvproxy.stack.ip.FlowKey;
import dev.gvproxy.stack.wire.Ipv6Address;
import java.net.InetSocketAddress;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.DatagramPacket;
import java.io.IOException;
import java.util.ArrayDeque;

/**
 * One UDP NAT flow: the guest side (guest ip:port talking to the original destination ip:port) and the host
 * side, an {@link DatagramChannel} (of {@link SocketTransport}) connected to the NAT'ed destination. Owned by {@link UdpForwarder};
 * every method runs on the network's event loop.
 *
 * <p>Life cycle: created on the first guest datagram of a 4-tuple; {@code connecting} until the host
 * channel is registered and connected (datagrams arriving meanwhile wait in a small bounded queue);
 * then open; closed by idle expiry, by a host channel error that closes the channel, or by
 * {@link UdpForwarder#close()}. A closed flow is out of the table, so the next datagram of the same
 * 4-tuple opens a fresh host socket (a new ephemeral port), as gvproxy does.
 */
public final class UdpFlow {
    /** Datagrams queued while the host socket connects; more are dropped (counted). */
    static final int MAX_PENDING = 16;

    final FlowKey key;
    /** The guest's address, either family (IPv4-mapped for IPv4). */
    final Ipv6Address guestIp;
    final int guestPort;
    /** The destination the guest addressed (replies come from here), either family. */
    final Ipv6Address origDstIp;
    final int dstPort;
    /** Where the host socket is connected (after NAT, NAT64 or the host alias's mapping). */
    final InetSocketAddress hostDst;
    final DatagramChannel channel;
    /** Monotonic nanoseconds of the last datagram in either direction. */
    long lastActive;
    // Flow statistics for the live flow table; event loop only.
    final long createdAt;
    long datagramsFromGuest;
    long bytesFromGuest;
    long datagramsToGuest;
    long bytesToGuest;
    /** UDP length of the last guest datagram, quoted in a port-unreachable to the guest. */
    int lastUdpLength;
    /** Datagrams were written to the host socket and wait for the forwarder's flush. */
    boolean unflushed;
    private boolean connected;
    private boolean closed;
    private ArrayDeque<ByteBuf> pending;
    /** The guest's budget entry (null when the forwarder has no {@link GuestFlows}); released on close. */
    GuestFlows.Flow owner;

    UdpFlow(FlowKey key, InetSocketAddress hostDst, DatagramChannel channel, long now) {
        this.key = key;
        this.guestIp = key.guest();
        this.guestPort = key.guestPort();
        this.origDstIp = key.peer();
        this.dstPort = key.peerPort();
        this.hostDst = hostDst;
        this.channel = channel;
        this.lastActive = now;
        this.createdAt = now;
    }

    /** This flow as a row of the live flow table. */
    dev.gvproxy.stack.FlowEntry flowEntry() {
        java.net.SocketAddress local = channel.localAddress();
        java.net.SocketAddress remote = channel.remoteAddress();
        return new dev.gvproxy.stack.FlowEntry("udp", key,
                local instanceof java.net.InetSocketAddress l ? l : null,
                remote instanceof java.net.InetSocketAddress r ? r : hostDst,
                connected ? "open" : "connecting", bytesFromGuest, datagramsFromGuest, bytesToGuest,
                datagramsToGuest, 0, createdAt, lastActive);
    }

    boolean isConnected() {
        return connected;
    }

    boolean isClosed() {
        return closed;
    }

    /**
     * Queues a datagram until the host socket is connected.
     *
     * @param data <b>taken</b>
     * @return false (and {@code data} released) when the queue is full
     */
    boolean enqueue(ByteBuf data) {
        if (pending == null) {
            pending = new ArrayDeque<>(4);
        }
        if (pending.size() >= MAX_PENDING) {
            data.release();
            return false;
        }
        pending.addLast(data);
        return true;
    }

    /** Marks the flow connected and writes what waited. */
    void connected() {
        connected = true;
        if (pending != null) {
            for (ByteBuf b; (b = pending.pollFirst()) != null; ) {
                if (b.isReadable()) {
                    channel.write(b, channel.voidPromise());
                } else {
                    b.release();
                    channel.flush(); // keep the order
                    writeEmpty();
                }
            }
            channel.flush();
            pending = null;
        }
    }

    /**
     * Sends a zero-length datagram. Netty's epoll datagram channel silently skips empty buffers, so it goes
     * straight to the connected socket ({@code write(fd, buf, 0)} sends an empty UDP datagram).
     */
    void writeEmpty() {
        try {
            SocketTransport.get().sendEmpty(channel, null);
        } catch (IOException e) {
            channel.pipeline().fireExceptionCaught(e);
        }
    }

    /** Closes the host socket and drops anything queued; idempotent. */
    void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (pending != null) {
            for (ByteBuf b; (b = pending.pollFirst()) != null; ) {
                b.release();
            }
            pending = null;
        }
        channel.close();
        if (owner != null) {
            owner.release();
        }
    }

    @Override
    public String toString() {
        return "udp " + key + " (host " + hostDst + ")";
    }

    /** Host-side pipeline handler: replies to the guest, errors to the forwarder. */
    static final class HostHandler extends ChannelInboundHandlerAdapter {
        private final UdpForwarder forwarder;
        private final UdpFlow flow;

        HostHandler(UdpForwarder forwarder, UdpFlow flow) {
            this.forwarder = forwarder;
            this.flow = flow;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof DatagramPacket p) {
                forwarder.fromHost(flow, p.content());
            } else {
                io.netty.util.ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            forwarder.hostError(flow, cause);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            forwarder.hostClosed(flow);
        }
    }
}
