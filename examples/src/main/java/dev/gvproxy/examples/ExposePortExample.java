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
     * Builds a network, listens for QEMU guests on {@code socket} and exposes {@code local -> remote}.
     *
     * @return the network (close it to stop) and the forward as bound
     */
    static VirtualNetwork start(String socket, String local, String remote) throws Exception {
        VirtualNetwork net = VirtualNetwork.builder().build();
        try {
            PortForward f = net.expose(new PortForward(local, remote, "tcp")).get(10, TimeUnit.SECONDS);
            System.out.println("forwarding " + f.local() + " -> " + f.remote() + " (tcp)");
            net.listenQemu("unix://" + socket);
            return net;
        } catch (Exception e) {
            net.close();
            throw e;
        }
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
        try (VirtualNetwork net = start(socket, local, remote)) {
            System.out.println("QEMU guests: -netdev stream,id=n0,server=off,addr.type=unix,addr.path=" + socket
                    + ". Ctrl-C to stop.");
            CountDownLatch done = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(done::countDown));
            done.await();
        }
    }
}
