package dev.gvproxy.it.tcp;

import dev.gvproxy.it.netns.NetnsGuest;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;

/**
 * The address family a transfer test runs over, so one test covers both (issue 11: "every test that depends on
 * the address family runs for both families, parameterised, not copied"). Over IPv4 the guest is configured by
 * DHCP and reaches host servers on 127.0.0.1 as 192.168.127.254; over IPv6 it also takes a SLAAC address from
 * the gateway's router advertisements and reaches servers on {@code ::1} as the default ULA host alias. Loss is
 * made by the family's own netfilter table (iptables or ip6tables, statistic match).
 */
public enum GuestFamily {
    IPV4("127.0.0.1", "TCP", "192.168.127.254", "iptables"),
    IPV6("::1", "TCP6", "[fd00:5a94:efe4:0:ffff:ffff:ffff:fffe]", "ip6tables");

    private final String loopback;
    private final String socat;
    private final String hostAlias;
    private final String iptables;

    GuestFamily(String loopback, String socat, String hostAlias, String iptables) {
        this.loopback = loopback;
        this.socat = socat;
        this.hostAlias = hostAlias;
        this.iptables = iptables;
    }

    /** The host's loopback address in this family: where the test's servers listen. */
    public InetAddress loopback() {
        try {
            return InetAddress.getByName(loopback);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    /** socat's address of a host server on {@code port} as the guest reaches it: {@code TCP6:[alias]:port}. */
    public String socatTarget(int port) {
        return socat + ":" + hostAlias + ":" + port;
    }

    /** The netfilter command of this family, for the statistic-match loss. */
    public String iptables() {
        return iptables;
    }

    /** The guest's configuration for this family: IPv6 also turns on SLAAC. */
    public NetnsGuest.Builder configure(NetnsGuest.Builder b) {
        return this == IPV6 ? b.ipv6Slaac(true) : b;
    }

    /** Waits for the guest's address of this family (the DHCPv4 lease was awaited already). */
    public void awaitAddress(NetnsGuest g) {
        if (this == IPV6) {
            g.awaitIpv6Address(Duration.ofSeconds(30));
        }
    }
}
