package dev.gvproxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.model.DnsRecord;
import dev.gvproxy.model.DnsZone;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.wire.Ipv4Address;
import dev.gvproxy.stack.wire.MacAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** YAML parsing, CLI-over-YAML precedence, legacy vs config mode and validation messages (spec 3.6, 6, 7.2). */
class GvproxyConfigTest {
    @TempDir
    Path dir;

    private GvproxyConfig resolve(CliArgs cli, String yaml) throws ConfigException {
        Path resolv = dir.resolve("resolv.conf");
        try {
            Files.writeString(resolv, "nameserver 1.1.1.1\nsearch example.test corp.test\n");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        if (yaml != null) {
            cli.config = dir.resolve("c.yaml").toString();
        }
        GvproxyConfig c = GvproxyConfig.resolve(cli, yaml == null ? null : YamlConfig.parse(yaml), resolv);
        c.validate();
        c.addCliSshForwards(cli);
        return c;
    }

    private static int ip(String s) {
        return Ipv4Address.parse(s);
    }

    @Test
    void legacyDefaults() throws Exception {
        GvproxyConfig c = resolve(new CliArgs(), null);
        assertTrue(c.legacy);
        StackConfig s = c.stackConfig();
        assertEquals(1500, s.mtu());
        assertEquals(ip("192.168.127.1"), s.gatewayIp());
        assertEquals(ip("192.168.127.2"), s.deviceIp());
        assertEquals(ip("192.168.127.254"), s.hostIp());
        assertEquals(StackConfig.DEFAULT_GATEWAY_MAC, s.gatewayMac());
        assertEquals(Map.of(ip("192.168.127.254"), ip("127.0.0.1")), s.nat());
        assertEquals(List.of(ip("192.168.127.254")), s.gatewayVirtualIps());
        assertEquals(Map.of(ip("192.168.127.2"), StackConfig.DEFAULT_DEVICE_MAC), s.dhcpStaticLeases());
        assertEquals(List.of(new PortForward("127.0.0.1:2222", "192.168.127.2:22", "tcp")), c.forwards);
        assertEquals(List.of("containers.internal.", "docker.internal."), c.dnsZones.stream().map(DnsZone::name).toList());
        // IPv4 records as upstream's, then AAAA records for the same names (the IPv6 gateway and host alias).
        assertEquals(List.of(new DnsRecord("gateway", "192.168.127.1", null), new DnsRecord("host", "192.168.127.254", null),
                new DnsRecord("gateway", "fd00:5a94:efe4::1", null),
                new DnsRecord("host", "fd00:5a94:efe4:0:ffff:ffff:ffff:fffe", null)),
                c.dnsZones.get(0).records());
        assertEquals(List.of("example.test", "corp.test"), c.dnsSearchDomains);
        assertEquals(StackConfig.DEFAULT_DEVICE_MAC, c.vpnkitUuidMacs.get(GvproxyConfig.LEGACY_VPNKIT_UUID));
        assertEquals("info", c.logLevel);
        assertFalse(c.debug);
    }

    @Test
    void emptyConfigFileFillsOnlyAddressesAndDefaults() throws Exception {
        GvproxyConfig c = resolve(new CliArgs(), "");
        assertFalse(c.legacy);
        assertEquals(ip("192.168.127.1"), c.stackConfig().gatewayIp());
        assertEquals(Map.of(), c.stackConfig().dhcpStaticLeases());
        assertEquals(List.of(), c.forwards);
        assertEquals(List.of(), c.dnsZones);
        assertEquals(List.of(), c.dnsSearchDomains);
        assertTrue(c.vpnkitUuidMacs.isEmpty());
        assertEquals(Map.of(ip("192.168.127.254"), ip("127.0.0.1")), c.stackConfig().nat());
    }

    @ParameterizedTest
    @CsvSource({
        "192.168.127.0/24, 192.168.127.1, 192.168.127.2, 192.168.127.254",
        "10.10.0.0/16, 10.10.0.1, 10.10.0.2, 10.10.255.254",
        "172.16.0.0/12, 172.16.0.1, 172.16.0.2, 172.31.255.254",
    })
    void addressDerivation(String subnet, String gw, String dev, String host) throws Exception {
        CliArgs cli = new CliArgs();
        cli.subnet = subnet;
        GvproxyConfig c = resolve(cli, null);
        assertEquals(gw, c.gatewayIp);
        assertEquals(dev, c.deviceIp);
        assertEquals(host, c.hostIp);
        GvproxyConfig y = resolve(new CliArgs(), "stack:\n  subnet: " + subnet + "\n");
        assertEquals(host, y.hostIp);
    }

    @Test
    void fullConfigFileAndUnknownKeysIgnored() throws Exception {
        String yaml = """
                listen:
                  - unix:///tmp/a.sock
                log-level: WARNING
                unknown-top: 1
                stack:
                  mtu: 4000
                  subnet: 10.0.0.0/16
                  gatewayIP: 10.0.0.1
                  hostIP: 10.0.0.254
                  gatewayMacAddress: 5a:94:ef:e4:0c:aa
                  capture-file: /tmp/cap.pcap
                  somethingNew: true
                  dns:
                    - name: dynamic.testing.
                      defaultIP: 10.0.0.2
                    - name: testing.
                      records:
                        - name: host
                          ip: 10.0.0.254
                        - regexp: '^gw.*'
                          ip: 10.0.0.1
                  dnsSearchDomains: [a.test]
                  forwards:
                    "127.0.0.1:2223": 10.0.0.2:22
                    "udp:127.0.0.1:5353": 10.0.0.2:53
                  nat:
                    10.0.0.254: 127.0.0.1
                  gatewayVirtualIPs: [10.0.0.254, 10.0.0.253]
                  dhcpStaticLeases:
                    10.0.0.2: 5a:94:ef:e4:0c:ee
                  vpnKitUUIDMacAddresses:
                    11111111-2222-3333-4444-555555555555: 5a:94:ef:e4:0c:01
                  ec2MetadataAccess: true
                interfaces:
                  qemu: unix:///tmp/does-not-exist-gvj-q.sock
                pid-file: /tmp/p.pid
                services: unix:///tmp/s.sock
                notification: /tmp/n.sock
                """;
        GvproxyConfig c = resolve(new CliArgs(), yaml);
        assertEquals(List.of("unix:///tmp/a.sock"), c.listen);
        assertEquals("warning", c.logLevel);
        assertEquals(4000, c.stackConfig().mtu());
        assertEquals(MacAddress.parse("5a:94:ef:e4:0c:aa"), c.stackConfig().gatewayMac());
        assertEquals("10.0.0.2", c.deviceIp);
        assertEquals("/tmp/cap.pcap", c.captureFile);
        assertEquals(2, c.dnsZones.size());
        assertEquals("^gw.*", c.dnsZones.get(1).records().get(1).regexp());
        assertEquals(List.of("a.test"), c.dnsSearchDomains);
        assertEquals(List.of(new PortForward("127.0.0.1:2223", "10.0.0.2:22", "tcp"),
                new PortForward("127.0.0.1:5353", "10.0.0.2:53", "udp")), c.forwards);
        assertEquals(List.of(ip("10.0.0.254"), ip("10.0.0.253")), c.stackConfig().gatewayVirtualIps());
        assertEquals(Map.of(ip("10.0.0.2"), MacAddress.parse("5a:94:ef:e4:0c:ee")), c.stackConfig().dhcpStaticLeases());
        assertEquals(MacAddress.parse("5a:94:ef:e4:0c:01"), c.vpnkitUuidMacs.get("11111111-2222-3333-4444-555555555555"));
        assertTrue(c.ec2MetadataAccess);
        assertEquals("unix:///tmp/does-not-exist-gvj-q.sock", c.qemu);
        assertEquals("/tmp/p.pid", c.pidFile);
        assertEquals("unix:///tmp/s.sock", c.services);
        assertEquals("/tmp/n.sock", c.notificationPath);
    }

    @Test
    void cliOverYaml() throws Exception {
        CliArgs cli = new CliArgs();
        cli.listen = List.of("unix:///tmp/cli.sock");
        cli.mtu = 9000;
        cli.subnet = "10.9.0.0/24"; // YAML subnet wins
        cli.pidFile = "/tmp/cli.pid";
        cli.listenStdio = "accept";
        cli.notification = "unix:///tmp/cli-n.sock";
        GvproxyConfig c = resolve(cli, """
                listen: [unix:///tmp/yaml.sock]
                pid-file: /tmp/yaml.pid
                notification: /tmp/yaml-n.sock
                stack:
                  mtu: 4000
                  subnet: 10.1.0.0/24
                """);
        assertEquals(List.of("unix:///tmp/cli.sock"), c.listen);
        assertEquals(9000, c.stackConfig().mtu());
        assertEquals(ip("10.1.0.1"), c.stackConfig().gatewayIp());
        assertEquals("/tmp/cli.pid", c.pidFile);
        assertEquals("accept", c.stdio);
        assertEquals("/tmp/cli-n.sock", c.notificationPath);
    }

    @Test
    void cliAddressFlagsUsedWhenYamlHasNone() throws Exception {
        CliArgs cli = new CliArgs();
        cli.subnet = "10.2.0.0/24";
        cli.deviceIp = "10.2.0.50";
        GvproxyConfig c = resolve(cli, "log-level: info\n");
        assertEquals(ip("10.2.0.50"), c.stackConfig().deviceIp());
    }

    @Test
    void logLevels() throws Exception {
        assertTrue(resolve(new CliArgs(), "log-level: debug\n").debug);
        CliArgs dbg = new CliArgs();
        dbg.debug = true;
        GvproxyConfig c = resolve(dbg, "log-level: error\n");
        assertEquals("debug", c.logLevel);
        assertTrue(c.debug);
        GvproxyConfig bad = resolve(new CliArgs(), "log-level: loud\n");
        assertEquals("info", bad.logLevel);
        assertTrue(bad.warnings.get(0).contains("loud"), bad.warnings.toString());
    }

    @Test
    void pcapAndSshPortOnlyInLegacyMode() throws Exception {
        CliArgs cli = new CliArgs();
        cli.pcap = "/tmp/x.pcap";
        cli.sshPort = 2223;
        cli.sshPortSet = true;
        GvproxyConfig legacy = resolve(cli, null);
        assertEquals("/tmp/x.pcap", legacy.captureFile);
        assertEquals("127.0.0.1:2223", legacy.forwards.get(0).local());
        CliArgs cli2 = new CliArgs();
        cli2.pcap = "/tmp/x.pcap";
        cli2.sshPort = 2223;
        cli2.sshPortSet = true;
        GvproxyConfig config = resolve(cli2, "log-level: info\n");
        assertEquals("", config.captureFile);
        assertTrue(config.forwards.isEmpty());
        assertTrue(config.warnings.stream().anyMatch(w -> w.startsWith("CLI argument \"-ssh-port\" is unavailable with config file")),
                config.warnings.toString());
        CliArgs off = new CliArgs();
        off.sshPort = -1;
        assertTrue(resolve(off, null).forwards.isEmpty());
    }

    @Test
    void sshForwardsYamlThenCli() throws Exception {
        Path key = Files.writeString(dir.resolve("id"), "key");
        CliArgs cli = new CliArgs();
        cli.forwardSock = List.of("/tmp/b.sock");
        cli.forwardDest = List.of("/run/b.sock");
        cli.forwardUser = List.of("core");
        cli.forwardIdentity = List.of(key.toString());
        GvproxyConfig c = resolve(cli, "forwards:\n  - socket: /tmp/a.sock\n    dest: /run/a.sock\n    user: root\n    identity: "
                + key + "\n");
        assertEquals(List.of("/tmp/a.sock", "/tmp/b.sock"), c.sshForwards.stream().map(YamlConfig.SshForward::socket).toList());
    }

    @Test
    void dhcpv6StaticLeasesByMacAndDuidAndIpv6ZoneRecords() throws Exception {
        String yaml = """
                stack:
                  dnsSearchDomains: [a.test]
                  dns:
                    - name: testing.
                      records:
                        - name: web
                          ip: fd00:5a94:efe4::80
                  dhcpv6StaticLeases:
                    "fd00:5a94:efe4::10": 5a:94:ef:e4:0c:01
                    "fd00:5a94:efe4::11": "00:03:00:01:5a:94:ef:e4:0c:02"
                """;
        GvproxyConfig c = resolve(new CliArgs(), yaml);
        assertEquals("fd00:5a94:efe4::80", c.dnsZones.get(0).records().get(0).ip());
        dev.gvproxy.dhcp.Dhcpv6Config d = c.dhcpv6;
        assertEquals(dev.gvproxy.stack.wire.Ipv6Address.parse("fd00:5a94:efe4::10"),
                d.staticByMac().get(MacAddress.parse("5a:94:ef:e4:0c:01")));
        assertEquals(dev.gvproxy.stack.wire.Ipv6Address.parse("fd00:5a94:efe4::11"),
                d.staticByDuid().get("000300015a94efe40c02"));
        assertEquals(List.of("a.test"), d.searchDomains());
    }

    @Test
    void ipv6SubnetDerivesTheGatewayHostAliasAndDeviceAsUpstreamDoes() throws Exception {
        GvproxyConfig c = resolve(new CliArgs(), "stack:\n  ipv6:\n    subnet: fc00::fff/64\n");
        dev.gvproxy.stack.Ipv6Config v6 = c.stackConfig().ipv6();
        assertEquals("fc00::1", v6.gateway().toString(), "spec 7.2: the subnet's first address");
        assertEquals("fc00::ffff:ffff:ffff:fffe", v6.hostAlias().toString());
        assertEquals("fc00::2", v6.device().toString());
        assertTrue(v6.enabled());
        assertNotNull(c.dhcpv6, "DHCPv6 serves the same prefix");
    }

    @Test
    void ipv6AddressesAndSwitch() throws Exception {
        GvproxyConfig c = resolve(new CliArgs(), """
                stack:
                  ipv6:
                    subnet: fd12:3456:789a:1::/64
                    gatewayIP: fd12:3456:789a:1::fe
                    hostIP: fd12:3456:789a:1::fd
                    deviceIP: fd12:3456:789a:1::10
                """);
        dev.gvproxy.stack.Ipv6Config v6 = c.stackConfig().ipv6();
        assertEquals("fd12:3456:789a:1::fe", v6.gateway().toString());
        assertEquals("fd12:3456:789a:1::fd", v6.hostAlias().toString());
        assertEquals("fd12:3456:789a:1::10", v6.device().toString());
        GvproxyConfig off = resolve(new CliArgs(), "stack:\n  ipv6:\n    enabled: false\n");
        assertFalse(off.stackConfig().ipv6().enabled());
        assertNull(off.dhcpv6, "no DHCPv6 server without IPv6");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "stack:\\n  mtu: big|failed to parse configuration: stack.mtu: expected an integer, got \"big\"",
        "stack:\\n  mtu: 70000|stack.mtu: must be between 576 and 65520, got 70000",
        "stack:\\n  gatewayMacAddress: zz|stack.gatewayMacAddress: invalid MAC address: zz",
        "listen: unix:///x|failed to parse configuration: listen: expected a sequence, got \"unix:///x\"",
        "stack:\\n  dns:\\n    - name: a.\\n      defaultIP: 1.2.3|stack.dns[0].defaultIP: invalid IP address: 1.2.3",
        "stack:\\n  dns:\\n    - name: a.\\n      records:\\n        - {name: x, ip: nope}|stack.dns[0].records[0].ip: invalid IP address: nope",
        "stack:\\n  nat:\\n    1.2.3.4: nope|stack.nat.1.2.3.4: invalid IP address: nope",
        "stack:\\n  gatewayVirtualIPs: [x]|stack.gatewayVirtualIPs[0]: invalid IP address: x",
        "stack:\\n  dhcpStaticLeases:\\n    10.0.0.2: nomac|stack.dhcpStaticLeases.10.0.0.2: invalid MAC address: nomac",
        "stack:\\n  forwards:\\n    '127.0.0.1:1': 'foo:22'|stack.forwards.127.0.0.1:1: invalid remote addr",
        "stack:\\n  dhcpv6StaticLeases:\\n    'fd00:5a94:efe4::9': zz|stack.dhcpv6StaticLeases.fd00:5a94:efe4::9: neither a MAC nor a DUID: zz",
        "stack:\\n  dhcpv6StaticLeases:\\n    'nope': 5a:94:ef:e4:0c:01|stack.dhcpv6StaticLeases key: invalid IPv6 address: nope",
        "stack:\\n  dhcpv6StaticLeases:\\n    '2001:2::9': 5a:94:ef:e4:0c:01|stack.dhcpv6StaticLeases: DHCPv6 static address 2001:2::9 is not a guest address",
        "stack:\\n  dns:\\n    - name: a.\\n      records:\\n        - {name: x, ip: 'fd00::1::1'}|stack.dns[0].records[0].ip: invalid IP address: fd00::1::1",
        "stack:\\n  subnet: 10.0.0.0/30|subnet too small",
        "stack:\\n  ipv6:\\n    subnet: fd00::/48|stack.ipv6.subnet: want an IPv6 prefix of length 64",
        "stack:\\n  ipv6:\\n    subnet: 10.0.0.0/64|stack.ipv6.subnet: want an IPv6 prefix of length 64",
        "stack:\\n  ipv6:\\n    gatewayIP: 10.0.0.1|stack.ipv6.gatewayIP: not an IPv6 address: 10.0.0.1",
        "stack:\\n  ipv6:\\n    hostIP: 'fd00:1::5'|stack.ipv6: IPv6 address fd00:1::5 is not a host address in the prefix",
        "stack:\\n  ipv6:\\n    deviceIP: 'fd00:5a94:efe4::1'|stack.ipv6: IPv6 gateway fd00:5a94:efe4::1, host alias",
        "stack:\\n  ipv6:\\n    enabled: sometimes|failed to parse configuration: stack.ipv6.enabled: expected a boolean",
        "stack:\\n  ipv6: yes|failed to parse configuration: stack.ipv6: expected a mapping",
        "stack:\\n  subnet: nonsense|failed to parse subnet: invalid CIDR address: nonsense",
        "stack:\\n  ec2MetadataAccess: maybe|failed to parse configuration: stack.ec2MetadataAccess: expected a boolean, got \"maybe\"",
        "'['|failed to parse configuration: ",
    })
    void invalidYamlValuesNameTheField(String yaml, String message) {
        ConfigException e = assertThrows(ConfigException.class, () -> resolve(new CliArgs(), yaml.replace("\\n", "\n")));
        assertTrue(e.getMessage().startsWith(message), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "subnet=10.0.0.1|failed to parse subnet: invalid CIDR address: 10.0.0.1",
        "gatewayIP=10.0.0.1|failed to validate configuration IPs: IP (10.0.0.1) not in subnet (192.168.127.0/24)",
        "gatewayIP=192.168.127.255|failed to validate configuration IPs: IP must not be broadcast address: 192.168.127.255",
        "deviceIP=192.168.127.1|failed to validate configuration IPs: IP addresses need to be distinct",
        "hostIP=nope|failed to validate configuration IPs: invalid IP address: nope",
        "notification=tcp://x|notification listen address must be unix:// address",
        "bess=unix:///tmp/x|bess listen address must be unixpacket:// address",
        "vfkit=unix:///tmp/x|vfkit listen address must be unixgram:// address",
        "vpnkit+qemu|cannot use qemu and vpnkit protocol at the same time",
        "vpnkit+bess|cannot use bess and vpnkit protocol at the same time",
        "qemu+bess|cannot use qemu and bess protocol at the same time",
        "ssh-port=80|ssh-port value must be between 1024 and 65535",
        "ssh-port=65536|ssh-port value must be between 1024 and 65535",
        "forward-count|--forward-sock, --forward-dest, --forward-user, and --forward-identity must all be specified together, the same number of times, or not at all",
        "identity|identity file \"/nonexistent/id\" can't be loaded",
        "mtu=100|-mtu: must be between 576 and 65520, got 100",
    })
    void cliValidationMessages(String what, String message) {
        CliArgs cli = new CliArgs();
        String[] kv = what.split("=", 2);
        switch (kv[0]) {
            case "subnet" -> cli.subnet = kv[1];
            case "gatewayIP" -> cli.gatewayIp = kv[1];
            case "deviceIP" -> cli.deviceIp = kv[1];
            case "hostIP" -> cli.hostIp = kv[1];
            case "notification" -> cli.notification = kv[1];
            case "bess" -> cli.listenBess = kv[1];
            case "vfkit" -> cli.listenVfkit = kv[1];
            case "vpnkit+qemu" -> {
                cli.listenVpnkit = "unix:///tmp/gvj-v";
                cli.listenQemu = "tcp://127.0.0.1:1";
            }
            case "vpnkit+bess" -> {
                cli.listenVpnkit = "unix:///tmp/gvj-v";
                cli.listenBess = "unixpacket:///tmp/gvj-nonexistent-b";
            }
            case "qemu+bess" -> {
                cli.listenQemu = "tcp://127.0.0.1:1";
                cli.listenBess = "unixpacket:///tmp/gvj-nonexistent-b";
            }
            case "ssh-port" -> cli.sshPort = Long.parseLong(kv[1]);
            case "forward-count" -> cli.forwardSock = List.of("/tmp/x");
            case "identity" -> {
                cli.forwardSock = List.of("/tmp/x");
                cli.forwardDest = List.of("/run/x");
                cli.forwardUser = List.of("core");
                cli.forwardIdentity = List.of("/nonexistent/id");
            }
            case "mtu" -> cli.mtu = Long.parseLong(kv[1]);
            default -> throw new IllegalArgumentException(what);
        }
        ConfigException e = assertThrows(ConfigException.class, () -> resolve(cli, null));
        assertTrue(e.getMessage().startsWith(message), e.getMessage());
    }

