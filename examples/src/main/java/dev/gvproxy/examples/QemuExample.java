package dev.gvproxy.examples;

import dev.gvproxy.network.VirtualNetwork;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Embeds the stack and boots QEMU against it.
 *
 * <pre>
 * java -cp examples.jar:gvproxy.jar dev.gvproxy.examples.QemuExample                       # print the QEMU flags, wait
 * java -cp ... dev.gvproxy.examples.QemuExample qemu-system-x86_64 -m 1G -nographic -drive file=disk.qcow2,if=virtio
 * </pre>
 *
 * <p>With arguments, they are the QEMU command: the example appends its {@code -netdev stream} / virtio-net flags,
 * starts QEMU as a child and exits (closing the network) when QEMU exits. The guest gets 192.168.127.2 by DHCP
 * (the default reservation for MAC 5a:94:ef:e4:0c:ee), DNS on 192.168.127.1 and the host as 192.168.127.254.
 */
public final class QemuExample {
    private QemuExample() {}

    /**
     * The example's embedding step: a network (MTU 1500, DHCP, DNS, NAT to the host) that accepts QEMU's
     * {@code -netdev stream} on the unix socket {@code sock}. The caller closes it.
     */
    public static VirtualNetwork network(Path sock) throws IOException {
        VirtualNetwork net = VirtualNetwork.builder().mtu(1500).build();
        try {
            // QEMU connects to us (server=off on its side): 4-byte big-endian length-prefixed Ethernet frames.
            net.listenQemu("unix://" + sock);
            return net;
        } catch (IOException | RuntimeException e) {
            net.close();
            throw e;
        }
    }

    /** The QEMU flags that attach a virtio-net device with gvproxy's default guest MAC to {@link #network}. */
    public static List<String> qemuFlags(Path sock) {
        return List.of(
                "-netdev", "stream,id=net0,server=off,addr.type=unix,addr.path=" + sock,
                "-device", "virtio-net-pci,netdev=net0,mac=5a:94:ef:e4:0c:ee");
    }

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("gvproxy-qemu");
        Path sock = dir.resolve("net.sock");
        try (VirtualNetwork net = network(sock)) {
            List<String> netFlags = qemuFlags(sock);
            if (args.length == 0) {
                System.out.println("Network ready. Start QEMU with:");
                System.out.println("  qemu-system-x86_64 -m 1G -nographic <your disk/kernel flags> "
                        + String.join(" ", netFlags));
                System.out.println("(older QEMU without -netdev stream: -netdev socket,id=net0,connect=... needs tcp://;"
                        + " use net.listenQemu(\"tcp://127.0.0.1:1234\") and connect=127.0.0.1:1234)");
                System.out.println("Ctrl-C to stop.");
                CountDownLatch done = new CountDownLatch(1);
                Runtime.getRuntime().addShutdownHook(new Thread(done::countDown));
                done.await();
                return;
            }
            List<String> cmd = new ArrayList<>(List.of(args));
            cmd.addAll(netFlags);
            System.out.println("starting: " + String.join(" ", cmd));
            Process qemu = new ProcessBuilder(cmd).inheritIO().start();
            Runtime.getRuntime().addShutdownHook(new Thread(qemu::destroy));
            int status = qemu.waitFor();
            System.out.println("QEMU exited with " + status);
        } finally {
            Files.deleteIfExists(sock);
            Files.deleteIfExists(dir);
        }
    }
}
