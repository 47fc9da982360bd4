package dev.gvproxy.bench;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.tcp.TcpConfig;
import dev.gvproxy.stack.tcp.TcpConnection;
import dev.gvproxy.stack.tcp.TcpState;
import dev.gvproxy.stack.wire.EtherType;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpPacket;
import dev.gvproxy.stack.wire.TcpRepr;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Established TCP connections through the whole stack (switch port, Ethernet, IPv4, TCP layer and connection),
 * in steady state, one MSS-sized segment per operation:
 * <ul>
 * <li>{@code receive}: the guest sends a 1448-byte data segment with timestamps on one connection; the application
 * (standing in for the host socket bridge) takes the data and reports it consumed; the stack's ACKs go to the guest
 * port. Each segment is its own read batch (the switch is flushed after it).
 * <li>{@code receiveTwoFlows}: the same, alternating between two connections of the guest, so the layer's
 * last-connection shortcut misses on every segment and the connection table is searched.
 * <li>{@code receiveBatched}: one connection, {@value #BATCH} segments per read batch (one flush after the
 * last), as a transport delivers a burst it read in one go.
 * <li>{@code send}: the application queues 1448 bytes; the stack emits the data segment to the guest port,
 * which acknowledges every second segment as Linux does.
 * </ul>
 * Run with {@code -prof gc}: {@code gc.alloc.rate.norm} is the heap allocated per segment, whose target is 0 B/op
 * (pooled buffers are recycled, not allocated). The guest's side (frame copy, checksum patch) is part of each
 * operation's time but allocates nothing. The clock is a counter advanced 10 µs per operation; the stack's
 * timers run when due, as the network's driver would run them. {@link #acksPerSegment()} tells how many ACKs the
 * stack sent per segment received.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
// The daemon's own JVM settings (bin/java-launch.sh): Netty on Unsafe, leak detection off, SerialGC.
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
        "-Dio.netty.noUnsafe=false", "-Dio.netty.leakDetection.level=disabled", "-XX:+UseSerialGC"})
public class TcpPathBenchmark {
    static final int GUEST_IP = 0xC0A8_7F02;
    static final int DST_IP = 0xC612_0001;
    static final long GUEST_MAC = 0x5a94efe40ceeL;
    static final int GUEST_PORT = 40000;
    static final int DST_PORT = 80;
    static final int MSS_PAYLOAD = 1448;
    static final int ISS = 10_000;
    static final int GUEST_ISS = 1_000;
    static final long STEP = 10_000;
    /** Segments per read batch in {@code receiveBatched}. */
    static final int BATCH = 16;
    /** Connections the guest holds (only the first carries data in {@code receive}, {@code receiveBatched}, {@code send}). */
    static final int FLOWS = 2;

    private final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    private long now = 1_000_000_000L;
    private VirtualSwitch sw;
    private NetworkStack stack;
    private SwitchPort port;
    private final Flow[] flows = new Flow[FLOWS];
    /** The flow being set up: the SYN handler's accepted connection goes to it. */
    private Flow opening;
    private final Guest guest = new Guest();
    private final App app = new App();
    private int tcpOff;
    private final byte[] chunk = new byte[MSS_PAYLOAD];
    private int next;
    private int batched;
    /** ACKs (segments without data) the stack sent to the guest, and data segments the guest sent. */
    private long acksSent;
    private long segmentsReceived;

    /** One connection from the guest's side. */
    static final class Flow {
        final int guestPort;
        TcpConnection conn;
        /** The guest's data segment and its ACK as frames; seq/ack and the TCP checksum are patched per use. */
        byte[] dataFrame;
        byte[] ackFrame;
        int guestSeq = GUEST_ISS + 1;
        int lastSeq;
        int lastAck;
        int segments;
        int synAckSeq = -1;
        int tsVal;
        /** What the guest acknowledged last in {@code send}, and after how many segments. */
        int ackedSeq;
        int ackedSegments;

        Flow(int guestPort) {
            this.guestPort = guestPort;
        }
    }