    @Test
    void existingHypervisorSocketPathIsRefused() throws Exception {
        Path f = Files.createFile(dir.resolve("q.sock"));
        CliArgs cli = new CliArgs();
        cli.listenQemu = "unix://" + f;
        ConfigException e = assertThrows(ConfigException.class, () -> resolve(cli, null));
        assertEquals("\"" + f + "\" already exists", e.getMessage());
    }

    @Test
    void missingConfigFile() {
        ConfigException e = assertThrows(ConfigException.class, () -> YamlConfig.load(dir.resolve("nope.yaml")));
        assertTrue(e.getMessage().startsWith("failed to read config file: "), e.getMessage());
    }

    @Test
    void stdioInYaml() throws Exception {
        assertEquals("accept", resolve(new CliArgs(), "interfaces:\n  stdio: accept\n").stdio);
    }

    /** {@code -listen-tap} and {@code interfaces.tap}: the flag wins, as for every interface. */
    @Test
    void tapFromYamlOrFlag() throws Exception {
        String yaml = "interfaces:\n  tap: tap://tap0?netns=yaml\n";
        assertEquals("tap://tap0?netns=yaml", resolve(new CliArgs(), yaml).tap);
        CliArgs cli = new CliArgs();
        cli.listenTap = "tap://tap1?netns=flag&offload=true";
        assertEquals("tap://tap1?netns=flag&offload=true", resolve(cli, yaml).tap);
        assertEquals("", resolve(new CliArgs(), "").tap);
    }

