package dev.gvproxy.model;

import dev.gvproxy.forwarder.TunnelStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Opens TCP connections from the gateway into the virtual network: the hook behind {@code /tunnel} (and the
 * default TCP port-forward opener). The network's owner implements it over the stack's active open (source =
 * gateway IP, ephemeral port, dial timeout 10 s like gvproxy).
 */
@FunctionalInterface
public interface Tunneler {
    /**
     * Connects to {@code ip:port}. Called on the network's event loop; the stage completes (on the loop) with the
     * established stream, or exceptionally (refused, timeout) - the relay then closes the host side.
     *
     * @param ip IPv4 address as an int
     * @param port a port
     * @return completes with the open stream, or fails
     */
    CompletionStage<TunnelStream> connect(int ip, int port);

    /**
     * Connects to {@code ip:port} of either family (IPv4 IPv4-mapped). The default serves IPv4 through
     * {@link #connect(int, int)} and refuses IPv6; the network's own tunneler opens both.
     *
     * @param ip the guest's address (IPv4-mapped for IPv4)
     * @param port a port
     * @return completes with the open stream, or fails
     */
    default CompletionStage<TunnelStream> connect(dev.gvproxy.stack.wire.Ipv6Address ip, int port) {
        if (ip.isIpv4Mapped()) {
            return connect(ip.ipv4(), port);
        }
        return CompletableFuture.failedFuture(new UnsupportedOperationException("IPv6 tunnels are not available"));
    }

    /**
     * Until the stack can open connections: every dial fails.
     *
     * @return a tunneler that refuses every connect
     */
    static Tunneler unavailable() {
        return (ip, port) -> CompletableFuture.failedFuture(
                new UnsupportedOperationException("connections into the virtual network are not available"));
    }
}
