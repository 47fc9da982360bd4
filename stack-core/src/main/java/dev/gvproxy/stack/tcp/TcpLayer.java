package dev.gvproxy.stack.tcp;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.ip.FlowKey;
import dev.gvproxy.stack.ip.IpHeader;
import dev.gvproxy.stack.ip.Ipv4Output;
import dev.gvproxy.stack.ip.Ipv6Output;
import dev.gvproxy.stack.ip.TransportHandler;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.SeqNum;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpPacket;
import dev.gvproxy.stack.wire.TcpSegmentWriter;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import java.util.function.LongConsumer;

/**
 * TCP at the gateway: validates segments, finds their connection by 4-tuple, accepts SYNs for an in-stack
 * service registered with {@link #listen} (DNS over TCP, the in-VM API) at once, hands other unknown SYNs to
 * the {@link SynHandler} (the forwarder, which connects to the host first), answers everything else that
 * matches no connection with a RST (RFC 9293 3.10.7.1), and runs the connections' timers. {@link #listen}
 * is TCP's counterpart of {@link dev.gvproxy.stack.udp.UdpDemux#bind}.
 *
 * <p>Timers: each connection reports {@link TcpConnection#nextDeadline()}; the layer keeps a priority
 * queue of (deadline, connection) entries and lazily skips stale ones. The owner calls {@link #poll} at
 * {@link #nextDeadline()}; {@code wakeup} is told whenever an earlier deadline appears.
 *
 * <p>Both families: addresses are {@link Ipv6Address} values, IPv4 ones IPv4-mapped (see {@link FlowKey}); a
 * connection's segments go out through {@link Ipv4Output} or the {@link Ipv6Output} by its family, each with its
 * family's pseudo-header. The receive path finds the connection of a segment without allocating: the last
 * connection found is compared field by field first (a bulk transfer hits it on every segment), then the
 * {@link ConnectionTable}, searched with the segment's primitive fields.
 */
public final class TcpLayer implements TransportHandler {

    /** Decides what to do with a SYN for a new 4-tuple: {@link #accept} or {@link #reject}, now or later. */
    public interface SynHandler {
        void onSyn(TcpLayer layer, SynRequest request, long now);
    }

    /**
     * The fields of a guest's SYN that an accept or reject needs later (the segment holder is reused). Addresses of
     * either family, IPv4 ones IPv4-mapped: {@link #isIpv4()} tells.
     */
    public record SynRequest(long guestMac, Ipv6Address guestIp, int guestPort, Ipv6Address dstIp, int dstPort,
            TcpSegment syn) {
        public FlowKey key() {
            return new FlowKey(guestIp, guestPort, dstIp, dstPort);
        }

        /** True for a SYN that came over IPv4. */
        public boolean isIpv4() {
            return guestIp.isIpv4Mapped();
        }
    }

    private record ListenKey(Ipv6Address ip, int port) {}


    /** IANA dynamic ports: the source ports of the gateway's active opens into guests. */
    public static final int EPHEMERAL_FIRST = 49152;
    public static final int EPHEMERAL_LAST = 65535;

    private final TcpConfig config;
    private final Ipv4Output ipOutput;
    private Ipv6Output ipv6Output;
    /** The connection the last segment belonged to (null when none or removed): the receive path's fast lookup. */
    private TcpConnection last;
    private final ByteBufAllocator alloc;
    private final Counters counters;
    private final TcpCounters tcpCounters;
    private final IntSupplier issGenerator;
    private final ConnectionTable connections = new ConnectionTable(new SecureRandom().nextLong());
    private final HashMap<FlowKey, SynRequest> pending = new HashMap<>();
    private final HashMap<SwitchPort, ArrayList<TcpConnection>> pausedOnLink = new HashMap<>();
    private Links links = Links.NONE;
    /** In-stack services by (ip, port): their SYNs are accepted at once, without the SYN handler. */
    private final HashMap<ListenKey, Supplier<TcpConnection.Handler>> listeners = new HashMap<>();
    /** Connections owing an ACK at the end of the current read batch ({@link #flush}). */
    private final ArrayList<TcpConnection> acksOwed = new ArrayList<>();
    /** True from the first segment received after a {@link #flush} to the next one. */
    private boolean inBatch;
    private final TcpConnection.AckBatch ackBatch = this::deferAck;
    private final ConnectionTimers timers = new ConnectionTimers();
    private final TcpConnection.TimerHook timerHook = this::schedule;
    private final java.util.function.Consumer<TcpConnection> linkWait = this::waitForLink;
    private final TcpSegment segment = new TcpSegment();
    private final TcpSegmentWriter resetWriter = new TcpSegmentWriter();
    private final TcpConnection.Output output;
    private SynHandler synHandler;
    private int nextEphemeralPort = EPHEMERAL_FIRST;
    private LongConsumer wakeup = d -> { };
    private TcpMemory memory;
    /** Connections ever created (the -debug traffic summary's "new flows"). */
    private long opened;

