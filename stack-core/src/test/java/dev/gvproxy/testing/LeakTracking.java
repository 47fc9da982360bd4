package dev.gvproxy.testing;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails any test after which Netty's paranoid leak detector reports a leaked {@code ByteBuf}.
 *
 * <p>Registered for every test JVM through JUnit's extension auto-detection (the test-jar's
 * {@code META-INF/services} and {@code junit-platform.properties}), so modules that depend on the
 * stack-core test-jar get it for free. The factory must be installed before Netty's buffer classes
 * are initialised, which the static block does when JUnit loads this extension at engine start.
 */
public final class LeakTracking implements AfterEachCallback {
    private static final List<String> LEAKS = new CopyOnWriteArrayList<>();

    /**
     * PARANOID by default. The real-guest module lowers it to SIMPLE (sampled) with the system property
     * {@code gvproxy.test.leakLevel}: paranoid tracking records a stack trace at every buffer access, which
     * turns gigabyte transfers into hours; packet-level and unit tests keep PARANOID.
     */
    static final ResourceLeakDetector.Level LEVEL = ResourceLeakDetector.Level.valueOf(
            System.getProperty("gvproxy.test.leakLevel", "PARANOID"));

    static {
        ResourceLeakDetector.setLevel(LEVEL);
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new Factory());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        List<String> found = collect();
        if (!found.isEmpty()) {
            throw new AssertionError(found.size() + " ByteBuf leak(s) after " + context.getDisplayName()
                    + ":\n" + String.join("\n----\n", found));
        }
    }

    /** Forces a GC and a few tracked allocations so pending leak reports surface, then drains them. */
    public static List<String> collect() {
        for (int i = 0; i < 3; i++) {
            System.gc();
            System.runFinalization();
            for (ByteBufAllocator a : new ByteBufAllocator[] {
                PooledByteBufAllocator.DEFAULT, UnpooledByteBufAllocator.DEFAULT, ByteBufAllocator.DEFAULT}) {
                a.buffer(1).release();
                a.directBuffer(1).release();
            }
        }
        List<String> out = new ArrayList<>(LEAKS);
        LEAKS.clear();
        return out;
    }

    private static final class Factory extends ResourceLeakDetectorFactory {
        @Override
        public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval, long maxActive) {
            int interval = LEVEL == ResourceLeakDetector.Level.PARANOID ? 1 : samplingInterval;
            return new ResourceLeakDetector<>(resource, interval, maxActive) {
                @Override
                protected void reportTracedLeak(String resourceType, String records) {
                    LEAKS.add("LEAK " + resourceType + records);
                }

                @Override
                protected void reportUntracedLeak(String resourceType) {
                    LEAKS.add("LEAK " + resourceType + " (untraced)");
                }
            };
        }
    }
}
