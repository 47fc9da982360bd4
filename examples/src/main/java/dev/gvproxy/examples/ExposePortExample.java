package dev.gvproxy.examples;

import dev.gvproxy.model.PortForward;
import dev.gvproxy.network.VirtualNetwork;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Exposes a guest port on the host from code: a host listener whose clients are relayed into the guest over the
 * stack's own TCP (source = the gateway), with half-close. {@link VirtualNetwork#expose} returns a future; no
 * event-loop plumbing.
 *
 * <pre>
 * java -cp ... dev.gvproxy.examples.ExposePortExample 127.0.0.1:2222 192.168.127.2:22 [unix:///path/qemu.sock]
 * </pre>
 *
 * <p>Attach a guest as in {@link QemuExample}: QEMU with
 * {@code -netdev stream,id=n0,server=off,addr.type=unix,addr.path=SOCKET}. Then {@code ssh -p 2222 127.0.0.1}
 * reaches the guest's sshd.
 */
public final class ExposePortExample {
    private ExposePortExample() {}

    /**
     * Runs the example until Ctrl-C.
     *
     * @param args {@code [local [remote [qemu socket URI]]]}
     * @throws Exception if the network cannot be built or the port not exposed
     */
    public static void main(String[] args) throws Exception {
        String local = args.length > 0 ? args[0] : "127.0.0.1:2222";
        String remote = args.length > 1 ? args[1] : "192.168.127.2:22";
        Path dir = Files.createTempDirectory("gvproxy-expose");
        String qemu = args.length > 2 ? args[2] : "unix://" + dir.resolve("net.sock");
        try (VirtualNetwork net = VirtualNetwork.builder().build()) {
            net.listenQemu(qemu);
            // Completes once the host listener is bound; fails with gvproxy's text for a duplicate or bad address.
            PortForward f = net.expose(new PortForward(local, remote, "tcp")).get(10, TimeUnit.SECONDS);
            System.out.println("forwarding " + f.local() + " -> " + f.remote() + " (tcp)");
            System.out.println("QEMU guests: -netdev stream,id=n0,server=off," + qemuAddr(qemu) + ". Ctrl-C to stop.");
            CountDownLatch done = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(done::countDown));
            done.await();
            net.unexpose("tcp", f.local()).get(10, TimeUnit.SECONDS); // close() would do it too
        } finally {
            Files.deleteIfExists(dir.resolve("net.sock"));
            Files.deleteIfExists(dir);
        }
    }

    private static String qemuAddr(String uri) {
        return uri.startsWith("unix://") ? "addr.type=unix,addr.path=" + uri.substring("unix://".length())
                : "addr.type=inet,addr.host=127.0.0.1,addr.port=" + uri.substring(uri.lastIndexOf(':') + 1);
    }
}
