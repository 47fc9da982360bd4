package dev.gvproxy.it.qemu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The guest kernel and base initramfs, prepared once per JVM by {@code scripts/qemu-guest-assets.sh} (which caches them
 * between runs). {@link #get()} returns either the assets or the reason they are unavailable, so callers can skip.
 *
 * @param kernelVersion e.g. {@code 6.1.0-56-cloud-amd64}
 * @param kernel the {@code vmlinuz}
 * @param initrd the base initramfs (busybox, modules, {@code /init})
 */
public record QemuGuestAssets(String kernelVersion, Path kernel, Path initrd) {

    /** System property naming the cache directory; default {@code ~/.cache/gvproxy-java/qemu}. */
    public static final String CACHE_PROPERTY = "gvproxy.it.qemu.cache";
    /** System property naming the {@code integration-tests/scripts} directory (set by the pom). */
    public static final String SCRIPTS_PROPERTY = "gvproxy.it.scripts";

    private static final Object LOCK = new Object();
    private static Availability cached;

    /** Either assets or a reason why there are none. */
    public record Availability(QemuGuestAssets assets, String unavailableReason) {
        public boolean available() {
            return assets != null;
        }
    }

    /** Prepares the assets on first use (may download ~27 MB through apt), then returns the same answer. */
    public static Availability get() {
        synchronized (LOCK) {
            if (cached == null) {
                cached = prepare();
            }
            return cached;
        }
    }

    /** Where the scripts live: the property if set, else {@code scripts} relative to the module directory. */
    public static Path scriptsDir() {
        String p = System.getProperty(SCRIPTS_PROPERTY);
        if (p != null && !p.isBlank()) {
            return Path.of(p);
        }
        Path here = Path.of("scripts");
        return Files.isDirectory(here) ? here : Path.of("integration-tests", "scripts");
    }

    private static Availability prepare() {
        Path script = scriptsDir().resolve("qemu-guest-assets.sh").toAbsolutePath();
        if (!Files.isRegularFile(script)) {
            return new Availability(null, "guest asset script not found at " + script);
        }
        String cache = System.getProperty(CACHE_PROPERTY);
        if (cache == null || cache.isBlank()) {
            cache = Path.of(System.getProperty("user.home"), ".cache", "gvproxy-java", "qemu").toString();
        }
        Path err = null;
        try {
            err = Files.createTempFile("gvj-qemu-assets", ".log");
            Process p = new ProcessBuilder("sh", script.toString(), cache)
                    .redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
            // Read all of stdout before waiting: the script prints three short lines at the very end.
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                return new Availability(null, "guest asset script timed out");
            }
            int rc = p.exitValue();
            String log = Files.readString(err).strip();
            System.err.println(log);
            if (rc != 0) {
                String last = log.substring(log.lastIndexOf('\n') + 1);
                return new Availability(null, "cannot prepare a guest kernel/initramfs: " + script + " exited " + rc
                        + ": " + last);
            }
            Map<String, String> kv = new HashMap<>();
            for (String line : out.split("\n")) {
                int eq = line.indexOf('=');
                if (eq > 0) {
                    kv.put(line.substring(0, eq).trim(), line.substring(eq + 1).trim());
                }
            }
            if (!kv.containsKey("KERNEL") || !kv.containsKey("INITRD")) {
                return new Availability(null, "guest asset script printed no KERNEL/INITRD: " + out);
            }
            return new Availability(new QemuGuestAssets(kv.getOrDefault("KVER", "?"), Path.of(kv.get("KERNEL")),
                    Path.of(kv.get("INITRD"))), null);
        } catch (IOException e) {
            return new Availability(null, "cannot run " + script + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Availability(null, "interrupted while preparing guest assets");
        } finally {
            if (err != null) {
                try {
                    Files.deleteIfExists(err);
                } catch (IOException ignored) {
                    // a temp file left behind is harmless
                }
            }
        }
    }
}
