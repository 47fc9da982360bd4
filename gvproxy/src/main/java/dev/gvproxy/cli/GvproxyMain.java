package dev.gvproxy.cli;

import dev.gvproxy.VirtualNetwork;
import dev.gvproxy.cli.flags.GoFlagSet;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.transport.Listener;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Level;
import java.util.logging.Logger;
import sun.misc.Signal;

/**
 * {@code gvproxy-java}: gvproxy's command line (spec section 6) over a {@link VirtualNetwork}.
 *
 * <p>Start-up failures exit 1, flag syntax errors 2, {@code -h} 0; SIGINT/SIGTERM close every listener
 * (removing the unix sockets gvproxy-java created) and the pid file, then exit 0. A runtime failure of
 * the network exits 1 (gvproxy exits 0 there, which hides failures from its callers).
 */
public final class GvproxyMain {
    private static final Logger LOG = Logger.getLogger("gvproxy");
    public static final String VERSION = "v0.1.0-java";

    private GvproxyMain() {}

    /** Parsed command line; field names follow gvproxy's flags. */
    static final class Options {
        final GoFlagSet flags = new GoFlagSet("gvproxy-java");
        final GoFlagSet.BoolFlag version = flags.bool("version", false, "Print version information");
        final GoFlagSet.StringFlag config = flags.string("config", "", "Path to the configuration file");
        final GoFlagSet.StringListFlag listen = flags.stringList("listen", "control endpoint");
        final GoFlagSet.StringFlag services = flags.string("services", "", "Exposes the same HTTP API as the --listen flag, without the /connect endpoint");
        final GoFlagSet.StringFlag listenQemu = flags.string("listen-qemu", "", "Socket to be used by Qemu");
        final GoFlagSet.StringFlag listenBess = flags.string("listen-bess", "", "unixpacket socket to be used by User-Mode Linux");
        final GoFlagSet.StringFlag listenVfkit = flags.string("listen-vfkit", "", "unixgram socket to be used by vfkit");
        final GoFlagSet.StringFlag listenVpnkit = flags.string("listen-vpnkit", "", "VPNKit socket to be used by Hyperkit");
        final GoFlagSet.StringFlag listenStdio = flags.string("listen-stdio", "", "accept stdio pipe");
        final GoFlagSet.IntFlag mtu = flags.integer("mtu", 0, "Set the MTU (default 1500)");
        final GoFlagSet.StringFlag subnet = flags.string("subnet", "192.168.127.0/24", "Set the subnet of the virtual network");
        final GoFlagSet.StringFlag gatewayIp = flags.string("gatewayIP", "", "Set the gateway IP address (default: first usable address of the subnet)");
        final GoFlagSet.StringFlag deviceIp = flags.string("deviceIP", "", "Set the device IP address (default: second usable address of the subnet)");
        final GoFlagSet.StringFlag hostIp = flags.string("hostIP", "", "Set the host IP address (default: last usable address of the subnet)");
        final GoFlagSet.IntFlag sshPort = flags.integer("ssh-port", 2222, "Port to access the guest virtual machine. Must be between 1024 and 65535");
        final GoFlagSet.StringListFlag forwardSock = flags.stringList("forward-sock", "Forwards a unix socket to the guest virtual machine over SSH");
        final GoFlagSet.StringListFlag forwardDest = flags.stringList("forward-dest", "Forwards a unix socket to the guest virtual machine over SSH");
        final GoFlagSet.StringListFlag forwardUser = flags.stringList("forward-user", "SSH user to use for unix socket forward");
        final GoFlagSet.StringListFlag forwardIdentity = flags.stringList("forward-identity", "Path to SSH identity key for forwarding");
        final GoFlagSet.StringFlag pcap = flags.string("pcap", "", "Capture network traffic to a pcap file");
        final GoFlagSet.StringFlag pidFile = flags.string("pid-file", "", "Generate a file with the PID in it");
        final GoFlagSet.StringFlag logFile = flags.string("log-file", "", "Output log messages (logrus) to a given file path");
        final GoFlagSet.StringFlag notification = flags.string("notification", "", "Notification socket path");
        final GoFlagSet.BoolFlag debug = flags.bool("debug", false, "Print debug info");
        final GoFlagSet.BoolFlag ec2MetadataAccess = flags.bool("ec2-metadata-access", false, "Permits access to EC2 Metadata Service (TCP only)");
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs until a signal or a fatal error; returns the exit status. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        Options o = new Options();
        GoFlagSet.ParseResult r = o.flags.parse(args);
        if (!r.ok()) {
            err.print(r.stderr());
            return r.exitCode();
        }
        if (o.version.get()) {
            out.println("gvproxy version " + VERSION);
            return 0;
        }
        try {
            LogSetup.configure(o.debug.get(), o.logFile.get().isEmpty() ? null : Path.of(o.logFile.get()));
        } catch (IOException e) {
            err.println("unable to open log file " + o.logFile.get() + ": " + e.getMessage());
            return 1;
        }
        Running running;
        try {
            running = start(o);
        } catch (StartupException e) {
            LOG.severe(e.getMessage());
            return 1;
        }
        CountDownLatch stop = new CountDownLatch(1);
        int[] status = {0};
        for (String sig : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(sig), s -> {
                LOG.info("gvproxy exiting: signal caught");
                stop.countDown();
            });
        }
        running.failure.whenComplete((v, t) -> {
            LOG.severe("gvproxy exiting: " + (t != null ? t.getMessage() : "transport ended"));
            status[0] = 1;
            stop.countDown();
        });
        try {
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        running.close();
        return status[0];
    }

