package dev.gvproxy.agent;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Runs the guest's DHCP client on the TAP, as gvforwarder does: {@code udhcpc -f -q -i IFACE -v} if {@code udhcpc}
 * is on PATH (else busybox's applet), otherwise {@code dhclient -4 -d -v IFACE}; inside {@code ip netns exec NS}
 * when a namespace is given.
 *
 * <p>Unlike gvforwarder, the client always gets our own script ({@code -s}/{@code -sf}), because busybox's default
 * script does not exist on many distributions and Debian's dhclient-script would rewrite the host's
 * {@code /etc/resolv.conf} even when run for a namespace. The script writes nameservers only to
 * {@link Options#resolvConf()}.
 */
final class DhcpClient implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger("gvforwarder");

    private final Process process;
    private final List<Path> tempFiles;

    private DhcpClient(Process process, List<Path> tempFiles) {
        this.process = process;
        this.tempFiles = tempFiles;
    }

    /** Extracts the lease script to a private temp file (deleted by the caller). */
    static Path extractScript() throws IOException {
        Path f = Files.createTempFile("gvforwarder-dhcp-", ".sh",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        try (InputStream in = DhcpClient.class.getResourceAsStream("dhcp-script.sh")) {
            if (in == null) {
                throw new IOException("resource dhcp-script.sh missing from the jar");
            }
            Files.write(f, in.readAllBytes());
        }
        return f;
    }

    /** Builds the command line (without the {@code ip netns exec} prefix); visible for tests. */
    static List<String> command(Options.DhcpClientKind kind, String iface, Path script, Path resolvConf,
            Path leaseDir) {
        List<String> cmd = new ArrayList<>();
        Path udhcpc = kind == Options.DhcpClientKind.DHCLIENT ? null : Executables.find("udhcpc");
        Path busybox = udhcpc == null && kind != Options.DhcpClientKind.DHCLIENT ? Executables.find("busybox") : null;
        if (udhcpc != null || (busybox != null && Executables.busyboxHas(busybox, "udhcpc"))) {
            if (udhcpc != null) {
                cmd.add(udhcpc.toString());
            } else {
                cmd.add(busybox.toString());
                cmd.add("udhcpc");
            }
            cmd.addAll(List.of("-f", "-q", "-i", iface, "-v", "-s", script.toString()));
            return cmd;
        }
        Path dhclient = kind == Options.DhcpClientKind.UDHCPC ? null : Executables.find("dhclient");
        if (dhclient == null) {
            return null;
        }
        cmd.addAll(List.of(dhclient.toString(), "-4", "-d", "-v", "-sf", script.toString(),
                "-lf", leaseDir.resolve("dhclient.leases").toString(),
                "-pf", leaseDir.resolve("dhclient.pid").toString(),
                "-e", "GVFORWARDER_RESOLV_CONF=" + (resolvConf == null ? "" : resolvConf.toString()),
                iface));
        return cmd;
    }

    /** Starts the client; its output goes to the log. */
    static DhcpClient start(Options.DhcpClientKind kind, String iface, String netns, Path script, Path resolvConf)
            throws IOException {
        Path leaseDir = Files.createTempDirectory("gvforwarder-dhcp-");
        List<String> cmd = command(kind, iface, script, resolvConf, leaseDir);
        if (cmd == null) {
            Files.deleteIfExists(leaseDir);
            throw new IOException("no DHCP client found: install busybox (udhcpc) or isc-dhcp-client (dhclient)");
        }
        List<String> full = new ArrayList<>();
        if (netns != null) {
            full.addAll(List.of(Executables.ipCommand(), "netns", "exec", netns));
        }
        full.addAll(cmd);
        ProcessBuilder pb = new ProcessBuilder(full).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.put("GVFORWARDER_RESOLV_CONF", resolvConf == null ? "" : resolvConf.toString());
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            Files.deleteIfExists(leaseDir);
            throw e;
        }
        p.getOutputStream().close();
        String name = Path.of(cmd.getFirst()).getFileName().toString();
        Thread.ofVirtual().name("dhcp-output-" + p.pid()).start(() -> LineLogger.copy(p.getInputStream(), name));
        LOG.info("started DHCP client (pid " + p.pid() + "): " + String.join(" ", full));
        return new DhcpClient(p, List.of(leaseDir.resolve("dhclient.leases"), leaseDir.resolve("dhclient.pid"),
                leaseDir));
    }

    Process process() {
        return process;
    }

    long pid() {
        return process.pid();
    }

    /** Kills the client and whatever it started (script runs), by PID, then removes its files. */
    @Override
    public void close() {
        List<ProcessHandle> kids = process.descendants().toList();
        process.destroy();
        kids.forEach(ProcessHandle::destroy);
        try {
            if (!process.waitFor(3, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(3, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        kids.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
        for (Path f : tempFiles) {
            try {
                Files.deleteIfExists(f);
            } catch (IOException e) {
                LOG.fine("cannot delete " + f + ": " + e);
            }
        }
    }
}
