package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.ReferenceCountUtil;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A bound unix datagram socket as a switch port (spec 1.7: vfkit, libkrun, krunkit; also QEMU
 * {@code -netdev dgram}): one datagram is one frame, no prefix.
 *
 * <p>The peer is learned from the sender address of the first datagram; a first datagram starting with
 * ASCII {@code VFKT} (vfkit's hello) is consumed; so is a later 4-byte {@code VFKT} (never a valid frame), which
 * also starts a new port for the same peer path (vfkit restarted and re-bound its socket). Frames for the VM are sent to the learned peer. While no
 * peer is known, a datagram from an unnamed (unbound) socket is dropped and counted, as gvproxy refuses
 * such a peer. Unlike gvproxy, a datagram from a different named sender is taken as the VM having
 * restarted: the old port is detached and a new one attached for the new peer (gvproxy serves one peer
 * for its whole life). After learning, datagrams from unnamed senders are accepted unchecked, as gvproxy does.
 *
 * <p>Send errors (the peer went away: {@code ECONNREFUSED}, {@code ENOENT}; or {@code ENOBUFS}) drop
 * the frame and are counted; they never close the socket.
 */
final class DatagramPort extends ChannelInboundHandlerAdapter implements LinkEndpoint {
    private static final Logger LOG = Logger.getLogger(DatagramPort.class.getName());
    private static final int VFKT = 0x56464b54; // "VFKT"
    private static final int SLACK = 16 * 1024;

    private final VirtualSwitch sw;
    private final String name;
    private final Counters.Counter unnamedPeer;
    private final Counters.Counter noPeer;
    private final Counters.Counter sendError;
    private final TxQueueFull txQueueFull;
    private final Counters.Counter hello;
    private Channel channel;
    private DomainSocketAddress peer;
    private SwitchPort port;
    private boolean warnedUnnamed;

    DatagramPort(VirtualSwitch sw, Counters counters, String name) {
        this.sw = sw;
        this.name = name;
        this.unnamedPeer = counters.counter("transport.unnamedPeer");
        this.noPeer = counters.counter("transport.txNoPeer");
        this.sendError = counters.counter("transport.datagramSendError");
        this.txQueueFull = new TxQueueFull(counters);
        this.hello = counters.counter("transport.vfkitHello");
    }

    /** The current switch port, null until the first datagram. */
    SwitchPort port() {
        return port;
    }

    /** The learned peer, null until the first datagram from a named socket. */
    DomainSocketAddress peer() {
        return peer;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    /** @param msg <b>taken</b> */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof DomainDatagramPacket packet)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        ByteBuf frame = packet.content();
        if (frame.capacity() - frame.readableBytes() > SLACK) {
            // Each read gets a MAX_FRAME buffer so no datagram is truncated; a frame queued toward a slow port
            // would pin all of it. Copying the (usually MTU-sized) frame out frees it at once.
            ByteBuf small = ctx.alloc().ioBuffer(frame.readableBytes()).writeBytes(frame);
            frame.release();
            frame = small;
        }
        DomainSocketAddress sender = packet.sender();
        boolean named = sender != null && sender.path() != null && !sender.path().isEmpty();
        boolean isHello = frame.readableBytes() >= 4 && frame.getInt(frame.readerIndex()) == VFKT;
        if (named && (!sender.equals(peer) || (isHello && frame.readableBytes() == 4))) {
            // A new sender, or a fresh hello from the same path (vfkit restarted): a new port either way.
            learn(sender);
            if (isHello) {
                hello.inc();
                frame.release();
                return;
            }
        } else if (peer == null) {
            unnamedPeer.inc();
            if (!warnedUnnamed) {
                warnedUnnamed = true;
                LOG.log(Level.WARNING, "{0}: datagram from an unbound socket ignored: vfkit socket address is empty", name);
            }
            frame.release();
            return;
        }
        sw.deliver(port, frame);
    }

    private void learn(DomainSocketAddress sender) {
        if (port != null) {
            LOG.log(Level.INFO, "{0}: new peer {1} (was {2}); treating as a reconnect", new Object[] {port, sender.path(), peer.path()});
            sw.detach(port);
        }
        peer = sender;
        port = sw.attach(name, this);
        LOG.log(Level.INFO, "{0}: peer {1}", new Object[] {port, sender.path()});
    }

    /** Below the write buffer's low mark again: TCP senders paused on this port resume. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable() && port != null) {
            sw.portWritable(port);
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        sw.readComplete();
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (port != null) {
            sw.detach(port);
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Failed sendto to a vanished peer, ENOBUFS...: Ethernet is lossy, keep the socket.
        sendError.inc();
        LOG.log(Level.FINE, "{0}: {1}", new Object[] {name, cause.toString()});
    }

    /** @param frame <b>taken</b> */
    @Override
    public void transmit(ByteBuf frame) {
        Channel ch = channel;
        DomainSocketAddress to = peer;
        if (ch == null || to == null || !ch.isActive()) {
            noPeer.inc();
            frame.release();
            return;
        }
        if (!ch.isWritable() && ch.bytesBeforeWritable() > ChannelPort.MAX_QUEUED_BYTES) {
            txQueueFull.inc(port);
            frame.release();
            return;
        }
        ch.write(new DomainDatagramPacket(frame, to), ch.voidPromise());
    }

    @Override
    public void flush() {
        Channel ch = channel;
        if (ch != null) {
            ch.flush();
        }
    }

    @Override
    public boolean isWritable() {
        Channel ch = channel;
        return ch != null && ch.isWritable();
    }

    @Override
    public void close(String reason) {
        // One socket serves the VM for the listener's lifetime; closing the port forgets the peer only.
        LOG.log(Level.INFO, "{0}: dropping peer: {1}", new Object[] {port == null ? name : port, reason});
        if (port != null) {
            sw.detach(port);
            port = null;
        }
        peer = null;
    }
}
