package dev.gvproxy.forwarder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * A throw-away network namespace ({@code gvj-<random>}) with only {@code lo} up and ping sockets allowed for
 * every group, so ICMP tests can ping 127.0.0.1 there without touching the host's configuration.
 */
final class TestNetns implements AutoCloseable {
    final String name;
    final Path path;

    private TestNetns(String name) {
        this.name = name;
        this.path = Path.of("/var/run/netns", name);
    }

    /** Why a namespace cannot be made here, or null when it can. */
    static String unavailable() {
        if (!"root".equals(System.getProperty("user.name"))) {
            return "needs root to create a network namespace";
        }
        if (!Files.isExecutable(Path.of("/usr/sbin/ip")) && !Files.isExecutable(Path.of("/sbin/ip"))
                && !Files.isExecutable(Path.of("/usr/bin/ip"))) {
            return "needs the ip command (iproute2)";
        }
        return null;
    }

    static TestNetns create() throws IOException, InterruptedException {
        String name = "gvj-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xFFFFFFFFFFL);
        TestNetns ns = new TestNetns(name);
        run("ip", "netns", "add", name);
        try {
            run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up");
            run("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647");
        } catch (IOException | RuntimeException e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true).start();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("timed out: " + String.join(" ", cmd));
        }
        String out = new String(p.getInputStream().readAllBytes());
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " exited " + p.exitValue() + ": " + out);
        }
    }

    @Override
    public void close() {
        try {
            run(new ArrayList<>(List.of("ip", "netns", "delete", name)).toArray(String[]::new));
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException("could not delete namespace " + name, e);
        }
    }
}
