package dev.gvproxy.stack.link;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.PortSecurity;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.ByteBuf;
import io.netty.util.collection.LongObjectHashMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * A learning Ethernet switch joining every attached VM and the gateway stack (spec section 1.10).
 *
 * <p>For a frame received on port P: learn {@code src -> P} (see port security below); a frame for the
 * gateway MAC goes to the gateway; broadcast goes to every other port and to the gateway; multicast goes to
 * every other port (gvproxy drops it; flooding lets VMs run IPv6 ND and mDNS between themselves), and IPv6
 * multicast ({@code 33:33:*}) also to the gateway when it speaks IPv6 ({@link #setIpv6MulticastToGateway}:
 * router and neighbour solicitations, DAD, DHCPv6 are multicast); other
 * unicast goes to the port its MAC was learned on, and is dropped and counted when unknown (gvproxy does not
 * flood unknown unicast either).
 *
 * <p>Port security ({@link PortSecurity}): a port learns at most {@code macsPerPort} MACs and the switch at
 * most {@code macsTotal}; a frame whose source cannot be learned is dropped ({@code switch.portMacLimit},
 * {@code switch.camFull}), so a MAC flood costs nothing but the counter. A MAC not heard from for
 * {@code macAgeingNanos} is forgotten. A MAC learned on a live port is never taken over by another port
 * ({@code switch.macMoveDenied}): it moves only once it aged out or its port detached, which is what a
 * reconnecting VM does. The gateway's MAC as a source is dropped ({@code switch.gatewayMacSpoof}). Last, an
 * {@link IngressFilter} (installed by the gateway stack) checks the network-layer claims of what passed.
 *
 * <p>Ageing is O(1) per frame: learned MACs sit in one list ordered by when they were last heard (a frame
 * moves its source to the tail), so expired entries are always at the head; {@link #expire} pops them, from
 * each frame and from the network's deadline driver ({@link #nextDeadline}).
 *
 * <p>Runs on the network's event loop only; not thread-safe. Writes to a port are not flushed until
 * {@link #flush()}, which transports call at the end of each read batch, so one syscall carries many
 * frames.
 */
public final class VirtualSwitch {
    /** Largest frame any transport accepts (gvproxy's 128 KiB read buffer). */
    public static final int MAX_FRAME = 131072;
    static final int ETH_HEADER = 14;

    /**
     * Told when a MAC is learned on a port and when it leaves that port: because the port detached, or because
     * the MAC, silent for the ageing time, appeared on another port, or because its port needed room for a new
     * MAC. Ageing alone is not leaving: an idle VM's MAC is <em>dormant</em> on its still attached port (out of
     * the CAM, so it may move) and wakes without an event when it speaks again. A MAC never moves between ports
     * without a {@code closed} on the old one first. Called on the event loop.
     */
    public interface MacListener {
        void established(long mac, SwitchPort port);

        void closed(long mac, SwitchPort port);
    }

    /**
     * Sits between the gateway stack and the ports (a test hook: {@link LinkImpairment} delays, reorders,
     * duplicates or drops the gateway's frames with it). Runs on the network's event loop.
     */
    public interface GatewayEgress {
        /**
         * @param frame <b>taken</b>: passed to {@code out} (now or later, on the event loop) or released
         * @param out switches a frame as the gateway's output; <b>takes</b> it
         */
        void egress(ByteBuf frame, java.util.function.Consumer<ByteBuf> out);
    }

    /**
     * Checks what a guest's frame claims above layer 2 (its IPv4 source, its ARP sender) before the switch
     * forwards it anywhere. Runs on the event loop for every frame from a port whose source MAC was learned.
     */
    public interface IngressFilter {
        /**
         * @param frame <b>borrowed</b>: the whole frame, not to be modified or kept
         * @return true to switch the frame, false to drop it (the filter counts why)
         */
        boolean accept(SwitchPort from, long srcMac, ByteBuf frame);
    }

    /** Sees every frame crossing the switch (for pcap). */
    public interface FrameTap {
        /** @param frame <b>borrowed</b>; must not be modified or kept. */
        void frame(ByteBuf frame, long nowNanos);
    }

    /** One learned MAC: its port, when it was last heard, its place in the ageing list. */
    private static final class CamEntry {
        final long mac;
        final SwitchPort port;
        long lastSeen;
        CamEntry older;
        CamEntry newer;

        CamEntry(long mac, SwitchPort port, long lastSeen) {
            this.mac = mac;
            this.port = port;
            this.lastSeen = lastSeen;
        }
    }

    private final long gatewayMac;
    private final LongSupplier clock;
    private final LongSupplier monotonic;
    private final PortSecurity security;
    private final LongObjectHashMap<CamEntry> cam = new LongObjectHashMap<>();
    /** Aged-out MACs of attached ports (each port holds at most {@code macsPerPort}): MAC -> its port. */
    private final LongObjectHashMap<SwitchPort> dormant = new LongObjectHashMap<>();
    /** Ageing list: {@code oldest} was heard from least recently. */
    private CamEntry oldest;
    private CamEntry newest;
    private IngressFilter filter;
    private volatile SwitchPort[] ports = new SwitchPort[0];
    private final ArrayList<SwitchPort> dirty = new ArrayList<>();
    private final List<MacListener> listeners = new CopyOnWriteArrayList<>();
    private volatile FrameTap tap;
    private GatewayEgress egress;
    private final java.util.function.Consumer<ByteBuf> switchFromGateway = this::switchFromGateway;
    private LinkEndpoint gateway;
    private boolean ipv6MulticastToGateway;
    private boolean gatewayDirty;
    /** The network's driver, told once per batch that something waits for {@link #flush}; null: none. */
    private Runnable flushRequest;
    private WritableListener writableListener;
    private boolean flushRequested;
    private int nextId;

    private final AtomicLong bytesSent = new AtomicLong();
    private final AtomicLong bytesReceived = new AtomicLong();
    private final Counters.Counter runt;
    private final Counters.Counter oversized;
    private final Counters.Counter multicastSource;
    private final Counters.Counter unknownDestination;
    private final Counters.Counter hairpin;
    private final Counters.Counter detachedPort;
    private final Counters.Counter noGateway;
    private final Counters.Counter noReceivers;
    private final Counters.Counter portMacLimit;
    private final Counters.Counter camFull;
    private final Counters.Counter macMoveDenied;
    private final Counters.Counter gatewayMacSpoof;
    private final Counters.Counter macAged;
    private final Counters.Counter gsoFrames;
    private final Counters.Counter gsoSegments;
    private final Counters.Counter gsoNotTcp;
    private final Counters.Counter gsoMtuTooSmall;
    /** IP bytes a port without offloads takes in one frame: large TCP frames are cut to it ({@link #setMtu}). */
    private int mtu = 1500;

    /**
     * A switch with {@link PortSecurity#defaults()} whose one clock serves pcap timestamps and MAC ageing.
     *
     * @param gatewayMac the gateway stack's MAC: frames to it go to {@link #setGateway}'s endpoint
     * @param clock nanosecond clock (injected; the switch never reads the wall clock)
     */
    public VirtualSwitch(long gatewayMac, Counters counters, LongSupplier clock) {
        this(gatewayMac, counters, clock, clock, PortSecurity.defaults());
    }

    /**
     * @param gatewayMac the gateway stack's MAC: frames to it go to {@link #setGateway}'s endpoint
     * @param tapClock nanoseconds since the epoch, for pcap timestamps
     * @param monotonic monotonic nanoseconds, for MAC ageing (the same clock as the stack's deadlines)
     * @param security MAC limits and ageing time
     */
    public VirtualSwitch(long gatewayMac, Counters counters, LongSupplier tapClock, LongSupplier monotonic,
            PortSecurity security) {
        this.gatewayMac = gatewayMac;
        this.clock = tapClock;
        this.monotonic = monotonic;
        this.security = security;
        this.runt = counters.counter("switch.runtFrame");
        this.oversized = counters.counter("switch.oversizedFrame");
        this.multicastSource = counters.counter("switch.multicastSource");
        this.unknownDestination = counters.counter("switch.unknownDestination");
        this.hairpin = counters.counter("switch.hairpin");
        this.detachedPort = counters.counter("switch.detachedPort");
        this.noGateway = counters.counter("switch.noGateway");
        this.noReceivers = counters.counter("switch.noReceivers");
        this.portMacLimit = counters.counter("switch.portMacLimit");
        this.camFull = counters.counter("switch.camFull");
        this.macMoveDenied = counters.counter("switch.macMoveDenied");
        this.gatewayMacSpoof = counters.counter("switch.gatewayMacSpoof");
        this.macAged = counters.counter("switch.macAged");
        this.gsoFrames = counters.counter("switch.gso.frames");
        this.gsoSegments = counters.counter("switch.gso.segments");
        this.gsoNotTcp = counters.counter("switch.gso.notTcp");
        this.gsoMtuTooSmall = counters.counter("switch.gso.mtuTooSmall");
    }

    public PortSecurity security() {
        return security;
    }

    /**
     * Sets the network's MTU (default 1500): a TCP frame longer than it that comes from a port with offloads or
     * from the gateway is segmented in software ({@link SoftwareGso}) when it leaves for a port without offloads.
     * Frames between ports without offloads pass unchanged whatever their size (as in gvproxy).
     */
    public void setMtu(int mtu) {
        this.mtu = mtu;
    }

    /** @return the network's MTU ({@link #setMtu}) */
    public int mtu() {
        return mtu;
    }

    /** Installs (null removes) the check of every guest frame's network-layer claims; call on the event loop. */
    public void setIngressFilter(IngressFilter f) {
        this.filter = f;
    }

    public long gatewayMac() {
        return gatewayMac;
    }

    /**
     * Whether IPv6 multicast frames ({@code 33:33:*}, RFC 2464 7) reach the gateway too, besides the other ports:
     * on when the gateway speaks IPv6 (its solicitations, DAD probes and DHCPv6 are multicast). Event loop (or
     * before traffic).
     */
    public void setIpv6MulticastToGateway(boolean on) {
        this.ipv6MulticastToGateway = on;
    }

    /** Sets the endpoint that receives frames addressed to the gateway (the {@code NetworkStack}). */
    public void setGateway(LinkEndpoint gateway) {
        this.gateway = gateway;
    }

    public void addListener(MacListener l) {
        listeners.add(l);
    }

    public void setTap(FrameTap tap) {
        this.tap = tap;
    }

    /** Installs (or, with null, removes) a hook on every frame the gateway sends; call on the event loop. */
    public void setGatewayEgress(GatewayEgress egress) {
        this.egress = egress;
    }

    /** Attaches a VM's endpoint; returns its port (ids increase and are never reused). */
    public SwitchPort attach(String name, LinkEndpoint endpoint) {
        SwitchPort p = new SwitchPort(nextId++, name, endpoint);
        SwitchPort[] old = ports;
        SwitchPort[] next = Arrays.copyOf(old, old.length + 1);
        next[old.length] = p;
        ports = next;
        return p;
    }

    /** Detaches a port and forgets every MAC learned on it; idempotent. Leases and TCP state are kept. */
    public void detach(SwitchPort p) {
        if (!p.attached) {
            return;
        }
        p.attached = false;
        SwitchPort[] old = ports;
        SwitchPort[] next = new SwitchPort[old.length - 1];
        int j = 0;
        for (SwitchPort q : old) {
            if (q != p && j < next.length) {
                next[j++] = q;
            }
        }
        ports = next;
        for (long mac : p.macs) {
            CamEntry e = cam.get(mac);
            if (e != null && e.port == p) {
                forget(e);
            }
        }
        while (p.dormant.length > 0) {
            leaveDormant(p.dormant[0], p);
        }
        dirty.remove(p);
        portWritable(p); // nobody may wait for a port that is gone
    }

    /**
     * Switches one frame that arrived on {@code from}.
     *
     * @param frame <b>taken</b>: a whole Ethernet frame between reader and writer index
     */
    public void deliver(SwitchPort from, ByteBuf frame) {
        int len = frame.readableBytes();
        if (!from.attached) {
            detachedPort.inc();
            frame.release();
            return;
        }
        if (len < ETH_HEADER) {
            runt.inc();
            frame.release();
            return;
        }
        if (len > MAX_FRAME) {
            oversized.inc();
            frame.release();
            return;
        }
        from.framesIn.incrementAndGet();
        from.bytesIn.addAndGet(len);
        bytesReceived.addAndGet(len);
        int off = frame.readerIndex();
        long dst = MacAddress.get(frame, off);
        long src = MacAddress.get(frame, off + 6);
        if (MacAddress.isMulticast(src)) {
            multicastSource.inc();
            frame.release();
            return;
        }
        if (src == gatewayMac) {
            gatewayMacSpoof.inc();
            frame.release();
            return;
        }
        if (!learn(src, from)) {
            frame.release();
            return;
        }
        FrameTap t = tap;
        if (t != null) {
            t.frame(frame, clock.getAsLong());
        }
        IngressFilter f = filter;
        if (f != null && !f.accept(from, src, frame)) {
            frame.release();
            return;
        }
        boolean large = len > ETH_HEADER + mtu && from.endpoint.offloads();
        if (dst == gatewayMac) {
            toGateway(frame);
        } else if (MacAddress.isMulticast(dst)) {
            floodExcept(from, frame, dst == MacAddress.BROADCAST
                    || (ipv6MulticastToGateway && (dst >>> 32) == 0x3333L), large);
        } else {
            SwitchPort to = portFor(dst);
            if (to == null) {
                unknownDestination.inc();
                frame.release();
            } else if (to == from) {
                hairpin.inc();
                frame.release();
            } else {
                write(to, frame, large);
            }
        }
    }

    /**
     * Sends a frame generated by the gateway stack: broadcast and multicast to every port, unicast to the
     * port its destination MAC was learned on.
     *
     * @param frame <b>taken</b>
     */
    public void transmitFromGateway(ByteBuf frame) {
        GatewayEgress e = egress;
        if (e != null) {
            e.egress(frame, switchFromGateway);
        } else {
            switchFromGateway(frame);
        }
    }

    /** @param frame <b>taken</b> */
    private void switchFromGateway(ByteBuf frame) {
        FrameTap t = tap;
        if (t != null) {
            t.frame(frame, clock.getAsLong());
        }
        long dst = MacAddress.get(frame, frame.readerIndex());
        boolean large = frame.readableBytes() > ETH_HEADER + mtu;
        if (MacAddress.isMulticast(dst)) {
            floodExcept(null, frame, false, large);
            return;
        }
        SwitchPort to = portFor(dst);
        if (to == null) {
            unknownDestination.inc();
            frame.release();
        } else {
            write(to, frame, large);
        }
    }

    /**
     * Where unicast to {@code mac} goes: its CAM port, else the port it is dormant on (an idle VM still
     * receives: a host connect through a port forward must reach it), else nowhere.
     */
    private SwitchPort portFor(long mac) {
        CamEntry e = cam.get(mac);
        return e != null ? e.port : dormant.get(mac);
    }

    /**
     * Installs the network's driver: {@code request} is run (on the loop) when the first frame of a batch is
     * queued for a port, at most once until the next {@link #flush}, and the driver flushes the switch once at the
     * end of the event-loop task. Output code therefore never flushes; it only writes. Without a driver (unit
     * tests, frame-in/frame-out use) the owner flushes: {@link #flush} explicitly, or {@link #readComplete} at the
     * end of a transport's read batch.
     */
    public void setFlushRequest(Runnable request) {
        this.flushRequest = request;
    }

    /**
     * A transport's read batch ended. With a driver installed nothing happens here: the driver's flush at the end
     * of the loop task covers the batch, and every other output of the same task. Without one (unit tests of the
     * transports), the switch is flushed now, so "one flush per read batch" still holds.
     */
    public void readComplete() {
        if (flushRequest == null) {
            flush();
        }
    }

    private void requestFlush() {
        if (!flushRequested && flushRequest != null) {
            flushRequested = true;
            flushRequest.run();
        }
    }

    /** Told when a port can take frames again; the stack wakes the TCP senders paused on it. */
    @FunctionalInterface
    public interface WritableListener {
        void writable(SwitchPort port);
    }

    /** Sets the one {@link WritableListener} (the gateway stack). */
    public void setWritableListener(WritableListener listener) {
        this.writableListener = listener;
    }

    /**
     * A transport's word that {@code port} can take frames again (its queue drained below the low mark, e.g.
     * Netty's {@code channelWritabilityChanged}). Event loop only. Senders that paused because
     * {@link SwitchPort#isWritable()} was false resume.
     */
    public void portWritable(SwitchPort port) {
        WritableListener l = writableListener;
        if (l != null) {
            l.writable(port);
        }
    }

    /** Flushes every port written since the last flush. */
    public void flush() {
        if (gatewayDirty) {
            gatewayDirty = false;
            gateway.flush(); // first: what the gateway sends at the end of its batch leaves with this flush
        }
        flushRequested = false;
        if (dirty.isEmpty()) {
            return;
        }
        for (int i = 0; i < dirty.size(); i++) {
            SwitchPort p = dirty.get(i);
            p.dirty = false;
            if (p.attached) {
                p.endpoint.flush();
            }
        }
        dirty.clear();
    }

    /** True when the port that {@code mac} was learned on can take more frames (or the MAC is unknown). */
    public boolean isWritable(long mac) {
        CamEntry e = cam.get(mac);
        return e == null || e.port.endpoint.isWritable();
    }

    /**
     * The MAC table as gvproxy's {@code /cam} shows it: MAC -> port id. Safe from any thread and never touches
     * the event loop: it reads each attached port's published MAC list, whose size the port limit bounds.
     */
    public Map<String, Integer> cam() {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (SwitchPort p : ports) {
            for (long mac : p.macs) {
                out.put(MacAddress.format(mac), p.id());
            }
        }
        return out;
    }

    /** Number of learned MACs. Event loop only. */
    public int camSize() {
        return cam.size();
    }

    /** Port that {@code mac} was learned on, or null. Event loop only. */
    public SwitchPort portOf(long mac) {
        CamEntry e = cam.get(mac);
        return e == null ? null : e.port;
    }

    /**
     * Takes every MAC not heard from for the ageing time at {@code now} (monotonic nanoseconds) out of the CAM:
     * it becomes dormant on its port (free to move, no listener event). Called for every frame and by the
     * network's deadline driver; costs O(1) when nothing expired.
     */
    public void expire(long now) {
        long ageing = security.macAgeingNanos();
        for (CamEntry e; (e = oldest) != null && now - e.lastSeen >= ageing; ) {
            macAged.inc();
            SwitchPort p = e.port;
            unlearn(e);
            if (p.dormant.length >= security.macsPerPort()) {
                leaveDormant(p.dormant[0], p); // the port's longest-dormant MAC makes room
            }
            p.dormant = append(p.dormant, e.mac);
            dormant.put(e.mac, p);
        }
    }

    /** When {@link #expire} next has work, or {@code Long.MAX_VALUE}. Event loop only. */
    public long nextDeadline() {
        CamEntry e = oldest;
        return e == null ? Long.MAX_VALUE : e.lastSeen + security.macAgeingNanos();
    }

    public List<SwitchPort> ports() {
        return List.of(ports);
    }

    /** Bytes written to ports (gvproxy's {@code BytesSent}). */
    public long bytesSent() {
        return bytesSent.get();
    }

    /** Bytes received from ports (gvproxy's {@code BytesReceived}). */
    public long bytesReceived() {
        return bytesReceived.get();
    }

    /** Learns or refreshes {@code src} on {@code from}; false (counted) when the frame must be dropped. */
    private boolean learn(long src, SwitchPort from) {
        long now = monotonic.getAsLong();
        expire(now);
        CamEntry e = cam.get(src);
        if (e != null) {
            if (e.port != from) {
                // Live on another port (it did not age out and that port did not detach): not stolen.
                macMoveDenied.inc();
                return false;
            }
            e.lastSeen = now;
            if (e != newest) {
                unlink(e);
                append(e);
            }
            return true;
        }
        if (from.macs.length >= security.macsPerPort()) {
            portMacLimit.inc();
            return false;
        }
        if (cam.size() >= security.macsTotal()) {
            camFull.inc();
            return false;
        }
        SwitchPort sleptOn = dormant.get(src);
        if (sleptOn != null && sleptOn != from) {
            leaveDormant(src, sleptOn); // silent for the ageing time: it may move, and leaves its old port
            sleptOn = null;
        }
        boolean woke = sleptOn != null;
        if (woke) {
            dormant.remove(src);
            from.dormant = without(from.dormant, src);
        }
        e = new CamEntry(src, from, now);
        cam.put(src, e);
        append(e);
        from.macs = append(from.macs, src);
        if (!woke) {
            for (MacListener l : listeners) {
                l.established(src, from);
            }
        }
        return true;
    }

    /** Removes a learned MAC (its port detached) and tells the listeners. */
    private void forget(CamEntry e) {
        unlearn(e);
        for (MacListener l : listeners) {
            l.closed(e.mac, e.port);
        }
    }

    /** Takes a MAC out of the CAM, the ageing list and its port's list; no event. */
    private void unlearn(CamEntry e) {
        cam.remove(e.mac);
        unlink(e);
        e.port.macs = without(e.port.macs, e.mac);
    }

    /** A dormant MAC leaves its port for good: forgotten, listeners told. */
    private void leaveDormant(long mac, SwitchPort p) {
        dormant.remove(mac);
        p.dormant = without(p.dormant, mac);
        for (MacListener l : listeners) {
            l.closed(mac, p);
        }
    }

    private static long[] append(long[] a, long v) {
        long[] next = Arrays.copyOf(a, a.length + 1);
        next[a.length] = v;
        return next;
    }

    private static long[] without(long[] a, long v) {
        long[] next = new long[Math.max(0, a.length - 1)];
        int j = 0;
        for (long m : a) {
            if (m != v && j < next.length) {
                next[j++] = m;
            }
        }
        return next;
    }

    private void append(CamEntry e) {
        e.older = newest;
        e.newer = null;
        if (newest != null) {
            newest.newer = e;
        } else {
            oldest = e;
        }
        newest = e;
    }

    private void unlink(CamEntry e) {
        if (e.older != null) {
            e.older.newer = e.newer;
        } else {
            oldest = e.newer;
        }
        if (e.newer != null) {
            e.newer.older = e.older;
        } else {
            newest = e.older;
        }
        e.older = null;
        e.newer = null;
    }

    private void toGateway(ByteBuf frame) {
        LinkEndpoint gw = gateway;
        if (gw == null) {
            noGateway.inc();
            frame.release();
            return;
        }
        gatewayDirty = true;
        gw.transmit(frame);
        requestFlush();
    }

    /**
     * Floods to all ports but {@code except} (null for none); also to the gateway when asked. Takes frame. Every
     * receiver but the last gets a retained duplicate; the last one (the gateway, when asked) gets the frame
     * itself: with one VM on the network (the usual case) the gateway's broadcasts (ARP requests, DHCP replies to a
     * client without an address) then reach it as the gateway built them, one buffer whose transport room its
     * framing may use ({@code Headroom.isOwn} refuses it while any duplicate is still held).
     */
    private void floodExcept(SwitchPort except, ByteBuf frame, boolean alsoGateway, boolean large) {
        SwitchPort[] snapshot = ports;
        SwitchPort last = null;
        for (SwitchPort p : snapshot) {
            if (p != except && p.attached) {
                if (last != null) {
                    write(last, frame.retainedDuplicate(), large);
                }
                last = p;
            }
        }
        if (alsoGateway) {
            if (last != null) {
                write(last, frame.retainedDuplicate(), large);
            }
            toGateway(frame);
        } else if (last != null) {
            write(last, frame, large);
        } else {
            noReceivers.inc();
            frame.release();
        }
    }

    /**
     * Writes a frame to a port; {@code large} (longer than the MTU, from an offload port or the gateway) frames
     * that are TCP are cut in software for a port without offloads. Takes frame.
     */
    private void write(SwitchPort to, ByteBuf frame, boolean large) {
        if (large && !to.endpoint.offloads()) {
            SoftwareGso.Result r = SoftwareGso.segment(frame, mtu, s -> {
                gsoSegments.inc();
                write(to, s);
            });
            switch (r) {
                case SEGMENTED -> {
                    gsoFrames.inc();
                    frame.release();
                    return;
                }
                case MTU_TOO_SMALL -> {
                    gsoMtuTooSmall.inc();
                    frame.release();
                    return;
                }
                case NOT_TCP -> gsoNotTcp.inc(); // passes as is, like any oversized frame between VMs
            }
        }
        write(to, frame);
    }

    private void write(SwitchPort to, ByteBuf frame) {
        int len = frame.readableBytes();
        to.framesOut.incrementAndGet();
        to.bytesOut.addAndGet(len);
        bytesSent.addAndGet(len);
        if (!to.dirty) {
            to.dirty = true;
            dirty.add(to);
        }
        to.endpoint.transmit(frame);
        requestFlush();
    }
}
