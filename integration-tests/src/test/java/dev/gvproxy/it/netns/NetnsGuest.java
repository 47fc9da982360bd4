package dev.gvproxy.it.netns;

import dev.gvproxy.agent.Gvforwarder;
import dev.gvproxy.stack.link.Impairment;
import dev.gvproxy.agent.Options;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;

/**
 * A "guest" made of a fresh network namespace whose only way out is a TAP pumped by an in-process gvforwarder-java
 * to a gvproxy {@code /connect} endpoint.
 *
 * <p>The namespace ({@code gvj-<random>}) has {@code lo} up and nothing else except the TAP: no veth, no route to
 * the host's network. Either the agent creates the TAP and runs its DHCP client (the default), or, with
 * {@link Builder#staticAddress}, the guest is set up by hand (persistent TAP, MAC, address, link up) and the agent
 * runs with {@code -preexisting}, for stacks that have no DHCP server yet.
 *
 * <p>{@link #close} always tears everything down, also after a failed start: stops the agent (which kills its DHCP
 * client), kills by PID whatever still runs in the namespace (commands started through {@link #exec}), deletes the
 * namespace and the {@code /etc/netns/NAME} directory if this guest created it. Use through
 * {@link NetnsGuestsExtension} or try-with-resources.
 */
public final class NetnsGuest implements AutoCloseable {
    /** Default per-command timeout for {@link #exec}. */
    public static final Duration EXEC_TIMEOUT = Duration.ofSeconds(60);

    private final String name;
    private final String iface;
    private final String mac;
    private final List<Process> started = new ArrayList<>();
    private Path etcNetnsDir;
    private boolean etcNetnsParentCreated;
    private boolean nsCreated;
    private Gvforwarder forwarder;
    private AutoCloseable direct;
    private boolean closed;

    private NetnsGuest(String name, String iface, String mac) {
        this.name = name;
        this.iface = iface;
        this.mac = mac;
    }

    /** @return a builder for a guest attached to {@code connectUrl} (e.g. {@code unix:///tmp/x/gvproxy.sock}) */
    public static Builder builder(String connectUrl) {
        return new Builder(connectUrl);
    }

