package dev.gvproxy.bench;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.EtherType;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv4Packet;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Guest-to-guest forwarding through the {@link VirtualSwitch}: frames per second from one guest's port to
 * another's, one 1514-byte frame (a 1500-byte IPv4/UDP datagram) per operation, on a switch set up as a network's
 * is (the gateway stack attached, its {@code GuestAddressGuard} as the ingress filter, MAC learning and ageing),
 * both guests learned by a gratuitous ARP. {@code batch} frames are delivered per read batch, then the switch is
 * flushed, as a transport does at the end of a read.
 *
 * <p>The frame is one pooled direct buffer, retained per operation and released by the receiving port: what is
 * measured is the switch's work (learning, the ingress checks, the CAM lookup, the port's counters), not a
 * transport's copy. Run with {@code -prof gc}: {@code gc.alloc.rate.norm} is the heap allocated per frame.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
// The daemon's own JVM settings (bin/java-launch.sh): Netty on Unsafe, leak detection off, SerialGC.
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
        "-Dio.netty.noUnsafe=false", "-Dio.netty.leakDetection.level=disabled", "-XX:+UseSerialGC"})
public class SwitchBenchmark {
    /** Guest A is the default configuration's static lease (192.168.127.2); B takes a free address. */
    static final long MAC_A = 0x5a94efe40ceeL;
    static final long MAC_B = 0x5a94efe40cefL;
    static final int IP_A = 0xC0A8_7F02;
    static final int IP_B = 0xC0A8_7F03;
    static final int IP_LEN = 1500;

    /** Frames per read batch (one flush after the last). */
    @Param({"1", "32"})
    public int batch;

    private final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    private long now = 1_000_000_000L;
    private VirtualSwitch sw;
    private NetworkStack stack;
    private SwitchPort a;
    private ByteBuf frame;
    private int inBatch;
    /** Frames port B received and flushes it saw. */
    long received;
    long flushes;

    /** A guest's port: releases every frame, counts them. */
    final class Guest implements LinkEndpoint {
        @Override
        public void transmit(ByteBuf f) {
            received++;
            f.release();
        }

        @Override
        public void flush() {
            flushes++;
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        Counters counters = new Counters();
        StackConfig sc = StackConfig.defaults();
        sw = new VirtualSwitch(sc.gatewayMac(), counters, () -> now);
        stack = new NetworkStack(sc, sw, counters, alloc, () -> now);
        a = sw.attach("a", new Guest());
        SwitchPort b = sw.attach("b", new Guest());
        announce(a, MAC_A, IP_A);
        announce(b, MAC_B, IP_B);
        frame = alloc.directBuffer(EthernetFrame.HEADER_LEN + IP_LEN);
        EthernetFrame.writeHeader(frame, MAC_B, MAC_A, EtherType.IPV4);
        Ipv4Packet.writeHeader(frame, 0, IP_LEN, 1, true, 64, IpProtocol.UDP, IP_A, IP_B);
        frame.writeShort(40000).writeShort(5201).writeShort(IP_LEN - 20).writeShort(0); // UDP, no checksum
        frame.writeZero(IP_LEN - 28);
        received = 0;
        forward();
        sw.flush();
        if (received != 1) {
            throw new IllegalStateException("the frame did not reach port b: " + counters.snapshot());
        }
    }

    /** Gratuitous ARP: the switch learns {@code mac} on {@code port}, as after DHCP. */
    private void announce(SwitchPort port, long mac, int ip) {
        ByteBuf arp = alloc.buffer(42);
        EthernetFrame.writeHeader(arp, 0xFFFF_FFFF_FFFFL, mac, EtherType.ARP);
        arp.writeShort(1).writeShort(0x0800).writeByte(6).writeByte(4).writeShort(1);
        arp.writeShort((int) (mac >>> 32)).writeInt((int) mac).writeInt(ip);
        arp.writeZero(6).writeInt(ip);
        sw.deliver(port, arp);
        sw.flush();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        frame.release();
        stack.close();
    }

    /** One frame from guest A to guest B; the switch is flushed at the end of each batch. */
    @Benchmark
    public long forward() {
        now += 10; // MAC ageing (minutes) stays far away for the longest run
        sw.deliver(a, frame.retain());
        if (++inBatch >= batch) {
            inBatch = 0;
            sw.flush();
        }
        return received;
    }
}
