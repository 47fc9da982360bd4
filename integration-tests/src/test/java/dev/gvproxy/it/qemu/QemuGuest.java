package dev.gvproxy.it.qemu;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One QEMU guest (TCG, 1 vCPU, 256 MiB) that boots the test kernel, configures its virtio-net NIC, runs one command and
 * powers off. Use {@link #builder(String)}, {@link #start()}, {@link #awaitResult()}, and always {@link #close()} (which
 * kills QEMU if it is still running).
 *
 * <p>The serial console is copied to {@code target/qemu-logs/<name>/console.log} as it arrives; the result marker printed
 * by the guest's {@code /init} completes {@link #awaitResult()}. No sleeping: the wait is on the console reader and the
 * process.
 */
public final class QemuGuest implements AutoCloseable {

    public static final String QEMU = "qemu-system-x86_64";
    /** gvproxy's default guest MAC. */
    public static final String DEFAULT_MAC = "5a:94:ef:e4:0c:ee";
    /** System property: directory for per-guest logs; default {@code target/qemu-logs}. */
    public static final String LOGS_PROPERTY = "gvproxy.it.qemu.logs";
    /** System property: default result timeout in seconds (TCG boots take 3-20 s here; default 120). */
    public static final String TIMEOUT_PROPERTY = "gvproxy.it.qemu.timeoutSeconds";