    /** Skips the calling test (JUnit assumption) when this machine cannot run namespace guests. */
    public static void assumeSupported() {
        Assumptions.assumeTrue(isRoot(), "network-namespace guests need root (ip netns, TAP devices)");
        Assumptions.assumeTrue(Files.exists(Path.of("/dev/net/tun")), "network-namespace guests need /dev/net/tun");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/sbin/ip")) || Files.isExecutable(Path.of("/sbin/ip"))
                || Files.isExecutable(Path.of("/usr/bin/ip")), "network-namespace guests need iproute2 (ip)");
    }

    static boolean isRoot() {
        try {
            return Files.readString(Path.of("/proc/self/status")).lines()
                    .filter(l -> l.startsWith("Uid:")).anyMatch(l -> l.split("\\s+")[2].equals("0"));
        } catch (IOException e) {
            return false;
        }
    }

    /** @return a locally administered unicast MAC ({@code 5a:94:ef:xx:xx:xx} style prefix is gvforwarder's) */
    public static String randomMac() {
        byte[] m = new byte[6];
        ThreadLocalRandom.current().nextBytes(m);
        m[0] = (byte) ((m[0] & 0xfc) | 0x02);
        return HexFormat.ofDelimiter(":").formatHex(m);
    }

    /** @return the namespace name */
    public String name() {
        return name;
    }

    /** @return the TAP interface name inside the namespace */
    public String iface() {
        return iface;
    }

    /** @return the TAP's MAC address */
    public String mac() {
        return mac;
    }

    /** @return the in-process agent */
    public Gvforwarder forwarder() {
        return forwarder;
    }

    /**
     * Stops the agent as if it were killed: its connection to gvproxy closes (the switch port goes away) while
     * the namespace, its TAP (with {@link Builder#staticAddress}) and the guest's sockets stay.
     */
    public void stopAgent() {
        forwarder.close();
    }

    /** Starts a new agent with the same options after {@link #stopAgent} (needs {@link Builder#staticAddress}). */
    public void restartAgent(Duration timeout) throws IOException, InterruptedException {
        forwarder = Gvforwarder.start(forwarder.options());
        if (!forwarder.awaitRunning(timeout)) {
            throw new IOException("gvforwarder-java did not reconnect within " + timeout + ": " + forwarder.lastError());
        }
    }

    /** @return {@code /etc/netns/NAME/resolv.conf} when this guest manages DNS settings, else {@code null} */
    public Path resolvConf() {
        return etcNetnsDir == null ? null : etcNetnsDir.resolve("resolv.conf");
    }

    /** Runs {@code cmd} inside the namespace with {@link #EXEC_TIMEOUT}. */
    public ExecResult exec(String... cmd) throws IOException, InterruptedException {
        return exec(EXEC_TIMEOUT, cmd);
    }

    /** Runs {@code cmd} inside the namespace ({@code ip netns exec}); kills it (by PID, with children) on timeout. */
    public ExecResult exec(Duration timeout, String... cmd) throws IOException, InterruptedException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(Arrays.asList(cmd));
        Process p = new ProcessBuilder(full).start();
        synchronized (started) {
            started.add(p);
        }
        try {
            p.getOutputStream().close();
            CompletableFuture<byte[]> out = drain(p.getInputStream());
            CompletableFuture<byte[]> err = drain(p.getErrorStream());
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                kill(p.toHandle());
                p.waitFor(5, TimeUnit.SECONDS);
                return new ExecResult(-1, text(out), text(err) + "\n[killed after " + timeout + "]");
            }
            return new ExecResult(p.exitValue(), text(out), text(err));
        } finally {
            synchronized (started) {
                started.remove(p);
            }
        }
    }

    /** Starts a long-running command inside the namespace; it is killed by {@link #close}. */
    public Process spawn(String... cmd) throws IOException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(Arrays.asList(cmd));
        Process p = new ProcessBuilder(full).redirectErrorStream(true).start();
        synchronized (started) {
            started.add(p);
        }
        return p;
    }

    private static CompletableFuture<byte[]> drain(InputStream in) {
        CompletableFuture<byte[]> f = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try (in) {
                ByteArrayOutputStream b = new ByteArrayOutputStream();
                in.transferTo(b);
                f.complete(b.toByteArray());
            } catch (IOException e) {
                f.complete(new byte[0]);
            }
        });
        return f;
    }

    private static String text(CompletableFuture<byte[]> f) {
        try {
            return new String(f.get(5, TimeUnit.SECONDS), StandardCharsets.UTF_8);
        } catch (Exception e) {
            return "";
        }
    }

    /**
     * Polls {@code condition} every 50 ms until it holds.
     *
     * @throws AssertionError with {@code what} and {@code diagnostics} on timeout
     */
    public static void await(Duration timeout, String what, BooleanSupplier condition, Supplier<String> diagnostics) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() >= deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what + "\n"
                        + diagnostics.get());
            }
            try {
                Thread.sleep(50); // poll interval of a bounded condition wait
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what);
            }
        }
    }

    private static final Pattern INET = Pattern.compile("inet (\\d+\\.\\d+\\.\\d+\\.\\d+)/(\\d+)");

    /** @return the TAP's first IPv4 address ({@code a.b.c.d}), or {@code null} */
    public String ipv4Address() {
        try {
            ExecResult r = exec(Duration.ofSeconds(10), "ip", "-4", "addr", "show", "dev", iface);
            Matcher m = INET.matcher(r.stdout());
            return r.ok() && m.find() ? m.group(1) : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** Waits until the TAP has an IPv4 address (e.g. from DHCP) and returns it. */
    public String awaitAddress(Duration timeout) {
        String[] addr = new String[1];
        await(timeout, "an IPv4 address on " + iface + " in " + name,
                () -> (addr[0] = ipv4Address()) != null, this::diagnostics);
        return addr[0];
    }

    /** @return interfaces, addresses, routes and the agent's state, for failure messages */
    public String diagnostics() {
        StringBuilder b = new StringBuilder("netns ").append(name).append(":\n");
        for (String[] cmd : new String[][] {{"ip", "addr"}, {"ip", "route"}, {"ip", "-6", "route"}, {"ip", "neigh"}}) {
            try {
                b.append(exec(Duration.ofSeconds(10), cmd).stdout());
            } catch (Exception e) {
                b.append(e).append('\n');
            }
        }
        if (forwarder != null) {
            b.append("agent: ").append(forwarder.state()).append(", attempts ").append(forwarder.attempts())
                    .append(", frames out ").append(forwarder.framesToGvproxy()).append(", in ")
                    .append(forwarder.framesFromGvproxy()).append(", last error ").append(forwarder.lastError())
                    .append('\n');
        }
        return b.toString();
    }

    private static String ip(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        cmd.addAll(Arrays.asList(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            kill(p.toHandle());
            throw new IOException("timeout: " + cmd);
        }
        String text = new String(out, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IOException(cmd + " exited " + p.exitValue() + ": " + text);
        }
        return text;
    }

    private static void sysctl(String netns, String setting) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("ip", "netns", "exec", netns, "sysctl", "-q", "-w", setting)
                .redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            kill(p.toHandle());
            throw new IOException("sysctl " + setting + " in " + netns + " failed: "
                    + new String(out, StandardCharsets.UTF_8));
        }
    }

    private static final Pattern INET6_GLOBAL = Pattern.compile("inet6 ([0-9a-f:]+)/(\\d+) scope global");

    /** @return the TAP's first global IPv6 address, or {@code null} */
    public String ipv6GlobalAddress() {
        try {
            ExecResult r = exec(Duration.ofSeconds(10), "ip", "-6", "addr", "show", "dev", iface, "scope", "global");
            Matcher m = INET6_GLOBAL.matcher(r.stdout());
            return r.ok() && m.find() && !r.stdout().contains("tentative") ? m.group(1) : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** Waits until the TAP has a global IPv6 address (e.g. from SLAAC) that passed DAD, and returns it. */
    public String awaitIpv6Address(Duration timeout) {
        String[] addr = new String[1];
        await(timeout, "a global IPv6 address on " + iface + " in " + name,
                () -> (addr[0] = ipv6GlobalAddress()) != null, this::diagnostics);
        return addr[0];
    }

    private static void kill(ProcessHandle h) {
        List<ProcessHandle> kids = h.descendants().toList();
        h.destroyForcibly();
        kids.forEach(ProcessHandle::destroyForcibly);
    }

    /** Tears everything down; safe to call more than once and after a partial start. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<Throwable> problems = new ArrayList<>();
        if (forwarder != null) {
            try {
                forwarder.close();
            } catch (RuntimeException e) {
                problems.add(e);
            }
        }
        if (direct != null) {
            try {
                direct.close();
            } catch (Exception e) {
                problems.add(e);
            }
        }
        synchronized (started) {
            started.forEach(p -> kill(p.toHandle()));
            started.clear();
        }
        if (nsCreated) {
            // Anything still running in the namespace was started by this guest: kill it by PID.
            try {
                for (String pid : ip("netns", "pids", name).split("\\s+")) {
                    if (!pid.isBlank()) {
                        ProcessHandle.of(Long.parseLong(pid.strip())).ifPresent(NetnsGuest::kill);
                    }
                }
            } catch (IOException | RuntimeException e) {
                problems.add(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try {
                ip("netns", "del", name);
            } catch (IOException e) {
                problems.add(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (etcNetnsDir != null) {
            try (var files = Files.list(etcNetnsDir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
                Files.deleteIfExists(etcNetnsDir);
            } catch (IOException e) {
                problems.add(e);
            }
            if (etcNetnsParentCreated) {
                try {
                    Files.deleteIfExists(etcNetnsDir.getParent()); // only if no other namespace uses it meanwhile
                } catch (IOException stillUsed) {
                    // another guest created its directory there: it is no longer ours alone to remove
                }
            }
        }
        if (!problems.isEmpty()) {
            AssertionError e = new AssertionError("teardown of netns guest " + name + " failed");
            problems.forEach(e::addSuppressed);
            throw e;
        }
    }

    /** Starts an agent that attaches namespace {@code netns} to the network at {@code url}. */
    @FunctionalInterface
    public interface AgentStarter {
        Gvforwarder start(String url, String netns) throws IOException, InterruptedException;
    }

    /** Attaches namespace {@code netns}'s interface {@code iface} to a network directly, with no agent. */
    @FunctionalInterface
    public interface TapAttacher {
        AutoCloseable attach(String netns, String iface) throws IOException;
    }

    /** Options of a guest. */
    public static final class Builder {
        private final String url;
        private String iface = "tap0";
        private String mac = Options.DEFAULT_MAC;
        private String staticCidr;
        private String staticGateway;
        private int staticMtu;
        private boolean ipv6Slaac;
        private boolean manageResolvConf;
        private boolean debug;
        private Options.DhcpClientKind dhcpClient = Options.DhcpClientKind.AUTO;
        private Impairment impairOut;
        private Impairment impairIn;
        private Duration startTimeout = Duration.ofSeconds(20);
        private AgentStarter agentStarter;
        private TapAttacher tapAttacher;

        private Builder(String url) {
            this.url = url;
        }

        /**
         * Starts the guest's agent with the caller's code (e.g. an example's attach step) instead of the options
         * this builder assembles; the harness still creates, drives and removes the namespace. The starter must
         * use this builder's {@link #iface} and {@link #mac} and return once attached.
         */
        private boolean offload;

        public Builder attachWith(AgentStarter starter) {
            this.agentStarter = starter;
            return this;
        }

        /**
         * No agent: the network reads the guest's TAP itself ({@code VirtualNetwork.attachTap}); {@code attacher}
         * is called once the TAP is set up, which needs {@link #staticAddress}. The attachment is closed with the
         * guest. {@link #forwarder()} is null then.
         */
        public Builder attachTapDirectly(TapAttacher attacher) {
            this.tapAttacher = attacher;
            return this;
        }

        /** TAP name (default {@code tap0}). */
        public Builder iface(String iface) {
            this.iface = iface;
            return this;
        }

        /** TAP MAC (default gvforwarder's {@code 5a:94:ef:e4:0c:ee}; use distinct MACs for several guests). */
        public Builder mac(String mac) {
            this.mac = mac;
            return this;
        }

        /**
         * Configure the TAP by hand and run the agent with {@code -preexisting}: address {@code cidr} (e.g.
         * {@code 192.168.127.10/24}), no DHCP client.
         */
        public Builder staticAddress(String cidr) {
            this.staticCidr = cidr;
            return this;
        }

        /** With {@link #staticAddress}: also add a default route via this gateway. */
        public Builder staticGateway(String gateway) {
            this.staticGateway = gateway;
            return this;
        }

        /**
         * With {@link #staticAddress}: IPv6 on the TAP configured by the kernel from the gateway's router
         * advertisements (SLAAC; {@code disable_ipv6=0}, {@code accept_ra=2}, {@code autoconf=1}, set before the
         * link comes up), no static IPv6 address. The namespace has no other interface, so its only IPv6 routes
         * are the ones the RA gives, through the gateway.
         */
        public Builder ipv6Slaac(boolean on) {
            this.ipv6Slaac = on;
            return this;
        }

        /** With {@link #staticAddress}: set the TAP MTU (default: the kernel's 1500). */
        public Builder staticMtu(int mtu) {
            this.staticMtu = mtu;
            return this;
        }

        /** Create {@code /etc/netns/NAME/} so the DHCP script writes the guest's resolv.conf there. */
        public Builder manageResolvConf(boolean manage) {
            this.manageResolvConf = manage;
            return this;
        }

        /** Which DHCP client the agent runs (default: gvforwarder's choice). */
        public Builder dhcpClient(Options.DhcpClientKind kind) {
            this.dhcpClient = kind;
            return this;
        }

        /**
         * Impairs the guest's traffic in the agent's pump: {@code out} for frames the guest sends, {@code in} for
         * frames it receives ({@code null} = untouched). This machine has no netem; this is the substitute.
         */
        public Builder impair(Impairment out, Impairment in) {
            this.impairOut = out;
            this.impairIn = in;
            return this;
        }

        /** Agent {@code -debug} (logs every frame). */
        public Builder debug(boolean debug) {
            this.debug = debug;
            return this;
        }

        /** The agent's TAP with checksum/TSO offloads and the virtio-net header framing ({@code -offload}). */
        public Builder offload(boolean offload) {
            this.offload = offload;
            return this;
        }

        /** How long {@link #start} waits for the agent to pump (default 20 s). */
        public Builder startTimeout(Duration timeout) {
            this.startTimeout = timeout;
            return this;
        }

        /** Creates the namespace and starts the agent; on any failure everything created so far is removed. */
        public NetnsGuest start() throws IOException, InterruptedException {
            assumeSupported();
            String name = "gvj-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 24);
            NetnsGuest g = new NetnsGuest(name, iface, mac);
            try {
                ip("netns", "add", name);
                g.nsCreated = true;
                ip("-n", name, "link", "set", "lo", "up");
                if (manageResolvConf) {
                    Path dir = Path.of("/etc/netns", name);
                    g.etcNetnsParentCreated = !Files.exists(dir.getParent());
                    Files.createDirectories(dir);
                    g.etcNetnsDir = dir;
                }
                // Buffers for the largest MTU the stack supports, so jumbo-MTU tests need no extra setting.
                Options o = Options.defaults().mtu(65520).url(url).iface(iface).mac(mac).netns(name).debug(debug)
                        .stopIfExist(List.of()).resolvConf(g.resolvConf()).dhcpClient(dhcpClient)
                        .impair(impairOut, impairIn).offload(offload);
                if (staticCidr != null) {
                    ip("-n", name, "tuntap", "add", "dev", iface, "mode", "tap");
                    ip("-n", name, "link", "set", iface, "address", mac);
                    if (staticMtu > 0) {
                        ip("-n", name, "link", "set", iface, "mtu", Integer.toString(staticMtu));
                    }
                    ip("-n", name, "addr", "add", staticCidr, "dev", iface);
                    if (ipv6Slaac) {
                        for (String kv : new String[] {"disable_ipv6=0", "accept_ra=2", "autoconf=1"}) {
                            sysctl(name, "net.ipv6.conf." + iface + "." + kv);
                        }
                    }
                    ip("-n", name, "link", "set", iface, "up");
                    if (staticGateway != null) {
                        ip("-n", name, "route", "add", "default", "via", staticGateway, "dev", iface);
                    }
                    o.preexisting(true);
                }
                if (tapAttacher != null) {
                    if (staticCidr == null) {
                        throw new IllegalStateException("a TAP attached directly needs staticAddress: no agent runs DHCP");
                    }
                    g.direct = tapAttacher.attach(name, iface);
                    return g;
                }
                g.forwarder = agentStarter != null ? agentStarter.start(url, name) : Gvforwarder.start(o);
                if (!g.forwarder.awaitRunning(startTimeout)) {
                    throw new IOException("gvforwarder-java did not connect to " + url + " within " + startTimeout
                            + ": " + g.forwarder.lastError());
                }
                return g;
            } catch (IOException | InterruptedException | RuntimeException | Error e) {
                try {
                    g.close();
                } catch (AssertionError teardown) {
                    e.addSuppressed(teardown);
                }
                throw e;
            }
        }
    }
}
