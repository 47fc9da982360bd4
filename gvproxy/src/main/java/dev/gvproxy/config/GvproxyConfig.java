package dev.gvproxy.config;

import dev.gvproxy.model.DnsRecord;
import dev.gvproxy.model.DnsZone;
import dev.gvproxy.model.GoNet;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.MacAddress;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * gvproxy-java's effective configuration: the YAML file (if any) merged with the command line as gvproxy does
 * (spec 3.6, 6), then validated.
 *
 * <h2>Precedence</h2>
 * <ul>
 *   <li>{@code -listen} (if given) replaces YAML {@code listen}; {@code -listen-*}, {@code -services},
 *       {@code -pid-file}, {@code -log-file}, {@code -notification} win over YAML when non-empty.</li>
 *   <li>{@code -mtu} wins when non-zero; YAML {@code stack.subnet/gatewayIP/deviceIP/hostIP} win over the
 *       flags (which are used when the YAML has none).</li>
 *   <li>{@code -debug} forces log level debug; a debug (or trace) level sets {@code stack.debug}.</li>
 *   <li>{@code -forward-*} entries are appended to YAML {@code forwards}.</li>
 *   <li>{@code -ec2-metadata-access}, top-level {@code ec2-metadata-access} and {@code stack.ec2MetadataAccess}
 *       each turn link-local (169.254.0.0/16) access on (upstream honours only the last);
 *       {@code -preserve-client-address} or {@code stack.preserveClientAddress} turns client addresses on.</li>
 *   <li>Limits: {@code stack.tcpMaxInFlight}/{@code stack.tcpConnectTimeout} (upstream PR #698's names for
 *       {@code connects-in-flight}/{@code connect-timeout}), then YAML {@code limits:}, then
 *       {@code -tcp-max-in-flight}/{@code -tcp-connect-timeout}, then {@code -limit}: the later wins.</li>
 *   <li>{@code -guest-api} wins over YAML {@code guest-api} when non-empty.</li>
 *   <li>Legacy mode (no {@code -config}) adds the two DNS zones, the host's search domains, the SSH forward
 *       {@code 127.0.0.1:<ssh-port> -> deviceIP:22}, the static lease for 5a:94:ef:e4:0c:ee, the VPNKit UUID map,
 *       and honours {@code -pcap}. Config mode adds none of those, ignores {@code -pcap} and warns about an
 *       explicit {@code -ssh-port}.</li>
 * </ul>
 *
 * <p>{@link #resolve} does the merge and the shape checks; {@link #validate} the start-up checks in gvproxy's
 * order (subnet, addresses, notification URI, interface URIs, protocol exclusions, ssh-port range, forward
 * counts, identity files), so that the caller can open the log file in between as gvproxy does.
 */
public final class GvproxyConfig {
    public static final String GUEST_API_ON = "on";
    public static final String GUEST_API_READ_ONLY = "read-only";
    public static final String GUEST_API_OFF = "off";
    public static final String LEGACY_VPNKIT_UUID = "c3d68012-0208-11ea-9fd7-f2189899ab08";

    public boolean legacy;
    public List<String> listen = new ArrayList<>();
    public String services = "";
    public String qemu = "";
    public String bess = "";
    public String vfkit = "";
    public String vpnkit = "";
    public String stdio = "";
    /** A TAP interface attached without an agent ({@code tap://IFACE[?netns=NAME&offload=true]}); empty: none. */
    public String tap = "";
    /** trace, debug, info, warning, error, fatal or panic. */
    public String logLevel = "info";
    public boolean debug;
    public String pidFile = "";
    public String logFile = "";
    /** Notification socket path ({@code ""}: none). */
    public String notificationPath = "";
    /** The URI given with {@code -notification} (validated in {@link #validate}). */
    String notificationUri = "";
    public List<YamlConfig.SshForward> sshForwards = new ArrayList<>();
    public String captureFile = "";
    public long sshPort;

    // stack
    public int mtu = StackConfig.DEFAULT_MTU;
    public String subnet = "192.168.127.0/24";
    public String gatewayIp = "";
    public String deviceIp = "";
    public String hostIp = "";
    public long gatewayMac = StackConfig.DEFAULT_GATEWAY_MAC;
    public List<DnsZone> dnsZones = new ArrayList<>();
    public List<String> dnsSearchDomains = new ArrayList<>();
    /** Configured port forwards ({@code stack.forwards} and, in legacy mode, the SSH forward), in order. */
    public List<PortForward> forwards = new ArrayList<>();
    public Map<Integer, Integer> nat;
    public List<Integer> gatewayVirtualIps;
    public Map<Integer, Long> dhcpStaticLeases = new LinkedHashMap<>();
    /**
     * gvproxy-java: the DHCPv6 server's settings (after {@link #validate}; null when the network has no IPv6):
     * {@code stack.dhcpv6StaticLeases} and the DNS search domains on top of the network's defaults.
     */
    public dev.gvproxy.dhcp.Dhcpv6Config dhcpv6;
    public Map<String, Long> vpnkitUuidMacs = new LinkedHashMap<>();
    public boolean ec2MetadataAccess;
    /** {@code stack.nat64}: IPv6 connections to 64:ff9b::/96 go out as IPv4 (default on; see HostRoutes). */
    public boolean nat64 = true;
    /** File holding the in-VM API bearer token ({@code -api-token-file}), "" for none. */
    public String apiTokenFile = "";
    /** Guests may expose only loopback addresses and unprivileged ports ({@code -guest-api-strict}). */
    public boolean guestApiStrict;
    /** The only directory guests may create unix sockets in ({@code -guest-unix-dir}), "" for none. */
    public String guestUnixDir = "";
    /** Where API-created forwards and DNS zones are kept across restarts ({@code -state-dir}), "" for nowhere. */
    public String stateDir = "";
    /** gvproxy-java: the egress policy ({@code stack.egress}); allow everything by default. */
    public dev.gvproxy.forwarder.EgressPolicy egress = dev.gvproxy.forwarder.EgressPolicy.ALLOW_ALL;
    /** Resource limits: YAML {@code limits:} overridden by {@code -limit} flags. */
    public Limits limits = new Limits();
    /** The in-VM API on gateway:80 (and vsock {@code -listen}): {@code on}, {@code read-only} or {@code off}. */
    public String guestApi = GUEST_API_ON;
    /** Port forwards show guests the real client address ({@code -preserve-client-address}, upstream PR #634). */
    public boolean preserveClientAddress;
    /** How long the network's loop polls after its last work before it sleeps ({@code -busy-poll}, {@code stack.busyPoll}); zero: off. */
    public java.time.Duration busyPoll = java.time.Duration.ZERO;
    /** Warnings to log once logging is set up. */
    public List<String> warnings = new ArrayList<>();

    private StackConfig stackConfig;
    private final Map<String, String> rawNat = new LinkedHashMap<>();
    private final List<String> rawVirtualIps = new ArrayList<>();
    private final Map<String, String> rawLeases = new LinkedHashMap<>();
    private final Map<String, String> rawLeases6 = new LinkedHashMap<>();
    /** {@code stack.ipv6} as written (null: the defaults). */
    private YamlConfig.Ipv6 rawIpv6;
    private final Map<String, String> rawForwards = new LinkedHashMap<>();

    /** The validated stack addresses (after {@link #validate}). */
    public StackConfig stackConfig() {
        if (stackConfig == null) {
            throw new IllegalStateException("validate() first");
        }
        return stackConfig;
    }

    /**
     * Merges {@code yaml} (null in legacy mode) with the command line. Shape errors of YAML values have been
     * reported by {@link YamlConfig}; this reports bad MACs and the like with the field's path.
     *
     * @param resolvConf where legacy mode reads host search domains ({@code /etc/resolv.conf})
     */
    public static GvproxyConfig resolve(CliArgs cli, YamlConfig yaml, Path resolvConf) throws ConfigException {
        GvproxyConfig c = new GvproxyConfig();
        c.legacy = yaml == null;
        YamlConfig y = yaml != null ? yaml : new YamlConfig();
        YamlConfig.Stack s = y.stack;

        c.listen = new ArrayList<>(!cli.listen.isEmpty() ? cli.listen : y.listen != null ? y.listen : List.of());
        c.services = pick(cli.services, y.services);
        c.qemu = pick(cli.listenQemu, y.qemu);
        c.bess = pick(cli.listenBess, y.bess);
        c.vfkit = pick(cli.listenVfkit, y.vfkit);
        c.vpnkit = pick(cli.listenVpnkit, y.vpnkit);
        c.stdio = pick(cli.listenStdio, y.stdio);
        c.tap = pick(cli.listenTap, y.tap);
        c.pidFile = pick(cli.pidFile, y.pidFile);
        c.logFile = pick(cli.logFile, y.logFile);
        c.notificationUri = cli.notification;
        c.notificationPath = y.notification != null ? y.notification : "";
        c.apiTokenFile = pick(cli.apiTokenFile, y.apiTokenFile);
        c.guestApiStrict = cli.guestApiStrict || Boolean.TRUE.equals(y.guestApiStrict);
        c.guestUnixDir = pick(cli.guestUnixDir, y.guestUnixDir);
        c.stateDir = pick(cli.stateDir, y.stateDir);
        // Upstream PR #698's names are aliases of two limits; the later source wins: stack.tcp* keys, the
        // limits: section, the -tcp-* flags, then -limit.
        if (s.tcpMaxInFlight != null) {
            c.limits.set("connects-in-flight", Long.toString(s.tcpMaxInFlight), "stack.tcpMaxInFlight");
        }
        if (s.tcpConnectTimeout != null) {
            c.limits.set("connect-timeout", s.tcpConnectTimeout, "stack.tcpConnectTimeout");
        }
        if (y.limits != null) {
            for (Map.Entry<String, String> e : y.limits.entrySet()) {
                c.limits.set(e.getKey(), e.getValue(), "limits." + e.getKey());
            }
        }
        if (cli.tcpMaxInFlight != 0) {
            c.limits.set("connects-in-flight", Long.toString(cli.tcpMaxInFlight), "-tcp-max-in-flight");
        }
        if (!cli.tcpConnectTimeout.isEmpty()) {
            c.limits.set("connect-timeout", cli.tcpConnectTimeout, "-tcp-connect-timeout");
        }
        for (String l : cli.limit) {
            c.limits.setFlag(l);
        }
        String guestApi = pick(cli.guestApi, y.guestApi);
        if (!guestApi.isEmpty()) {
            switch (guestApi) {
                case GUEST_API_ON, GUEST_API_READ_ONLY, GUEST_API_OFF -> c.guestApi = guestApi;
                default -> throw new ConfigException((cli.guestApi.isEmpty() ? "guest-api" : "-guest-api")
                        + ": expected on, read-only or off, got \"" + guestApi + "\"");
            }
        }

        String level = "info";
        if (y.logLevel != null) {
            String l = y.logLevel.toLowerCase(Locale.ROOT);
            switch (l) {
                case "trace", "debug", "info", "warning", "error", "fatal", "panic" -> level = l;
                case "warn" -> level = "warning";
                default -> c.warnings.add("invalid log-level \"" + y.logLevel + "\", using info");
            }
        }
        if (cli.debug) {
            level = "debug";
        }
        c.logLevel = level;
        c.debug = level.equals("debug") || level.equals("trace") || Boolean.TRUE.equals(s.debug);

        if (y.forwards != null) {
            c.sshForwards.addAll(y.forwards);
        }
        c.sshPort = cli.sshPort;

        // stack
        long mtu = cli.mtu != 0 ? cli.mtu : s.mtu != null && s.mtu != 0 ? s.mtu : StackConfig.DEFAULT_MTU;
        if (mtu < StackConfig.MIN_MTU || mtu > StackConfig.MAX_MTU) {
            throw new ConfigException((cli.mtu != 0 ? "-mtu" : "stack.mtu") + ": must be between " + StackConfig.MIN_MTU
                    + " and " + StackConfig.MAX_MTU + ", got " + mtu);
        }
        c.mtu = (int) mtu;
        c.subnet = s.subnet != null ? s.subnet : cli.subnet;
        c.gatewayIp = s.gatewayIp != null ? s.gatewayIp : cli.gatewayIp;
        c.deviceIp = s.deviceIp != null ? s.deviceIp : cli.deviceIp;
        c.hostIp = s.hostIp != null ? s.hostIp : cli.hostIp;
        if (s.gatewayMacAddress != null) {
            c.gatewayMac = mac(s.gatewayMacAddress, "stack.gatewayMacAddress");
        }
        c.captureFile = s.captureFile != null ? s.captureFile : "";
        try {
            c.egress = dev.gvproxy.forwarder.EgressPolicy.fromMaps(s.egress, "stack.egress");
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
        // Upstream reads only stack.ec2MetadataAccess (its flag and top-level key are dead, spec 3.3); here
        // any of the three turns link-local access on.
        c.ec2MetadataAccess = cli.ec2MetadataAccess || Boolean.TRUE.equals(s.ec2MetadataAccess)
                || Boolean.TRUE.equals(y.ec2MetadataAccess);
        c.preserveClientAddress = cli.preserveClientAddress || Boolean.TRUE.equals(s.preserveClientAddress);
        c.busyPoll = busyPoll(pick(cli.busyPoll, s.busyPoll), cli.busyPoll.isEmpty() ? "stack.busyPoll" : "-busy-poll");
        c.nat64 = !Boolean.FALSE.equals(s.nat64);
        if (c.legacy) {
            if (!cli.pcap.isEmpty()) {
                c.captureFile = cli.pcap;
            }
        } else {
            if (!cli.pcap.isEmpty()) {
                c.warnings.add("CLI argument \"-pcap\" is unavailable with config file; set \"stack.capture-file\" in "
                        + "\"" + cli.config + "\" instead");
            }
            if (cli.sshPortSet) {
                c.warnings.add("CLI argument \"-ssh-port\" is unavailable with config file. You need to add \"127.0.0.1:"
                        + cli.sshPort + ": DEVICEIP:22\" entry into .stack.forwards in \"" + cli.config + "\" instead");
            }
        }
        if (s.dns != null) {
            for (int i = 0; i < s.dns.size(); i++) {
                c.dnsZones.add(checkZone(s.dns.get(i), "stack.dns[" + i + "]"));
            }
        }
        if (s.dnsSearchDomains != null) {
            c.dnsSearchDomains.addAll(s.dnsSearchDomains);
        }
        if (s.forwards != null) {
            c.rawForwards.putAll(s.forwards);
        }
        if (s.nat != null) {
            c.rawNat.putAll(s.nat);
        }
        if (s.gatewayVirtualIps != null) {
            c.rawVirtualIps.addAll(s.gatewayVirtualIps);
        }
        if (s.dhcpStaticLeases != null) {
            c.rawLeases.putAll(s.dhcpStaticLeases);
        }
        if (s.dhcpv6StaticLeases != null) {
            c.rawLeases6.putAll(s.dhcpv6StaticLeases);
        }
        c.rawIpv6 = s.ipv6;
        if (s.vpnKitUuidMacAddresses != null) {
            for (Map.Entry<String, String> e : s.vpnKitUuidMacAddresses.entrySet()) {
                c.vpnkitUuidMacs.put(e.getKey(), mac(e.getValue(), "stack.vpnKitUUIDMacAddresses." + e.getKey()));
            }
        }
        if (c.legacy) {
            c.dnsSearchDomains.addAll(searchDomains(resolvConf));
            c.vpnkitUuidMacs.put(LEGACY_VPNKIT_UUID, StackConfig.DEFAULT_DEVICE_MAC);
        }
        return c;
    }

    /**
     * {@code stack.ipv6}: on by default with the default prefix; a /64 subnet and addresses inside it, derived
     * from the subnet unless given. Every error names its key.
     */
    private dev.gvproxy.stack.Ipv6Config ipv6Config() throws ConfigException {
        dev.gvproxy.stack.Ipv6Config.Builder v6 = dev.gvproxy.stack.Ipv6Config.builder();
        YamlConfig.Ipv6 y = rawIpv6;
        if (y == null) {
            return v6.build();
        }
        if (y.enabled != null) {
            v6.enabled(y.enabled);
        }
        if (y.subnet != null && !y.subnet.isEmpty()) {
            String[] parts = y.subnet.split("/", -1);
            if (parts.length != 2 || !parts[1].equals("64") || !isIpv6Literal(parts[0])) {
                throw new ConfigException("stack.ipv6.subnet: want an IPv6 prefix of length 64 (SLAAC needs a /64),"
                        + " like fd00:5a94:efe4::/64: " + y.subnet);
            }
            v6.prefix(y.subnet);
        }
        String[][] addrs = {{y.gatewayIp, "gatewayIP"}, {y.hostIp, "hostIP"}, {y.deviceIp, "deviceIP"}};
        for (String[] a : addrs) {
            if (a[0] != null && !a[0].isEmpty() && !isIpv6Literal(a[0])) {
                throw new ConfigException("stack.ipv6." + a[1] + ": not an IPv6 address: " + a[0]);
            }
        }
        if (y.gatewayIp != null && !y.gatewayIp.isEmpty()) {
            v6.gateway(dev.gvproxy.stack.wire.Ipv6Address.parse(y.gatewayIp));
        }
        if (y.hostIp != null && !y.hostIp.isEmpty()) {
            v6.hostAlias(dev.gvproxy.stack.wire.Ipv6Address.parse(y.hostIp));
        }
        if (y.deviceIp != null && !y.deviceIp.isEmpty()) {
            v6.device(dev.gvproxy.stack.wire.Ipv6Address.parse(y.deviceIp));
        }
        try {
            return v6.build();
        } catch (IllegalArgumentException e) {
            throw new ConfigException("stack.ipv6: " + e.getMessage());
        }
    }

    /**
     * {@code stack.dhcpv6StaticLeases}: IPv6 address -> MAC (6 octets, a lease for that guest whatever its DUID)
     * or DUID (any other length of hex octets), on top of the default lease of the device MAC.
     */
    private dev.gvproxy.dhcp.Dhcpv6Config dhcpv6Config(StackConfig sc) throws ConfigException {
        dev.gvproxy.dhcp.Dhcpv6Config.Builder b = dev.gvproxy.dhcp.Dhcpv6Config.builder(sc)
                .searchDomains(dnsSearchDomains.stream().filter(d -> !d.isEmpty()).toList());
        Map<Long, dev.gvproxy.stack.wire.Ipv6Address> byMac =
                new LinkedHashMap<>(dev.gvproxy.dhcp.Dhcpv6Config.defaults(sc).staticByMac());
        for (Map.Entry<String, String> e : rawLeases6.entrySet()) {
            String path = "stack.dhcpv6StaticLeases." + e.getKey();
            dev.gvproxy.stack.wire.Ipv6Address a;
            try {
                a = dev.gvproxy.stack.wire.Ipv6Address.parse(e.getKey());
            } catch (IllegalArgumentException err) {
                throw new ConfigException("stack.dhcpv6StaticLeases key: invalid IPv6 address: " + e.getKey());
            }
            String v = e.getValue().strip();
            if (v.split("[:-]").length == 6) {
                byMac.put(mac(v, path), a);
            } else {
                try {
                    b.staticLease(v, a);
                    dev.gvproxy.dhcp.Dhcpv6Config.normalizeDuid(v);
                } catch (IllegalArgumentException err) {
                    throw new ConfigException(path + ": neither a MAC nor a DUID: " + v);
                }
            }
        }
        try {
            return b.staticByMac(byMac).build();
        } catch (IllegalArgumentException e) {
            throw new ConfigException("stack.dhcpv6StaticLeases: " + e.getMessage());
        }
    }

    /** A busy-poll window: a Go duration from zero (off) to {@link dev.gvproxy.platform.BusyPoll#MAX_WINDOW}; empty is zero. */
    private static java.time.Duration busyPoll(String value, String where) throws ConfigException {
        if (value.isEmpty()) {
            return java.time.Duration.ZERO;
        }
        java.time.Duration d = Limits.goDuration(value.trim());
        if (d == null || d.compareTo(dev.gvproxy.platform.BusyPoll.MAX_WINDOW) > 0) {
            throw new ConfigException(where + ": expected a duration from 0 to 10ms such as 50us, got \"" + value + "\"");
        }
        return d;
    }

    private static String pick(String cli, String yaml) {
        return !cli.isEmpty() ? cli : yaml != null ? yaml : "";
    }

    private static long mac(String s, String field) throws ConfigException {
        try {
            return MacAddress.parse(s);
        } catch (RuntimeException e) {
            throw new ConfigException(field + ": invalid MAC address: " + s);
        }
    }

    /** A record's ip may be IPv6 too (an AAAA record). */
    private static boolean isIpv6Literal(String s) {
        try {
            return s.indexOf(':') >= 0 && dev.gvproxy.stack.wire.Ipv6Address.parse(s) != null;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static DnsZone checkZone(DnsZone z, String path) throws ConfigException {
        if (!z.defaultIp().isEmpty() && GoNet.parseIpv4(z.defaultIp()) == null) {
            throw new ConfigException(path + ".defaultIP: invalid IP address: " + z.defaultIp());
        }
        if (z.records() != null) {
            for (int i = 0; i < z.records().size(); i++) {
                DnsRecord r = z.records().get(i);
                String rp = path + ".records[" + i + "]";
                if (!r.ip().isEmpty() && GoNet.parseIpv4(r.ip()) == null && !isIpv6Literal(r.ip())) {
                    throw new ConfigException(rp + ".ip: invalid IP address: " + r.ip());
                }
                if (r.regexp() != null) {
                    try {
                        Pattern.compile(r.regexp());
                    } catch (PatternSyntaxException e) {
                        throw new ConfigException(rp + ".regexp: error parsing regexp: " + e.getDescription());
                    }
                }
            }
        }
        return z;
    }

    /** First {@code search } line of resolv.conf split on single spaces (gvproxy's rule, empty entries kept). */
    static List<String> searchDomains(Path resolvConf) {
        if (resolvConf == null) {
            return List.of();
        }
        try {
            for (String line : Files.readAllLines(resolvConf, StandardCharsets.UTF_8)) {
                if (line.startsWith("search ")) {
                    return List.of(line.substring(7).split(" ", -1));
                }
            }
        } catch (IOException e) {
            return List.of();
        }
        return List.of();
    }

    /**
     * The start-up checks, in gvproxy's order. Fills the derived stack fields ({@link #stackConfig()},
     * default zones and forwards in legacy mode).
     */
    public void validate() throws ConfigException {
        // subnet, then addresses
        StackConfig.Builder b = StackConfig.builder();
        String cidr = subnet;
        int slash = cidr.indexOf('/');
        if (slash < 0 || GoNet.parseIpv4(cidr.substring(0, slash)) == null || !cidr.substring(slash + 1).matches("[0-9]{1,2}")
                || Integer.parseInt(cidr.substring(slash + 1)) > 32) {
            throw new ConfigException("failed to parse subnet: invalid CIDR address: " + cidr);
        }
        b.subnet(cidr).mtu(mtu).gatewayMac(gatewayMac);
        for (String[] ip : new String[][] {{gatewayIp, "gatewayIP"}, {deviceIp, "deviceIP"}, {hostIp, "hostIP"}}) {
            if (!ip[0].isEmpty() && GoNet.parseIpv4(ip[0]) == null) {
                throw new ConfigException("failed to validate configuration IPs: invalid IP address: " + ip[0]);
            }
        }
        if (!gatewayIp.isEmpty()) {
            b.gatewayIp(gatewayIp);
        }
        if (!deviceIp.isEmpty()) {
            b.deviceIp(deviceIp);
        }
        if (!hostIp.isEmpty()) {
            b.hostIp(hostIp);
        }
        b.ipv6(ipv6Config());
        StackConfig derived;
        try {
            derived = b.build();
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
        gatewayIp = Ipv4Address.format(derived.gatewayIp());
        deviceIp = Ipv4Address.format(derived.deviceIp());
        hostIp = Ipv4Address.format(derived.hostIp());

        nat = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : rawNat.entrySet()) {
            nat.put(ipv4(e.getKey(), "stack.nat key"), ipv4(e.getValue(), "stack.nat." + e.getKey()));
        }
        if (nat.isEmpty()) {
            nat.put(derived.hostIp(), Ipv4Address.parse("127.0.0.1"));
        }
        gatewayVirtualIps = new ArrayList<>();
        for (int i = 0; i < rawVirtualIps.size(); i++) {
            gatewayVirtualIps.add(ipv4(rawVirtualIps.get(i), "stack.gatewayVirtualIPs[" + i + "]"));
        }
        if (gatewayVirtualIps.isEmpty()) {
            gatewayVirtualIps.add(derived.hostIp());
        }
        dhcpStaticLeases = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : rawLeases.entrySet()) {
            dhcpStaticLeases.put(ipv4(e.getKey(), "stack.dhcpStaticLeases key"),
                    mac(e.getValue(), "stack.dhcpStaticLeases." + e.getKey()));
        }
        forwards = new ArrayList<>();
        for (Map.Entry<String, String> e : rawForwards.entrySet()) {
            String key = e.getKey();
            String protocol = "tcp";
            if (key.startsWith("udp:")) {
                protocol = "udp";
                key = key.substring(4);
            }
            try {
                GoNet.splitHostPort(key);
                dev.gvproxy.model.PortForwardRegistry.parseIpv4Remote(e.getValue());
            } catch (GoNet.GoError err) {
                throw new ConfigException("stack.forwards." + e.getKey() + ": " + err.getMessage());
            }
            forwards.add(new PortForward(key, e.getValue(), protocol));
        }
        if (legacy) {
            dnsZones = new ArrayList<>(dnsZones);
            for (String zone : new String[] {"containers.internal.", "docker.internal."}) {
                List<DnsRecord> recs = new ArrayList<>(List.of(new DnsRecord("gateway", gatewayIp, null),
                        new DnsRecord("host", hostIp, null)));
                if (derived.ipv6().enabled()) {
                    // AAAA for the same names: the gateway's and the host alias's IPv6 addresses.
                    recs.add(new DnsRecord("gateway", derived.ipv6().gateway().toString(), null));
                    recs.add(new DnsRecord("host", derived.ipv6().hostAlias().toString(), null));
                }
                dnsZones.add(new DnsZone(zone, recs, ""));
            }
            dhcpStaticLeases.put(derived.deviceIp(), StackConfig.DEFAULT_DEVICE_MAC);
        }
        try {
            stackConfig = derived.toBuilder().gatewayVirtualIps(gatewayVirtualIps).nat(nat)
                    .dhcpStaticLeases(dhcpStaticLeases).portSecurity(limits.portSecurity(derived.portSecurity()))
                    .build();
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
        dhcpv6 = stackConfig.ipv6().enabled() ? dhcpv6Config(stackConfig) : null;
        if (dhcpv6 == null && !rawLeases6.isEmpty()) {
            throw new ConfigException("stack.dhcpv6StaticLeases: the network has no IPv6");
        }

        // notification URI
        if (!notificationUri.isEmpty()) {
            try {
                URI u = new URI(notificationUri);
                if (!"unix".equals(u.getScheme())) {
                    throw new ConfigException("notification listen address must be unix:// address");
                }
                notificationPath = u.getPath();
            } catch (URISyntaxException e) {
                throw new ConfigException("invalid notification URI: " + e.getMessage());
            }
        }

        // interfaces
        if (!qemu.isEmpty()) {
            URI u = uri(qemu, "qemu");
            if ("unix".equals(u.getScheme())) {
                refuseExisting(u.getPath());
            }
        }
        if (!bess.isEmpty()) {
            URI u = uri(bess, "bess");
            if (!"unixpacket".equals(u.getScheme())) {
                throw new ConfigException("bess listen address must be unixpacket:// address");
            }
            refuseExisting(u.getPath());
        }
        if (!vfkit.isEmpty()) {
            URI u = uri(vfkit, "vfkit");
            if (!"unixgram".equals(u.getScheme())) {
                throw new ConfigException("vfkit listen address must be unixgram:// address");
            }
            refuseExisting(u.getPath());
        }
        if (!vpnkit.isEmpty() && !qemu.isEmpty()) {
            throw new ConfigException("cannot use qemu and vpnkit protocol at the same time");
        }
        if (!vpnkit.isEmpty() && !bess.isEmpty()) {
            throw new ConfigException("cannot use bess and vpnkit protocol at the same time");
        }
        if (!qemu.isEmpty() && !bess.isEmpty()) {
            throw new ConfigException("cannot use qemu and bess protocol at the same time");
        }

        // ssh-port (legacy mode only)
        if (legacy) {
            if (sshPort != -1 && (sshPort < 1024 || sshPort > 65535)) {
                throw new ConfigException("ssh-port value must be between 1024 and 65535");
            }
            if (sshPort != -1) {
                forwards.add(0, new PortForward("127.0.0.1:" + sshPort, deviceIp + ":22", "tcp"));
            }
        }
        // forward flags and identity files are checked by validateSshForwards (they need the CLI lists).
    }

    /**
     * Appends the {@code -forward-*} entries after the YAML ones and checks counts and identity files (the last
     * start-up checks).
     */
    public void addCliSshForwards(CliArgs cli) throws ConfigException {
        int n = cli.forwardSock.size();
        if (cli.forwardDest.size() != n || cli.forwardUser.size() != n || cli.forwardIdentity.size() != n) {
            throw new ConfigException("--forward-sock, --forward-dest, --forward-user, and --forward-identity must all be "
                    + "specified together, the same number of times, or not at all");
        }
        for (int i = 0; i < n; i++) {
            sshForwards.add(new YamlConfig.SshForward(cli.forwardSock.get(i), cli.forwardDest.get(i),
                    cli.forwardUser.get(i), cli.forwardIdentity.get(i)));
        }
        for (YamlConfig.SshForward f : sshForwards) {
            String id = f.identity() == null ? "" : f.identity();
            if (!Files.isReadable(Path.of(id)) || Files.isDirectory(Path.of(id))) {
                throw new ConfigException("identity file " + dev.gvproxy.model.GoJson.quote(id) + " can't be loaded: open "
                        + id + ": no such file or directory");
            }
        }
    }

    private static URI uri(String s, String what) throws ConfigException {
        try {
            return new URI(s);
        } catch (URISyntaxException e) {
            throw new ConfigException("invalid " + what + " listen address " + s + ": " + e.getMessage());
        }
    }

    private static void refuseExisting(String path) throws ConfigException {
        if (path != null && !path.isEmpty() && Files.exists(Path.of(path), LinkOption.NOFOLLOW_LINKS)) {
            throw new ConfigException(dev.gvproxy.model.GoJson.quote(path) + " already exists");
        }
    }

    private static int ipv4(String s, String field) throws ConfigException {
        Integer v = GoNet.parseIpv4(s);
        if (v == null) {
            throw new ConfigException(field + ": invalid IP address: " + s);
        }
        return v;
    }
}
