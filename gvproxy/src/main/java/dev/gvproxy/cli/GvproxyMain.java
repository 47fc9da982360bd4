package dev.gvproxy.cli;

import dev.gvproxy.platform.cli.LogSetup;
import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.api.ApiContext;
import dev.gvproxy.api.ApiHandler;
import dev.gvproxy.api.ApiServer;
import dev.gvproxy.model.InMemoryDnsZones;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.model.PortForwardRegistry;
import dev.gvproxy.model.PortForwards;
import dev.gvproxy.api.StateStore;
import dev.gvproxy.model.Tunneler;
import dev.gvproxy.platform.cli.GoFlagSet;
import dev.gvproxy.config.CliArgs;
import dev.gvproxy.config.ConfigException;
import dev.gvproxy.config.GvproxyConfig;
import dev.gvproxy.ssh.SshSocketForwards;
import dev.gvproxy.ssh.SshTunnelOpener;
import dev.gvproxy.config.YamlConfig;
import dev.gvproxy.notify.Notification;
import dev.gvproxy.notify.NotificationSender;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.MacAddress;
import dev.gvproxy.transport.Framing;
import dev.gvproxy.transport.Listener;
import dev.gvproxy.transport.Transports;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import sun.misc.Signal;

/**
 * {@code gvproxy-java}: gvproxy's command line (spec section 6) over a {@link VirtualNetwork}.
 *
 * <p>Exit status: flag syntax errors 2 (Go {@code flag}), {@code -h} and {@code -version} 0, start-up failures
 * (configuration, validation, a listener that cannot bind) 1, a runtime failure 1 (gvproxy exits 0 there, which
 * hides failures from its callers), SIGINT/SIGTERM 0 after closing every listener (removing the unix sockets
 * gvproxy-java created) and the pid file.
 *
 * <p>Start-up order (spec 1.12, with the {@code ready} fix): flags, configuration, log file, validation, pid file,
 * virtual network and configured forwards, {@code -listen}, {@code -services}, vpnkit, qemu, vfkit, stdio, then
 * the {@code ready} notification.
 */
public final class GvproxyMain {
    private static final Logger LOG = Logger.getLogger("gvproxy");
    public static final String VERSION = dev.gvproxy.platform.cli.Version.VERSION;

    private GvproxyMain() {}

    /** Parsed command line; names, defaults and usage texts follow gvproxy's flags. */
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
        final GoFlagSet.StringFlag listenTap = flags.string("listen-tap", "", "TAP interface served without a guest agent: tap://IFACE[?netns=NAME&offload=true] (Linux, CAP_NET_ADMIN)");
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
        final GoFlagSet.StringFlag apiTokenFile = flags.string("api-token-file", "", "File holding the bearer token the in-VM API requires (at least 32 characters; or set GVISOR_API_TOKEN)");
        final GoFlagSet.BoolFlag guestApiStrict = flags.bool("guest-api-strict", false, "Guests may expose only loopback addresses and ports 1024-65535");
        final GoFlagSet.StringFlag guestUnixDir = flags.string("guest-unix-dir", "", "The only directory guests may create unix socket forwards in (default: none)");
        final GoFlagSet.StringFlag stateDir = flags.string("state-dir", "", "Directory where API-created forwards and DNS zones are kept across restarts");
        final GoFlagSet.StringListFlag limit = flags.stringList("limit", "Resource limit name=value, e.g. sockets-per-guest=2000 or tcp-memory=64MiB (repeatable; see the README)");
        // Issue 12: library options reachable from the command line (README "Command-line options beyond gvproxy").
        final GoFlagSet.StringFlag guestApi = flags.string("guest-api", "", "The in-VM API on the gateway: on, read-only (listing only) or off (default on)");
        final GoFlagSet.BoolFlag preserveClientAddress = flags.bool("preserve-client-address", false, "Port forwards show the guest the real client address instead of the gateway's");
        final GoFlagSet.IntFlag tcpMaxInFlight = flags.integer("tcp-max-in-flight", 0, "Host TCP connects in flight for the network (default 512; same as -limit connects-in-flight=N)");
        final GoFlagSet.StringFlag tcpConnectTimeout = flags.string("tcp-connect-timeout", "", "Host TCP connect timeout, e.g. 30s (default 30s; same as -limit connect-timeout=D)");
        final GoFlagSet.StringFlag busyPoll = flags.string("busy-poll", "", "Keep polling this long after traffic before sleeping, e.g. 50us: more connects/s and lower latency for more CPU (default 0: off; at most 10ms)");

