package dev.gvproxy.it.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.forwarder.IcmpForwarder;
import dev.gvproxy.forwarder.PingSocket;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import dev.gvproxy.it.tcp.GuestFamily;
import dev.gvproxy.it.tcp.TcpServers;
import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.stack.Counters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A SLAAC guest over IPv6 with a real kernel and real tools (issue 11's must-show): {@code dig AAAA} resolves
 * {@code host.containers.internal} to the host alias, {@code ping -6} reaches the gateway (answered by the stack)
 * and, through ICMPv6 echo forwarding, the host alias, an IPv6 test host ({@code 2001:2::99}) and an IPv4-only
 * test host through NAT64 ({@code 64:ff9b::c612:6301}, i.e. 198.18.99.1); {@code curl -6} by name fetches from a
 * host HTTP server on {@code [::1]}.
 *
 * <p>The ping sockets are opened in a namespace of the test's own (ping sockets allowed there; the test hosts'
 * addresses on its {@code lo}), as in {@link ForwardingNetnsTest#pingTheHostThroughNat}: the host's
 * {@code net.ipv4.ping_group_range} usually forbids them, and no echo leaves for the real network.
 */
class Ipv6PingNetnsTest {
    static final String GATEWAY6 = "fd00:5a94:efe4::1";
    static final String HOST_ALIAS6 = "fd00:5a94:efe4:0:ffff:ffff:ffff:fffe";

    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    @Test
    void slaacGuestResolvesPingsAndFetchesOverIpv6() throws Exception {
        NetnsGuest.assumeSupported();
        Assumptions.assumeTrue(dev.gvproxy.platform.SocketTransport.get().isEpoll(),
                "skipped: ICMP echo forwarding needs the epoll transport");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/dig")), "needs dig (dnsutils)");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "needs curl");
        ForwardingNetnsTest.PingNamespace side = guests.track(ForwardingNetnsTest.PingNamespace.create());
        ForwardingNetnsTest.PingNamespace.run("ip", "-n", side.name(), "addr", "add", "2001:2::99/128", "dev", "lo");
        ForwardingNetnsTest.PingNamespace.run("ip", "-n", side.name(), "addr", "add", "198.18.99.1/32", "dev", "lo");

        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        IcmpForwarder icmp = net.internals().call(() -> IcmpForwarder.install(net.internals().stack(),
                net.internals().eventLoop(), net.internals().stack()::now, IcmpForwarder.Options.DEFAULTS,
                PingSocket.inNamespace(side.path())));
        guests.track(() -> net.internals().run(icmp::close));
        String url = "unix://" + dir.resolve("gvproxy.sock");
        net.listenApi(url);
        // DHCP writes the guest's resolv.conf (the gateway as its resolver): curl resolves the host alias by name.
        NetnsGuest g = guests.start(GuestFamily.IPV6.configure(NetnsGuest.builder(url).manageResolvConf(true)));
        g.awaitAddress(Duration.ofSeconds(30));
        GuestFamily.IPV6.awaitAddress(g);

        ExecResult dig = g.exec("dig", "+short", "+time=2", "+tries=2", "AAAA", "@" + GATEWAY6,
                "host.containers.internal");
        assertEquals(HOST_ALIAS6, dig.stdout().trim(), () -> dig + "\n" + g.diagnostics());

        for (String dst : new String[] {GATEWAY6, HOST_ALIAS6, "2001:2::99", "64:ff9b::c612:6301"}) {
            ExecResult ping = g.exec("ping", "-6", "-c", "3", "-i", "0.3", "-W", "5", dst);
            assertEquals(0, ping.exitCode(), () -> dst + ": " + ping + "\n" + g.diagnostics()
                    + net.internals().counters().snapshot());
            assertTrue(ping.stdout().contains(" 0% packet loss"), () -> dst + ": " + ping);
        }
        Counters c = net.internals().counters();
        assertTrue(c.get("icmp.fwd.replies") >= 9, () -> c.snapshot().toString());
        assertEquals(1, c.get("egress.nat64.icmp"), () -> c.snapshot().toString());
        assertTrue(c.get("egress.ipv6.icmp") >= 1, () -> c.snapshot().toString());

        try (TcpServers servers = new TcpServers()) {
            int port = servers.on(GuestFamily.IPV6.loopback()).http("hello over IPv6\n");
            NetnsGuest.await(Duration.ofSeconds(10), "resolv.conf", () -> Files.exists(g.resolvConf()), g::diagnostics);
            ExecResult curl = g.exec("curl", "-6", "-sS", "--max-time", "10",
                    "http://host.containers.internal:" + port + "/");
            assertEquals(0, curl.exitCode(), () -> curl + "\n" + read(g.resolvConf()) + "\n"
                    + getent(g) + "\n" + g.diagnostics());
            assertEquals("hello over IPv6\n", curl.stdout());
        }
        assertTrue(c.get("egress.ipv6.tcp") >= 1, () -> c.snapshot().toString());
    }

    private static String getent(NetnsGuest g) {
        try {
            return g.exec("getent", "ahostsv6", "host.containers.internal").toString();
        } catch (Exception e) {
            return "getent: " + e;
        }
    }

    private static String read(Path p) {
        try {
            return p + ":\n" + Files.readString(p);
        } catch (java.io.IOException e) {
            return p + ": " + e;
        }
    }
}
