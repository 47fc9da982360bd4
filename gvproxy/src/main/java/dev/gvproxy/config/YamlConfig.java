package dev.gvproxy.config;

import dev.gvproxy.model.DnsRecord;
import dev.gvproxy.model.DnsZone;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.snakeyaml.engine.v2.exceptions.YamlEngineException;

/**
 * The {@code -config} file as written (spec 3.6): every key typed, {@code null} where absent. Keys are
 * case-sensitive and mixed-style as in gvproxy ({@code log-level}, {@code capture-file}, {@code gatewayIP},
 * {@code dhcpStaticLeases}); unknown keys are ignored. A value of the wrong shape is rejected with its path,
 * e.g. {@code stack.mtu: expected an integer, got "big"}; semantic checks (addresses, ranges) happen when the
 * configuration is resolved.
 */
public final class YamlConfig {
    public List<String> listen;
    public String logLevel;
    public Stack stack = new Stack();
    public String vpnkit;
    public String qemu;
    public String bess;
    public String stdio;
    public String tap;
    public String vfkit;
    public List<SshForward> forwards;
    public String pidFile;
    public String logFile;
    public String services;
    public Boolean ec2MetadataAccess;
    public String notification;
    /** gvproxy-java: in-VM API bearer token file ({@code api-token-file}). */
    public String apiTokenFile;
    /** gvproxy-java: strict guest expose policy ({@code guest-api-strict}). */
    public Boolean guestApiStrict;
    /** gvproxy-java: the directory guests may create unix sockets in ({@code guest-unix-dir}). */
    public String guestUnixDir;
    /** gvproxy-java: where API-created state survives restarts ({@code state-dir}). */
    public String stateDir;
    /** gvproxy-java: resource limits ({@code limits:}, name -> value as written; see {@link Limits}). */
    public Map<String, String> limits;
    /** gvproxy-java: the in-VM API's mode ({@code guest-api: on | read-only | off}). */
    public String guestApi;

    /** The {@code stack:} section (gvproxy's {@code types.Configuration}). */
    public static final class Stack {
        public Boolean debug;
        public String captureFile;
        public Long mtu;
        public String subnet;
        public String gatewayIp;
        public String deviceIp;
        public String hostIp;
        public String gatewayMacAddress;
        public List<DnsZone> dns;
        public List<String> dnsSearchDomains;
        /** {@code "[udp:]host:port" -> "guestIP:port"} in file order. */
        public Map<String, String> forwards;
        public Map<String, String> nat;
        public List<String> gatewayVirtualIps;
        public Map<String, String> dhcpStaticLeases;
        /**
         * gvproxy-java: DHCPv6 fixed addresses ({@code dhcpv6StaticLeases}), IPv6 address -> MAC (6 octets) or
         * DUID (hex octets, {@code :} separated, any other length); upstream has no IPv6.
         */
        public Map<String, String> dhcpv6StaticLeases;
        public Map<String, String> vpnKitUuidMacAddresses;
        public Boolean ec2MetadataAccess;
        /** gvproxy-java: {@code stack.nat64}, IPv6 guests reach IPv4 hosts at 64:ff9b::/96 (default true). */
        public Boolean nat64;
        /** gvproxy-java: {@code stack.ipv6}, the gateway's IPv6 (upstream has none). */
        public Ipv6 ipv6;
        /**
         * gvproxy-java: the egress policy ({@code stack.egress}), each rule a mapping of scalars as written;
         * {@link GvproxyConfig} checks the values.
         */
        public List<Map<String, Object>> egress;
        /** Guests see the real client of a port forward ({@code preserveClientAddress}, upstream PR #634). */
        public Boolean preserveClientAddress;
        /** Host connects in flight for the network ({@code tcpMaxInFlight}, upstream PR #698). */
        public Long tcpMaxInFlight;
        /** Host connect timeout, a Go duration ({@code tcpConnectTimeout}, upstream PR #698). */
        public String tcpConnectTimeout;
        /** gvproxy-java: {@code stack.busyPoll}, a Go duration the network's loop polls for before it sleeps. */
        public String busyPoll;
    }

