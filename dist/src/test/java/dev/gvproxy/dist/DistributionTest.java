package dev.gvproxy.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.cli.AotTraining;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution as a user installs it: the tarball unpacked somewhere else than where it was built, its
 * {@code bin/gvproxy} reached through a symlink from another directory (as podman's helper_binaries_dir, lima and
 * CRC find it), with no JDK reachable: no JAVA_HOME and a PATH holding only the few tools the launcher uses.
 */
class DistributionTest {
    @TempDir
    static Path tmp;
    static Path home;

    @BeforeAll
    static void unpack() throws Exception {
        Path target = Path.of(System.getProperty("dist.dir"));
        Path tarball;
        try (Stream<Path> s = Files.list(target)) {
            tarball = s.filter(p -> p.getFileName().toString().matches("gvproxy-java-.*-linux-.*\\.tar\\.gz"))
                    .findFirst().orElseThrow(() -> new AssertionError("no tarball in " + target));
        }
        Path opt = Files.createDirectories(tmp.resolve("opt"));
        assertEquals(0, run(List.of("tar", "-xzf", tarball.toString(), "-C", opt.toString())).status);
        try (Stream<Path> s = Files.list(opt)) {
            home = s.findFirst().orElseThrow();
        }
        assertEquals(tarball.getFileName().toString().replace(".tar.gz", ""), home.getFileName().toString());
    }