    @org.junit.jupiter.api.Test
    void guestApiAndStateKeysFromYamlAndFlags() throws ConfigException {
        GvproxyConfig y = resolve(new CliArgs(), "api-token-file: /t\nguest-api-strict: true\nguest-unix-dir: /g\n"
                + "state-dir: /s\n");
        assertEquals("/t", y.apiTokenFile);
        assertTrue(y.guestApiStrict);
        assertEquals("/g", y.guestUnixDir);
        assertEquals("/s", y.stateDir);
        CliArgs cli = new CliArgs();
        cli.apiTokenFile = "/t2";
        cli.guestApiStrict = true;
        cli.guestUnixDir = "/g2";
        cli.stateDir = "/s2";
        GvproxyConfig c = resolve(cli, "state-dir: /s\n");
        assertEquals("/t2", c.apiTokenFile);
        assertTrue(c.guestApiStrict);
        assertEquals("/g2", c.guestUnixDir);
        assertEquals("/s2", c.stateDir, "the flag wins");
        GvproxyConfig none = resolve(new CliArgs(), "");
        assertEquals("", none.stateDir);
        org.junit.jupiter.api.Assertions.assertFalse(none.guestApiStrict);
    }

    /** Issue 12: every spelling of link-local access works (upstream honours only stack.ec2MetadataAccess). */
    @Test
    void ec2MetadataAccessByFlagTopLevelKeyAndStackKey() throws ConfigException {
        assertFalse(resolve(new CliArgs(), "").ec2MetadataAccess);
        assertFalse(resolve(new CliArgs(), null).ec2MetadataAccess);
        CliArgs flag = new CliArgs();
        flag.ec2MetadataAccess = true;
        assertTrue(resolve(flag, null).ec2MetadataAccess, "legacy mode, flag");
        CliArgs flag2 = new CliArgs();
        flag2.ec2MetadataAccess = true;
        assertTrue(resolve(flag2, "").ec2MetadataAccess, "config mode, flag");
        assertTrue(resolve(new CliArgs(), "ec2-metadata-access: true\n").ec2MetadataAccess);
        assertTrue(resolve(new CliArgs(), "stack:\n  ec2MetadataAccess: true\n").ec2MetadataAccess);
    }