    private final Counters.Counter noConnection;
    private final Counters.Counter resetsSent;
    private final Counters.Counter synPendingDuplicate;
    private final Counters.Counter noSynHandler;
    private final Counters.Counter timeWaitReuse;
    private final Counters.Counter badSynFlags;
    private final Counters.Counter noIpv6;

    public TcpLayer(TcpConfig config, Ipv4Output ipOutput, ByteBufAllocator alloc, Counters counters,
            IntSupplier issGenerator) {
        this.config = config;
        this.ipOutput = ipOutput;
        this.alloc = alloc;
        this.counters = counters;
        this.tcpCounters = new TcpCounters(counters);
        this.issGenerator = issGenerator;
        this.output = (c, seg, now) -> send(c.localIp, c.remoteIp, seg, now);
        this.noConnection = counters.counter("tcp.noConnection");
        this.resetsSent = counters.counter("tcp.out.resets");
        this.synPendingDuplicate = counters.counter("tcp.synWhileConnecting");
        this.noSynHandler = counters.counter("tcp.noListener");
        this.timeWaitReuse = counters.counter("tcp.timeWaitReuse");
        this.badSynFlags = counters.counter("tcp.badSynFlags");
        this.noIpv6 = counters.counter("tcp.noIpv6Output");
        this.memory = new TcpMemory(TcpMemory.UNLIMITED, defaultFloor(config), counters);
    }

    /** Where IPv6 segments go (the stack sets it when IPv6 is on; without it they are dropped and counted). */
    public void setIpv6Output(Ipv6Output out) {
        this.ipv6Output = out;
    }

    /** Sends a segment by its family. @param seg <b>taken</b> */
    private void send(Ipv6Address src, Ipv6Address dst, ByteBuf seg, long now) {
        if (src.isIpv4Mapped()) {
            ipOutput.send(src.ipv4(), dst.ipv4(), IpProtocol.TCP, seg, now);
        } else if (ipv6Output != null) {
            ipv6Output.send(src, dst, IpProtocol.TCP, seg, now);
        } else {
            noIpv6.inc();
            seg.release();
        }
    }

    /** What a connection may always hold under memory pressure: two segments, at most 64 KiB. */
    public static int defaultFloor(TcpConfig config) {
        return Math.min(64 * 1024, Math.min(config.receiveBuffer(), 2 * config.mss()));
    }

    /**
     * Bounds the bytes all connections may hold (see {@link TcpMemory}); applies to connections created from
     * now on, so call it before traffic flows.
     */
    public void setMemoryLimit(long bytes) {
        this.memory = new TcpMemory(bytes, defaultFloor(config), counters);
    }

    public TcpMemory memory() {
        return memory;
    }

    /**
     * Serves {@code ip:port} inside the stack: a guest's SYN for it is answered with a SYN-ACK at once (no host
     * connect, no {@link SynHandler}) and the connection gets a fresh handler from {@code acceptor}.
     *
     * @throws IllegalStateException when {@code ip:port} is already served (as {@code UdpDemux.bind})
     */
    public void listen(Ipv6Address ip, int port, Supplier<TcpConnection.Handler> acceptor) {
        if (listeners.putIfAbsent(new ListenKey(ip, port), acceptor) != null) {
            throw new IllegalStateException("TCP " + ip + " port " + port + " already served");
        }
    }

    /** {@link #listen(Ipv6Address, int, Supplier)} on an IPv4 address (host byte order). */
    public void listen(int ip, int port, Supplier<TcpConnection.Handler> acceptor) {
        listen(Ipv6Address.ofIpv4(ip), port, acceptor);
    }

    /** Stops serving {@code ip:port} (its connections continue); new SYNs go to the {@link SynHandler}. */
    public void unlisten(Ipv6Address ip, int port) {
        listeners.remove(new ListenKey(ip, port));
    }

    /** {@link #unlisten(Ipv6Address, int)} of an IPv4 address. */
    public void unlisten(int ip, int port) {
        unlisten(Ipv6Address.ofIpv4(ip), port);
    }

    public void setSynHandler(SynHandler synHandler) {
        this.synHandler = synHandler;
    }

    /** Called with a deadline whenever one earlier than all queued deadlines may have appeared. */
    public void setWakeup(LongConsumer wakeup) {
        this.wakeup = wakeup;
    }

