package dev.gvproxy.bench;

import dev.gvproxy.stack.wire.Checksums;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
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
 * Internet checksum over 1500 and 65536 bytes, heap and direct. The score is in operations per nanosecond;
 * the secondary result {@code checksum:bytes} is in bytes per nanosecond, i.e. <b>GB/s</b>.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
public class ChecksumBenchmark {
    @Param({"1500", "65536"})
    public int size;

    @Param({"heap", "direct"})
    public String kind;

    private ByteBuf buf;

    @Setup(Level.Trial)
    public void setUp() {
        buf = "direct".equals(kind)
                ? PooledByteBufAllocator.DEFAULT.directBuffer(size)
                : PooledByteBufAllocator.DEFAULT.heapBuffer(size);
        SplittableRandom rnd = new SplittableRandom(1);
        for (int i = 0; i < size; i++) {
            buf.writeByte(rnd.nextInt());
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        buf.release();
    }

    /** Counts the bytes summed, so that JMH reports bytes per time unit next to the operation rate. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Bytes {
        public long bytes;

        @Setup(Level.Iteration)
        public void reset() {
            bytes = 0;
        }
    }

    @Benchmark
    public int checksum(Bytes counter) {
        counter.bytes += size;
        return Checksums.finish(Checksums.partial(buf, 0, size, 0));
    }
}