    /** Issue 11: NAT64 is on unless stack.nat64 turns it off. */
    @Test
    void nat64OnByDefaultOffByYaml() throws ConfigException {
        assertTrue(resolve(new CliArgs(), null).nat64);
        assertTrue(resolve(new CliArgs(), "").nat64);
        assertTrue(resolve(new CliArgs(), "stack:\n  nat64: true\n").nat64);
        assertFalse(resolve(new CliArgs(), "stack:\n  nat64: false\n").nat64);
    }

    @Test
    void preserveClientAddressByFlagAndYaml() throws ConfigException {
        assertFalse(resolve(new CliArgs(), "").preserveClientAddress);
        CliArgs cli = new CliArgs();
        cli.preserveClientAddress = true;
        assertTrue(resolve(cli, null).preserveClientAddress);
        assertTrue(resolve(new CliArgs(), "stack:\n  preserveClientAddress: true\n").preserveClientAddress);
    }

    /** Upstream PR #698's names feed the connects-in-flight and connect-timeout limits; later sources win. */
    @Test
    void tcpConnectLimitsByUpstreamNamesFlagsAndLimits() throws ConfigException {
        GvproxyConfig y = resolve(new CliArgs(), "stack:\n  tcpMaxInFlight: 7\n  tcpConnectTimeout: 2s\n");
        assertEquals(7L, y.limits.values().get("connects-in-flight"));
        assertEquals(java.time.Duration.ofSeconds(2), y.limits.values().get("connect-timeout"));
        dev.gvproxy.forwarder.TcpForwarder.Options o = y.limits.tcpForwarding(
                dev.gvproxy.forwarder.TcpForwarder.Options.DEFAULTS);
        assertEquals(7, o.maxInFlight());
        assertEquals(2000, o.connectTimeoutMillis());

        GvproxyConfig l = resolve(new CliArgs(), "stack:\n  tcpMaxInFlight: 7\nlimits:\n  connects-in-flight: 9\n");
        assertEquals(9L, l.limits.values().get("connects-in-flight"), "limits: wins over stack.tcpMaxInFlight");

        CliArgs cli = new CliArgs();
        cli.tcpMaxInFlight = 3;
        cli.tcpConnectTimeout = "1m";
        GvproxyConfig f = resolve(cli, "stack:\n  tcpMaxInFlight: 7\nlimits:\n  connects-in-flight: 9\n");
        assertEquals(3L, f.limits.values().get("connects-in-flight"), "the flag wins over YAML");
        assertEquals(java.time.Duration.ofMinutes(1), f.limits.values().get("connect-timeout"));
        CliArgs both = new CliArgs();
        both.tcpMaxInFlight = 3;
        both.limit = List.of("connects-in-flight=4");
        assertEquals(4L, resolve(both, null).limits.values().get("connects-in-flight"), "-limit comes last");

        assertEquals("stack.tcpMaxInFlight: must be between 1 and 2147483647, got 0", assertThrows(
                ConfigException.class, () -> resolve(new CliArgs(), "stack:\n  tcpMaxInFlight: 0\n")).getMessage());
        assertEquals("stack.tcpConnectTimeout: expected a positive duration such as 30s or 5m, got \"soon\"",
                assertThrows(ConfigException.class,
                        () -> resolve(new CliArgs(), "stack:\n  tcpConnectTimeout: soon\n")).getMessage());
        CliArgs bad = new CliArgs();
        bad.tcpConnectTimeout = "-1s";
        assertTrue(assertThrows(ConfigException.class, () -> resolve(bad, null)).getMessage()
                .startsWith("-tcp-connect-timeout: expected a positive duration"));
    }

