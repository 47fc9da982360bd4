package dev.gvproxy.examples;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.agent.Gvforwarder;
import dev.gvproxy.agent.Options;
import java.io.IOException;
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

    /**
     * The example's one step: gvforwarder-java, in this process, opens {@code tap0} inside the namespace
     * {@code netns}, runs the DHCP client there and attaches to the network's API at {@code apiUrl} with
     * {@code /connect}. Returns once attached; closing the agent detaches the namespace.
     */
    public static Gvforwarder attach(String apiUrl, String netns) throws IOException, InterruptedException {
        Options o = Options.defaults()
                .url(apiUrl)             // where the agent attaches (it speaks /connect)
                .netns(netns)            // open the TAP and run DHCP inside this namespace
                .iface("tap0")
                .stopIfExist(List.of()); // the namespace has no eth0 to stop
        Gvforwarder agent = Gvforwarder.start(o);
        if (!agent.awaitRunning(Duration.ofSeconds(20))) {
            String why = String.valueOf(agent.lastError());
            agent.close();
            throw new IOException("agent did not attach: " + why);
        }
        return agent;
    }

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
            try (Gvforwarder agent = attach("unix://" + sock, netns)) {
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