        CliArgs cliArgs() {
            CliArgs c = new CliArgs();
            c.config = config.get();
            c.listen = new ArrayList<>(listen.get());
            c.services = services.get();
            c.listenQemu = listenQemu.get();
            c.listenBess = listenBess.get();
            c.listenVfkit = listenVfkit.get();
            c.listenVpnkit = listenVpnkit.get();
            c.listenStdio = listenStdio.get();
            c.listenTap = listenTap.get();
            c.mtu = mtu.get();
            c.subnet = subnet.get();
            c.gatewayIp = gatewayIp.get();
            c.deviceIp = deviceIp.get();
            c.hostIp = hostIp.get();
            c.sshPort = sshPort.get();
            c.sshPortSet = sshPort.isSet();
            c.forwardSock = new ArrayList<>(forwardSock.get());
            c.forwardDest = new ArrayList<>(forwardDest.get());
            c.forwardUser = new ArrayList<>(forwardUser.get());
            c.forwardIdentity = new ArrayList<>(forwardIdentity.get());
            c.pcap = pcap.get();
            c.pidFile = pidFile.get();
            c.logFile = logFile.get();
            c.notification = notification.get();
            c.debug = debug.get();
            c.ec2MetadataAccess = ec2MetadataAccess.get();
            c.apiTokenFile = apiTokenFile.get();
            c.guestApiStrict = guestApiStrict.get();
            c.guestUnixDir = guestUnixDir.get();
            c.stateDir = stateDir.get();
            c.limit = new ArrayList<>(limit.get());
            c.guestApi = guestApi.get();
            c.preserveClientAddress = preserveClientAddress.get();
            c.tcpMaxInFlight = tcpMaxInFlight.get();
            c.tcpConnectTimeout = tcpConnectTimeout.get();
            c.busyPoll = busyPoll.get();
            return c;
        }
    }

    public static void main(String[] args) {
        int status = run(args, System.out, System.err, running -> {
            for (String sig : new String[] {"TERM", "INT"}) {
                Signal.handle(new Signal(sig), s -> running.stop("signal caught"));
            }
        });
        System.exit(status);
    }

    /** Runs until a signal or a fatal error; returns the exit status. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, out, err, r -> {});
    }

    /**
     * Runs until {@link Running#stop} (signals call it) or a fatal error; returns the exit status.
     *
     * @param onStarted told once everything listens and {@code ready} was queued (tests stop it from there)
     */
    public static int run(String[] args, PrintStream out, PrintStream err, Consumer<Running> onStarted) {
        if (args.length > 0 && args[0].equals("flows")) { // the live flow table of a running instance (issue 12)
            return FlowsCommand.run(java.util.Arrays.copyOfRange(args, 1, args.length), out, err);
        }
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
        CliArgs cli = o.cliArgs();
        try {
            LogSetup.configure(cli.debug, null);
        } catch (IOException e) {
            err.println(e.getMessage());
            return 1;
        }
        GvproxyConfig cfg;
        try {
            YamlConfig yaml = cli.config.isEmpty() ? null : YamlConfig.load(Path.of(cli.config));
            cfg = GvproxyConfig.resolve(cli, yaml, Path.of("/etc/resolv.conf"));
        } catch (ConfigException e) {
            LOG.severe(e.getMessage());
            return 1;
        }
        if (!cfg.logFile.isEmpty()) {
            try {
                LogSetup.configure(cfg.debug, Path.of(cfg.logFile));
            } catch (IOException | RuntimeException e) {
                LOG.severe("unable to open log file " + cfg.logFile);
                return 1;
            }
        } else if (cfg.debug != cli.debug) {
            try {
                LogSetup.configure(cfg.debug, null);
            } catch (IOException e) {
                return 1;
            }
        }
        if (cfg.debug) {
            LOG.fine("gvproxy version " + VERSION);
            LOG.fine("os: " + System.getProperty("os.name") + ", arch: " + System.getProperty("os.arch")
                    + ", java: " + Runtime.version());
            LOG.fine("command line: gvproxy-java " + String.join(" ", args));
        }
        for (String w : cfg.warnings) {
            LOG.warning(w);
        }
        try {
            cfg.validate();
            cfg.addCliSshForwards(cli);
        } catch (ConfigException e) {
            LOG.severe(e.getMessage());
            return 1;
        }
        Running running;
        try {
            running = start(cfg);
        } catch (StartupException e) {
            LOG.severe(e.getMessage());
            return 1;
        }
        onStarted.accept(running);
        String why = running.awaitStop();
        LOG.info("gvproxy exiting: " + why);
        running.close();
        return running.status;
    }

    static final class StartupException extends Exception {
        StartupException(String message) {
            super(message);
        }
    }

    /** What start-up created, so shutdown can undo it. */
    public static final class Running implements AutoCloseable {
        final VirtualNetwork network;
        final GvproxyConfig config;
        final NotificationSender notifications;
        final List<Listener> listeners = new ArrayList<>();
        final CountDownLatch stopped = new CountDownLatch(1);
        PortForwardRegistry forwards;
        SshSocketForwards sshForwards;
        PersistentState state;
        ApiContext api;
        volatile String reason = "stopped";
        volatile int status;
        Path pidFile;

        Running(VirtualNetwork network, GvproxyConfig config, NotificationSender notifications) {
            this.network = network;
            this.config = config;
            this.notifications = notifications;
        }

        /** Asks for a clean shutdown (exit status 0), e.g. on SIGTERM. */
        public void stop(String why) {
            if (stopped.getCount() > 0) {
                reason = why;
                stopped.countDown();
            }
        }

        /** A runtime failure: shut down with exit status 1. */
        void fail(String why) {
            if (stopped.getCount() > 0) {
                status = 1;
                reason = why;
                stopped.countDown();
            }
        }

        String awaitStop() {
            try {
                stopped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return reason;
        }

        public VirtualNetwork network() {
            return network;
        }

        public List<Listener> listeners() {
            return List.copyOf(listeners);
        }

        @Override
        public void close() {
            for (Listener l : listeners) {
                try {
                    l.close();
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "closing listener", e);
                }
            }
            if (sshForwards != null) {
                sshForwards.close();
            }
            if (state != null) {
                state.close();
            }
            if (forwards != null) {
                try {
                    network.internals().run(forwards::closeAll);
                } catch (RuntimeException e) {
                    LOG.log(Level.FINE, "closing forwards", e);
                }
            }
            network.close();
            if (pidFile != null) {
                try {
                    Files.deleteIfExists(pidFile);
                } catch (IOException e) {
                    LOG.warning("cannot remove pid file " + pidFile + ": " + e.getMessage());
                }
            }
            notifications.drainAndClose(1000);
        }
    }

    /**
     * The services behind the API: the network's DHCP leases, DNS zones, and the stack's active TCP open into
     * the guests, which /tunnel and TCP/unix port forwards carry their traffic over.
     */
    record Services(dev.gvproxy.model.LeaseSource leases, dev.gvproxy.model.LeaseSource leases6,
            dev.gvproxy.model.LeaseSource neighbors6, dev.gvproxy.model.DnsZones dns, Tunneler tunneler) {
        static Services of(VirtualNetwork net) {
            dev.gvproxy.model.LeaseSource leases = net.internals().dhcp() != null ? net.internals().dhcp()::leases : gatewayOnly(net.config());
            var stack = net.internals().stack();
            var v6 = net.internals().dhcpv6();
            dev.gvproxy.model.LeaseSource leases6 = v6 != null ? () -> v6.leases(stack.now())
                    : dev.gvproxy.model.LeaseSource.none();
            dev.gvproxy.model.LeaseSource neighbors6 = () -> stack.neighborCache().snapshot(stack.now());
            dev.gvproxy.model.DnsZones dns = net.internals().dns() != null ? new DnsServerZones(net.internals().dns()) : new InMemoryDnsZones();
            return new Services(leases, leases6, neighbors6, dns, net.internals().tunneler());
        }

        private static dev.gvproxy.model.LeaseSource gatewayOnly(StackConfig sc) {
            Map<String, String> leases = new LinkedHashMap<>();
            leases.put(Ipv4Address.format(sc.gatewayIp()), MacAddress.format(sc.gatewayMac()));
            sc.dhcpStaticLeases().forEach((ip, mac) -> leases.put(Ipv4Address.format(ip), MacAddress.format(mac)));
            return () -> leases;
        }
    }

    /** The API's zone model over the DNS server's. */
    record DnsServerZones(dev.gvproxy.dns.DnsServer server) implements dev.gvproxy.model.DnsZones {
        @Override
        public List<dev.gvproxy.model.DnsZone> zones() {
            List<dev.gvproxy.model.DnsZone> out = new ArrayList<>();
            for (dev.gvproxy.dns.Zone z : server.zones()) {
                List<dev.gvproxy.model.DnsRecord> records = null;
                if (!z.records().isEmpty()) {
                    records = new ArrayList<>();
                    for (dev.gvproxy.dns.ZoneRecord r : z.records()) {
                        records.add(new dev.gvproxy.model.DnsRecord(r.name(),
                                !r.isIpv6() && r.ip() == 0 ? "" : r.ipText(), r.regexp()));
                    }
                }
                out.add(new dev.gvproxy.model.DnsZone(z.name(), records,
                        z.defaultIp().isPresent() ? Ipv4Address.format(z.defaultIp().getAsInt()) : ""));
            }
            return out;
        }

        @Override
        public void add(dev.gvproxy.model.DnsZone zone) {
            server.addZone(toZone(zone));
        }
    }

    static dev.gvproxy.dns.Zone toZone(dev.gvproxy.model.DnsZone z) {
        List<dev.gvproxy.dns.ZoneRecord> records = new ArrayList<>();
        if (z.records() != null) {
            for (dev.gvproxy.model.DnsRecord r : z.records()) {
                records.add(dev.gvproxy.dns.ZoneRecord.parse(r.name(), r.ip(), r.regexp()));
            }
        }
        return new dev.gvproxy.dns.Zone(z.name(), records, z.defaultIp().isEmpty() ? java.util.OptionalInt.empty()
                : java.util.OptionalInt.of(Ipv4Address.parse(z.defaultIp())));
    }

    static Running start(GvproxyConfig cfg) throws StartupException {
        NotificationSender notifications = cfg.notificationPath.isEmpty() ? NotificationSender.none()
                : new NotificationSender(Path.of(cfg.notificationPath));
        List<dev.gvproxy.dns.Zone> zones = new ArrayList<>();
        for (dev.gvproxy.model.DnsZone z : cfg.dnsZones) {
            zones.add(toZone(z));
        }
        VirtualNetwork.Builder nb = cfg.limits.apply(VirtualNetwork.builder().config(cfg.stackConfig()).busyPoll(cfg.busyPoll)
                .dhcp(true, cfg.limits.apply(dev.gvproxy.dhcp.DhcpConfig.builder(cfg.stackConfig())
                        .searchDomains(cfg.dnsSearchDomains.stream().filter(d -> !d.isEmpty()).toList())).build())
                .dns(true, cfg.limits.apply(dev.gvproxy.dns.DnsConfig.builder().zones(zones)).build()));
        if (cfg.dhcpv6 != null) {
            nb.dhcpv6(cfg.dhcpv6); // stack.dhcpv6StaticLeases and the search domains
        }
        if (!cfg.captureFile.isEmpty()) {
            nb.pcap(Path.of(cfg.captureFile));
        }
        nb.logFrames(cfg.debug); // spec 6: -debug logs every frame, decoded
        nb.trafficSummary(cfg.debug ? java.time.Duration.ofSeconds(5) : null); // and a traffic summary every 5 s
        nb.egress(cfg.egress); // stack.egress; replaced at run time through the host API's /services/egress
        nb.nat64(cfg.nat64); // stack.nat64
        // Issue 12: link-local access (TCP and UDP, as upstream's stack.ec2MetadataAccess) and client addresses.
        dev.gvproxy.forwarder.TcpForwarder.Options tcp = cfg.limits.tcpForwarding(
                dev.gvproxy.forwarder.TcpForwarder.Options.DEFAULTS);
        nb.tcpForwarding(new dev.gvproxy.forwarder.TcpForwarder.Options(tcp.connectTimeoutMillis(), tcp.maxInFlight(),
                cfg.ec2MetadataAccess));
        nb.udpForwarding(dev.gvproxy.forwarder.UdpForwarder.Options.DEFAULTS.withAllowLinkLocal(cfg.ec2MetadataAccess));
        nb.portForwarding(dev.gvproxy.forwarder.PortForwarder.Options.DEFAULTS
                .withPreserveClientAddress(cfg.preserveClientAddress));
        try {
            nb.guestPolicy(guestPolicy(cfg)); // the network's one forward registry applies it
        } catch (IOException e) {
            notifications.drainAndClose(1000);
            throw new StartupException(e.getMessage());
        }
        VirtualNetwork net;
        try {
            net = nb.build();
        } catch (IOException | RuntimeException e) {
            notifications.drainAndClose(1000);
            throw new StartupException("cannot create the virtual network: " + e.getMessage());
        }
        Running run = new Running(net, cfg, notifications);
        net.internals().virtualSwitch().addListener(notifications.macListener());
        try {
            LOG.info("gvproxy version " + VERSION);
            if (!cfg.pidFile.isEmpty()) {
                run.pidFile = Path.of(cfg.pidFile);
                Files.writeString(run.pidFile, Long.toString(ProcessHandle.current().pid()), StandardCharsets.US_ASCII);
                // 0644 whatever the umask (under umask 000 it would be world-writable).
                Files.setPosixFilePermissions(run.pidFile, PosixFilePermissions.fromString("rw-r--r--"));
            }
            String token = apiToken(cfg);
            Services services = Services.of(net);
            // The network's one registry: forwards made here, by the HTTP API and by embedders are one list.
            net.internals().sshTunnels(new SshTunnelOpener(net.internals().eventLoop(), services.tunneler()));
            PortForwardRegistry forwards = net.internals().forwards();
            for (Path p : ownedPaths(cfg)) {
                forwards.protectPath(p);
            }
            run.forwards = forwards;
            dev.gvproxy.model.DnsZones dns = services.dns();
            StateStore.State saved = StateStore.State.EMPTY;
            if (!cfg.stateDir.isEmpty()) {
                StateStore store = StateStore.open(Path.of(cfg.stateDir));
                saved = store.load();
                forwards.protectPath(store.file());
                run.state = new PersistentState(store, net, forwards);
                dns = run.state.recording(dns);
            }
            run.api = ApiContext.builder()
                    .network(net.internals().virtualSwitch(), net.internals().counters())
                    .leases(services.leases())
                    .ipv6(services.leases6(), services.neighbors6()) // GET /services/dhcpv6/leases, /services/ndp/neighbors
                    .dns(dns)
                    .forwards(forwards)
                    .tunneler(services.tunneler())
                    .inVmToken(token)
                    .observation(dev.gvproxy.api.NetworkObservation.of(net.internals())) // GET /metrics
                    .flows(dev.gvproxy.api.FlowTable.of(net.internals())) // GET /services/flows
                    .debug(cfg.debug) // GET /debug/threads, /debug/jfr
                    .egress(ApiContext.Egress.of(net))
                    .inVmAccess(inVmAccess(cfg))
                    .build();
            // The in-VM API subset on gateway:80 inside the virtual network (spec 4.1), as gvproxy serves it;
            // -guest-api off serves nothing there (a guest's connect is refused like any closed gateway port).
            if (run.api.inVmAccess() != ApiContext.InVmAccess.OFF) {
                net.serveTcp(80, ApiServer.inVm(run.api));
            }
            for (PortForward f : cfg.forwards) {
                try {
                    net.internals().eventLoop().submit(() -> forwards.expose(f, PortForwards.Origin.CONFIG)
                            .toCompletableFuture()).get(10, TimeUnit.SECONDS)
                            .get(10, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable c = e.getCause() != null ? e.getCause() : e;
                    throw new IOException("cannot add forward " + f.local() + " -> " + f.remote() + ": " + c.getMessage());
                }
            }
            if (run.state != null) {
                // After the configuration's forwards (which win a conflict), before any guest can attach.
                run.state.restore(saved, dns);
                run.state.start();
            }
            if (!cfg.sshForwards.isEmpty()) {
                List<SshSocketForwards.Spec> specs = new ArrayList<>();
                for (dev.gvproxy.config.YamlConfig.SshForward f : cfg.sshForwards) {
                    specs.add(new SshSocketForwards.Spec(f.socket(), f.dest(), f.user(), f.identity()));
                }
                // Sockets now; the SSH connections in the background (the guest may not be attached yet).
                run.sshForwards = SshSocketForwards.start(specs, net.internals().eventLoop(), services.tunneler(),
                        cfg.stackConfig().deviceIp(), why -> {
                            LOG.severe(why);
                            run.fail(why);
                        });
            }
            LOG.info("waiting for clients...");
            // gvproxy uses qemu framing on /connect when a qemu interface exists (spec 1.5); reproduced.
            Framing connectFraming = cfg.qemu.isEmpty() ? Framing.HYPERKIT : Framing.QEMU;
            for (String uri : cfg.listen) {
                // A vsock endpoint is reached from inside the VMs (gvforwarder's /connect): beyond /connect it
                // serves the in-VM surface with a guest's rights, never the host's full API.
                ApiHandler.Surface surface = uri.startsWith("vsock:") ? ApiHandler.Surface.IN_VM
                        : ApiHandler.Surface.FULL;
                run.listeners.add(Transports.listenApi(uri, net.internals().transportContext(),
                        ApiServer.hostFallback(run.api, surface), connectFraming));
                LOG.info("listening " + uri);
            }
            if (!cfg.services.isEmpty()) {
                run.listeners.add(Transports.listenServices(cfg.services, net.internals().transportContext(),
                        ApiServer.hostFallback(run.api, ApiHandler.Surface.SERVICES)));
                LOG.info("enabling services API. Listening " + cfg.services);
            }
            hypervisor(run, "vpnkit", cfg.vpnkit, () -> Transports.listenVpnkit(cfg.vpnkit, net.internals().transportContext(),
                    cfg.mtu, uuid -> cfg.vpnkitUuidMacs.get(uuid)));
            hypervisor(run, "qemu", cfg.qemu, () -> Transports.listenQemu(cfg.qemu, net.internals().transportContext()));
            hypervisor(run, "bess", cfg.bess, () -> Transports.listenBess(cfg.bess, net.internals().transportContext()));
            hypervisor(run, "vfkit", cfg.vfkit, () -> Transports.listenDatagram(cfg.vfkit, net.internals().transportContext(),
                    cfg.limits.vfkitPeers(), cfg.limits.vfkitPeerIdle()));
            hypervisor(run, "tap", cfg.tap, () -> {
                Listener l = Transports.attachTap(cfg.tap, net.internals().transportContext());
                // one guest interface for the process's life: when it goes away (the interface deleted), so
                // does gvproxy-java, as pasta does
                l.closeFuture().whenComplete((v, t) -> run.fail("tap transport ended"));
                return l;
            });
            if (!cfg.stdio.isEmpty()) {
                Listener l = Transports.attachStdio(net.internals().transportContext());
                run.listeners.add(l);
                // stdio is one guest for the process's life: its end ends gvproxy-java, as upstream.
                l.closeFuture().whenComplete((v, t) -> run.fail("stdio transport ended"));
            }
        } catch (Exception e) {
            LOG.log(Level.FINE, "start-up failed", e);
            run.close();
            throw new StartupException(e.getMessage() == null ? e.toString() : e.getMessage());
        }
        notifications.send(Notification.READY);
        return run;
    }

    /** Environment variable holding the in-VM API token (upstream PR #724's name). */
    static final String TOKEN_ENV = "GVISOR_API_TOKEN";
    /** Shortest token accepted (upstream PR #724). */
    static final int MIN_TOKEN_LENGTH = 32;

    /** The in-VM API token from {@code -api-token-file} or {@code GVISOR_API_TOKEN}, or null for none. */
    static String apiToken(GvproxyConfig cfg) throws IOException {
        return apiToken(cfg, System::getenv);
    }

    /** {@link #apiToken(GvproxyConfig)} reading the environment through {@code env} (tests). */
    static String apiToken(GvproxyConfig cfg, java.util.function.UnaryOperator<String> env) throws IOException {
        String token;
        String from;
        if (!cfg.apiTokenFile.isEmpty()) {
            token = Files.readString(Path.of(cfg.apiTokenFile), StandardCharsets.UTF_8).strip();
            from = "api-token-file " + cfg.apiTokenFile;
        } else {
            token = env.apply(TOKEN_ENV);
            from = TOKEN_ENV;
        }
        if (token == null || (token.isEmpty() && cfg.apiTokenFile.isEmpty())) {
            return null;
        }
        if (token.length() < MIN_TOKEN_LENGTH) {
            throw new IOException(from + ": the API token must be at least " + MIN_TOKEN_LENGTH + " characters");
        }
        return token;
    }

    static ApiContext.InVmAccess inVmAccess(GvproxyConfig cfg) {
        return switch (cfg.guestApi) {
            case GvproxyConfig.GUEST_API_READ_ONLY -> ApiContext.InVmAccess.READ_ONLY;
            case GvproxyConfig.GUEST_API_OFF -> ApiContext.InVmAccess.OFF;
            default -> ApiContext.InVmAccess.FULL;
        };
    }

    static PortForwardRegistry.GuestPolicy guestPolicy(GvproxyConfig cfg) throws IOException {
        Path dir = null;
        if (!cfg.guestUnixDir.isEmpty()) {
            dir = Path.of(cfg.guestUnixDir).toAbsolutePath();
            if (!Files.isDirectory(dir)) {
                throw new IOException("guest-unix-dir " + dir + ": not a directory");
            }
        }
        return new PortForwardRegistry.GuestPolicy(cfg.guestApiStrict, dir);
    }

    /** Files gvproxy-java creates or uses; no expose may replace them. */
    static List<Path> ownedPaths(GvproxyConfig cfg) {
        List<String> specs = new ArrayList<>(cfg.listen);
        specs.addAll(List.of(cfg.services, cfg.qemu, cfg.bess, cfg.vfkit, cfg.vpnkit, cfg.pidFile, cfg.logFile,
                cfg.captureFile, cfg.notificationPath,
                cfg.apiTokenFile));
        for (dev.gvproxy.config.YamlConfig.SshForward f : cfg.sshForwards) {
            specs.add(f.socket() == null ? "" : f.socket());
        }
        List<Path> out = new ArrayList<>();
        for (String spec : specs) {
            String p = spec;
            int scheme = p.indexOf("://");
            if (scheme > 0) {
                p = p.substring(scheme + 3);
                int q = p.indexOf('?');
                p = q >= 0 ? p.substring(0, q) : p;
            }
            if (p.startsWith("/")) {
                try {
                    out.add(Path.of(p));
                } catch (java.nio.file.InvalidPathException e) {
                    // not a path gvproxy-java could have created either
                }
            }
        }
        return out;
    }

    private interface ListenAction {
        Listener listen() throws IOException;
    }

    private static void hypervisor(Running run, String kind, String uri, ListenAction action) throws IOException {
        if (uri.isEmpty()) {
            return;
        }
        try {
            run.listeners.add(action.listen());
            LOG.info("listening " + kind + " " + uri);
        } catch (IOException | RuntimeException e) {
            run.notifications.send(Notification.HYPERVISOR_ERROR);
            throw new IOException(kind + " listen error: " + e.getMessage(), e);
        }
    }

    /** For tests: the exit code future of a run started on another thread. */
    static CompletableFuture<Integer> runAsync(String[] args, PrintStream out, PrintStream err,
                                               Consumer<Running> onStarted) {
        CompletableFuture<Integer> f = new CompletableFuture<>();
        Thread.ofPlatform().name("gvproxy-main-test").start(() -> {
            try {
                f.complete(run(args, out, err, onStarted));
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }
}
