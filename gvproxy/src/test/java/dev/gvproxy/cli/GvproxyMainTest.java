package dev.gvproxy.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The command line of spec 6: flag forms, messages, exit codes, and the invocations podman/CRC generate. */
class GvproxyMainTest {
    @TempDir
    Path dir;

    private final List<String> logged = new ArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public synchronized void publish(LogRecord r) {
            logged.add(r.getMessage());
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @BeforeEach
    void hook() {
        Logger.getLogger("gvproxy").addHandler(capture);
    }

    @AfterEach
    void unhook() {
        Logger.getLogger("gvproxy").removeHandler(capture);
    }

    record Result(int status, String out, String err) {}

    private Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = GvproxyMain.run(args, new PrintStream(out, true), new PrintStream(err, true), r -> {
            throw new AssertionError("should not start");
        });
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private synchronized String loggedText() {
        return String.join("\n", logged);
    }

    @ParameterizedTest
    @CsvSource({"-h", "--h", "-help", "--help"})
    void helpExitsZeroWithUsage(String flag) {
        Result r = run(flag);
        assertEquals(0, r.status());
        assertTrue(r.err().startsWith("Usage of gvproxy-java:\n"), r.err());
        assertTrue(r.err().contains("  -listen value\n"), r.err());
        assertTrue(r.err().contains("  -ssh-port int\n"), r.err());
    }

    @ParameterizedTest
    @CsvSource({"-version", "--version", "-version=true"})
    void version(String flag) {
        Result r = run("-debug=false", flag);
        assertEquals(0, r.status());
        assertEquals("gvproxy version " + GvproxyMain.VERSION + "\n", r.out());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "-foo|flag provided but not defined: -foo",
        "--foo=1|flag provided but not defined: -foo",
        "-mtu abc|invalid value \"abc\" for flag -mtu: parse error",
        "-ssh-port 99999999999999999999|invalid value \"99999999999999999999\" for flag -ssh-port: value out of range",
        "-listen|flag needs an argument: -listen",
        "-debug=maybe|invalid boolean value \"maybe\" for -debug: parse error",
        "---listen x|bad flag syntax: ---listen",
    })
    void flagErrorsExitTwoWithUsage(String args, String message) {
        Result r = run(args.split(" "));
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith(message + "\nUsage of gvproxy-java:\n"), r.err());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "-ssh-port 80|ssh-port value must be between 1024 and 65535",
        "-subnet 10.0.0.0|failed to parse subnet: invalid CIDR address: 10.0.0.0",
        "-gatewayIP 10.0.0.1|failed to validate configuration IPs: IP (10.0.0.1) not in subnet (192.168.127.0/24)",
        "-notification tcp://127.0.0.1:1|notification listen address must be unix:// address",
        "-listen-vfkit unix:///tmp/gvj-x|vfkit listen address must be unixgram:// address",
        "-listen-bess unix:///tmp/gvj-x|bess listen address must be unixpacket:// address",
        "-listen-vpnkit unix:///tmp/gvj-v -listen-qemu tcp://127.0.0.1:1|cannot use qemu and vpnkit protocol at the same time",
        "-forward-sock /tmp/gvj-x|--forward-sock, --forward-dest, --forward-user, and --forward-identity must all be specified together, the same number of times, or not at all",
        "-forward-sock /tmp/gvj-x -forward-dest /x -forward-user u -forward-identity /nonexistent/k|identity file \"/nonexistent/k\" can't be loaded",
        "-config /nonexistent/gvj.yaml|failed to read config file: ",
        "-ssh-port -1 -listen ftp://x|unexpected scheme",
    })
    void startupFailuresExitOne(String args, String message) {
        Result r = run(args.split(" "));
        assertEquals(1, r.status(), r.err());
        assertTrue(loggedText().contains(message), loggedText());
    }

    @Test
    void logFileThatCannotBeOpened() {
        Result r = run("-log-file", "/nonexistent-dir/gv.log");
        assertEquals(1, r.status());
        assertTrue(loggedText().contains("unable to open log file /nonexistent-dir/gv.log"), loggedText());
    }

    @Test
    void configErrorsGoToTheLogFile() throws Exception {
        Path cfg = Files.writeString(dir.resolve("c.yaml"), "log-file: " + dir.resolve("gv.log") + "\nstack:\n  gatewayIP: 1.2.3.4\n");
        Result r = run("-config", cfg.toString());
        assertEquals(1, r.status());
        assertTrue(Files.readString(dir.resolve("gv.log")).contains("level=error msg=\"failed to validate configuration IPs"),
                Files.readString(dir.resolve("gv.log")));
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** Starts gvproxy-java in-process, lets {@code whileRunning} inspect it, stops it like SIGTERM would. */
    private int runUntilStopped(List<String> args, Consumer<GvproxyMain.Running> whileRunning) throws Exception {
        CompletableFuture<GvproxyMain.Running> started = new CompletableFuture<>();
        CompletableFuture<Integer> exit = GvproxyMain.runAsync(args.toArray(String[]::new), System.out, System.err,
                started::complete);
        GvproxyMain.Running running = CompletableFuture.anyOf(started, exit).thenApply(x -> started.getNow(null))
                .get(30, TimeUnit.SECONDS);
        if (running == null) {
            throw new AssertionError("did not start, exit " + exit.get() + ": " + loggedText());
        }
        try {
            whileRunning.accept(running);
        } finally {
            running.stop("signal caught");
        }
        return exit.get(30, TimeUnit.SECONDS);
    }

    @Test
    void podmanQemuInvocationStartsAndCleansUp() throws Exception {
        Path key = Files.writeString(dir.resolve("id_ed25519"), "not really a key");
        Path qemu = dir.resolve("podman-machine-default-gvproxy.sock");
        Path pid = dir.resolve("gvproxy.pid");
        Path services = dir.resolve("services.sock");
        int ssh = freePort();
        List<String> args = List.of("-debug", "-mtu", "1500", "-ssh-port", Integer.toString(ssh),
                "-listen-qemu", "unix://" + qemu, "-services", "unix://" + services,
                "-forward-sock", dir.resolve("api.sock").toString(), "-forward-dest", "/run/podman/podman.sock",
                "-forward-user", "core", "-forward-identity", key.toString(), "-pid-file", pid.toString());
        int status = runUntilStopped(args, r -> {
            assertTrue(Files.exists(qemu));
            assertTrue(Files.exists(services));
            try {
                assertEquals(Long.toString(ProcessHandle.current().pid()), Files.readString(pid));
                // the default SSH forward listens on 127.0.0.1:<ssh-port>
                try (java.net.Socket s = new java.net.Socket("127.0.0.1", ssh)) {
                    assertTrue(s.isConnected());
                }
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        });
        assertEquals(0, status);
        assertFalse(Files.exists(qemu), "qemu socket removed");
        assertFalse(Files.exists(services), "services socket removed");
        assertFalse(Files.exists(pid), "pid file removed");
        assertTrue(loggedText().contains("gvproxy exiting: signal caught"), loggedText());
    }

    @Test
    void podmanVfkitInvocationWithLogFile() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(
                dev.gvproxy.platform.SocketTransport.get().kind() != dev.gvproxy.platform.SocketTransport.Kind.NIO,
                "skipped: -listen-vfkit (unixgram) needs epoll or kqueue; transport is nio");
        Path key = Files.writeString(dir.resolve("key"), "k");
        Path vfkit = dir.resolve("m-gvproxy.sock");
        Path log = dir.resolve("gvproxy.log");
        List<String> args = List.of("-debug", "-mtu", "1500", "-ssh-port", Integer.toString(freePort()),
                "-listen-vfkit", "unixgram://" + vfkit, "-forward-sock", dir.resolve("m-api.sock").toString(),
                "-forward-dest", "/run/podman/podman.sock", "-forward-user", "root", "-forward-identity", key.toString(),
                "-pid-file", dir.resolve("pid").toString(), "-log-file", log.toString());
        assertEquals(0, runUntilStopped(args, r -> assertTrue(Files.exists(vfkit))));
        assertFalse(Files.exists(vfkit));
        String text = Files.readString(log);
        assertTrue(text.contains("level=debug msg=\"command line: gvproxy-java -debug -mtu 1500"), text);
        assertTrue(text.contains("level=info msg=\"gvproxy exiting: signal caught\""), text);
    }

    @Test
    void crcStyleListenersAndReadyNotificationAfterEveryListener() throws Exception {
        Path net = dir.resolve("network.sock");
        Path notify = dir.resolve("notify.sock");
        List<String> received = new ArrayList<>();
        try (ServerSocketChannel consumer = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            consumer.bind(UnixDomainSocketAddress.of(notify));
            List<String> args = List.of("-listen", "unix://" + net, "-listen", "tcp://127.0.0.1:0",
                    "-listen-vpnkit", "unix://" + dir.resolve("vpnkit.sock"), "-ssh-port", "-1",
                    "-notification", "unix://" + notify);
            assertEquals(0, runUntilStopped(args, r -> {
                try (SocketChannel c = consumer.accept()) {
                    // every listener exists by the time "ready" is sent
                    assertTrue(Files.exists(net));
                    assertTrue(Files.exists(dir.resolve("vpnkit.sock")));
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(256);
                    while (c.read(b) >= 0) {
                        // read to EOF: one message per connection
                    }
                    received.add(new String(b.array(), 0, b.position(), StandardCharsets.UTF_8));
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
            }));
        }
        assertEquals(List.of("{\"notification_type\":\"ready\"}\n"), received);
        assertFalse(Files.exists(net));
    }

    @Test
    void busyConfiguredForwardAbortsStartup() throws Exception {
        try (ServerSocket busy = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Result r = run("-ssh-port", Integer.toString(busy.getLocalPort()), "-listen", "unix://" + dir.resolve("a.sock"));
            assertEquals(1, r.status());
            assertTrue(loggedText().contains("bind: address already in use"), loggedText());
            assertFalse(Files.exists(dir.resolve("a.sock")));
        }
    }

    @Test
    void configModeIgnoresSshPortWithWarning() throws Exception {
        Path cfg = Files.writeString(dir.resolve("c.yaml"), "listen:\n  - unix://" + dir.resolve("y.sock") + "\n");
        assertEquals(0, runUntilStopped(List.of("-config", cfg.toString(), "-ssh-port", "2299"),
                r -> assertTrue(Files.exists(dir.resolve("y.sock")))));
        assertTrue(loggedText().contains("CLI argument \"-ssh-port\" is unavailable with config file"), loggedText());
    }

    /** Issue 12 / upstream PR #724: the token from a file or GVISOR_API_TOKEN, at least 32 characters. */
    @org.junit.jupiter.api.Test
    void apiTokenFromFileOrEnvironmentAndTooShortRefused() throws Exception {
        String good = "0123456789abcdef0123456789abcdef";
        dev.gvproxy.config.GvproxyConfig cfg = new dev.gvproxy.config.GvproxyConfig();
        assertEquals(null, GvproxyMain.apiToken(cfg, k -> null), "no file, no variable: no token");
        assertEquals(good, GvproxyMain.apiToken(cfg, k -> k.equals("GVISOR_API_TOKEN") ? good : null));
        java.io.IOException shortEnv = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                () -> GvproxyMain.apiToken(cfg, k -> "short"));
        assertEquals("GVISOR_API_TOKEN: the API token must be at least 32 characters", shortEnv.getMessage());
        java.nio.file.Path file = java.nio.file.Files.createTempFile("gvj-token", "");
        try {
            java.nio.file.Files.writeString(file, good + "\n");
            cfg.apiTokenFile = file.toString();
            assertEquals(good, GvproxyMain.apiToken(cfg, k -> "ignored-when-a-file-is-given-xxxxxxxxxx"));
            java.nio.file.Files.writeString(file, "too-short\n");
            java.io.IOException shortFile = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                    () -> GvproxyMain.apiToken(cfg, k -> null));
            assertEquals("api-token-file " + file + ": the API token must be at least 32 characters",
                    shortFile.getMessage());
        } finally {
            java.nio.file.Files.deleteIfExists(file);
        }
    }
}