    public TcpConfig config() {
        return config;
    }

    /** @param payload <b>borrowed</b> */
    @Override
    public void receive(IpHeader ip, ByteBuf payload, long now) {
        inBatch = true; // the gateway is flushed after every batch of frames it was handed
        int off = payload.readerIndex();
        int len = payload.readableBytes();
        TcpPacket.Error err = TcpPacket.checkWithAddressSum(payload, off, len, ip.addressSum());
        if (err != null) {
            counters.counter(err.counter()).inc();
            return;
        }
        TcpSegment seg = segment.parse(payload, off, len);
        try {
            TcpConnection c = last;
            if (c == null || !c.matches(ip.srcHi, ip.srcLo, seg.srcPort, ip.dstHi, ip.dstLo, seg.dstPort)) {
                c = connections.get(ip.srcHi, ip.srcLo, seg.srcPort, ip.dstHi, ip.dstLo, seg.dstPort);
                if (c != null) {
                    last = c;
                }
            }
            if (c != null && c.state() == TcpState.TIME_WAIT && seg.syn() && !seg.ackFlag()
                    && SeqNum.gt(seg.seq, c.rcvNxt())) {
                // RFC 9293 3.10.7.4 / RFC 6191: a new incarnation may reuse the 4-tuple from TIME-WAIT.
                timeWaitReuse.inc();
                remove(c);
                c.setHandler(new TcpConnection.Handler() {
                    @Override
                    public void onData(TcpConnection conn, ByteBuf data) {
                        data.release();
                    }
                });
                c.abort(now);
                c = null;
            }
            if (c != null) {
                c.onSegment(seg, now);
                return;
            }
            if (seg.rst()) {
                noConnection.inc();
                return; // never answer a RST
            }
            if (seg.syn() && !seg.ackFlag()) {
                if (seg.fin()) {
                    badSynFlags.inc();
                    return;
                }
                FlowKey key = new FlowKey(ip.srcAddress(), seg.srcPort, ip.dstAddress(), seg.dstPort);
                if (pending.containsKey(key)) {
                    synPendingDuplicate.inc(); // a retransmitted SYN while the host connect is in flight
                    return;
                }
                SynRequest req = new SynRequest(ip.srcMac, key.guest(), seg.srcPort, key.peer(), seg.dstPort,
                        copy(seg));
                Supplier<TcpConnection.Handler> service = listeners.get(new ListenKey(key.peer(), seg.dstPort));
                if (service != null) {
                    pending.put(key, req);
                    accept(req, service.get(), now);
                    return;
                }
                if (synHandler == null) {
                    noSynHandler.inc();
                    reject(req, now);
                    return;
                }
                pending.put(key, req);
                synHandler.onSyn(this, req, now);
                return;
            }
            noConnection.inc();
            replyReset(ip.dstAddress(), ip.srcAddress(), seg, now);
        } finally {
            seg.payload = null;
        }
    }

    private static TcpSegment copy(TcpSegment s) {
        TcpSegment c = new TcpSegment();
        c.srcPort = s.srcPort;
        c.dstPort = s.dstPort;
        c.seq = s.seq;
        c.ack = s.ack;
        c.flags = s.flags & ~TcpFlags.PSH;
        c.window = s.window;
        c.mss = s.mss;
        c.windowScale = s.windowScale;
        c.sackPermitted = s.sackPermitted;
        c.hasTimestamps = s.hasTimestamps;
        c.tsVal = s.tsVal;
        c.tsEcr = s.tsEcr;
        c.payload = null; // data on a SYN is not accepted before the handshake (it will be retransmitted)
        return c;
    }

    /**
     * Completes a pending SYN: creates the connection in SYN-RECEIVED and sends the SYN-ACK.
     *
     * @return the new connection, or null when the request is no longer pending
     */
    public TcpConnection accept(SynRequest req, TcpConnection.Handler handler, long now) {
        FlowKey key = req.key();
        if (pending.remove(key) == null) {
            return null;
        }
        TcpConnection c = newConnection(key, handler);
        c.link = links.byMac(req.guestMac());
        c.acceptSyn(req.syn(), now);
        return c;
    }

    /** Refuses a pending SYN with RST+ACK: the guest sees "connection refused". */
    public void reject(SynRequest req, long now) {
        pending.remove(req.key());
        TcpSegment syn = req.syn();
        sendReset(req.dstIp(), req.dstPort(), req.guestIp(), req.guestPort(), 0, syn.seq + 1, true, now);
    }

    /** Forgets a pending SYN without answering (the guest will retransmit). */
    public void drop(SynRequest req) {
        pending.remove(req.key());
    }

