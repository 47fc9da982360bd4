package dev.gvproxy.api;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;

/**
 * {@code -debug}'s diagnostics on the host API, the JVM's counterpart of upstream's {@code /debug/pprof/} routes:
 * {@code GET /debug/threads} (a thread dump, virtual threads included, as {@code jcmd Thread.dump_to_file}) and
 * {@code GET /debug/jfr?seconds=N} (a JDK Flight Recorder recording of the next N seconds with the JDK's
 * {@code default} settings, as a {@code .jfr} file for JDK Mission Control or {@code jfr print}). Both run on
 * the API's offload threads (virtual threads), never on the network's loop; one recording at a time.
 */
final class DebugRoutes {
    /** Recording length when the request names none. */
    static final int DEFAULT_JFR_SECONDS = 10;
    /** The longest recording a request may ask for (400 above). */
    static final int MAX_JFR_SECONDS = 120;

    private final AtomicBoolean recording = new AtomicBoolean();

    /** Thrown when another recording runs. */
    static final class Busy extends Exception {
        Busy() {
            super("a recording is already running");
        }
    }

    /** The thread dump as plain text. Blocking (a file round trip). */
    String threadDump() throws IOException {
        Path dir = Files.createTempDirectory("gvproxy-threads");
        Path file = dir.resolve("threads.txt");
        try {
            ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
                    .dumpThreads(file.toString(), HotSpotDiagnosticMXBean.ThreadDumpFormat.TEXT_PLAIN);
            return Files.readString(file);
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    /** Records {@code duration} of the JVM and returns the {@code .jfr} file's bytes. Blocks that long. */
    byte[] record(Duration duration) throws IOException, Busy, InterruptedException {
        if (!recording.compareAndSet(false, true)) {
            throw new Busy();
        }
        Path dir = Files.createTempDirectory("gvproxy-jfr");
        Path file = dir.resolve("gvproxy.jfr");
        try (Recording r = new Recording(configuration())) {
            r.setName("gvproxy-java API");
            r.setToDisk(true);
            r.start();
            Thread.sleep(duration); // the recording's length: this request's virtual thread waits it out
            r.stop();
            r.dump(file);
            return Files.readAllBytes(file);
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
            recording.set(false);
        }
    }

    private static Configuration configuration() throws IOException {
        try {
            return Configuration.getConfiguration("default");
        } catch (java.text.ParseException e) {
            throw new IOException("the JDK's default JFR settings do not parse: " + e.getMessage(), e);
        }
    }
}