    /** The guest's port: keeps the stack's last ACK and sequence number per connection, releases every frame. */
    final class Guest implements LinkEndpoint {
        @Override
        public void transmit(ByteBuf frame) {
            try {
                int off = frame.readerIndex();
                if (EthernetFrame.etherType(frame, off) != EtherType.IPV4) {
                    return;
                }
                int ip = off + EthernetFrame.HEADER_LEN;
                int tcp = ip + Ipv4Packet.headerLength(frame, ip);
                Flow f = flows[TcpPacket.dstPort(frame, tcp) - GUEST_PORT];
                int flags = TcpPacket.flags(frame, tcp);
                if ((flags & TcpFlags.SYN) != 0) {
                    f.synAckSeq = TcpPacket.seqNumber(frame, tcp);
                    f.tsVal = TcpRepr.parse(frame, tcp).tsVal();
                    return;
                }
                f.lastAck = TcpPacket.ackNumber(frame, tcp);
                int len = Ipv4Packet.totalLength(frame, ip) - (tcp - ip) - TcpPacket.headerLength(frame, tcp);
                if (len > 0) {
                    f.lastSeq = TcpPacket.seqNumber(frame, tcp) + len;
                    f.segments++;
                } else {
                    acksSent++;
                }
            } finally {
                frame.release();
            }
        }

        @Override
        public void flush() {}
    }

    /** The host side: takes every byte at once, as a bridge whose host socket is always writable. */
    static final class App implements TcpConnection.Handler {
        @Override
        public void onEstablished(TcpConnection c) {}

        @Override
        public void onData(TcpConnection c, ByteBuf data) {
            int n = data.readableBytes();
            data.release();
            c.consumed(n, 0);
        }

        @Override
        public void onFin(TcpConnection c) {}

        @Override
        public void onReset(TcpConnection c) {}

        @Override
        public void onSendSpace(TcpConnection c) {}

        @Override
        public void onClosed(TcpConnection c) {}
    }

    @Setup(Level.Trial)
    public void setUp() {
        Counters counters = new Counters();
        StackConfig sc = StackConfig.defaults();
        sw = new VirtualSwitch(sc.gatewayMac(), counters, () -> now);
        stack = new NetworkStack(sc, sw, counters, alloc, () -> now,
                TcpConfig.forMtu(1500).withBuffers(1 << 20, 1 << 20).withOptions(true, true, 7), () -> ISS);
        port = sw.attach("guest", guest);
        stack.tcp().setSynHandler((layer, req, t) -> opening.conn = layer.accept(req, app, t));
        long gw = sc.gatewayMac();
        // Gratuitous ARP: the switch and the neighbour cache learn the guest, as after DHCP.
        ByteBuf arp = alloc.buffer(42);
        EthernetFrame.writeHeader(arp, 0xFFFF_FFFF_FFFFL, GUEST_MAC, EtherType.ARP);
        arp.writeShort(1).writeShort(0x0800).writeByte(6).writeByte(4).writeShort(1);
        arp.writeShort((int) (GUEST_MAC >>> 32)).writeInt((int) GUEST_MAC).writeInt(GUEST_IP);
        arp.writeZero(6).writeInt(GUEST_IP);
        deliver(arp);
        tcpOff = EthernetFrame.HEADER_LEN + Ipv4Packet.MIN_HEADER_LEN;
        for (int i = 0; i < FLOWS; i++) {
            Flow f = new Flow(GUEST_PORT + i);
            flows[i] = f;
            opening = f;
            deliver(frame(gw, TcpRepr.builder().srcPort(f.guestPort).dstPort(DST_PORT).seq(GUEST_ISS)
                    .flags(TcpFlags.SYN).window(64240).mss(1460).sackPermitted(true).timestamps(100, 0).windowScale(7)
                    .build(), 0));
            if (f.synAckSeq != ISS) {
                throw new IllegalStateException("no SYN-ACK from the stack");
            }
            TcpRepr ack = TcpRepr.builder().srcPort(f.guestPort).dstPort(DST_PORT).seq(f.guestSeq).ack(ISS + 1)
                    .flags(TcpFlags.ACK).window(65535).timestamps(101, f.tsVal).build();
            f.ackFrame = bytes(frame(gw, ack, 0));
            deliver(Unpooled.wrappedBuffer(f.ackFrame.clone()));
            if (f.conn == null || f.conn.state() != TcpState.ESTABLISHED) {
                throw new IllegalStateException("not established: " + f.conn);
            }
            f.dataFrame = bytes(frame(gw, ack.toBuilder().flags(TcpFlags.ACK | TcpFlags.PSH).build(), MSS_PAYLOAD));
            f.lastAck = f.guestSeq;
            f.lastSeq = ISS + 1;
            f.ackedSeq = ISS + 1;
        }
        acksSent = 0;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        stack.close();
    }

