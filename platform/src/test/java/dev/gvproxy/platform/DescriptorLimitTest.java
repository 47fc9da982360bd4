package dev.gvproxy.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/** getrlimit through FFM agrees with what the JVM's management bean reports. */
class DescriptorLimitTest {
    @Test
    void matchesTheJvmsView() {
        long jvm = ((com.sun.management.UnixOperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getMaxFileDescriptorCount();
        assertEquals(Math.min(jvm, DescriptorLimit.UNLIMITED), DescriptorLimit.get());
    }

    @Test
    void procLimitsAgreesWithGetrlimit() {
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.exists(java.nio.file.Path.of("/proc/self/limits")),
                "no /proc/self/limits (not Linux)");
        long jvm = ((com.sun.management.UnixOperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getMaxFileDescriptorCount();
        assertEquals(Math.min(jvm, DescriptorLimit.UNLIMITED), DescriptorLimit.fromProcLimits());
    }
}