    static final class StartupException extends Exception {
        StartupException(String message) {
            super(message);
        }
    }

    /** What start-up created, so shutdown can undo it. */
    static final class Running implements AutoCloseable {
        final VirtualNetwork network;
        final List<Listener> listeners = new ArrayList<>();
        final CompletableFuture<Void> failure = new CompletableFuture<>();
        Path pidFile;

        Running(VirtualNetwork network) {
            this.network = network;
        }

        @Override
        public void close() {
            network.close();
            if (pidFile != null) {
                try {
                    Files.deleteIfExists(pidFile);
                } catch (IOException e) {
                    LOG.warning("cannot remove pid file " + pidFile + ": " + e.getMessage());
                }
            }
        }
    }

    static StackConfig config(Options o) throws StartupException {
        StackConfig.Builder b = StackConfig.builder().subnet(o.subnet.get());
        try {
            if (!o.gatewayIp.get().isEmpty()) {
                b.gatewayIp(o.gatewayIp.get());
            }
            if (!o.deviceIp.get().isEmpty()) {
                b.deviceIp(o.deviceIp.get());
            }
            if (!o.hostIp.get().isEmpty()) {
                b.hostIp(o.hostIp.get());
            }
            if (o.mtu.get() != 0) {
                b.mtu(o.mtu.getInt());
            }
            return b.build();
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            throw new StartupException(m.startsWith("invalid CIDR") ? "failed to parse subnet: " + m : m);
        }
    }

    static Running start(Options o) throws StartupException {
        if (!o.config.get().isEmpty()) {
            throw new StartupException("-config is not supported yet by gvproxy-java");
        }
        if (!o.listenBess.get().isEmpty() || !o.listenVpnkit.get().isEmpty()) {
            throw new StartupException("-listen-bess and -listen-vpnkit are not supported yet by gvproxy-java");
        }
        if (!o.forwardSock.get().isEmpty() || !o.notification.get().isEmpty()) {
            LOG.warning("-forward-sock and -notification are not supported yet by gvproxy-java; ignored");
        }
        long ssh = o.sshPort.get();
        if (ssh != -1 && (ssh < 1024 || ssh > 65535)) {
            throw new StartupException("ssh-port value must be between 1024 and 65535");
        }
        if (!o.listenVfkit.get().isEmpty() && !o.listenVfkit.get().startsWith("unixgram://")) {
            throw new StartupException("vfkit listen address must be unixgram:// address");
        }
        StackConfig config = config(o);
        VirtualNetwork.Builder nb = VirtualNetwork.builder().config(config);
        if (!o.pcap.get().isEmpty()) {
            nb.pcap(Path.of(o.pcap.get()));
        }
        VirtualNetwork net;
        try {
            net = nb.build();
        } catch (IOException e) {
            throw new StartupException("cannot create the virtual network: " + e.getMessage());
        }
        Running run = new Running(net);
        try {
            LOG.info("gvproxy version " + VERSION);
            LOG.info("waiting for clients...");
            for (String uri : o.listen.get()) {
                run.listeners.add(net.listenApi(uri));
                LOG.info("listening " + uri);
            }
            if (!o.services.get().isEmpty()) {
                run.listeners.add(net.listenApi(o.services.get()));
                LOG.info("listening " + o.services.get());
            }
            if (!o.listenQemu.get().isEmpty()) {
                run.listeners.add(net.listenQemu(o.listenQemu.get()));
                LOG.info("listening qemu " + o.listenQemu.get());
            }
            if (!o.listenVfkit.get().isEmpty()) {
                run.listeners.add(net.listenDatagram(o.listenVfkit.get()));
                LOG.info("listening vfkit " + o.listenVfkit.get());
            }
            if (!o.listenStdio.get().isEmpty()) {
                Listener l = net.attachStdio();
                run.listeners.add(l);
                // stdio is one guest for the process's life: its end ends gvproxy, as upstream.
                l.closeFuture().whenComplete((v, t) -> run.failure.completeExceptionally(
                        new IOException("stdio transport ended")));
            }
            if (!o.pidFile.get().isEmpty()) {
                run.pidFile = Path.of(o.pidFile.get());
                Files.writeString(run.pidFile, Long.toString(ProcessHandle.current().pid()), StandardCharsets.US_ASCII);
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.FINE, "start-up failed", e);
            run.close();
            throw new StartupException("cannot listen: " + e.getMessage());
        }
        return run;
    }
}
