package dev.gvproxy.examples;

import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.api.ApiContext;
import dev.gvproxy.api.ApiServer;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.model.PortForwardRegistry;
import dev.gvproxy.model.PortForwarderOpener;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Exposes guest ports on the host programmatically: a host listener per forward, each client relayed into the
 * guest over the stack's own TCP (source = the gateway), with half-close.
 *
 * <pre>
 * java -cp ... dev.gvproxy.examples.ExposePortExample 127.0.0.1:2222 192.168.127.2:22
 * </pre>
 *
 * <p>It also serves gvproxy's in-VM API on http://192.168.127.1/ inside the virtual network, so the guest can
 * expose its own ports: {@code curl -d '{"local":":8080","remote":":80"}' http://192.168.127.1/services/forwarder/expose}
 * (an empty remote host means the calling guest). Attach a guest as in {@link QemuExample} or {@link NetnsExample}.
 */
public final class ExposePortExample {
    private ExposePortExample() {}

    public static void main(String[] args) throws Exception {
        String local = args.length > 0 ? args[0] : "127.0.0.1:2222";
        String remote = args.length > 1 ? args[1] : "192.168.127.2:22";
        try (VirtualNetwork net = VirtualNetwork.builder().build()) {
            PortForwardRegistry forwards = new PortForwardRegistry(new PortForwarderOpener(net.internals().portForwarder()));
            // The registry lives on the network's event loop; expose() completes once the host listener is bound.
            net.internals().eventLoop().submit(() -> forwards.expose(new PortForward(local, remote, "tcp")).toCompletableFuture())
                    .get(10, TimeUnit.SECONDS).get(10, TimeUnit.SECONDS);
            System.out.println("forwarding " + local + " -> " + remote + " (tcp)");

            ApiContext api = ApiContext.builder()
                    .network(net.internals().virtualSwitch(), net.internals().counters())
                    .forwards(forwards)
                    .tunneler(net.internals().tunneler())
                    .build();
            net.serveTcp(80, ApiServer.inVm(api));
            net.listenQemu("unix:///tmp/gvproxy-expose-example.sock");
            System.out.println("QEMU guests: -netdev stream,id=n0,server=off,addr.type=unix,"
                    + "addr.path=/tmp/gvproxy-expose-example.sock. Ctrl-C to stop.");
            CountDownLatch done = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(done::countDown));
            done.await();
            net.internals().run(forwards::closeAll);
        }
    }
}