    /** {@link #connect(Ipv6Address, int, Ipv6Address, int, TcpConnection.Handler, long)} over IPv4. */
    public TcpConnection connect(int localIp, int localPort, int remoteIp, int remotePort,
            TcpConnection.Handler handler, long now) {
        return connect(Ipv6Address.ofIpv4(localIp), localPort, Ipv6Address.ofIpv4(remoteIp), remotePort, handler, now);
    }

    /**
     * Active open towards a guest (port forwarding): sends a SYN, entering SYN-SENT. Both addresses of one family
     * (IPv4-mapped for IPv4).
     */
    public TcpConnection connect(Ipv6Address localIp, int localPort, Ipv6Address remoteIp, int remotePort,
            TcpConnection.Handler handler, long now) {
        if (localIp.isIpv4Mapped() != remoteIp.isIpv4Mapped()) {
            throw new IllegalArgumentException("addresses of two families: " + localIp + ", " + remoteIp);
        }
        FlowKey key = new FlowKey(remoteIp, remotePort, localIp, localPort);
        if (connections.get(remoteIp, remotePort, localIp, localPort) != null) {
            throw new IllegalStateException("connection exists: " + key);
        }
        TcpConnection c = newConnection(key, handler);
        c.link = links.byIp(remoteIp, now);
        c.connect(now);
        return c;
    }

    /**
     * A source port in 49152-65535 for an active open from {@code localIp} to {@code remoteIp:remotePort}
     * whose 4-tuple is free, chosen round-robin; -1 when every port is in use towards that destination.
     */
    public int ephemeralPort(int localIp, int remoteIp, int remotePort) {
        return ephemeralPort(Ipv6Address.ofIpv4(localIp), Ipv6Address.ofIpv4(remoteIp), remotePort);
    }

    /** {@link #ephemeralPort(int, int, int)} for either family. */
    public int ephemeralPort(Ipv6Address localIp, Ipv6Address remoteIp, int remotePort) {
        for (int i = 0; i <= EPHEMERAL_LAST - EPHEMERAL_FIRST; i++) {
            int p = nextEphemeralPort;
            nextEphemeralPort = p == EPHEMERAL_LAST ? EPHEMERAL_FIRST : p + 1;
            if (connections.get(remoteIp, remotePort, localIp, p) == null) {
                return p;
            }
        }
        return -1;
    }

    /** Where the guest behind a connection is attached: the switch port whose writability paces the sender. */
    public interface Links {
        /** The port {@code mac} was learned on, or null. */
        SwitchPort byMac(long mac);

        /** The port of the guest holding {@code ip} (IPv4-mapped for IPv4; through the neighbour caches), or null. */
        SwitchPort byIp(Ipv6Address ip, long now);

        /** No pacing (tests without a switch). */
        Links NONE = new Links() {
            @Override
            public SwitchPort byMac(long mac) {
                return null;
            }

            @Override
            public SwitchPort byIp(Ipv6Address ip, long now) {
                return null;
            }
        };
    }

    /** Sets how connections find their guest's port (the stack does, with its switch and neighbour cache). */
    public void setLinks(Links links) {
        this.links = links;
    }

    private void waitForLink(TcpConnection c) {
        ArrayList<TcpConnection> waiting = pausedOnLink.get(c.link);
        if (waiting == null) {
            waiting = new ArrayList<>();
            pausedOnLink.put(c.link, waiting);
        }
        waiting.add(c);
    }

    /**
     * {@code port} can take frames again: every sender that paused on it sends what waited (in the order they
     * paused). Event loop only.
     */
    public void linkWritable(SwitchPort port, long now) {
        ArrayList<TcpConnection> waiting = pausedOnLink.remove(port);
        if (waiting == null) {
            return;
        }
        for (int i = 0; i < waiting.size(); i++) {
            TcpConnection c = waiting.get(i);
            c.waitingForLink = false;
            c.linkWritable(now);
        }
    }

    private TcpConnection newConnection(FlowKey key, TcpConnection.Handler handler) {
        TcpConnection.Handler wrapped = new RemovingHandler(handler);
        TcpConnection c = new TcpConnection(key.peer(), key.peerPort(), key.guest(), key.guestPort(), config,
                alloc, output, tcpCounters, wrapped, issGenerator.getAsInt());
        c.timerHook = timerHook;
        c.ackBatch = ackBatch;
        c.linkWait = linkWait;
        c.memory = memory;
        connections.add(c);
        opened++;
        return c;
    }

    /** Removes the connection from the table when it closes, then tells the application. */
    private final class RemovingHandler implements TcpConnection.Handler {
        private final TcpConnection.Handler app;

