package dev.gvproxy.forwarder;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.DeadlineSource;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.ip.FlowKey;
import dev.gvproxy.stack.ip.IpHeader;
import dev.gvproxy.stack.ip.TransportHandler;
import dev.gvproxy.stack.wire.Headroom;
import dev.gvproxy.stack.wire.Icmpv4Packet;
import dev.gvproxy.stack.wire.Icmpv6Packet;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv6Address;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.Ipv6Packet;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import io.netty.util.concurrent.Future;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * ICMP and ICMPv6 echo towards the host network (spec 5.4): echo requests the gateway does not answer itself are
 * sent from unprivileged ping sockets ({@link PingSocket}), and echo replies go back to the guest from the
 * originally pinged address with the guest's own identifier and sequence.
 *
 * <p><b>Both families, one path.</b> Where an echo goes is {@link HostRoutes}'s answer, as for TCP and UDP: an
 * IPv4 destination through the stack's NAT; over IPv6 the host alias to the host's {@code ::1} (or 127.0.0.1),
 * a NAT64 address ({@code 64:ff9b::/96}) to its embedded IPv4 address through an IPv4 ping socket (the request
 * goes out as ICMP echo, the reply comes back to the guest as ICMPv6 echo reply from the address it pinged), any
 * other global address through an ICMPv6 ping socket. The egress policy judges the route
 * ({@link EgressFilter#denies}); new flows are counted per family ({@code egress.ipv4.icmp},
 * {@code egress.ipv6.icmp}, {@code egress.nat64.icmp}).
 *
 * <p>One ping socket per (guest ip, guest identifier, destination) "ping flow", connected to the NAT'ed
 * destination; the kernel rewrites the identifier to the socket's own and delivers to it only replies
 * carrying that identifier, so the sequence number and the flow are enough to rebuild the guest's reply.
 * A flow idle for {@link Options#idleTimeoutNanos()} is closed (one {@code ping} run is one flow).
 *
 * <p><b>Event loop integration.</b> Each ping socket is registered with the network's epoll loop through
 * Netty 4.2's {@link IoEventLoop#register(io.netty.channel.IoHandle)} as an {@link EpollIoHandle}
 * (level-triggered {@code EPOLLIN}), exactly as Netty's own channels are: replies are read on the loop,
 * no extra thread, no locks. The loop must therefore be an epoll {@link IoEventLoop}.
 *
 * <p><b>Permissions.</b> The kernel allows ping sockets only to groups inside
 * {@code net.ipv4.ping_group_range}; when it refuses ({@code EACCES}) one warning says how to allow them,
 * and every refused echo is counted ({@code icmp.fwd.pingForbidden}); nothing is answered, as in gvproxy.
 *
 * <p>Time: activity stamps come from the injected clock; {@link #poll(long)} expires idle flows, run by the
 * network's one timer: {@link #install} registers the forwarder as one of the stack's {@link DeadlineSource}s.
 */
public final class IcmpForwarder implements TransportHandler, DeadlineSource, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(IcmpForwarder.class.getName());
    /** Largest ICMP message in an IPv4 datagram (65535 - 20). */
    static final int MAX_MESSAGE = 65515;
    /** Reads per readiness event, so one busy socket cannot monopolise the loop. */
    private static final int MAX_READS = 64;
    private static final ValueLayout.OfShort BE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /**
     * @param idleTimeoutNanos a ping flow with no request for this long is closed
     * @param maxFlows ping sockets open at once; beyond, new flows are dropped ({@code icmp.fwd.flowLimit})
     */
    public record Options(long idleTimeoutNanos, int maxFlows) {
        public static final Options DEFAULTS = new Options(TimeUnit.SECONDS.toNanos(60), 1024);

        public Options {
            if (idleTimeoutNanos <= 0 || maxFlows <= 0) {
                throw new IllegalArgumentException("idle timeout and flow limit must be positive");
            }
        }
    }

    private final NetworkStack stack;
    private final IoEventLoop loop;
    private final LongSupplier clock;
    private final Options options;
    private final PingSocket.Opener opener;
    private GuestFlows guests;
    private EgressFilter egress;
    private HostRoutes routes;
    private final IdleFlows<FlowKey, PingFlow> flows = new IdleFlows<>(16, f -> f.lastActive);
    /** Native scratch for send/recv; only touched on the loop. */
    private MemorySegment scratch;
    private boolean installed;
    private boolean forbiddenLogged;
    private boolean closed;
    /** Echo flows ever opened (the -debug traffic summary's "new flows"). */
    private long opened;

    private final Counters.Counter notEcho;
    private final Counters.Counter badDestination;
    private final Counters.Counter forbidden;
    private final Counters.Counter socketError;
    private final Counters.Counter flowLimit;
    private final Counters.Counter requests;
    private final Counters.Counter replies;
    private final Counters.Counter sendError;
    private final Counters.Counter recvError;
    private final Counters.Counter badReply;
    private final Counters.Counter flowsExpired;
    private final HostRoutes.FamilyCounters flowsByFamily;

    /**
     * @param loop the network's epoll event loop
     * @param clock monotonic nanoseconds (the stack's clock)
     * @param opener how ping sockets are made ({@link PingSocket#open} normally)
     */
    public IcmpForwarder(NetworkStack stack, EventLoop loop, LongSupplier clock, Options options,
            PingSocket.Opener opener) {
        if (!(loop instanceof IoEventLoop io) || !io.isCompatible(EpollIoHandle.class)) {
            throw new IllegalArgumentException("ICMP echo forwarding needs Linux ping sockets on the epoll transport; this"
                    + " network's loop is " + loop.getClass().getSimpleName() + " (-Dgvproxy.transport=nio or not Linux)");
        }
        this.stack = stack;
        this.loop = io;
        this.clock = clock;
        this.options = options;
        this.opener = opener;
        Counters c = stack.counters();
        this.notEcho = c.counter("icmp.fwd.notEcho");
        this.badDestination = c.counter("icmp.fwd.badDestination");
        this.forbidden = c.counter("icmp.fwd.pingForbidden");
        this.socketError = c.counter("icmp.fwd.socketError");
        this.flowLimit = c.counter("icmp.fwd.flowLimit");
        this.requests = c.counter("icmp.fwd.requests");
        this.replies = c.counter("icmp.fwd.replies");
        this.sendError = c.counter("icmp.fwd.sendError");
        this.recvError = c.counter("icmp.fwd.recvError");
        this.badReply = c.counter("icmp.fwd.badReply");
        this.flowsExpired = c.counter("icmp.fwd.flowsExpired");
        this.flowsByFamily = HostRoutes.FamilyCounters.of(c, "icmp");
        this.routes = HostRoutes.defaults(stack.config());
    }

    /** Installs a forwarder with the stack's clock, default options and host ping sockets. */
    public static IcmpForwarder install(NetworkStack stack, EventLoop loop) {
        return install(stack, loop, stack::now, Options.DEFAULTS, PingSocket::open);
    }

    /**
     * Creates a forwarder, makes it the stack's ICMP and ICMPv6 forwarder and one of its deadline sources (idle ping
     * sockets). {@link #close()} (on the loop) undoes it.
     */
    public static IcmpForwarder install(NetworkStack stack, EventLoop loop, LongSupplier clock, Options options,
            PingSocket.Opener opener) {
        IcmpForwarder f = new IcmpForwarder(stack, loop, clock, options, opener);
        stack.icmp().setForwarder(f);
        stack.icmpv6().setForwarder(f);
        stack.addDeadlineSource(f);
        f.installed = true;
        return f;
    }

    public int flowCount() {
        return flows.size();
    }

    /** Echo flows ever opened, closed ones included. Loop only. */
    public long flowsOpened() {
        return opened;
    }

    /** Every echo flow as a row of the live flow table. Loop only. */
    public void flows(java.util.function.Consumer<dev.gvproxy.stack.FlowEntry> out) {
        for (PingFlow f : flows.values()) {
            out.accept(f.flowEntry());
        }
    }

    /**
     * @param payload <b>borrowed</b>: the ICMP or ICMPv6 message ({@code ip.ipv6} tells; checksum already verified
     *                by the stack)
     */
    @Override
    public void receive(IpHeader ip, ByteBuf payload, long now) {
        int off = payload.readerIndex();
        int len = payload.readableBytes();
        boolean v6 = ip.ipv6;
        // Both families' echo headers are type, code, checksum, identifier, sequence: only the type values differ.
        if (len < Icmpv4Packet.HEADER_LEN || Icmpv4Packet.code(payload, off) != 0 || Icmpv4Packet.type(payload, off)
                != (v6 ? Icmpv6Packet.TYPE_ECHO_REQUEST : Icmpv4Packet.TYPE_ECHO_REQUEST)) {
            // Errors and other types from guests are not relayed (spec 5.4).
            notEcho.inc();
            return;
        }
        int dst4 = ip.dst;
        // gvproxy ignores echo to loopback and broadcast; multicast and 0/8 are not pingable targets either.
        if (!v6 && ((dst4 >>> 24) == 127 || (dst4 >>> 24) == 0 || dst4 == Ipv4Address.BROADCAST
                || dst4 == stack.config().broadcast() || Ipv4Address.isMulticast(dst4))) {
            badDestination.inc();
            return;
        }
        if (closed) {
            socketError.inc();
            return;
        }
        int id = Icmpv4Packet.identifier(payload, off);
        Ipv6Address dst = ip.dstAddress();
        FlowKey key = FlowKey.echo(ip.srcAddress(), id, dst);
        PingFlow flow = flows.get(key);
        if (flow == null) {
            HostRoutes.Route route = routes.route(dst);
            // Link-local IPv4 is pingable as before (an echo opens no connection); everything else refused is not.
            if (route.refused() && route.refusal() != HostRoutes.Refusal.LINK_LOCAL) {
                badDestination.inc();
                return;
            }
            if (egress != null && egress.denies(EgressPolicy.Protocol.ICMP, route, -1, false)) {
                // RFC 1812 5.2.7.1 / RFC 4443 3.1: communication administratively prohibited, quoting the request.
                if (v6) {
                    stack.icmpv6().sendUnreachable(ip, payload, Icmpv6Packet.CODE_ADMIN_PROHIBITED, now);
                } else {
                    stack.icmp().sendUnreachable(ip, payload, Icmpv4Packet.CODE_ADMIN_PROHIBITED, now);
                }
                return;
            }
            if (flows.size() >= options.maxFlows()) {
                flowLimit.inc();
                return;
            }
            flow = open(key, route, ip.srcMac);
            if (flow == null) {
                return;
            }
            flow.createdAt = now;
        }
        flow.lastActive = now;
        flow.requestsFromGuest++;
        flow.bytesFromGuest += len - Icmpv4Packet.HEADER_LEN;
        MemorySegment buf = scratch();
        ByteBuffer bb = buf.asByteBuffer();
        bb.limit(len);
        payload.getBytes(off, bb);
        if (v6 != flow.socket.isIpv6()) {
            // NAT64: the guest's ICMPv6 echo request goes out as an ICMP one (the kernel redoes the checksum).
            buf.set(ValueLayout.JAVA_BYTE, 0, (byte) Icmpv4Packet.TYPE_ECHO_REQUEST);
        }
        int n = flow.socket.send(buf, len);
        if (n < 0) {
            sendError.inc();
            PingFlow f = flow;
            LOG.log(Level.FINE, () -> f + ": send failed: errno " + -n);
            return;
        }
        requests.inc();
    }

    private MemorySegment scratch() {
        if (scratch == null) {
            scratch = Arena.ofAuto().allocate(MAX_MESSAGE + 1);
        }
        return scratch;
    }

    /** Charges every ping socket to its guest (ICMP flows and host sockets per guest); call before traffic. */
    public void setGuestFlows(GuestFlows guests) {
        this.guests = guests;
    }

    /**
     * Applies the network's egress policy to new ping flows: a denied echo request is answered with ICMP
     * destination unreachable, administratively prohibited, and opens no ping socket. Call before traffic flows.
     */
    public void setEgress(EgressFilter egress) {
        this.egress = egress;
    }

    /**
     * How destinations reach the host (NAT64 on or off, the host's loopback), the same routes as the TCP and UDP
     * forwarders'. Default {@link HostRoutes#defaults}. Call before traffic flows.
     */
    public void setRoutes(HostRoutes routes) {
        this.routes = routes;
    }

    private PingFlow open(FlowKey key, HostRoutes.Route route, long mac) {
        GuestFlows.Flow owner = null;
        if (guests != null) {
            owner = guests.open(mac, GuestFlows.Kind.ICMP, null);
            if (owner == null) {
                return null; // counted as budget.*
            }
        }
        PingSocket s;
        try {
            s = opener.open(route.host());
        } catch (PingSocket.PingException e) {
            if (e.errno() == PingSocket.EACCES || e.errno() == PingSocket.EPERM) {
                forbidden.inc();
                logForbidden();
            } else {
                socketError.inc();
                LOG.log(Level.FINE, "icmp: cannot open ping socket", e);
            }
            if (owner != null) {
                owner.release();
            }
            return null;
        }
        PingFlow flow = new PingFlow(key, route.host(), s);
        if (owner != null) {
            flow.owner = owner;
            owner.target(route, key.peer(), -1); // what egress rules see
            owner.onAbort(() -> remove(flow));
        }
        flows.put(key, flow);
        opened++;
        flowsByFamily.count(route);
        Future<IoRegistration> f = loop.register(flow);
        if (f.isDone()) {
            registered(flow, f);
        } else {
            f.addListener(x -> registered(flow, f));
        }
        return flow;
    }

    private void registered(PingFlow flow, Future<IoRegistration> f) {
        if (!f.isSuccess()) {
            socketError.inc();
            LOG.log(Level.FINE, flow + ": epoll registration failed", f.cause());
            remove(flow);
            return;
        }
        IoRegistration reg = f.getNow();
        if (flow.closed) {
            reg.cancel();
            return;
        }
        flow.registration = reg;
        try {
            reg.submit(EpollIoOps.EPOLLIN);
        } catch (Exception e) {
            socketError.inc();
            remove(flow);
        }
    }

    private void logForbidden() {
        if (forbiddenLogged) {
            return;
        }
        forbiddenLogged = true;
        String range = "?";
        String gid = "?";
        try {
            // Not Files.readString: it reads procfs files (which report size 0) short here.
            try (var in = Files.newInputStream(Path.of("/proc/sys/net/ipv4/ping_group_range"))) {
                range = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).trim().replace('\t', ' ');
            }
            gid = Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("Gid:"))
                    .map(l -> l.split("\\s+")[1]).findFirst().orElse("?");
        } catch (IOException | RuntimeException ignored) {
            // Only for the message.
        }
        LOG.warning("ICMP echo forwarding is disabled: the host forbids unprivileged ping sockets to this process"
                + " (group " + gid + " is outside net.ipv4.ping_group_range = \"" + range + "\"), so guests' pings to"
                + " outside addresses go unanswered. To allow them: sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"");
    }

    /** Reads every queued reply of a ping flow and sends them to the guest. */
    private void readReplies(PingFlow flow) {
        MemorySegment buf = scratch();
        long now = clock.getAsLong();
        for (int i = 0; i < MAX_READS && !flow.closed; i++) {
            int n = flow.socket.recv(buf, MAX_MESSAGE);
            if (n < 0) {
                if (-n != PingSocket.EAGAIN && -n != PingSocket.EINTR) {
                    // An ICMP error about this destination (unreachable...): not relayed, spec 5.4.
                    recvError.inc();
                    continue;
                }
                break;
            }
            int replyType = flow.socket.isIpv6() ? Icmpv6Packet.TYPE_ECHO_REPLY : Icmpv4Packet.TYPE_ECHO_REPLY;
            if (n < Icmpv4Packet.HEADER_LEN || Byte.toUnsignedInt(buf.get(ValueLayout.JAVA_BYTE, 0)) != replyType) {
                badReply.inc();
                continue;
            }
            int seq = Short.toUnsignedInt(buf.get(BE_SHORT, 6));
            FlowKey k = flow.key;
            boolean toV6 = !k.guest().isIpv4Mapped();
            ByteBuf reply = Headroom.buffer(stack.ipOutput().alloc(),
                    toV6 ? Ipv6Packet.FRAME_HEADROOM : Ipv4Packet.FRAME_HEADROOM, n);
            int r = reply.readerIndex();
            // The guest's echo reply in the guest's family (ICMPv6 also for a NAT64 flow), from the address it
            // pinged, with its own identifier: the kernel replaced it with the socket's on the way out.
            if (toV6) {
                Icmpv6Packet.writeHeader(reply, Icmpv6Packet.TYPE_ECHO_REPLY, 0, (k.guestPort() << 16) | seq);
            } else {
                Icmpv4Packet.writeEchoHeader(reply, Icmpv4Packet.TYPE_ECHO_REPLY, k.guestPort(), seq);
            }
            reply.writeBytes(buf.asByteBuffer().position(Icmpv4Packet.HEADER_LEN).limit(n));
            replies.inc();
            flow.lastActive = now;
            flow.repliesToGuest++;
            flow.bytesToGuest += n - Icmpv4Packet.HEADER_LEN;
            if (toV6) {
                Icmpv6Packet.fillChecksum(reply, r, n, k.peer(), k.guest());
                stack.ipv6Output().send(k.peer(), k.guest(), IpProtocol.ICMPV6, reply, now);
            } else {
                Icmpv4Packet.fillChecksum(reply, r, n);
                stack.ipOutput().send(k.peer().ipv4(), k.guest().ipv4(), Ipv4Packet.PROTO_ICMP, reply, now);
            }
        }
    }

    private void remove(PingFlow flow) {
        flows.remove(flow.key, flow);
        flow.close();
    }

    /** Closes ping flows idle since {@code now - idleTimeout}. */
    @Override
    public void poll(long now) {
        for (PingFlow f : flows.removeIdle(now - options.idleTimeoutNanos())) {
            flowsExpired.inc();
            f.close();
        }
    }

    /** When {@link #poll} next has work, or {@code Long.MAX_VALUE}. */
    @Override
    public long nextDeadline() {
        return flows.nextDeadline(options.idleTimeoutNanos());
    }

    /** Closes every ping socket and uninstalls; run on the loop. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (installed) {
            stack.removeDeadlineSource(this);
            stack.icmp().setForwarder(null);
            stack.icmpv6().setForwarder(null);
        }
        for (PingFlow f : flows.removeAll()) {
            f.close();
        }
    }

    /** One ping socket, registered with the epoll loop as an I/O handle. */
    private final class PingFlow implements EpollIoHandle {
        final FlowKey key;
        final java.net.InetAddress host;
        final PingSocket socket;
        IoRegistration registration;
        long lastActive;
        boolean closed;
        GuestFlows.Flow owner;
        // Flow statistics for the live flow table (echo data bytes, without the ICMP header).
        long createdAt;
        long requestsFromGuest;
        long bytesFromGuest;
        long repliesToGuest;
        long bytesToGuest;

        dev.gvproxy.stack.FlowEntry flowEntry() {
            return new dev.gvproxy.stack.FlowEntry("icmp", key, null,
                    new java.net.InetSocketAddress(host, 0), "open", bytesFromGuest,
                    requestsFromGuest, bytesToGuest, repliesToGuest, 0, createdAt, lastActive);
        }

        PingFlow(FlowKey key, java.net.InetAddress host, PingSocket socket) {
            this.key = key;
            this.host = host;
            this.socket = socket;
        }

        @Override
        public FileDescriptor fd() {
            return socket.fd();
        }

        @Override
        public void handle(IoRegistration registration, IoEvent event) {
            readReplies(this);
        }

        /** Also called by the loop when it shuts down with the socket still registered. */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            // Deregister before closing so the descriptor number cannot be reused while still in epoll.
            if (registration != null) {
                registration.cancel();
            }
            socket.close();
            if (owner != null) {
                owner.release();
            }
        }

        @Override
        public String toString() {
            return "ping " + key.guest() + " id " + key.guestPort() + " -> " + key.peer() + " (host "
                    + host.getHostAddress() + ")";
        }
    }
}
