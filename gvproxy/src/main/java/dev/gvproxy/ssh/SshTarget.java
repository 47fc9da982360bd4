package dev.gvproxy.ssh;

import dev.gvproxy.model.GoNet;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Where and how to log in: a guest sshd reached through the virtual network, and the guest unix socket to relay to.
 *
 * @param user SSH user
 * @param ip guest IPv4 address as an int (dialled from the gateway)
 * @param port sshd port (22 unless the {@code ssh-tunnel://} URI says otherwise)
 * @param identity private key file
 * @param passphrase key passphrase, or null ({@code -forward-identity} keys cannot have one)
 * @param password password for password/keyboard-interactive auth, or null (URI user-info only)
 * @param secure check {@code ~/.ssh/known_hosts} (a key that differs from a listed one is refused; an unlisted host
 *     is still accepted, as gvproxy does); false = accept any host key
 * @param socketPath the unix socket inside the guest
 */
public record SshTarget(String user, int ip, int port, Path identity, String passphrase, String password,
                        boolean secure, String socketPath) {

    /** The {@code -forward-*} flavour (spec 5.7): {@code ssh://user@deviceIP:22/dest}, public key, any host key. */
    public static SshTarget forwardSock(String user, int deviceIp, String dest, Path identity) {
        return new SshTarget(user, deviceIp, 22, identity, null, null, false, dest);
    }

    /**
     * Parses an {@code ssh-tunnel://user[:password]@IPv4[:port]/abs/socket?key=/path[&passphrase=..][&secure=true]}
     * remote (spec 5.6), with gvproxy's error texts where it has them.
     *
     * @throws GoNet.GoError on a bad URI
     */
    public static SshTarget parseTunnelUri(String remote) throws GoNet.GoError {
        URI u;
        try {
            u = new URI(remote);
        } catch (URISyntaxException e) {
            throw new GoNet.GoError("failed to parse remote uri :" + remote + " : " + e.getMessage());
        }
        if (!"ssh-tunnel".equals(u.getScheme())) {
            throw new GoNet.GoError("remote protocol for unix forwarder is not implemented: " + u.getScheme());
        }
        String key = null;
        String passphrase = null;
        boolean secure = false;
        if (u.getRawQuery() != null) {
            for (String kv : u.getRawQuery().split("&")) {
                int eq = kv.indexOf('=');
                String k = decode(eq < 0 ? kv : kv.substring(0, eq));
                String v = eq < 0 ? "" : decode(kv.substring(eq + 1));
                switch (k) {
                    case "key" -> key = key == null ? v : key; // Go's Query().Get: first value wins
                    case "passphrase" -> passphrase = passphrase == null ? v : passphrase;
                    case "secure" -> secure = secure || v.equals("true");
                    default -> { }
                }
            }
        }
        if (key == null || key.isEmpty()) {
            throw new GoNet.GoError("key not provided for unix-ssh connection");
        }
        String path = u.getPath();
        if (path == null || path.isEmpty() || path.equals("/")) {
            throw new GoNet.GoError("remote uri must contain a path to a socket file");
        }
        String host = u.getHost();
        Integer ip = host == null ? null : GoNet.parseIpv4(host);
        if (ip == null) {
            throw new GoNet.GoError("ssh-tunnel host must be an IPv4 address inside the virtual network: " + remote);
        }
        int port = u.getPort() < 0 ? 22 : u.getPort();
        String user = "";
        String password = null;
        if (u.getRawUserInfo() != null) {
            String ui = u.getRawUserInfo();
            int colon = ui.indexOf(':');
            user = decode(colon < 0 ? ui : ui.substring(0, colon));
            if (colon >= 0) {
                password = decode(ui.substring(colon + 1));
            }
        }
        return new SshTarget(user, ip, port, Path.of(key), passphrase == null || passphrase.isEmpty() ? null : passphrase,
                password, secure, path);
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    /** {@code user@a.b.c.d:port/path}, for logs (no secrets). */
    public String describe() {
        return user + "@" + dev.gvproxy.stack.wire.Ipv4Address.format(ip) + ":" + port + socketPath;
    }
}
