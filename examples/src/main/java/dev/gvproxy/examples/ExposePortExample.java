package dev.gvproxy.examples;

import dev.gvproxy.model.PortForward;
import dev.gvproxy.network.VirtualNetwork;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Exposes a guest port on the host with the embedding facade only: {@link VirtualNetwork#expose} binds a host
 * listener and relays each client into the guest over the stack's own TCP (source = the gateway), with
 * half-close. The forward is in the network's one registry, so gvproxy's HTTP API would list it too.
 *
 * <pre>
 * java -cp ... dev.gvproxy.examples.ExposePortExample 127.0.0.1:2222 192.168.127.2:22
 * </pre>
 *
 * Attach a guest as in {@link QemuExample} or {@link NetnsExample}.
 */
public final class ExposePortExample {
    private ExposePortExample() {}

    /**
     * Exposes {@code local -> remote} (tcp) and waits until the host listener is bound.
     *
     * @return the forward as bound (port 0 in {@code local} becomes the port really bound)
     */
    public static PortForward expose(VirtualNetwork net, String local, String remote) throws Exception {
        PortForward f = net.expose(new PortForward(local, remote, "tcp")).get(10, TimeUnit.SECONDS);
        System.out.println("forwarding " + f.local() + " -> " + f.remote() + " (tcp)");
        return f;
    }

    /**
     * Runs until Ctrl-C.
     *
     * @param args {@code [local [remote]]}, default {@code 127.0.0.1:2222 192.168.127.2:22}
     */
    public static void main(String[] args) throws Exception {
        String local = args.length > 0 ? args[0] : "127.0.0.1:2222";
        String remote = args.length > 1 ? args[1] : "192.168.127.2:22";
        String socket = "/tmp/gvproxy-expose-example.sock";
        try (VirtualNetwork net = VirtualNetwork.builder().build()) {
            expose(net, local, remote);
            net.listenQemu("unix://" + socket);
            System.out.println("QEMU guests: -netdev stream,id=n0,server=off,addr.type=unix,addr.path=" + socket
                    + ". Ctrl-C to stop.");
            CountDownLatch done = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(done::countDown));
            done.await();
        }
    }
}