        RemovingHandler(TcpConnection.Handler app) {
            this.app = app;
        }

        @Override
        public void onEstablished(TcpConnection c) {
            app.onEstablished(c);
        }

        @Override
        public void onData(TcpConnection c, ByteBuf data) {
            app.onData(c, data);
        }

        @Override
        public void onFin(TcpConnection c) {
            app.onFin(c);
        }

        @Override
        public void onReset(TcpConnection c) {
            app.onReset(c);
        }

        @Override
        public void onSendSpace(TcpConnection c) {
            app.onSendSpace(c);
        }

        @Override
        public void onClosed(TcpConnection c) {
            remove(c); // not when a new incarnation already took its 4-tuple: only this connection is removed
            app.onClosed(c);
        }
    }

    /** Takes {@code c} out of the table (and out of the receive path's fast lookup). */
    private void remove(TcpConnection c) {
        connections.remove(c);
        timers.remove(c); // at once: a queued deadline must not keep a closed connection reachable
        if (last == c) {
            last = null;
        }
    }

    private boolean deferAck(TcpConnection c) {
        if (!inBatch) {
            return false;
        }
        if (!c.ackQueued) {
            c.ackQueued = true;
            acksOwed.add(c);
        }
        return true;
    }

    /**
     * The read batch ended (the switch flushes the gateway after the frames a transport read in one go, see
     * {@code NetworkStack.flush}): every connection that received in-order data worth an ACK in it sends one now,
     * covering all of it. Event loop only.
     */
    public void flush(long now) {
        inBatch = false;
        for (int i = 0; i < acksOwed.size(); i++) {
            TcpConnection c = acksOwed.get(i);
            c.ackQueued = false;
            c.batchEnd(now);
        }
        acksOwed.clear();
    }

    private void schedule(TcpConnection c) {
        long d = c.nextDeadline();
        if (d == TcpConnection.NEVER || d >= c.scheduledDeadline) {
            return;
        }
        boolean first = d < timers.earliest();
        timers.set(c, d);
        if (first) {
            wakeup.accept(d);
        }
    }

    /** Runs every connection timer due at {@code now}. */
    public void poll(long now) {
        for (TcpConnection c; (c = timers.first()) != null && c.scheduledDeadline <= now; ) {
            timers.remove(c);
            if (c.state() != TcpState.CLOSED) {
                c.poll(now);
                schedule(c);
            }
        }
    }

    /** Connections in the timer queue (tests). */
    int queuedTimers() {
        return timers.size();
    }

    /** The earliest queued deadline, or {@code Long.MAX_VALUE}. */
    public long nextDeadline() {
        return timers.earliest();
    }

    /** RFC 9293 3.10.7.1: the reset for a segment that matches no connection. */
    private void replyReset(Ipv6Address localIp, Ipv6Address remoteIp, TcpSegment seg, long now) {
        if (seg.ackFlag()) {
            sendReset(localIp, seg.dstPort, remoteIp, seg.srcPort, seg.ack, 0, false, now);
        } else {
            sendReset(localIp, seg.dstPort, remoteIp, seg.srcPort, 0, seg.seq + seg.segmentLength(), true, now);
        }
    }

    private void sendReset(Ipv6Address srcIp, int srcPort, Ipv6Address dstIp, int dstPort, int seq, int ack,
            boolean withAck, long now) {
        resetsSent.inc();
        ByteBuf h = resetWriter.header(srcPort, dstPort, seq, withAck ? ack : 0,
                TcpFlags.RST | (withAck ? TcpFlags.ACK : 0), 0).segment(alloc, srcIp, dstIp, null);
        send(srcIp, dstIp, h, now);
    }

    public TcpConnection connection(FlowKey key) {
        return connections.get(key.guest(), key.guestPort(), key.peer(), key.peerPort());
    }

    /** The open connections, as a snapshot taken now. Event loop only. */
    public Collection<TcpConnection> connections() {
        return Collections.unmodifiableList(connections.snapshot());
    }

    /** Connections ever created, closed ones included. Event loop only. */
    public long connectionsOpened() {
        return opened;
    }

    public int connectionCount() {
        return connections.size();
    }

    public Map<FlowKey, SynRequest> pendingSyns() {
        return Collections.unmodifiableMap(pending);
    }

    /** Aborts every connection (stack shutdown), releasing their buffers. */
    public void close(long now) {
        for (TcpConnection c : connections.snapshot()) {
            c.abort(now);
        }
        connections.clear();
        acksOwed.clear();
        inBatch = false;
        last = null;
        pending.clear();
        timers.clear();
    }
}
