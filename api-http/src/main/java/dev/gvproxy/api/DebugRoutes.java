package dev.gvproxy.api;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

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

    /** Thrown when the runtime has no JFR (the distribution's jlinked runtime leaves jdk.jfr out). */
    static final class NoJfr extends Exception {
        NoJfr() {
            super("this runtime has no JDK Flight Recorder (module jdk.jfr): the distribution's runtime leaves it out;"
                    + " run gvproxy-java on a full JDK 25 for /debug/jfr");
        }
    }

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
    byte[] record(Duration duration) throws IOException, Busy, NoJfr, InterruptedException {
        if (ModuleLayer.boot().findModule("jdk.jfr").isEmpty()) {
            throw new NoJfr();
        }
        if (!recording.compareAndSet(false, true)) {
            throw new Busy();
        }
        Path dir = Files.createTempDirectory("gvproxy-jfr");
        Path file = dir.resolve("gvproxy.jfr");
        try {
            Jfr.record(duration, file);
            return Files.readAllBytes(file);
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
            recording.set(false);
        }
    }

    /** The only code touching jdk.jfr, in its own class so a runtime without the module loads none of it. */
    private static final class Jfr {
        static void record(Duration duration, Path file) throws IOException, InterruptedException {
            jdk.jfr.Configuration settings;
            try {
                settings = jdk.jfr.Configuration.getConfiguration("default");
            } catch (java.text.ParseException e) {
                throw new IOException("the JDK's default JFR settings do not parse: " + e.getMessage(), e);
            }
            try (jdk.jfr.Recording r = new jdk.jfr.Recording(settings)) {
                r.setName("gvproxy-java API");
                r.setToDisk(true);
                r.start();
                Thread.sleep(duration); // the recording's length: this request's virtual thread waits it out
                r.stop();
                r.dump(file);
            }
        }
    }
}
