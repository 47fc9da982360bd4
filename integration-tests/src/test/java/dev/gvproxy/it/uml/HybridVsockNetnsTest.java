package dev.gvproxy.it.uml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.gvproxy.network.VirtualNetwork;
import dev.gvproxy.it.netns.ExecResult;
import dev.gvproxy.it.netns.NetnsGuest;
import dev.gvproxy.it.netns.NetnsGuestsExtension;
import dev.gvproxy.transport.Listener;
import dev.gvproxy.transport.Transports;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hybrid vsock: VMMs that turn a guest's vsock connection into a host unix socket connection, with gvforwarder-java
 * guests (in network namespaces) standing in for the VM side.
 *
 * <ul>
 *   <li>Firecracker and cloud-hypervisor: a guest connecting to host vsock port P arrives on the unix socket
 *       {@code <uds_path>_P}; so {@code -listen unix://<uds_path>_1024} serves guests that run
 *       {@code gvforwarder -url vsock://2:1024/connect}. Nothing vsock-specific is needed on our side: the VMM
 *       forwards the bytes of the {@code POST /connect} request and the frames unchanged.</li>
 *   <li>hyperkit (macOS gvproxy's emulation, accepted on Linux too): {@code vsock://null:PORT/DIR} listens on the
 *       unix socket {@code DIR/00000002.<port as 8 hex digits>}, replacing a stale file.</li>
 * </ul>
 */
class HybridVsockNetnsTest {
    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    private String hostHttp() throws Exception {
        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        s.createContext("/", ex -> {
            byte[] b = "hello from the host\n".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(b);
            }
        });
        s.start();
        guests.track(() -> s.stop(0));
        return "http://192.168.127.254:" + s.getAddress().getPort() + "/";
    }

    private void reachGatewayAndHost(String guestUrl) throws Exception {
        String http = hostHttp();
        NetnsGuest g = guests.start(NetnsGuest.builder(guestUrl).staticAddress("192.168.127.10/24")
                .staticGateway("192.168.127.1"));
        ExecResult ping = g.exec("ping", "-c", "3", "-i", "0.2", "-W", "5", "192.168.127.1");
        assertEquals(0, ping.exitCode(), () -> ping + "\n" + g.diagnostics());
        ExecResult curl = g.exec("curl", "-sS", "--max-time", "30", http);
        assertEquals(0, curl.exitCode(), () -> curl + "\n" + g.diagnostics());
        assertEquals("hello from the host\n", curl.stdout());
    }

    @Test
    void firecrackerStyleUdsPortSuffix() throws Exception {
        NetnsGuest.assumeSupported();
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        // Firecracker: vsock device uds_path = dir/v.sock; guest port 1024 -> dir/v.sock_1024
        String url = "unix://" + dir.resolve("v.sock") + "_1024";
        net.listenApi(url);
        reachGatewayAndHost(url);
    }

    @Test
    void hyperkitStyleVsockDirectory() throws Exception {
        NetnsGuest.assumeSupported();
        VirtualNetwork net = guests.track(VirtualNetwork.builder().build());
        Path sock = dir.resolve("00000002.00000400");
        Files.writeString(sock, "stale");
        Listener l = guests.track(Transports.listenApi("vsock://null:1024" + dir, net.internals().transportContext(), null));
        assertTrue(Files.exists(sock) && !Files.isRegularFile(sock), "a socket replaced the stale file");
        reachGatewayAndHost("unix://" + sock);
        l.close();
    }
}