    /** One SSH unix-socket forward ({@code forwards:} entries, like the {@code -forward-*} flags). */
    public record SshForward(String socket, String dest, String user, String identity) {}

    /** Reads and type-checks a configuration file. */
    public static YamlConfig load(Path file) throws ConfigException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ConfigException("failed to read config file: " + e.getMessage(), e);
        }
        return parse(text);
    }

    /** Parses YAML text (errors: {@code failed to parse configuration: ...}). */
    public static YamlConfig parse(String text) throws ConfigException {
        Object root;
        try {
            root = new Load(LoadSettings.builder().setLabel("config").build()).loadFromString(text);
        } catch (YamlEngineException e) {
            throw new ConfigException("failed to parse configuration: " + e.getMessage().replace('\n', ' '), e);
        }
        YamlConfig c = new YamlConfig();
        if (root == null) {
            return c; // an empty file is an empty configuration
        }
        try {
            Map<String, Object> m = map(root, "");
            c.listen = stringList(m.get("listen"), "listen");
            c.logLevel = string(m.get("log-level"), "log-level");
            if (m.get("stack") != null) {
                c.stack = stack(map(m.get("stack"), "stack"));
            }
            if (m.get("interfaces") != null) {
                Map<String, Object> i = map(m.get("interfaces"), "interfaces");
                c.vpnkit = string(i.get("vpnkit"), "interfaces.vpnkit");
                c.qemu = string(i.get("qemu"), "interfaces.qemu");
                c.bess = string(i.get("bess"), "interfaces.bess");
                c.stdio = string(i.get("stdio"), "interfaces.stdio");
                c.vfkit = string(i.get("vfkit"), "interfaces.vfkit");
                c.tap = string(i.get("tap"), "interfaces.tap");
            }
            if (m.get("forwards") != null) {
                c.forwards = new ArrayList<>();
                List<Object> fl = list(m.get("forwards"), "forwards");
                for (int k = 0; k < fl.size(); k++) {
                    String p = "forwards[" + k + "]";
                    Map<String, Object> f = map(fl.get(k), p);
                    c.forwards.add(new SshForward(string(f.get("socket"), p + ".socket"), string(f.get("dest"), p + ".dest"),
                            string(f.get("user"), p + ".user"), string(f.get("identity"), p + ".identity")));
                }
            }
            c.pidFile = string(m.get("pid-file"), "pid-file");
            c.logFile = string(m.get("log-file"), "log-file");
            c.services = string(m.get("services"), "services");
            c.ec2MetadataAccess = bool(m.get("ec2-metadata-access"), "ec2-metadata-access");
            c.notification = string(m.get("notification"), "notification");
            c.apiTokenFile = string(m.get("api-token-file"), "api-token-file");
            c.guestApiStrict = bool(m.get("guest-api-strict"), "guest-api-strict");
            c.guestUnixDir = string(m.get("guest-unix-dir"), "guest-unix-dir");
            c.stateDir = string(m.get("state-dir"), "state-dir");
            c.guestApi = string(m.get("guest-api"), "guest-api");
            if (m.get("limits") != null) {
                c.limits = new LinkedHashMap<>();
                for (Map.Entry<String, Object> e : map(m.get("limits"), "limits").entrySet()) {
                    Object v = e.getValue();
                    if (!(v instanceof String || v instanceof Number || v instanceof Boolean)) {
                        throw new TypeError("limits." + e.getKey(), "a scalar", v);
                    }
                    c.limits.put(e.getKey(), String.valueOf(v));
                }
            }
        } catch (TypeError e) {
            throw new ConfigException("failed to parse configuration: " + e.getMessage());
        }
        return c;
    }

    /**
     * {@code stack.ipv6}: {@code enabled} (default true), {@code subnet} (a /64, default
     * {@code fd00:5a94:efe4::/64}) and the addresses derived from it unless given, as upstream's config code derives
     * them for an IPv6 subnet: {@code gatewayIP} (the subnet's {@code ::1}), {@code hostIP}
     * ({@code ::ffff:ffff:ffff:fffe}) and {@code deviceIP} (the gateway's next address).
     */
    public static final class Ipv6 {
        public Boolean enabled;
        public String subnet;
        public String gatewayIp;
        public String hostIp;
        public String deviceIp;
    }

    private static Stack stack(Map<String, Object> m) throws TypeError {
        Stack s = new Stack();
        s.debug = bool(m.get("debug"), "stack.debug");
        s.captureFile = string(m.get("capture-file"), "stack.capture-file");
        s.mtu = integer(m.get("mtu"), "stack.mtu");
        s.subnet = string(m.get("subnet"), "stack.subnet");
        s.gatewayIp = string(m.get("gatewayIP"), "stack.gatewayIP");
        s.deviceIp = string(m.get("deviceIP"), "stack.deviceIP");
        s.hostIp = string(m.get("hostIP"), "stack.hostIP");
        s.gatewayMacAddress = string(m.get("gatewayMacAddress"), "stack.gatewayMacAddress");
        if (m.get("dns") != null) {
            s.dns = new ArrayList<>();
            List<Object> zl = list(m.get("dns"), "stack.dns");
            for (int k = 0; k < zl.size(); k++) {
                String p = "stack.dns[" + k + "]";
                Map<String, Object> z = map(zl.get(k), p);
                List<DnsRecord> records = null;
                if (z.get("records") != null) {
                    records = new ArrayList<>();
                    List<Object> rl = list(z.get("records"), p + ".records");
                    for (int r = 0; r < rl.size(); r++) {
                        String rp = p + ".records[" + r + "]";
                        Map<String, Object> rec = map(rl.get(r), rp);
                        records.add(new DnsRecord(string(rec.get("name"), rp + ".name"), string(rec.get("ip"), rp + ".ip"),
                                string(rec.get("regexp"), rp + ".regexp")));
                    }
                }
                s.dns.add(new DnsZone(string(z.get("name"), p + ".name"), records, string(z.get("defaultIP"), p + ".defaultIP")));
            }
        }
        s.dnsSearchDomains = stringList(m.get("dnsSearchDomains"), "stack.dnsSearchDomains");
        s.forwards = stringMap(m.get("forwards"), "stack.forwards");
        s.nat = stringMap(m.get("nat"), "stack.nat");
        s.gatewayVirtualIps = stringList(m.get("gatewayVirtualIPs"), "stack.gatewayVirtualIPs");
        s.dhcpStaticLeases = stringMap(m.get("dhcpStaticLeases"), "stack.dhcpStaticLeases");
        s.dhcpv6StaticLeases = stringMap(m.get("dhcpv6StaticLeases"), "stack.dhcpv6StaticLeases");
        s.vpnKitUuidMacAddresses = stringMap(m.get("vpnKitUUIDMacAddresses"), "stack.vpnKitUUIDMacAddresses");
        s.ec2MetadataAccess = bool(m.get("ec2MetadataAccess"), "stack.ec2MetadataAccess");
        s.nat64 = bool(m.get("nat64"), "stack.nat64");
        if (m.get("ipv6") != null) {
            Map<String, Object> v = map(m.get("ipv6"), "stack.ipv6");
            Ipv6 x = new Ipv6();
            x.enabled = bool(v.get("enabled"), "stack.ipv6.enabled");
            x.subnet = string(v.get("subnet"), "stack.ipv6.subnet");
            x.gatewayIp = string(v.get("gatewayIP"), "stack.ipv6.gatewayIP");
            x.hostIp = string(v.get("hostIP"), "stack.ipv6.hostIP");
            x.deviceIp = string(v.get("deviceIP"), "stack.ipv6.deviceIP");
            s.ipv6 = x;
        }
        if (m.get("egress") != null) {
            s.egress = new ArrayList<>();
            List<Object> el = list(m.get("egress"), "stack.egress");
            for (int k = 0; k < el.size(); k++) {
                String p = "stack.egress[" + k + "]";
                Map<String, Object> rule = map(el.get(k), p);
                for (Map.Entry<String, Object> e : rule.entrySet()) {
                    string(e.getValue(), p + "." + e.getKey()); // scalars only; values are checked on resolve
                }
                s.egress.add(rule);
            }
        }
        s.preserveClientAddress = bool(m.get("preserveClientAddress"), "stack.preserveClientAddress");
        s.tcpMaxInFlight = integer(m.get("tcpMaxInFlight"), "stack.tcpMaxInFlight");
        s.tcpConnectTimeout = string(m.get("tcpConnectTimeout"), "stack.tcpConnectTimeout");
        s.busyPoll = string(m.get("busyPoll"), "stack.busyPoll");
        return s;
    }

    /** A value of the wrong YAML shape; the message starts with its path. */
    static final class TypeError extends Exception {
        TypeError(String path, String expected, Object got) {
            super(path + ": expected " + expected + ", got " + describe(got));
        }
    }

    private static String describe(Object v) {
        if (v instanceof Map) {
            return "a mapping";
        }
        if (v instanceof List) {
            return "a sequence";
        }
        if (v instanceof String s) {
            return "\"" + s + "\"";
        }
        return String.valueOf(v);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object v, String path) throws TypeError {
        if (!(v instanceof Map<?, ?> m)) {
            throw new TypeError(path.isEmpty() ? "configuration" : path, "a mapping", v);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            out.put(String.valueOf(e.getKey()), e.getValue());
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object v, String path) throws TypeError {
        if (!(v instanceof List<?>)) {
            throw new TypeError(path, "a sequence", v);
        }
        return (List<Object>) v;
    }

    /** Scalars of any kind are accepted as text (IPs, ports and regexps are parsed later). */
    private static String string(Object v, String path) throws TypeError {
        if (v == null) {
            return null;
        }
        if (v instanceof Map || v instanceof List || v instanceof byte[]) {
            throw new TypeError(path, "a string", v);
        }
        return String.valueOf(v);
    }

    private static List<String> stringList(Object v, String path) throws TypeError {
        if (v == null) {
            return null;
        }
        List<Object> l = list(v, path);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < l.size(); i++) {
            String s = string(l.get(i), path + "[" + i + "]");
            out.add(s == null ? "" : s);
        }
        return out;
    }

    private static Map<String, String> stringMap(Object v, String path) throws TypeError {
        if (v == null) {
            return null;
        }
        Map<String, Object> m = map(v, path);
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : m.entrySet()) {
            String s = string(e.getValue(), path + "." + e.getKey());
            out.put(e.getKey(), s == null ? "" : s);
        }
        return out;
    }

    private static Long integer(Object v, String path) throws TypeError {
        if (v == null) {
            return null;
        }
        if (v instanceof Integer || v instanceof Long) {
            return ((Number) v).longValue();
        }
        if (v instanceof BigInteger) {
            throw new TypeError(path, "an integer in range", v);
        }
        throw new TypeError(path, "an integer", v);
    }

    /** YAML 1.2 booleans, plus the YAML 1.1 words gopkg.in/yaml.v3 still accepts for bool fields. */
    private static Boolean bool(Object v, String path) throws TypeError {
        if (v == null) {
            return null;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if (v instanceof String s) {
            switch (s.toLowerCase(Locale.ROOT)) {
                case "yes", "on", "y", "true" -> {
                    return true;
                }
                case "no", "off", "n", "false" -> {
                    return false;
                }
                default -> {
                }
            }
        }
        throw new TypeError(path, "a boolean", v);
    }
}
