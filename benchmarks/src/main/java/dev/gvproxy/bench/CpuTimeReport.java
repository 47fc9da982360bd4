package dev.gvproxy.bench;

import dev.gvproxy.stack.wire.Checksums;
import dev.gvproxy.stack.wire.TcpRepr;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.concurrent.FastThreadLocalThread;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.SplittableRandom;
import java.util.function.LongSupplier;

/**
 * The same measurements as {@link ChecksumBenchmark}, {@link ParseBenchmark}, {@link TcpPathBenchmark} and
 * {@link SwitchBenchmark}, timed in <em>thread CPU time</em> instead of wall time, for machines shared with other
 * work (JMH's wall-clock scores mean little when the load average exceeds the core count). Best of N rounds after
 * two warm-up rounds. Run with the daemon's JVM flags (the benchmarks' {@code @Fork} lists them; without them Netty's
 * leak detector samples buffers and its buffers take the no-Unsafe path, and both allocate):
 * {@code java <flags> -cp benchmarks/target/benchmarks.jar dev.gvproxy.bench.CpuTimeReport [rounds]}.
 */
public final class CpuTimeReport {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    private CpuTimeReport() {}

    /** Best nanoseconds per call of {@code op} over {@code rounds} rounds of {@code reps} calls. */
    static double bestNanosPerOp(int rounds, long reps, LongSupplier op) {
        long sink = 0;
        double best = Double.MAX_VALUE;
        for (int round = -2; round < rounds; round++) {
            long t0 = MX.getCurrentThreadCpuTime();
            for (long r = 0; r < reps; r++) {
                sink += op.getAsLong();
            }
            long ns = MX.getCurrentThreadCpuTime() - t0;
            if (round >= 0) {
                best = Math.min(best, ns / (double) reps);
            }
        }
        if (sink == 42) {
            System.out.print(""); // keeps the result alive
        }
        return best;
    }

    /** Heap bytes the current thread allocates per call of {@code op}, over {@code reps} calls after a warm-up. */
    static double allocatedBytesPerOp(long reps, LongSupplier op) {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) MX;
        long sink = 0;
        for (long r = 0; r < reps; r++) {
            sink += op.getAsLong();
        }
        long b0 = mx.getCurrentThreadAllocatedBytes();
        for (long r = 0; r < reps; r++) {
            sink += op.getAsLong();
        }
        long bytes = mx.getCurrentThreadAllocatedBytes() - b0;
        if (sink == 42) {
            System.out.print("");
        }
        return bytes / (double) reps;
    }

    /**
     * {@link TcpPathBenchmark}'s two paths in CPU time and heap bytes per segment, on a Netty
     * {@link FastThreadLocalThread} as the network's event loop is (Netty recycles its buffer objects only on
     * such threads; JMH's own threads are plain ones, so its {@code -prof gc} figure for these paths includes
     * the buffer objects production recycles).
     */
    static void tcpPath(int rounds) throws InterruptedException {
        Thread t = new FastThreadLocalThread(() -> {
            for (String path : new String[] {"receive", "receiveTwoFlows", "receiveBatched", "send"}) {
                TcpPathBenchmark b = new TcpPathBenchmark();
                b.setUp();
                LongSupplier op = switch (path) {
                    case "receive" -> b::receive;
                    case "receiveTwoFlows" -> b::receiveTwoFlows;
                    case "receiveBatched" -> b::receiveBatched;
                    default -> b::send;
                };
                double ns = bestNanosPerOp(rounds, 1_000_000, op);
                double bytes = allocatedBytesPerOp(1_000_000, op);
                double acks = b.acksPerSegment();
                b.tearDown();
                System.out.printf("TCP %-15s one 1448-byte segment: %6.1f ns, %6.1f B heap per segment%s%n", path, ns,
                        bytes, path.startsWith("receive") ? String.format(", %.3f ACKs per segment", acks) : "");
            }
        }, "tcp-path");
        t.start();
        t.join();
    }

    /**
     * {@link SwitchBenchmark}: guest-to-guest frames through the switch in CPU time and heap bytes per frame, on a
     * {@link FastThreadLocalThread} as the network's event loop is.
     */
    static void switchPath(int rounds) throws InterruptedException {
        Thread t = new FastThreadLocalThread(() -> {
            for (int batch : new int[] {1, 32}) {
                SwitchBenchmark b = new SwitchBenchmark();
                b.batch = batch;
                b.setUp();
                double ns = bestNanosPerOp(rounds, 5_000_000, b::forward);
                double bytes = allocatedBytesPerOp(5_000_000, b::forward);
                b.tearDown();
                System.out.printf("switch guest to guest, 1514-byte frames, %2d per batch: %6.1f ns, %5.2f M frames/s "
                        + "per core, %6.1f B heap per frame%n", batch, ns, 1e3 / ns, bytes);
            }
        }, "switch");
        t.start();
        t.join();
    }

    public static void main(String[] args) throws InterruptedException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        for (int size : new int[] {1500, 65536}) {
            for (String kind : new String[] {"heap", "direct"}) {
                ByteBuf buf = "direct".equals(kind)
                        ? PooledByteBufAllocator.DEFAULT.directBuffer(size)
                        : PooledByteBufAllocator.DEFAULT.heapBuffer(size);
                SplittableRandom rnd = new SplittableRandom(size);
                for (int i = 0; i < size; i++) {
                    buf.writeByte(rnd.nextInt());
                }
                double ns = bestNanosPerOp(rounds, (1L << 32) / size, () -> Checksums.partial(buf, 0, size, 0));
                buf.release();
                System.out.printf("checksum %-6s %6d bytes: %5.1f GB/s per core%n", kind, size, size / ns);
            }
        }
        for (int payload : new int[] {0, 1448}) {
            ParseBenchmark p = new ParseBenchmark();
            p.payload = payload;
            p.setUp();
            double check = bestNanosPerOp(rounds, 20_000_000, p::checkOnly);
            double parse = bestNanosPerOp(rounds, 20_000_000, () -> {
                TcpRepr r = p.checkAndParse();
                return r == null ? 0 : r.seq();
            });
            p.tearDown();
            System.out.printf("frame with %4d-byte TCP payload: check %6.1f ns, check+TcpRepr.parse %6.1f ns%n",
                    payload, check, parse);
        }
        tcpPath(rounds);
        switchPath(rounds);
        System.out.printf("(best of %d rounds, thread CPU time)%n", rounds);
    }
}
