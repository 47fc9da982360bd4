package dev.gvproxy.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Assumptions;

/** A throw-away network namespace for agent tests (skips without root or /dev/net/tun). */
final class NetnsFixture implements AutoCloseable {
    final String name;

    private NetnsFixture(String name) {
        this.name = name;
    }

    static NetnsFixture create() throws IOException, InterruptedException {
        Assumptions.assumeTrue(isRoot(), "needs root to create network namespaces and TAP devices");
        Assumptions.assumeTrue(Files.exists(Path.of("/dev/net/tun")), "needs /dev/net/tun");
        String name = "gvj-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 20);
        sh("ip", "netns", "add", name);
        NetnsFixture f = new NetnsFixture(name);
        f.exec("ip", "link", "set", "lo", "up");
        return f;
    }

    static boolean isRoot() {
        try {
            return Files.readString(Path.of("/proc/self/status")).lines()
                    .filter(l -> l.startsWith("Uid:")).anyMatch(l -> l.split("\\s+")[2].equals("0"));
        } catch (IOException e) {
            return false;
        }
    }

    /** Runs a command in the namespace; returns stdout+stderr; throws on non-zero exit. */
    String exec(String... cmd) throws IOException, InterruptedException {
        String[] full = new String[cmd.length + 3];
        full[0] = "ip";
        full[1] = "-n";
        full[2] = name;
        if (cmd[0].equals("ip")) {
            System.arraycopy(cmd, 1, full, 3, cmd.length - 1);
            return sh(java.util.Arrays.copyOf(full, cmd.length + 2));
        }
        return sh(concat(List.of("ip", "netns", "exec", name), cmd));
    }

    /** Like {@link #exec} but returns the exit code instead of throwing. */
    int status(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(concat(List.of("ip", "netns", "exec", name), cmd)).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }

    private static String[] concat(List<String> prefix, String[] cmd) {
        String[] full = new String[prefix.size() + cmd.length];
        for (int i = 0; i < prefix.size(); i++) {
            full[i] = prefix.get(i);
        }
        System.arraycopy(cmd, 0, full, prefix.size(), cmd.length);
        return full;
    }

    static String sh(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("timeout: " + List.of(cmd));
        }
        String text = new String(out, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IOException(List.of(cmd) + " exited " + p.exitValue() + ": " + text);
        }
        return text;
    }

    /** Polls {@code condition} until true or the timeout. */
    static boolean await(long timeoutMillis, BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            try {
                Thread.sleep(20); // polling interval of a condition wait, not a fixed delay
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return condition.getAsBoolean();
    }

    @Override
    public void close() throws IOException {
        try {
            sh("ip", "netns", "del", name);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted deleting netns " + name, e);
        }
    }
}
