package dev.gvproxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.gvproxy.forwarder.EgressPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code stack.egress} in the YAML: the README's example, defaults, and errors naming the entry at fault. */
class EgressConfigTest {
    @TempDir
    Path dir;

    private GvproxyConfig resolve(String yaml) throws Exception {
        Path resolv = Files.writeString(dir.resolve("resolv.conf"), "nameserver 1.1.1.1\n");
        CliArgs cli = new CliArgs();
        cli.config = dir.resolve("c.yaml").toString();
        GvproxyConfig c = GvproxyConfig.resolve(cli, YamlConfig.parse(yaml), resolv);
        c.validate();
        return c;
    }

    /** The README's example, as written there. */
    static final String README = """
            stack:
              egress:
                - action: allow           # the host alias (192.168.127.254 -> 127.0.0.1)
                  cidr: 192.168.127.254/32
                - action: deny            # the host's LAN (RFC 1918)
                  cidr: 10.0.0.0/8
                - action: deny
                  cidr: 172.16.0.0/12
                - action: deny
                  cidr: 192.168.0.0/16
                - action: deny            # the cloud metadata service
                  cidr: 169.254.169.254/32
                - action: deny
                  cidr: 0.0.0.0/0
                  protocol: tcp
                  ports: "25,8000-8999"
            """;

    @Test
    void theReadmeExampleIsRead() throws Exception {
        EgressPolicy p = resolve(README).egress;
        assertEquals(6, p.rules().size());
        assertEquals("allow 192.168.127.254/32 any", p.rules().get(0).toString());
        assertEquals("deny 169.254.169.254/32 any", p.rules().get(4).toString());
        assertEquals("deny 0.0.0.0/0 tcp ports 25,8000-8999", p.rules().get(5).toString());
        assertEquals(0, p.decideIpv4(EgressPolicy.Protocol.TCP, 0xC0A87FFE, 22), "host alias first");
        assertEquals(3, p.decideIpv4(EgressPolicy.Protocol.UDP, 0xC0A80101, 53), "192.168.1.1");
        assertEquals(-1, p.decideIpv4(EgressPolicy.Protocol.TCP, 0x01010101, 443), "the internet");
    }

    @Test
    void absentOrEmptyAllowsEverything() throws Exception {
        assertSame(EgressPolicy.ALLOW_ALL, resolve("stack:\n  mtu: 1500\n").egress);
        assertSame(EgressPolicy.ALLOW_ALL, resolve("stack:\n  egress: []\n").egress);
        assertEquals("53", resolve("stack:\n  egress:\n    - {action: deny, cidr: 10.0.0.0/8, protocol: udp, ports: 53}\n")
                .egress.rules().get(0).ports().toString(), "a bare number is a port");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "{action: deny, cidr: 10.0.0.0/33} | stack.egress[1].cidr: \"10.0.0.0/33\": prefix length 33 is not between 0 and 32",
        "{action: deny, cidr: 10.0.0.0/8, protocol: gre} | stack.egress[1].protocol: \"gre\": must be tcp, udp, icmp or any",
        "{action: deny, cidr: 10.0.0.0/8, ports: '22-'} | stack.egress[1].ports: \"22-\": \"\" is not a port (1-65535)",
        "{action: deny, cidr: 10.0.0.0/8, protocol: icmp, ports: 7} | stack.egress[1].ports: ports do not apply to icmp",
        "{action: block, cidr: 10.0.0.0/8} | stack.egress[1].action: \"block\": must be allow or deny",
        "{cidr: 10.0.0.0/8} | stack.egress[1].action: missing",
        "{action: deny, cidr: [10.0.0.0/8]} | failed to parse configuration: stack.egress[1].cidr: expected a string, got a sequence",
        "deny 10.0.0.0/8 | failed to parse configuration: stack.egress[1]: expected a mapping, got \"deny 10.0.0.0/8\"",
    })
    void badRulesAreConfigErrorsNamingTheEntry(String entry, String message) {
        String yaml = "stack:\n  egress:\n    - {action: allow, cidr: 192.168.127.254}\n    - " + entry + "\n";
        ConfigException e = assertThrows(ConfigException.class, () -> resolve(yaml));
        assertEquals(message, e.getMessage());
    }

    @Test
    void egressMustBeAList() {
        ConfigException e = assertThrows(ConfigException.class, () -> resolve("stack:\n  egress: deny\n"));
        assertEquals("failed to parse configuration: stack.egress: expected a sequence, got \"deny\"", e.getMessage());
    }
}
