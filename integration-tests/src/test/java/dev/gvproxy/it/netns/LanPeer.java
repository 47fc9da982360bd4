package dev.gvproxy.it.netns;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * A network namespace of the test's own, linked to the host by a veth pair in 198.18.0.0/15: "another machine on
 * the host's LAN" that reaches host listeners bound to every address, and that host sockets (gvproxy-java's
 * forwarded guest flows) reach at {@link #peerIp}. Commands run inside it; servers {@link #spawn}ed there are
 * killed by PID on {@link #close}, with the namespace and the veth pair.
 */
public final class LanPeer implements AutoCloseable {
    /** The namespace's name. */
    public final String ns;
    /** The host end of the veth pair. */
    public final String hostVeth;
    /** The host's address on the link (a /30). */
    public final String hostIp;
    /** The peer's address, reachable from the host. */
    public final String peerIp;
    private final List<Process> spawned = new ArrayList<>();

    /** A peer in 198.18.200.0/24 (a /30 of it). */
    public LanPeer() throws Exception {
        this("198.18.200");
    }

    /**
     * A peer on a /30 of the /24 {@code prefix24} (three octets, e.g. {@code 169.254.201} for a link-local test
     * address the test owns). The namespace and the pair are removed again if setting them up fails.
     */
    public LanPeer(String prefix24) throws Exception {
        int id = ThreadLocalRandom.current().nextInt(1, 60);
        ns = "gvjlan" + ProcessHandle.current().pid() % 10000 + "x" + id;
        hostVeth = "gvjh" + ProcessHandle.current().pid() % 10000 + "x" + id;
        String peerVeth = "gvjp" + ProcessHandle.current().pid() % 10000 + "x" + id;
        hostIp = prefix24 + "." + (id * 4 + 1);
        peerIp = prefix24 + "." + (id * 4 + 2);
        try {
            run("ip", "netns", "add", ns);
            run("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", peerVeth, "netns", ns);
            run("ip", "addr", "add", hostIp + "/30", "dev", hostVeth);
            run("ip", "link", "set", hostVeth, "up");
            run("ip", "-n", ns, "addr", "add", peerIp + "/30", "dev", peerVeth);
            run("ip", "-n", ns, "link", "set", peerVeth, "up");
            run("ip", "-n", ns, "link", "set", "lo", "up");
        } catch (Exception e) {
            close();
            throw e;
        }
    }

    /** Runs a command inside the namespace (at most 30 s). */
    public ExecResult exec(String... cmd) throws Exception {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        full.addAll(List.of(cmd));
        Process p = new ProcessBuilder(full).start();
        p.getOutputStream().close();
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "";
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        return new ExecResult(p.isAlive() ? -1 : p.exitValue(), out, err.get(5, TimeUnit.SECONDS));
    }

    /** Starts a long-running command (a server) inside the namespace; killed by {@link #close}. */
    public Process spawn(String... cmd) throws IOException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        full.addAll(Arrays.asList(cmd));
        Process p = new ProcessBuilder(full).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        synchronized (spawned) {
            spawned.add(p);
        }
        return p;
    }

    /** Waits (up to 10 s) until a server in the namespace listens on {@code port} ({@code ss} flags, e.g. -Hltn). */
    public void awaitListening(String ssFlag, int port) throws Exception {
        ExecResult r = exec("bash", "-c", "for i in $(seq 200); do ss " + ssFlag + " 'sport = :" + port
                + "' | grep -q . && exit 0; sleep 0.05; done; exit 1");
        if (r.exitCode() != 0) {
            throw new AssertionError("server on " + port + " in " + ns + " did not start: " + r);
        }
    }

    /** One TCP connect from the namespace to {@code ip:port}: the server's first line ("" when none). */
    public String tcpLine(String ip, int port) {
        try {
            return exec("timeout", "10", "bash", "-c", "exec 3<>/dev/tcp/" + ip + "/" + port + " && head -1 <&3")
                    .stdout().trim();
        } catch (Exception e) {
            return "";
        }
    }

    /** One line over TCP to the host's LAN address and back. */
    public String tcpEcho(int port, String line) throws Exception {
        return exec("bash", "-c", "exec 3<>/dev/tcp/" + hostIp + "/" + port + " && echo " + line
                + " >&3 && timeout 5 head -1 <&3").stdout().trim();
    }

    /** One datagram to the host's LAN address and its answer. */
    public String udpEcho(int port, String line) throws Exception {
        return exec("bash", "-c", "echo " + line + " | timeout 5 socat -t 3 - UDP:" + hostIp + ":" + port)
                .stdout().trim();
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + ": " + out);
        }
    }

    @Override
    public void close() throws Exception {
        synchronized (spawned) {
            for (Process p : spawned) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
        new ProcessBuilder("ip", "link", "del", hostVeth).start().waitFor(10, TimeUnit.SECONDS);
        new ProcessBuilder("ip", "netns", "del", ns).start().waitFor(10, TimeUnit.SECONDS);
    }
}
