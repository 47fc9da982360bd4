package dev.gvproxy.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.xbill.DNS.Name;

/** resolv.conf and hosts parsing; only literals, never a lookup. */
class HostConfigFilesTest {
    @Test
    void resolvConfLikeGlibc() throws Exception {
        ResolvConf rc = ResolvConf.parse("""
                # comment
                ; also a comment
                nameserver 198.18.0.1
                nameserver ::1
                nameserver not-an-ip.example
                nameserver 198.18.0.2
                nameserver 198.18.0.3
                domain first.example
                search corp.example. lab.example # trailing
                options ndots:3 timeout:2 attempts:4 rotate edns0 bogus:x
                options timeout:99
                unknown line here
                """);
        assertEquals(List.of(new InetSocketAddress(InetAddress.ofLiteral("198.18.0.1"), 53),
                new InetSocketAddress(InetAddress.ofLiteral("::1"), 53),
                new InetSocketAddress(InetAddress.ofLiteral("198.18.0.2"), 53)), rc.nameservers(), "at most three");
        assertEquals(List.of("corp.example", "lab.example"), rc.search(), "last of search/domain wins");
        assertEquals(3, rc.ndots());
        assertEquals(Duration.ofSeconds(30), rc.timeout(), "clamped");
        assertEquals(4, rc.attempts());
        assertTrue(rc.rotate());
    }

    @Test
    void resolvConfDefaultsAndMissingFile() {
        ResolvConf d = ResolvConf.parse("");
        assertEquals(ResolvConf.defaults(), d);
        assertEquals(1, d.ndots());
        assertEquals(Duration.ofSeconds(5), d.timeout());
        assertEquals(2, d.attempts());
        assertEquals(ResolvConf.defaults(), ResolvConf.load(Path.of("/nonexistent/resolv.conf")));
        assertEquals(List.of("x.example"), ResolvConf.parse("search a.example\ndomain x.example\n").search());
        assertEquals(1, ResolvConf.parse("options ndots:abc").ndots());
    }

    @Test
    void hostsFile() throws Exception {
        HostsFile h = HostsFile.parse("""
                127.0.0.1\tlocalhost
                ::1 localhost ip6-localhost
                198.18.0.5 Web.Example. web   # alias
                198.18.0.6 web.example
                bogus line
                # 198.18.0.7 commented
                198.18.0.8
                """);
        assertEquals(List.of(InetAddress.ofLiteral("127.0.0.1"), InetAddress.ofLiteral("::1")), h.addresses("localhost."));
        assertEquals(List.of(InetAddress.ofLiteral("198.18.0.5"), InetAddress.ofLiteral("198.18.0.6")),
                h.addresses("WEB.example"));
        assertEquals(List.of(InetAddress.ofLiteral("198.18.0.5")), h.addresses("web"));
        assertEquals("Web.Example", h.name((Inet4Address) InetAddress.ofLiteral("198.18.0.5")));
        assertNull(h.addresses("commented"));
        assertNull(h.name((Inet4Address) InetAddress.ofLiteral("198.18.0.8")));
        assertTrue(HostsFile.load(Path.of("/nonexistent/hosts")).isEmpty());
        assertFalse(h.isEmpty());
    }

    @Test
    void reversePointerNames() throws Exception {
        assertEquals(InetAddress.ofLiteral("198.18.0.10"), DnsServer.reverseV4(Name.fromString("10.0.18.198.in-addr.arpa.")));
        assertEquals(InetAddress.ofLiteral("198.18.0.10"), DnsServer.reverseV4(Name.fromString("10.0.18.198.IN-ADDR.ARPA.")));
        assertNull(DnsServer.reverseV4(Name.fromString("0.18.198.in-addr.arpa.")));
        assertNull(DnsServer.reverseV4(Name.fromString("256.0.18.198.in-addr.arpa.")));
        assertNull(DnsServer.reverseV4(Name.fromString("010.0.18.198.in-addr.arpa.")));
        assertNull(DnsServer.reverseV4(Name.fromString("x.0.18.198.in-addr.arpa.")));
        assertNull(DnsServer.reverseV4(Name.fromString("1.0.18.198.ip6.arpa.")));
    }
}