    /** ACKs the stack sent per data segment the guest sent, so far. */
    public double acksPerSegment() {
        return segmentsReceived == 0 ? 0 : acksSent / (double) segmentsReceived;
    }

    private ByteBuf frame(long gatewayMac, TcpRepr tcp, int payload) {
        ByteBuf data = Unpooled.buffer(payload).writeZero(payload);
        ByteBuf f = Unpooled.buffer();
        EthernetFrame.writeHeader(f, gatewayMac, GUEST_MAC, EtherType.IPV4);
        Ipv4Packet.writeHeader(f, 0, 20 + tcp.bufferLen() + payload, 1, true, 64, IpProtocol.TCP, GUEST_IP, DST_IP);
        tcp.emit(f, GUEST_IP, DST_IP, data);
        return f;
    }

    private static byte[] bytes(ByteBuf b) {
        byte[] a = new byte[b.readableBytes()];
        b.readBytes(a);
        b.release();
        return a;
    }

    private void deliver(ByteBuf frame) {
        sw.deliver(port, frame);
        sw.flush();
    }

    /** A pooled copy of {@code template} with the 32-bit field at TCP offset {@code field} set to {@code v}. */
    private ByteBuf patched(byte[] template, int field, int v, int ackField, int ack) {
        ByteBuf f = alloc.directBuffer(template.length).writeBytes(template);
        patch(f, tcpOff + field, v);
        patch(f, tcpOff + ackField, ack);
        return f;
    }

    /** Sets a 32-bit field and updates the TCP checksum incrementally (RFC 1624 eqn. 3). */
    private void patch(ByteBuf f, int at, int v) {
        int csumAt = tcpOff + 16;
        int sum = ~f.getUnsignedShort(csumAt) & 0xFFFF;
        sum += ~f.getUnsignedShort(at) & 0xFFFF;
        sum += ~f.getUnsignedShort(at + 2) & 0xFFFF;
        sum += v >>> 16;
        sum += v & 0xFFFF;
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        f.setInt(at, v);
        f.setShort(csumAt, ~sum & 0xFFFF);
    }

    private void tick() {
        now += STEP;
        if (stack.nextDeadline() <= now) {
            stack.poll(now);
            sw.flush();
        }
    }

    /** The guest's next data segment on {@code f}, into the switch (not flushed). */
    private void dataIn(Flow f) {
        sw.deliver(port, patched(f.dataFrame, 4, f.guestSeq, 8, f.lastSeq));
        f.guestSeq += MSS_PAYLOAD;
        segmentsReceived++;
    }

    /** Guest to host: one 1448-byte data segment in, the stack's (delayed or immediate) ACK out. */
    @Benchmark
    public int receive() {
        tick();
        Flow f = flows[0];
        dataIn(f);
        sw.flush();
        return f.lastAck;
    }

    /** {@link #receive} alternating between two connections: the connection is found in the table every time. */
    @Benchmark
    public int receiveTwoFlows() {
        tick();
        Flow f = flows[next];
        next = (next + 1) % FLOWS;
        dataIn(f);
        sw.flush();
        return f.lastAck;
    }

    /** {@link #receive} with {@value #BATCH} segments per read batch: the switch is flushed after every 16th. */
    @Benchmark
    public int receiveBatched() {
        tick();
        Flow f = flows[0];
        dataIn(f);
        if (++batched == BATCH) {
            batched = 0;
            sw.flush();
        }
        return f.lastAck;
    }

    /** Host to guest: 1448 bytes queued by the application, the data segment out, an ACK every second one. */
    @Benchmark
    public int send() {
        tick();
        Flow f = flows[0];
        TcpConnection conn = f.conn;
        if (conn.sendSpace() >= MSS_PAYLOAD) {
            conn.send(alloc.directBuffer(MSS_PAYLOAD).writeBytes(chunk), now);
            sw.flush();
        }
        if (f.lastSeq != f.ackedSeq && (f.segments - f.ackedSegments >= 2 || conn.sendSpace() < MSS_PAYLOAD)) {
            f.ackedSeq = f.lastSeq;
            f.ackedSegments = f.segments;
            deliver(patched(f.ackFrame, 4, f.guestSeq, 8, f.ackedSeq));
        }
        return f.lastSeq;
    }
}
