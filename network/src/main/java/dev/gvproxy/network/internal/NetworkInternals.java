package dev.gvproxy.network.internal;

import dev.gvproxy.dhcp.DhcpServer;
import dev.gvproxy.dns.DnsServer;
import dev.gvproxy.forwarder.GuestFlows;
import dev.gvproxy.forwarder.IcmpForwarder;
import dev.gvproxy.forwarder.PortForwarder;
import dev.gvproxy.forwarder.TcpForwarder;
import dev.gvproxy.forwarder.UdpForwarder;
import dev.gvproxy.model.PortForwardRegistry;
import dev.gvproxy.model.Tunneler;
import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.transport.NetworkContext;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Not API: for gvproxy-java's own modules (api-http, gvproxy, tests); may change without notice. The parts of a
 * {@link dev.gvproxy.network.VirtualNetwork} its front ends wire together (the switch for the HTTP API's
 * {@code /connect}, the stack for tests, the forward registry for the API and the state file). Everything
 * stateful here runs on {@link #eventLoop()} only.
 */
public final class NetworkInternals {
    private final StackConfig config;
    private final EventLoop loop;
    private final Counters counters;
    private final VirtualSwitch sw;
    private final NetworkStack stack;
    private final NetworkContext transportContext;
    private final DhcpServer dhcp;
    private final DnsServer dns;
    private final TcpForwarder tcpForwarder;
    private final UdpForwarder udpForwarder;
    private final PortForwarder portForwarder;
    private final GuestFlows guestFlows;
    private final PortForwardRegistry forwards;
    private final Tunneler tunneler;
    private final Consumer<PortForwardRegistry.Opener> sshTunnels;
    private final IcmpForwarder icmpForwarder;
    private final dev.gvproxy.dhcp.Dhcpv6Server dhcpv6;

    /** Built by VirtualNetwork only. */
    public NetworkInternals(StackConfig config, EventLoop loop, Counters counters, VirtualSwitch sw,
            NetworkStack stack, NetworkContext transportContext, DhcpServer dhcp, DnsServer dns,
            TcpForwarder tcpForwarder, UdpForwarder udpForwarder, PortForwarder portForwarder, GuestFlows guestFlows,
            PortForwardRegistry forwards, Tunneler tunneler, Consumer<PortForwardRegistry.Opener> sshTunnels,
            IcmpForwarder icmpForwarder, dev.gvproxy.dhcp.Dhcpv6Server dhcpv6) {
        this.config = config;
        this.loop = loop;
        this.counters = counters;
        this.sw = sw;
        this.stack = stack;
        this.transportContext = transportContext;
        this.dhcp = dhcp;
        this.dns = dns;
        this.tcpForwarder = tcpForwarder;
        this.udpForwarder = udpForwarder;
        this.portForwarder = portForwarder;
        this.guestFlows = guestFlows;
        this.forwards = forwards;
        this.tunneler = tunneler;
        this.sshTunnels = sshTunnels;
        this.icmpForwarder = icmpForwarder;
        this.dhcpv6 = dhcpv6;
    }

    public StackConfig config() {
        return config;
    }

    /** The network's single event loop: every channel of this network must be registered on it. */
    public EventLoop eventLoop() {
        return loop;
    }

    public Counters counters() {
        return counters;
    }

    public VirtualSwitch virtualSwitch() {
        return sw;
    }

    public NetworkStack stack() {
        return stack;
    }

    /** What transports need to attach VMs to this network. */
    public NetworkContext transportContext() {
        return transportContext;
    }

    /** The gateway's DHCP server, null when disabled. */
    public DhcpServer dhcp() {
        return dhcp;
    }

    /** The gateway's DHCPv6 server, null when DHCP or IPv6 is off. */
    public dev.gvproxy.dhcp.Dhcpv6Server dhcpv6() {
        return dhcpv6;
    }

    /** The gateway's DNS server, null when disabled. */
    public DnsServer dns() {
        return dns;
    }

    public TcpForwarder tcpForwarder() {
        return tcpForwarder;
    }

    public UdpForwarder udpForwarder() {
        return udpForwarder;
    }

    /** The guests' ICMP echo flows through the host's ping sockets, null when the host allows none. */
    public IcmpForwarder icmpForwarder() {
        return icmpForwarder;
    }

    /** Host -> guest listeners and relays (the registry's opener); use {@link #forwards()} to manage forwards. */
    public PortForwarder portForwarder() {
        return portForwarder;
    }

    /** Who owns which host sockets and flows, and their budgets (event-loop only). */
    public GuestFlows guestFlows() {
        return guestFlows;
    }

    /** The network's one forward registry (event-loop only): the HTTP API, the CLI and the facade share it. */
    public PortForwardRegistry forwards() {
        return forwards;
    }

    /** Active TCP opens into the guests (for {@code /tunnel} and port forwards), 10 s connect timeout. */
    public Tunneler tunneler() {
        return tunneler;
    }

    /** Installs the opener of {@code unix} forwards whose remote is {@code ssh-tunnel://...} (gvproxy's CLI). */
    public void sshTunnels(PortForwardRegistry.Opener opener) {
        sshTunnels.accept(opener);
    }

    /**
     * Runs {@code task} on the network's event loop and waits for its result (at most 30 s); runs it directly
     * when called on the loop.
     */
    public <T> T call(Callable<T> task) {
        if (loop.inEventLoop()) {
            try {
                return task.call();
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        Future<T> f = loop.submit(task);
        try {
            return f.get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Runs {@code task} on the event loop and waits for it. */
    public void run(Runnable task) {
        call(() -> {
            task.run();
            return null;
        });
    }
}
