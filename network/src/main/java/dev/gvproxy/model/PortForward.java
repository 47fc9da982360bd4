package dev.gvproxy.model;

/**
 * One port forward as {@code /services/forwarder/all} lists it.
 *
 * @param local host side: {@code ip:port} for tcp/udp (exact string, the key), a path for unix
 * @param remote guest side: {@code IPv4:port} for tcp/udp, {@code tcp://IPv4:port} or {@code ssh-tunnel://...} for unix
 * @param protocol {@code tcp}, {@code udp}, {@code unix} or {@code npipe}
 */
public record PortForward(String local, String remote, String protocol) {
    /**
     * The registry key: protocol and the literal local string ({@code :9090} and {@code 0.0.0.0:9090} differ).
     *
     * @return {@code protocol/local}
     */
    public String key() {
        return protocol + "/" + local;
    }
}