    /** The busy-poll window: off by default, from YAML or the flag (the flag wins), 0 to 10ms. */
    @Test
    void busyPollByFlagAndYaml() throws ConfigException {
        assertEquals(java.time.Duration.ZERO, resolve(new CliArgs(), null).busyPoll);
        assertEquals(java.time.Duration.ofNanos(50_000), resolve(new CliArgs(), "stack:\n  busyPoll: 50us\n").busyPoll);
        CliArgs cli = new CliArgs();
        cli.busyPoll = "0.2ms";
        assertEquals(java.time.Duration.ofNanos(200_000), resolve(cli, "stack:\n  busyPoll: 50us\n").busyPoll);
        cli.busyPoll = "0";
        assertEquals(java.time.Duration.ZERO, resolve(cli, null).busyPoll);
        assertEquals("stack.busyPoll: expected a duration from 0 to 10ms such as 50us, got \"1s\"",
                assertThrows(ConfigException.class, () -> resolve(new CliArgs(), "stack:\n  busyPoll: 1s\n"))
                        .getMessage());
        cli.busyPoll = "fast";
        assertTrue(assertThrows(ConfigException.class, () -> resolve(cli, null)).getMessage()
                .startsWith("-busy-poll: expected a duration"));
    }

    @Test
    void guestApiModeByFlagAndYaml() throws ConfigException {
        assertEquals("on", resolve(new CliArgs(), "").guestApi);
        assertEquals("read-only", resolve(new CliArgs(), "guest-api: read-only\n").guestApi);
        CliArgs cli = new CliArgs();
        cli.guestApi = "off";
        assertEquals("off", resolve(cli, "guest-api: read-only\n").guestApi, "the flag wins");
        CliArgs bad = new CliArgs();
        bad.guestApi = "none";
        assertEquals("-guest-api: expected on, read-only or off, got \"none\"",
                assertThrows(ConfigException.class, () -> resolve(bad, null)).getMessage());
        assertEquals("guest-api: expected on, read-only or off, got \"maybe\"",
                assertThrows(ConfigException.class, () -> resolve(new CliArgs(), "guest-api: maybe\n")).getMessage());
    }
}