    @Test
    void symlinkedGvproxyStartsWithPodmanArgumentsAndServesStats() throws Exception {
        Path helpers = Files.createDirectories(tmp.resolve("helpers"));
        Path gvproxy = Files.createSymbolicLink(helpers.resolve("gvproxy"), home.resolve("bin/gvproxy"));
        Path run = Files.createDirectories(tmp.resolve("run"));
        Path qemu = run.resolve("podman-machine-default-gvproxy.sock");
        Path services = run.resolve("services.sock");
        Path pid = run.resolve("gvproxy.pid");
        Path key = Files.writeString(run.resolve("id_ed25519"), "not really a key");
        int ssh;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            ssh = s.getLocalPort();
        }
        // podman machine's QEMU invocation (see GvproxyMainTest), started as podman starts it.
        List<String> cmd = List.of(gvproxy.toString(), "-debug", "-mtu", "1500", "-ssh-port", Integer.toString(ssh),
                "-listen-qemu", "unix://" + qemu, "-services", "unix://" + services,
                "-forward-sock", run.resolve("api.sock").toString(), "-forward-dest", "/run/podman/podman.sock",
                "-forward-user", "core", "-forward-identity", key.toString(), "-pid-file", pid.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().clear();
        pb.environment().put("PATH", toolsOnly().toString());
        // AOTMode=on: a JVM that cannot use the AOT cache (moved jar, other runtime, other options) exits.
        pb.environment().put("GVPROXY_JAVA_OPTS", "-XX:AOTMode=on");
        Process p = pb.start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            List<String> lines = java.util.Collections.synchronizedList(new ArrayList<>());
            // The QEMU listener is the last one gvproxy-java opens: its log line says everything listens. The
            // reader goes on draining the output (-debug) until the process ends.
            CompletableFuture<Boolean> listening = new CompletableFuture<>();
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    for (String l; (l = out.readLine()) != null; ) {
                        lines.add(l);
                        if (l.contains("listening qemu unix://")) {
                            listening.complete(true);
                        }
                    }
                } catch (IOException e) {
                    // the process ended
                }
                listening.complete(false);
            });
            assertTrue(listening.get(60, TimeUnit.SECONDS), () -> "gvproxy did not start:\n" + String.join("\n", lines));
            String stats = AotTraining.get(services, "/stats");
            assertTrue(stats.startsWith("HTTP/1.1 200"), stats);
            assertTrue(stats.contains("{"), stats);
            assertEquals(Long.toString(p.pid()), Files.readString(pid).trim(), "the launcher execs the JVM");
            p.destroy(); // SIGTERM, as podman stops it
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue());
            assertFalse(Files.exists(qemu), "gvproxy-java removes the sockets it created");
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void bundledBinariesNeedNoSystemJdk() throws Exception {
        List<Path> elf = new ArrayList<>();
        try (Stream<Path> s = Files.walk(home)) {
            for (Path f : s.filter(Files::isRegularFile).toList()) {
                if (isElf(f)) {
                    elf.add(f);
                }
            }
        }
        // Netty's natives ship inside the jar and are extracted at run time: check those of this machine too.
        Path natives = Files.createDirectories(tmp.resolve("natives"));
        String arch = run(List.of("uname", "-m")).out.trim();
        try (ZipFile jar = new ZipFile(home.resolve("lib/gvproxy-java.jar").toFile())) {
            for (ZipEntry e : jar.stream().filter(e -> e.getName().startsWith("META-INF/native/")
                    && e.getName().endsWith(".so") && e.getName().contains(arch.replace("aarch64", "aarch_64")))
                    .toList()) {
                Path f = natives.resolve(Path.of(e.getName()).getFileName().toString());
                try (InputStream in = jar.getInputStream(e)) {
                    Files.copy(in, f);
                }
                elf.add(f);
            }
        }
        assertTrue(elf.stream().anyMatch(f -> f.endsWith("runtime/bin/java")), elf.toString());
        assertTrue(elf.stream().anyMatch(f -> f.toString().contains("netty_transport_native_epoll")), elf.toString());
        for (Path f : elf) {
            String file = run(List.of("file", "-b", f.toString())).out;
            assertTrue(file.startsWith("ELF 64-bit"), f + ": " + file);
            Result ldd = run(List.of("ldd", f.toString()));
            for (String line : ldd.out.lines().toList()) {
                // libjvm.so is found as the JDK finds it: the launcher loads runtime/lib/server/libjvm.so first.
                boolean jvm = line.trim().startsWith("libjvm.so => not found")
                        && Files.exists(home.resolve("runtime/lib/server/libjvm.so"));
                assertFalse(line.contains("not found") && !jvm, f + ": " + line);
                int arrow = line.indexOf("=> /");
                if (arrow >= 0) {
                    String lib = line.substring(arrow + 3).split(" ")[0];
                    boolean bundled = lib.startsWith(home.toString()) || lib.startsWith(natives.toString());
                    assertTrue(bundled || !(lib.contains("/jvm/") || lib.contains("jdk") || lib.contains("java")),
                            f + " depends on a system JDK: " + line);
                }
            }
        }
        // The launchers name no JDK path of the build machine.
        for (String launcher : List.of("gvproxy-java", "gvforwarder-java", "java-launch.sh")) {
            assertFalse(Files.readString(home.resolve("bin").resolve(launcher)).contains("/usr/lib/jvm"), launcher);
        }
    }

    @Test
    void runtimeHoldsTheModulesJdepsFinds() throws Exception {
        Result listed = run(List.of(home.resolve("runtime/bin/java").toString(), "--list-modules"));
        Set<String> image = listed.out.lines().map(l -> l.split("@")[0]).collect(Collectors.toCollection(TreeSet::new));
        // jlink adds what those need (java.security.jgss brings java.security.sasl)
        assertTrue(image.containsAll(Arrays.asList(System.getProperty("dist.modules").split(","))), image.toString());
        assertFalse(image.contains("jdk.jfr"), image.toString());
        Path jdeps = Path.of(System.getProperty("java.home"), "bin", "jdeps");
        Result used = run(List.of(jdeps.toString(), "--print-module-deps", "--ignore-missing-deps", "--multi-release",
                "25", home.resolve("lib/gvproxy-java.jar").toString()));
        assertEquals(0, used.status, used.out);
        Set<String> needed = new TreeSet<>(Arrays.asList(used.out.trim().split(",")));
        needed.remove("jdk.jfr"); // left out on purpose: see dist.modules in dist/pom.xml
        needed.removeAll(image);
        assertTrue(needed.isEmpty(), "jdeps finds modules the runtime lacks: " + needed);
    }

    /** A directory holding only what the launcher runs (env, bash, readlink, dirname, basename): no java. */
    private static Path toolsOnly() throws IOException {
        Path tools = tmp.resolve("tools");
        if (!Files.exists(tools)) {
            Files.createDirectories(tools);
            for (String t : List.of("env", "bash", "readlink", "dirname", "basename")) {
                Path real = Stream.of("/usr/bin/" + t, "/bin/" + t).map(Path::of).filter(Files::isExecutable)
                        .findFirst().orElseThrow(() -> new AssertionError("no " + t));
                Files.createSymbolicLink(tools.resolve(t), real);
            }
        }
        return tools;
    }

    private static boolean isElf(Path f) throws IOException {
        try (InputStream in = Files.newInputStream(f)) {
            byte[] magic = in.readNBytes(4);
            return Arrays.equals(magic, new byte[] {0x7f, 'E', 'L', 'F'});
        }
    }

    private record Result(int status, String out) {}

    private static Result run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), String.join(" ", cmd));
        return new Result(p.exitValue(), out);
    }
}
