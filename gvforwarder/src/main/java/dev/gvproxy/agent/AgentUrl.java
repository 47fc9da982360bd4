package dev.gvproxy.agent;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A parsed {@code -url} (spec 2.2) and how to dial it.
 *
 * @param scheme  {@code vsock}, {@code unix}, {@code tcp} or {@code stdio}
 * @param host    vsock CID or TCP host; empty otherwise
 * @param port    vsock or TCP port; -1 otherwise
 * @param path    unix socket path, stdio program; for vsock/tcp the HTTP path
 * @param args    stdio: the child's arguments ({@code -k=v} per query parameter, in query order)
 * @param request the HTTP path to POST before framing starts, or {@code null} for none
 */
record AgentUrl(String scheme, String host, long port, String path, List<String> args, String request) {

    /** The exact bytes gvforwarder (Go's {@code http.Request.Write}) sends, for {@code path}. */
    static byte[] connectRequest(String path) {
        return ("POST " + path + " HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 0\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * The request of {@code -offload}: gvforwarder's, plus {@code Upgrade: gvproxy-vnet-v1}; gvproxy-java answers
     * {@code 101} and switches to the virtio-net header framing.
     */
    static byte[] connectRequestVnet(String path) {
        return ("POST " + path + " HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nConnection: Upgrade\r\n"
                + "Upgrade: " + VNET_UPGRADE + "\r\nContent-Length: 0\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
    }

    static final String VNET_UPGRADE = "gvproxy-vnet-v1";

    static AgentUrl parse(String text) throws IOException {
        URI uri;
        try {
            uri = new URI(text);
        } catch (URISyntaxException e) {
            throw new IOException("invalid url " + text + ": " + e.getMessage(), e);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme();
        switch (scheme) {
            case "vsock" -> {
                // The CID is the host part (uint32); the path is POSTed as is; an empty path sends no request.
                String host = uri.getHost();
                if (host == null || uri.getPort() < 0) {
                    throw new IOException("invalid vsock url " + text + ": want vsock://CID:PORT/connect");
                }
                long cid;
                try {
                    cid = Long.parseLong(host);
                } catch (NumberFormatException e) {
                    throw new IOException("invalid vsock CID in " + text, e);
                }
                if (cid < 0 || cid > 0xffff_ffffL) {
                    throw new IOException("invalid vsock CID in " + text);
                }
                String p = emptyToNull(uri.getRawPath());
                return new AgentUrl(scheme, host, uri.getPort(), p, List.of(), p);
            }
            case "unix" -> {
                // The URL path is the socket; the HTTP path is always /connect.
                String p = uri.getPath();
                if (p == null || p.isEmpty()) {
                    throw new IOException("invalid unix url " + text + ": want unix:///path/to/socket");
                }
                return new AgentUrl(scheme, "", -1, p, List.of(), "/connect");
            }
            case "tcp" -> {
                // Not in upstream gvforwarder; gvproxy's -listen tcp:// endpoints serve /connect, so default to it.
                if (uri.getHost() == null || uri.getPort() < 0) {
                    throw new IOException("invalid tcp url " + text + ": want tcp://host:port[/connect]");
                }
                String p = emptyToNull(uri.getRawPath());
                return new AgentUrl(scheme, uri.getHost(), uri.getPort(), p, List.of(), p == null ? "/connect" : p);
            }
            case "stdio" -> {
                String p = uri.getPath();
                if (p == null || p.isEmpty()) {
                    throw new IOException("invalid stdio url " + text + ": want stdio:/path/to/program?flag=value");
                }
                List<String> args = new ArrayList<>();
                String q = uri.getRawQuery();
                if (q != null && !q.isEmpty()) {
                    for (String kv : q.split("&")) {
                        if (kv.isEmpty()) {
                            continue;
                        }
                        int eq = kv.indexOf('=');
                        String k = URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8);
                        String v = eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
                        args.add("-" + k + "=" + v);
                    }
                }
                return new AgentUrl(scheme, "", -1, p, List.copyOf(args), null);
            }
            default -> throw new IOException("unexpected scheme " + scheme);
        }
    }

    private static String emptyToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    /** Opens the connection (no request written yet). */
    ByteStream dial() throws IOException {
        return switch (scheme) {
            case "vsock" -> VsockStream.connect(Long.parseLong(host), port);
            case "unix" -> SocketStream.connect(UnixDomainSocketAddress.of(path), "unix://" + path);
            case "tcp" -> SocketStream.connect(new InetSocketAddress(host, (int) port), "tcp://" + host + ":" + port);
            case "stdio" -> {
                List<String> cmd = new ArrayList<>();
                cmd.add(path);
                cmd.addAll(args);
                yield ProcessStream.start(cmd);
            }
            default -> throw new IOException("unexpected scheme " + scheme);
        };
    }
}
