package dev.gvproxy.stack.link;

import dev.gvproxy.stack.Counters;
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
 * <p>For a frame received on port P: learn {@code src -> P}; a frame for the gateway MAC goes to the
 * gateway; broadcast goes to every other port and to the gateway; multicast goes to every other port
 * (gvproxy drops it; flooding lets VMs run IPv6 ND and mDNS between themselves); other unicast goes to
 * the port its MAC was learned on, and is dropped and counted when unknown (gvproxy does not flood
 * unknown unicast either). MACs are never aged; a MAC seen on another port moves there.
 *
 * <p>Runs on the network's event loop only; not thread-safe. Writes to a port are not flushed until
 * {@link #flush()}, which transports call at the end of each read batch, so one syscall carries many
 * frames.
 */
public final class VirtualSwitch {
    /** Largest frame any transport accepts (gvproxy's 128 KiB read buffer). */
    public static final int MAX_FRAME = 131072;
    static final int ETH_HEADER = 14;

    /** Told when a MAC is first learned and when it disappears with its port. */
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

    /** Sees every frame crossing the switch (for pcap). */
    public interface FrameTap {
        /** @param frame <b>borrowed</b>; must not be modified or kept. */
        void frame(ByteBuf frame, long nowNanos);
    }

    private final long gatewayMac;
    private final LongSupplier clock;
    private final LongObjectHashMap<SwitchPort> cam = new LongObjectHashMap<>();
    private volatile SwitchPort[] ports = new SwitchPort[0];
    private final ArrayList<SwitchPort> dirty = new ArrayList<>();
    private final List<MacListener> listeners = new CopyOnWriteArrayList<>();
    private volatile FrameTap tap;
    private GatewayEgress egress;
    private final java.util.function.Consumer<ByteBuf> switchFromGateway = this::switchFromGateway;
    private LinkEndpoint gateway;
    private boolean gatewayDirty;
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

    /**
     * @param gatewayMac the gateway stack's MAC: frames to it go to {@link #setGateway}'s endpoint
     * @param clock nanosecond clock for pcap timestamps (injected; the switch never reads the wall clock)
     */
    public VirtualSwitch(long gatewayMac, Counters counters, LongSupplier clock) {
        this.gatewayMac = gatewayMac;
        this.clock = clock;
        this.runt = counters.counter("switch.runtFrame");
        this.oversized = counters.counter("switch.oversizedFrame");
        this.multicastSource = counters.counter("switch.multicastSource");
        this.unknownDestination = counters.counter("switch.unknownDestination");
        this.hairpin = counters.counter("switch.hairpin");
        this.detachedPort = counters.counter("switch.detachedPort");
        this.noGateway = counters.counter("switch.noGateway");
        this.noReceivers = counters.counter("switch.noReceivers");
    }

    public long gatewayMac() {
        return gatewayMac;
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
            cam.remove(mac);
            for (MacListener l : listeners) {
                l.closed(mac, p);
            }
        }
        p.macs.clear();
        dirty.remove(p);
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
        learn(src, from);
        FrameTap t = tap;
        if (t != null) {
            t.frame(frame, clock.getAsLong());
        }
        if (dst == gatewayMac) {
            toGateway(frame);
        } else if (MacAddress.isMulticast(dst)) {
            floodExcept(from, frame, dst == MacAddress.BROADCAST);
        } else {
            SwitchPort to = cam.get(dst);
            if (to == null) {
                unknownDestination.inc();
                frame.release();
            } else if (to == from) {
                hairpin.inc();
                frame.release();
            } else {
                write(to, frame);
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
        if (MacAddress.isMulticast(dst)) {
            floodExcept(null, frame, false);
            return;
        }
        SwitchPort to = cam.get(dst);
        if (to == null) {
            unknownDestination.inc();
            frame.release();
        } else {
            write(to, frame);
        }
    }

    /** Flushes every port written since the last flush. */
    public void flush() {
        if (gatewayDirty) {
            gatewayDirty = false;
            gateway.flush();
        }
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
        SwitchPort p = cam.get(mac);
        return p == null || p.endpoint.isWritable();
    }

    /** The MAC table as gvproxy's {@code /cam} shows it: MAC -> port id. */
    public Map<String, Integer> cam() {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (LongObjectHashMap.PrimitiveEntry<SwitchPort> e : cam.entries()) {
            out.put(MacAddress.format(e.key()), e.value().id());
        }
        return out;
    }

    /** Port that {@code mac} was learned on, or null. */
    public SwitchPort portOf(long mac) {
        return cam.get(mac);
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

    private void learn(long src, SwitchPort from) {
        SwitchPort known = cam.get(src);
        if (known == from) {
            return;
        }
        if (known != null) {
            known.macs.remove(src);
        }
        cam.put(src, from);
        from.macs.add(src);
        if (known == null) {
            for (MacListener l : listeners) {
                l.established(src, from);
            }
        }
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
    }

    /** Floods to all ports but {@code except} (null for none); also to the gateway when asked. Takes frame. */
    private void floodExcept(SwitchPort except, ByteBuf frame, boolean alsoGateway) {
        SwitchPort[] snapshot = ports;
        int receivers = 0;
        for (SwitchPort p : snapshot) {
            if (p != except && p.attached) {
                receivers++;
                write(p, frame.retainedDuplicate());
            }
        }
        if (alsoGateway) {
            toGateway(frame);
        } else {
            if (receivers == 0) {
                noReceivers.inc();
            }
            frame.release();
        }
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
    }
}
