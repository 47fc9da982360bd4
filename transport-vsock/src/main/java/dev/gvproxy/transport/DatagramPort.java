package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.Headroom;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.Errors;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.PortUnreachableException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A bound unix datagram socket serving any number of VMs (spec 1.7: vfkit, libkrun, krunkit; also QEMU
 * {@code -netdev dgram}): one datagram is one frame, no prefix, and every named sender address is a VM of its
 * own, with a switch port of its own (upstream issue #383: gvproxy serves only the first sender).
 *
 * <p><b>Peers.</b> A datagram from a sender path not seen before attaches a new {@link Peer} and port; frames
 * for that port are sent to that path. A datagram starting with ASCII {@code VFKT} (vfkit's hello) from a new
 * sender is consumed ({@code transport.vfkitHello}); a 4-byte {@code VFKT} (never a valid frame) from a known
 * sender means that VM restarted and re-bound the same path: its old port is detached and a new one attached.
 * Datagrams from unnamed (unbound) sockets cannot be told apart nor answered and are dropped
 * ({@code transport.unnamedPeer}; gvproxy refuses such a peer at start and accepts them unchecked later).
 *
 * <p><b>Removal.</b> A peer's port is detached (its MACs leave the switch, so a restarted VM on a new path can
 * take them over at once) when
 * <ul>
 *   <li>a send to it fails because nobody is bound there any more ({@code ECONNREFUSED}, {@code ENOENT}:
 *       {@code transport.datagramPeerGone}); any broadcast the switch floods finds such a peer quickly;</li>
 *   <li>a new peer arrives and the old peer's socket file no longer exists (the VM exited and its socket was
 *       unlinked; also {@code transport.datagramPeerGone});</li>
 *   <li>it sent nothing for {@link Options#idleNanos} ({@code transport.datagramPeerIdle}); should it speak
 *       again it simply gets a new port.</li>
 * </ul>
 * At most {@link Options#maxPeers} peers share one socket; datagrams from further senders are dropped
 * ({@code transport.datagramPeerLimit}).
 *
 * <p>Other send errors ({@code ENOBUFS}...) drop the frame and are counted ({@code transport.datagramSendError});
 * they never close the socket. Idle expiry runs from a timer on the network's loop, reading the injected
 * {@code clock}; tests call {@link #expire} with their own time instead. Event-loop only.
 */
final class DatagramPort extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = Logger.getLogger(DatagramPort.class.getName());
    private static final int VFKT = 0x56464b54; // "VFKT"
    private static final int SLACK = 16 * 1024;

    /**
     * @param maxPeers VMs (sender addresses) one socket serves at once
     * @param idleNanos a peer silent for this long loses its port
     */
    record Options(int maxPeers, long idleNanos) {
        /** 64 VMs; an hour of silence (a VM idles long between DHCP renewals, and inbound forwards need its port). */
        static final Options DEFAULTS = new Options(64, TimeUnit.HOURS.toNanos(1));

        Options {
            if (maxPeers < 1 || idleNanos <= 0) {
                throw new IllegalArgumentException("peer limit and idle time must be positive");
            }
        }
    }

    private final VirtualSwitch sw;
    private final String name;
    private final Options options;
    private final LongSupplier clock;
    private final Counters.Counter unnamedPeer;
    private final Counters.Counter sendError;
    private final Counters.Counter hello;
    private final Counters.Counter peerLimit;
    private final Counters.Counter peerGone;
    private final Counters.Counter peerIdle;
    private final TxQueueFull txQueueFull;
    /** By sender path, in attach order. */
    private final Map<String, Peer> peers = new LinkedHashMap<>();
    private Channel channel;
    private ScheduledFuture<?> idleTimer;
    private boolean warnedUnnamed;

    DatagramPort(VirtualSwitch sw, Counters counters, String name, Options options, LongSupplier clock) {
        this.sw = sw;
        this.name = name;
        this.options = options;
        this.clock = clock;
        this.unnamedPeer = counters.counter("transport.unnamedPeer");
        this.sendError = counters.counter("transport.datagramSendError");
        this.hello = counters.counter("transport.vfkitHello");
        this.peerLimit = counters.counter("transport.datagramPeerLimit");
        this.peerGone = counters.counter("transport.datagramPeerGone");
        this.peerIdle = counters.counter("transport.datagramPeerIdle");
        this.txQueueFull = new TxQueueFull(counters);
    }

    /** One VM: a sender address and its switch port. */
    final class Peer implements LinkEndpoint {
        final DomainSocketAddress address;
        SwitchPort port;
        long lastHeard;
        /** One listener per peer (not per frame): a failed send names the peer it was for. */
        private final ChannelFutureListener onSent = this::sent;

        Peer(DomainSocketAddress address) {
            this.address = address;
        }

        /** @param frame <b>taken</b> */
        @Override
        public void transmit(ByteBuf frame) {
            Channel ch = channel;
            if (ch == null || !ch.isActive() || port == null) {
                frame.release();
                return;
            }
            if (!ch.isWritable() && ch.bytesBeforeWritable() > ChannelPort.MAX_QUEUED_BYTES) {
                txQueueFull.inc(port);
                frame.release();
                return;
            }
            ch.write(new DomainDatagramPacket(frame, address)).addListener(onSent);
        }

        private void sent(ChannelFuture f) {
            if (f.isSuccess()) {
                return;
            }
            Throwable cause = f.cause();
            if (gone(cause)) {
                if (peers.get(address.path()) == this) {
                    peerGone.inc();
                    remove(this, "nobody bound at " + address.path() + " (" + cause.getMessage() + ")");
                }
            } else if (!(cause instanceof java.nio.channels.ClosedChannelException)) {
                // ENOBUFS and the like: Ethernet is lossy, keep the peer and the socket.
                sendError.inc();
                LOG.log(Level.FINE, "{0}: {1}", new Object[] {port, cause.toString()});
            }
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
            // The socket serves the other VMs; closing one port forgets this peer only.
            remove(this, reason);
        }

        @Override
        public String toString() {
            return address.path();
        }
    }

    /** The peers attached now, in attach order (tests). */
    List<Peer> peers() {
        return new ArrayList<>(peers.values());
    }

    /** The port of the peer bound at {@code path}, null when none (tests). */
    SwitchPort portOf(String path) {
        Peer p = peers.get(path);
        return p == null ? null : p.port;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        // Checked a few times per idle period, so a silent peer goes at most a quarter period late.
        long period = Math.max(TimeUnit.SECONDS.toNanos(1), options.idleNanos() / 4);
        idleTimer = ctx.executor().scheduleAtFixedRate(() -> expire(clock.getAsLong()), period, period,
                TimeUnit.NANOSECONDS);
        ctx.fireChannelActive();
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
            // would pin all of it. Copying the (usually MTU-sized) frame out frees it at once. The copy keeps room
            // in front: switched to a guest on a stream transport, it leaves with its framing as one buffer.
            ByteBuf small = Headroom.ioBuffer(ctx.alloc(), frame.readableBytes()).writeBytes(frame);
            frame.release();
            frame = small;
        }
        DomainSocketAddress sender = packet.sender();
        if (sender == null || sender.path() == null || sender.path().isEmpty()) {
            unnamedPeer.inc();
            if (!warnedUnnamed) {
                warnedUnnamed = true;
                LOG.log(Level.WARNING, "{0}: datagram from an unbound socket ignored: vfkit socket address is empty", name);
            }
            frame.release();
            return;
        }
        boolean isHello = frame.readableBytes() >= 4 && frame.getInt(frame.readerIndex()) == VFKT;
        Peer peer = peers.get(sender.path());
        if (peer == null || (isHello && frame.readableBytes() == 4)) {
            // A new sender, or a fresh hello from a known path (that VM restarted): a new port either way.
            if (peer != null) {
                remove(peer, "hello again (restarted)");
            }
            peer = attach(sender);
            if (peer == null) {
                frame.release();
                return;
            }
            if (isHello) {
                hello.inc();
                frame.release();
                return;
            }
        }
        peer.lastHeard = clock.getAsLong();
        sw.deliver(peer.port, frame);
    }

    /** A port for a new sender, after dropping peers whose socket file is gone; null at the peer limit. */
    private Peer attach(DomainSocketAddress sender) {
        for (Peer p : new ArrayList<>(peers.values())) {
            if (!socketExists(p.address.path())) {
                peerGone.inc();
                remove(p, "socket " + p.address.path() + " removed");
            }
        }
        if (peers.size() >= options.maxPeers()) {
            peerLimit.inc();
            return null;
        }
        Peer p = new Peer(sender);
        p.port = sw.attach(name + " peer " + sender.path(), p);
        p.lastHeard = clock.getAsLong();
        peers.put(sender.path(), p);
        LOG.log(Level.INFO, "{0}: peer {1} attached", new Object[] {p.port, sender.path()});
        return p;
    }

    private static boolean socketExists(String path) {
        if (path.charAt(0) == '\0') {
            return true; // Linux abstract namespace: no file to look at; send errors remove it
        }
        try {
            return Files.exists(Path.of(path), LinkOption.NOFOLLOW_LINKS);
        } catch (InvalidPathException e) {
            return true;
        }
    }

    private void remove(Peer p, String why) {
        if (peers.get(p.address.path()) == p) {
            peers.remove(p.address.path());
        }
        if (p.port != null) {
            LOG.log(Level.INFO, "{0}: dropping peer {1}: {2}", new Object[] {p.port, p.address.path(), why});
            sw.detach(p.port);
        }
    }

    /** Detaches every peer silent for the idle time at {@code now} (monotonic nanoseconds). */
    void expire(long now) {
        for (Peer p : new ArrayList<>(peers.values())) {
            if (now - p.lastHeard >= options.idleNanos()) {
                peerIdle.inc();
                remove(p, "silent for " + TimeUnit.NANOSECONDS.toSeconds(now - p.lastHeard) + " s");
            }
        }
    }

    /** Send errors the kernel gives for a path nobody is bound to (any more). */
    private static boolean gone(Throwable cause) {
        if (cause instanceof PortUnreachableException) {
            return true;
        }
        if (cause instanceof Errors.NativeIoException n) {
            int e = n.expectedErr();
            return e == Errors.ERROR_ECONNREFUSED_NEGATIVE || e == Errors.ERRNO_ENOENT_NEGATIVE;
        }
        String m = String.valueOf(cause.getMessage());
        return m.contains("Connection refused") || m.contains("No such file or directory");
    }

    /** Below the write buffer's low mark again: TCP senders paused on these ports resume. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            for (Peer p : new ArrayList<>(peers.values())) {
                sw.portWritable(p.port);
            }
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
        if (idleTimer != null) {
            idleTimer.cancel(false);
        }
        for (Peer p : new ArrayList<>(peers.values())) {
            remove(p, "socket closed");
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Errors not tied to one write (reads): keep the socket.
        sendError.inc();
        LOG.log(Level.FINE, "{0}: {1}", new Object[] {name, cause.toString()});
    }
}
