package dev.gvproxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.dhcp.DhcpConfig;
import dev.gvproxy.dns.DnsConfig;
import dev.gvproxy.forwarder.GuestFlows;
import dev.gvproxy.forwarder.TcpForwarder;
import dev.gvproxy.stack.PortSecurity;
import dev.gvproxy.stack.StackConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The {@code limits:} section and {@code -limit} flags: parsing, errors with their source, precedence, use. */
class LimitsTest {
    private static GvproxyConfig resolve(List<String> flags, String yaml) throws ConfigException {
        CliArgs cli = new CliArgs();
        cli.limit.addAll(flags);
        cli.config = yaml == null ? "" : "c.yaml";
        GvproxyConfig c = GvproxyConfig.resolve(cli, yaml == null ? null : YamlConfig.parse(yaml),
                Path.of("/nonexistent/resolv.conf"));
        c.validate();
        return c;
    }

    @Test
    void yamlAndFlagsSetLimitsAndTheFlagWins() throws Exception {
        GvproxyConfig c = resolve(List.of("sockets-per-guest=100", "tcp-memory=64MiB", "strict-source=true"), """
                limits:
                  sockets-per-guest: 5000
                  macs-per-port: 4
                  mac-ageing: 2m30s
                  leave-grace: 10s
                  leases-per-port: 2
                  dns-in-flight-per-guest: 8
                  connect-timeout: 1500ms
                """);
        PortSecurity p = c.stackConfig().portSecurity();
        assertEquals(4, p.macsPerPort());
        assertEquals(PortSecurity.DEFAULT_MACS_TOTAL, p.macsTotal());
        assertEquals(Duration.ofSeconds(150).toNanos(), p.macAgeingNanos());
        assertTrue(p.strictSource());
        GuestFlows.Limits g = c.limits.guestFlows(GuestFlows.Limits.forDescriptorLimit(20_000));
        assertEquals(100, g.socketsPerGuest());
        assertEquals(GuestFlows.Limits.forDescriptorLimit(20_000).socketsPerNetwork(), g.socketsPerNetwork());
        assertEquals(Duration.ofSeconds(10).toNanos(), g.graceNanos());
        assertEquals(64L << 20, c.limits.values().get("tcp-memory"));
        assertEquals(1500, c.limits.tcpForwarding(TcpForwarder.Options.DEFAULTS).connectTimeoutMillis());
        assertEquals(TcpForwarder.Options.DEFAULTS.maxInFlight(),
                c.limits.tcpForwarding(TcpForwarder.Options.DEFAULTS).maxInFlight());
        assertEquals(2, c.limits.apply(DhcpConfig.builder(StackConfig.defaults())).build().leasesPerPort());
        assertEquals(8, c.limits.apply(DnsConfig.builder()).build().maxInFlightPerClient());
    }

    @Test
    void withoutLimitsEverythingKeepsItsDefault() throws Exception {
        GvproxyConfig c = resolve(List.of(), null);
        assertEquals(PortSecurity.defaults(), c.stackConfig().portSecurity());
        GuestFlows.Limits base = GuestFlows.Limits.forDescriptorLimit(4096);
        assertEquals(base, c.limits.guestFlows(base));
        assertEquals(TcpForwarder.Options.DEFAULTS, c.limits.tcpForwarding(TcpForwarder.Options.DEFAULTS));
        assertTrue(c.limits.values().isEmpty());
    }

    @Test
    void badNamesAndValuesSayWhereAndWhat() {
        ConfigException e = assertThrows(ConfigException.class, () -> resolve(List.of("sockets=1"), null));
        assertTrue(e.getMessage().startsWith("-limit sockets: unknown limit \"sockets\" (known: macs-per-port, "),
                e.getMessage());
        e = assertThrows(ConfigException.class, () -> resolve(List.of(), "limits:\n  macs-per-port: many\n"));
        assertEquals("limits.macs-per-port: expected a positive integer, got \"many\"", e.getMessage());
        e = assertThrows(ConfigException.class, () -> resolve(List.of("udp-flows-per-guest=0"), null));
        assertEquals("-limit udp-flows-per-guest: must be between 1 and 2147483647, got 0", e.getMessage());
        e = assertThrows(ConfigException.class, () -> resolve(List.of("leave-grace=30"), null));
        assertTrue(e.getMessage().contains("expected a positive duration"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> resolve(List.of("tcp-memory=lots"), null));
        assertTrue(e.getMessage().contains("expected a size"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> resolve(List.of("tcp-memory"), null));
        assertEquals("-limit: expected name=value, got \"tcp-memory\"", e.getMessage());
        e = assertThrows(ConfigException.class, () -> resolve(List.of(), "limits:\n  macs-total: [1, 2]\n"));
        assertTrue(e.getMessage().contains("limits.macs-total"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> resolve(List.of("mac-ageing=500ms"), null));
        assertTrue(e.getMessage().contains("at least 1 s"), e.getMessage());
    }

    @Test
    void goDurationsAndSizes() {
        assertEquals(Duration.ofMinutes(90), Limits.goDuration("1h30m"));
        assertEquals(Duration.ofMillis(1500), Limits.goDuration("1.5s"));
        assertEquals(Duration.ofNanos(2500), Limits.goDuration("2us500ns"));
        assertNull(Limits.goDuration("5"));
        assertNull(Limits.goDuration("5 s"));
        assertNull(Limits.goDuration("-5s"));
        assertEquals(1L << 30, Limits.bytes("1G"));
        assertEquals(3L << 10, Limits.bytes("3KiB"));
        assertEquals(42, Limits.bytes("42"));
        assertEquals(-1, Limits.bytes("99999999999999999999"));
        assertEquals(-1, Limits.bytes("9999999999999999G"));
    }
}