    private static final String NETDEV_ID = "n0";
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        // Backstop for a test JVM that exits without closing its guests: kill what we started.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly), "qemu-reaper"));
    }

    private final Builder cfg;
    private final Path dir;
    private final String nonce;
    private final CompletableFuture<Integer> result = new CompletableFuture<>();
    private final CompletableFuture<Long> netReadyNanos = new CompletableFuture<>();
    private final StringBuffer console = new StringBuffer();
    private Process process;
    private Thread reader;
    private long startNanos;

    private QemuGuest(Builder cfg) {
        this.cfg = cfg;
        this.dir = logsRoot().resolve(cfg.name);
        this.nonce = Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
    }

    /** A guest named {@code name} (used for the log directory; keep it file-name safe). */
    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** {@code -netdev} value for a QEMU 7.2+ stream client of a unix socket (4-byte big-endian length framing). */
    public static String streamUnix(Path socket) {
        return "stream,id=" + NETDEV_ID + ",server=off,addr.type=unix,addr.path=" + socket.toAbsolutePath();
    }

    /** {@code -netdev} value for a QEMU 7.2+ unix datagram socket: bound at {@code local}, sending to {@code remote}. */
    public static String dgramUnix(Path local, Path remote) {
        return "dgram,id=" + NETDEV_ID + ",local.type=unix,local.path=" + local.toAbsolutePath()
                + ",remote.type=unix,remote.path=" + remote.toAbsolutePath();
    }

    /** Skips the calling test (JUnit assumption) unless QEMU is installed and a kernel and initramfs are available. */
    public static QemuGuestAssets assumeAvailable() {
        assumeTrue(qemuInstalled(), QEMU + " is not installed (apt-get install qemu-system-x86): QEMU guest test skipped");
        QemuGuestAssets.Availability a = QemuGuestAssets.get();
        assumeTrue(a.available(), () -> "no guest kernel: " + a.unavailableReason());
        return a.assets();
    }

    /** True when {@value #QEMU} is on the PATH. */
    public static boolean qemuInstalled() {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String d : path.split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, QEMU))) {
                return true;
            }
        }
        return false;
    }

    /** Starts QEMU. The netdev's peer (listener) must already exist. */
    public QemuGuest start() throws IOException {
        if (cfg.netdev == null && cfg.networkArgs == null) {
            throw new IllegalStateException("no netdev given");
        }
        QemuGuestAssets assets = assumeAvailable();
        Files.createDirectories(dir);
        Path initrd = assets.initrd();
        if (!cfg.files.isEmpty()) {
            initrd = dir.resolve("initrd.img");
            CpioNewc overlay = new CpioNewc();
            for (Map.Entry<String, byte[]> f : cfg.files.entrySet()) {
                overlay.file(f.getKey(), 0755, f.getValue());
            }
            Files.copy(assets.initrd(), initrd, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            // The kernel only takes an uncompressed archive that starts 4-byte aligned ("invalid magic" otherwise);
            // zero bytes between archives are skipped.
            long size = Files.size(initrd);
            byte[] pad = new byte[(int) ((4 - size % 4) % 4)];
            Files.write(initrd, pad, StandardOpenOption.APPEND);
            Files.write(initrd, overlay.finish(), StandardOpenOption.APPEND);
        }
        List<String> cmd = new ArrayList<>(List.of(QEMU,
                "-machine", "q35", "-accel", "tcg", "-smp", "1", "-m", Integer.toString(cfg.memoryMb),
                "-nographic", "-nodefaults", "-serial", "stdio", "-monitor", "none", "-no-reboot",
                "-kernel", assets.kernel().toString(), "-initrd", initrd.toString(),
                "-append", kernelCommandLine()));
        if (cfg.networkArgs != null) {
            cmd.addAll(cfg.networkArgs);
        } else {
            cmd.addAll(List.of("-netdev", cfg.netdev,
                    // romfile= drops the iPXE option ROM: nothing to netboot, and it saves boot time under TCG.
                    "-device", "virtio-net-pci,netdev=" + NETDEV_ID + ",mac=" + cfg.mac + ",romfile="));
        }
        cmd.addAll(cfg.extraArgs);
        Files.writeString(dir.resolve("qemu-cmdline.txt"), String.join(" ", cmd) + "\n");
        Path log = dir.resolve("console.log");
        startNanos = System.nanoTime();
        process = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        LIVE.add(process);
        OutputStream logOut = Files.newOutputStream(log);
        reader = Thread.ofPlatform().daemon().name("qemu-console-" + cfg.name).start(() -> pump(process.getInputStream(), logOut));
        return this;
    }

    private String kernelCommandLine() {
        StringBuilder s = new StringBuilder("console=ttyS0 quiet panic=-1 gvj.nonce=").append(nonce);
        if (cfg.dhcp) {
            s.append(" gvj.net=dhcp");
        } else if (cfg.address != null) {
            s.append(" gvj.net=static gvj.ip=").append(cfg.address);
            if (cfg.gateway != null) {
                s.append(" gvj.gw=").append(cfg.gateway);
            }
        } else {
            s.append(" gvj.net=none");
        }
        if (cfg.mtu > 0) {
            s.append(" gvj.mtu=").append(cfg.mtu);
        }
        if (cfg.dns != null) {
            s.append(" gvj.dns=").append(cfg.dns);
        }
        if (cfg.debug) {
            s.append(" gvj.debug=1");
        }
        if (cfg.command != null) {
            s.append(" gvj.cmd=").append(Base64.getEncoder().encodeToString(cfg.command.getBytes(StandardCharsets.UTF_8)));
        }
        return s.toString();
    }

    private void pump(InputStream in, OutputStream logOut) {
        String marker = "GVJ-RESULT:" + nonce + ":rc=";
        StringBuilder line = new StringBuilder();
        byte[] buf = new byte[8192];
        try (in; logOut) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                logOut.write(buf, 0, n);
                logOut.flush();
                String chunk = new String(buf, 0, n, StandardCharsets.ISO_8859_1);
                console.append(chunk);
                for (int i = 0; i < chunk.length(); i++) {
                    char c = chunk.charAt(i);
                    if (c != '\n') {
                        line.append(c);
                        continue;
                    }
                    String l = line.toString().strip();
                    line.setLength(0);
                    if (l.endsWith("GVJ-NET-READY")) {
                        netReadyNanos.complete(System.nanoTime());
                    }
                    int at = l.indexOf(marker);
                    if (at >= 0) {
                        try {
                            result.complete(Integer.parseInt(l.substring(at + marker.length()).strip()));
                        } catch (NumberFormatException e) {
                            result.completeExceptionally(new AssertionError("garbled result marker: " + l));
                        }
                    }
                }
            }
        } catch (IOException e) {
            // QEMU killed under us: fall through to the "no marker" outcome below.
        }
        result.completeExceptionally(new AssertionError("QEMU console ended without a result marker"));
    }

    /** Waits (up to the builder's timeout) for the guest's result marker; throws {@link AssertionError} if none comes. */
    public Result awaitResult() throws InterruptedException {
        try {
            int rc = result.get(cfg.timeout.toNanos(), TimeUnit.NANOSECONDS);
            if (console.indexOf("Initramfs unpacking failed") >= 0) {
                throw new AssertionError("the guest's initramfs is broken\n" + tail());
            }
            long end = System.nanoTime();
            Long ready = netReadyNanos.getNow(null);
            // The guest powers off right after the marker; give QEMU a moment to exit by itself.
            process.waitFor(10, TimeUnit.SECONDS);
            return new Result(rc, console.toString(), dir.resolve("console.log"),
                    ready == null ? null : Duration.ofNanos(ready - startNanos), Duration.ofNanos(end - startNanos));
        } catch (TimeoutException e) {
            throw new AssertionError("no result from guest " + cfg.name + " within " + cfg.timeout + "\n" + tail(), e);
        } catch (ExecutionException e) {
            String exit = process.isAlive() ? "still running" : "exited " + process.exitValue();
            throw new AssertionError(e.getCause().getMessage() + " (QEMU " + exit + ")\n" + tail(), e.getCause());
        }
    }

    /** True while QEMU runs. */
    public boolean isRunning() {
        return process != null && process.isAlive();
    }

    /** The console output so far. */
    public String console() {
        return console.toString();
    }

    /**
     * The directory holding {@code console.log} and {@code qemu-cmdline.txt} (created on demand; put pcaps and other
     * debugging output of the test here too: it is kept under {@code target/qemu-logs}).
     */
    public Path logDir() throws IOException {
        return Files.createDirectories(dir);
    }

    private String tail() {
        String s = console.toString();
        return "---- console (" + dir.resolve("console.log") + ") ----\n"
                + (s.length() > 4000 ? "..." + s.substring(s.length() - 4000) : s);
    }

    /** Kills QEMU (by its process handle) if it is still running, and waits for it and the console reader. */
    @Override
    public void close() throws InterruptedException {
        if (process == null) {
            return;
        }
        try {
            if (process.isAlive()) {
                process.destroy();
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
            }
            reader.join(Duration.ofSeconds(5));
        } finally {
            LIVE.remove(process);
        }
    }

    private static Path logsRoot() {
        String p = System.getProperty(LOGS_PROPERTY);
        return p != null && !p.isBlank() ? Path.of(p) : Path.of("target", "qemu-logs");
    }

    /**
     * Outcome of one guest run.
     *
     * @param exitCode exit status of the guest command ({@code 123}: DHCP failed, {@code 124}: address failed,
     *     {@code 125}: no interface)
     * @param console the whole serial console output
     * @param log where the console output was saved
     * @param netReady time from QEMU start to the guest's network being configured, null if it never was
     * @param total time from QEMU start to the result marker
     */
    public record Result(int exitCode, String console, Path log, Duration netReady, Duration total) {}

    /** Guest settings. */
    public static final class Builder {
        private final String name;
        private String netdev;
        private List<String> networkArgs;
        private String mac = DEFAULT_MAC;
        private String address;
        private String gateway;
        private String dns;
        private boolean dhcp;
        private int mtu;
        private int memoryMb = 256;
        private boolean debug;
        private String command;
        private Duration timeout = Duration.ofSeconds(Long.getLong(TIMEOUT_PROPERTY, 120));
        private final Map<String, byte[]> files = new LinkedHashMap<>();
        private final List<String> extraArgs = new ArrayList<>();

        private Builder(String name) {
            if (!name.matches("[A-Za-z0-9._-]+")) {
                throw new IllegalArgumentException("guest name must be file-name safe: " + name);
            }
            this.name = name;
        }

        /**
         * The guest's network as a caller's own QEMU flags (a {@code -netdev} and its {@code -device}), e.g. an
         * example's, instead of {@link #netdev}: the harness adds no network device of its own then. The device
         * must carry this builder's {@link #mac}.
         */
        public Builder network(List<String> qemuArgs) {
            this.networkArgs = List.copyOf(qemuArgs);
            return this;
        }

        /** The full {@code -netdev} value with {@code id=n0}, e.g. from {@link #streamUnix} or {@link #dgramUnix}. */
        public Builder netdev(String spec) {
            if (!spec.contains("id=" + NETDEV_ID)) {
                throw new IllegalArgumentException("netdev must have id=" + NETDEV_ID + ": " + spec);
            }
            this.netdev = spec;
            return this;
        }

        public Builder mac(String mac) {
            this.mac = mac;
            return this;
        }

        /** Static address, e.g. {@code 192.168.127.2/24}, and default gateway (may be null). */
        public Builder staticIpv4(String cidr, String gateway) {
            this.address = cidr;
            this.gateway = gateway;
            this.dhcp = false;
            return this;
        }

        /** Configure eth0 with busybox udhcpc (address, router, MTU option 26, DNS). */
        public Builder dhcp() {
            this.dhcp = true;
            return this;
        }

        public Builder mtu(int mtu) {
            this.mtu = mtu;
            return this;
        }

        /** Resolver for static mode ({@code /etc/resolv.conf}). */
        public Builder dns(String dns) {
            this.dns = dns;
            return this;
        }

        public Builder memoryMb(int mb) {
            this.memoryMb = mb;
            return this;
        }

        /** Print addresses and routes before running the command. */
        public Builder debug(boolean debug) {
            this.debug = debug;
            return this;
        }

        /** Shell command run in the guest (busybox sh); its exit status is the result. */
        public Builder command(String shellCommand) {
            this.command = shellCommand;
            return this;
        }

        /**
         * Adds a file (mode 0755) to the guest's initramfs; its parent directory must exist there ({@code /etc/gvj},
         * {@code /bin}, {@code /tmp}, ...). {@code /etc/gvj/test.sh} runs after {@link #command}.
         */
        public Builder file(String guestPath, byte[] content) {
            files.put(guestPath, content.clone());
            return this;
        }

        public Builder timeout(Duration timeout) {
            this.timeout = timeout;
            return this;
        }

        /** Extra QEMU arguments appended at the end. */
        public Builder qemuArgs(String... args) {
            extraArgs.addAll(List.of(args));
            return this;
        }

        public QemuGuest build() {
            return new QemuGuest(this);
        }

        /** {@code build().start()}. */
        public QemuGuest start() throws IOException {
            return build().start();
        }
    }
}
