package dev.gvproxy.bench;

import dev.gvproxy.stack.wire.EtherType;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.IpProtocol;
import dev.gvproxy.stack.wire.Ipv4Packet;
import dev.gvproxy.stack.wire.TcpFlags;
import dev.gvproxy.stack.wire.TcpPacket;
import dev.gvproxy.stack.wire.TcpRepr;
import io.netty.buffer.ByteBuf;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Per-frame receive cost: Ethernet + IPv4 + TCP checks (lengths and both checksums) and, in {@code parse},
 * building the {@link TcpRepr} as the TCP input would. Frames are an MSS-sized data segment with timestamps
 * ({@code payload=1448}) and a bare ACK ({@code payload=0}), in a pooled direct buffer as a transport delivers
 * them.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
public class ParseBenchmark {
    static final int SRC = 0xC612_0001;
    static final int DST = 0xC612_0002;

    @Param({"0", "1448"})
    public int payload;

    private ByteBuf frame;

    @Setup(Level.Trial)
    public void setUp() {
        TcpRepr tcp = TcpRepr.builder().srcPort(40000).dstPort(443).seq(123456).ack(654321)
                .flags(TcpFlags.ACK | TcpFlags.PSH).window(502).timestamps(111, 222).build();
        ByteBuf data = Unpooled.buffer(payload).writeZero(payload);
        for (int i = 0; i < payload; i++) {
            data.setByte(i, i * 31);
        }
        frame = PooledByteBufAllocator.DEFAULT.directBuffer(14 + 20 + tcp.bufferLen() + payload);
        EthernetFrame.writeHeader(frame, 0x5a94efe40cddL, 0x020000000001L, EtherType.IPV4);
        Ipv4Packet.writeHeader(frame, 0, 20 + tcp.bufferLen() + payload, 1, true, 64, IpProtocol.TCP, SRC, DST);
        tcp.emit(frame, SRC, DST, data);
        data.release();
        if (check(frame) != 0) {
            throw new IllegalStateException("benchmark frame does not pass its checks");
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        frame.release();
    }

    /** What the stack's input does before dispatching: all checks; returns the TCP payload length or -1. */
    static int check(ByteBuf f) {
        int off = f.readerIndex();
        int len = f.readableBytes();
        if (EthernetFrame.check(f, off, len) != null || EthernetFrame.etherType(f, off) != EtherType.IPV4) {
            return -1;
        }
        int ip = off + EthernetFrame.HEADER_LEN;
        if (Ipv4Packet.check(f, ip, len - EthernetFrame.HEADER_LEN) != null
                || Ipv4Packet.protocol(f, ip) != IpProtocol.TCP) {
            return -1;
        }
        int l4 = Ipv4Packet.payloadOffset(f, ip);
        int l4len = Ipv4Packet.payloadLength(f, ip);
        if (TcpPacket.check(f, l4, l4len, Ipv4Packet.src(f, ip), Ipv4Packet.dst(f, ip)) != null) {
            return -1;
        }
        return 0;
    }

    @Benchmark
    public int checkOnly() {
        return check(frame);
    }

    @Benchmark
    public TcpRepr checkAndParse() {
        if (check(frame) != 0) {
            return null;
        }
        return TcpRepr.parse(frame, frame.readerIndex() + EthernetFrame.HEADER_LEN
                + Ipv4Packet.headerLength(frame, frame.readerIndex() + EthernetFrame.HEADER_LEN));
    }
}
