package dev.gvproxy.examples;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.agent.Gvforwarder;
import dev.gvproxy.agent.Options;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Gives a Linux network namespace networking, pasta-style: a TAP inside the namespace, a DHCP lease from the
 * gateway, DNS, and NAT to the outside, all in this one (root) process.
 *
 * <pre>
 * sudo ip netns add demo
 * sudo java -cp ... dev.gvproxy.examples.NetnsExample demo
 * sudo ip netns exec demo ip addr show tap0           # 192.168.127.2/24
 * sudo ip netns exec demo ping -c1 192.168.127.254    # the host (NAT to 127.0.0.1)
 * </pre>
 *
 * <p>The agent side is gvforwarder-java ({@link Gvforwarder}) run in-process with {@code -netns}: it opens the TAP
 * inside the namespace and attaches it over the network's API socket ({@code /connect}), exactly as it would from
 * inside a VM; no kernel bridge or veth is involved.
 */
public final class NetnsExample {
    private NetnsExample() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: NetnsExample <netns name> (create it first: ip netns add NAME; needs root)");
            System.exit(2);
        }
        String netns = args[0];
        Path dir = Files.createTempDirectory("gvproxy-netns");
        Path sock = dir.resolve("api.sock");
        try (VirtualNetwork net = VirtualNetwork.builder().build()) {
            net.listenApi("unix://" + sock);
            Options o = Options.defaults()
                    .url("unix://" + sock)   // where the agent attaches (it speaks /connect)
                    .netns(netns)           // open the TAP and run DHCP inside this namespace
                    .iface("tap0")
                    .stopIfExist(List.of()); // the namespace has no eth0 to stop
            try (Gvforwarder agent = Gvforwarder.start(o)) {
                if (!agent.awaitRunning(Duration.ofSeconds(20))) {
                    throw new IllegalStateException("agent did not attach: " + agent.lastError());
                }
                System.out.println("namespace " + netns + " is attached; try: ip netns exec " + netns
                        + " ip addr show tap0. Ctrl-C to stop.");
                CountDownLatch done = new CountDownLatch(1);
                Runtime.getRuntime().addShutdownHook(new Thread(done::countDown));
                done.await();
            }
        } finally {
            Files.deleteIfExists(sock);
            Files.deleteIfExists(dir);
        }
    }
}
