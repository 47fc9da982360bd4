package dev.gvproxy.agent;

import dev.gvproxy.platform.cli.Version;
import dev.gvproxy.platform.cli.LogSetup;
import dev.gvproxy.platform.cli.GoFlagSet;
import dev.gvproxy.transport.tap.Netns;
import java.io.IOException;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;
import sun.misc.Signal;

/**
 * {@code gvforwarder-java}: gvforwarder's command line (spec 2.1, Go flag syntax) plus {@code -netns NAME}.
 *
 * <p>Exit status: 0 after {@code -version}, {@code -h}, a {@code -stop-if-exist} match, or SIGINT/SIGTERM; 2 for
 * flag syntax errors; 1 for unusable values (URL, MAC, MTU, a missing namespace).
 */
public final class GvforwarderMain {
    private static final Logger LOG = Logger.getLogger("gvforwarder");

    private GvforwarderMain() {}

    /** gvforwarder's flags, with its defaults and usage texts. */
    static final class Flags {
        final GoFlagSet flags = new GoFlagSet("gvforwarder-java");
        final GoFlagSet.StringFlag url = flags.string("url", Options.DEFAULT_URL, "url where the tap send packets");
        final GoFlagSet.StringFlag iface = flags.string("iface", "tap0", "tap interface name");
        final GoFlagSet.StringFlag stopIfExist = flags.string("stop-if-exist", "eth0,ens3,enp0s1",
                "stop if one of these interfaces exists at startup");
        final GoFlagSet.StringFlag mac = flags.string("mac", Options.DEFAULT_MAC, "mac address");
        final GoFlagSet.BoolFlag debug = flags.bool("debug", false, "debug");
        final GoFlagSet.IntFlag mtu = flags.integer("mtu", 4000, "mtu");
        final GoFlagSet.BoolFlag offload = flags.bool("offload", false,
                "TAP with checksum/TSO offloads and the virtio-net header framing (gvproxy-java only)");
        final GoFlagSet.BoolFlag version = flags.bool("version", false, "print version");
        final GoFlagSet.BoolFlag preexisting = flags.bool("preexisting", false,
                "use preexisting/preconfigured TAP interface");
        final GoFlagSet.StringFlag netns = flags.string("netns", "",
                "open the TAP and run the DHCP client in this network namespace (/var/run/netns/NAME)");
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Parses, validates and runs until a signal; returns the exit status. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        Flags f = new Flags();
        GoFlagSet.ParseResult r = f.flags.parse(args);
        if (!r.ok()) {
            err.print(r.stderr());
            return r.exitCode();
        }
        if (f.version.get()) {
            out.println("gvforwarder version " + Version.VERSION);
            return 0;
        }
        try {
            LogSetup.configure(f.debug.get(), null);
        } catch (IOException e) {
            err.println(e.getMessage());
            return 1;
        }
        Options o;
        try {
            o = options(f);
        } catch (IllegalArgumentException e) {
            LOG.severe(e.getMessage());
            return 1;
        }
        if (o.netns() != null && !Netns.exists(o.netns())) {
            LOG.severe("network namespace " + o.netns() + " does not exist (" + Netns.path(o.netns()) + ")");
            return 1;
        }
        try {
            String blocker = preventingInterface(o);
            if (blocker != null) {
                LOG.info("interface " + blocker + " prevented this program to run");
                return 0;
            }
        } catch (IOException e) {
            LOG.severe("cannot list interfaces: " + e.getMessage());
            return 1;
        }
        Gvforwarder g;
        try {
            g = Gvforwarder.start(o);
        } catch (IOException e) {
            LOG.severe(e.getMessage());
            return 1;
        }
        // Other ways out (SIGHUP, System.exit elsewhere) still kill the DHCP client and remove the TAP.
        Runtime.getRuntime().addShutdownHook(new Thread(g::close, "gvforwarder-shutdown"));
        CountDownLatch stop = new CountDownLatch(1);
        for (String sig : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(sig), s -> stop.countDown());
        }
        try {
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LOG.info("gvforwarder exiting: signal caught");
        g.close(); // kills the DHCP client and removes the TAP
        return 0;
    }

    static Options options(Flags f) {
        long mtu = f.mtu.get();
        if (mtu < 1 || mtu > 65521) {
            throw new IllegalArgumentException("invalid -mtu " + mtu + ": must be between 1 and 65521");
        }
        if (!f.mac.get().isEmpty()) {
            dev.gvproxy.transport.tap.TapDevice.parseMac(f.mac.get());
        }
        return Options.defaults()
                .url(f.url.get())
                .iface(f.iface.get())
                .stopIfExist(splitNames(f.stopIfExist.get()))
                .mac(f.mac.get())
                .mtu((int) mtu)
                .preexisting(f.preexisting.get())
                .debug(f.debug.get())
                .offload(f.offload.get())
                .netns(f.netns.get());
    }

    static List<String> splitNames(String csv) {
        return Arrays.stream(csv.split(",", -1)).filter(s -> !s.isEmpty()).toList();
    }

    /** @return the first {@code -stop-if-exist} interface present (in the target namespace), or {@code null} */
    static String preventingInterface(Options o) throws IOException {
        for (String name : o.stopIfExist()) {
            if (Netns.interfaceExists(o.netns(), name)) {
                return name;
            }
        }
        return null;
    }
}
