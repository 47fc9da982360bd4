package dev.gvproxy.transport;

import dev.gvproxy.transport.tap.Netns;
import dev.gvproxy.transport.tap.TapDevice;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;

/**
 * A parsed {@code tap://IFACE[?netns=NAME][&offload=true|false]} ({@link Transports#attachTap}).
 *
 * @param iface the interface name ({@link TapDevice#checkName})
 * @param netns the network namespace ({@code /var/run/netns/NAME}, {@link Netns#path}), or null for the process's own
 * @param offload whether to use a virtio-net header with checksum and TSO offloads
 */
record TapSpec(String iface, String netns, boolean offload) {
    static TapSpec parse(String text) throws IOException {
        URI uri;
        try {
            uri = new URI(text);
        } catch (URISyntaxException e) {
            throw new IOException("invalid TAP URI \"" + text + "\": " + e.getMessage(), e);
        }
        if (!"tap".equalsIgnoreCase(uri.getScheme())) {
            throw new IOException("invalid TAP URI \"" + text + "\": the scheme must be tap (tap://IFACE)");
        }
        String iface = uri.getRawAuthority();
        if (iface == null || iface.isEmpty() || (uri.getRawPath() != null && !uri.getRawPath().isEmpty())) {
            throw new IOException("invalid TAP URI \"" + text + "\": expected tap://IFACE[?netns=NAME&offload=true]");
        }
        try {
            TapDevice.checkName(iface);
        } catch (IllegalArgumentException e) {
            throw new IOException("invalid TAP URI \"" + text + "\": " + e.getMessage(), e);
        }
        String netns = null;
        boolean offload = false;
        if (uri.getRawQuery() != null) {
            for (String kv : uri.getRawQuery().split("&")) {
                int eq = kv.indexOf('=');
                String k = eq < 0 ? kv : kv.substring(0, eq);
                String v = eq < 0 ? "" : kv.substring(eq + 1);
                switch (k) {
                    case "netns" -> {
                        try {
                            Netns.path(v);
                        } catch (IllegalArgumentException e) {
                            throw new IOException("invalid TAP URI \"" + text + "\": " + e.getMessage(), e);
                        }
                        netns = v;
                    }
                    case "offload" -> {
                        if (!v.equals("true") && !v.equals("false")) {
                            throw new IOException("offload must be true or false in \"" + text + "\"");
                        }
                        offload = v.equals("true");
                    }
                    default -> throw new IOException("unknown TAP option \"" + k + "\" in \"" + text
                            + "\" (netns, offload)");
                }
            }
        }
        return new TapSpec(iface, netns, offload);
    }
}
