package dev.gvproxy.model;

import dev.gvproxy.forwarder.PortForwarder;
import java.util.concurrent.CompletionStage;

/**
 * A {@link PortForwardRegistry.Opener} over the stack-forwarder's {@link PortForwarder}: {@code tcp},
 * {@code udp} (per-client flows, 90 s idle) and {@code unix} with a {@code tcp://IPv4:port} remote. The
 * registry keeps gvproxy's bookkeeping (keys, duplicates, listing) and error texts; the forwarder owns only the
 * live listeners and relays (through {@code TcpBridge}, with backpressure and half-close; a refused or
 * unanswered guest closes the client with EOF). The handle's {@code close()} closes the forwarder's listener.
 *
 * <pre>{@code
 * PortForwarder pf = new PortForwarder(stack, loop, PortForwarder.Options.DEFAULTS);
 * PortForwardRegistry forwards = new PortForwardRegistry(new PortForwarderOpener(pf));
 * }</pre>
 * A {@code VirtualNetwork} builds its own (its {@code expose}/{@code forwards} use it).
 */
public final class PortForwarderOpener implements PortForwardRegistry.Opener {
    private final PortForwarder forwarder;
    private final PortForwardRegistry.Opener sshTunnels;

    /**
     * An opener without SSH tunnels ({@code ssh-tunnel://} remotes are refused).
     *
     * @param forwarder the stack forwarder that binds the listeners
     */
    public PortForwarderOpener(PortForwarder forwarder) {
        this(forwarder, null);
    }

    /**
     * An opener that hands {@code ssh-tunnel://} remotes to {@code sshTunnels}.
     *
     * @param sshTunnels opens {@code unix} forwards whose remote is {@code ssh-tunnel://...} (the
     *     {@code dev.gvproxy.ssh} package); null refuses them
     * @param forwarder the stack forwarder that binds the listeners
     */
    public PortForwarderOpener(PortForwarder forwarder, PortForwardRegistry.Opener sshTunnels) {
        this.forwarder = forwarder;
        this.sshTunnels = sshTunnels;
    }

    @Override
    public CompletionStage<AutoCloseable> open(PortForward f) {
        if (sshTunnels != null && f.remote().startsWith("ssh-tunnel://")) {
            return sshTunnels.open(f);
        }
        return forwarder.open(new PortForwarder.Forward(f.local(), f.remote(), f.protocol()))
                .thenApply(listener -> new PortForwardRegistry.Bound() {
                    @Override
                    public String boundLocal() {
                        return listener.forward().local();
                    }

                    @Override
                    public void close() {
                        listener.close();
                    }
                });
    }
}
