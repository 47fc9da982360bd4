package dev.gvproxy.transport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;

/**
 * A parsed gvproxy listen URI (spec 1.1): {@code unix:///abs/path}, {@code unixgram:///abs/path},
 * {@code tcp://host:port}. Error messages follow gvproxy's where it has one.
 *
 * @param scheme lower-case scheme
 * @param path the socket path for unix schemes, else null
 * @param inet the address for tcp (unresolved only if the host did not resolve), else null
 */
record EndpointUri(String scheme, String path, InetSocketAddress inet) {

    static EndpointUri parse(String text) throws IOException {
        URI uri;
        try {
            uri = new URI(text);
        } catch (URISyntaxException e) {
            throw new IOException("invalid URI " + goQuote(text) + ": " + e.getMessage(), e);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        switch (scheme) {
            case "unix", "unixgram" -> {
                String path = uri.getPath();
                if (path == null || path.isEmpty()) {
                    throw new IOException("missing socket path in " + goQuote(text));
                }
                return new EndpointUri(scheme, path, null);
            }
            case "tcp" -> {
                return new EndpointUri(scheme, null, parseHostPort(text, uri.getRawAuthority()));
            }
            default -> throw new IOException("unexpected scheme");
        }
    }

    /** Go's {@code host:port} with an optional host ({@code :1234} = all addresses) and {@code [v6]} literals. */
    private static InetSocketAddress parseHostPort(String text, String authority) throws IOException {
        if (authority == null) {
            throw new IOException("missing host:port in " + goQuote(text));
        }
        int colon = authority.lastIndexOf(':');
        if (colon < 0 || authority.indexOf(']', colon) >= 0) {
            throw new IOException("missing port in address " + goQuote(authority));
        }
        String host = authority.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(authority.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IOException("invalid port in address " + goQuote(authority), e);
        }
        if (port < 0 || port > 65535) {
            throw new IOException("invalid port in address " + goQuote(authority));
        }
        return host.isEmpty() ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
    }

    /** Go's {@code strconv.Quote} for the characters that occur in paths (gvproxy prints paths this way). */
    static String goQuote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            switch (cp) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case 0x07 -> sb.append("\\a");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                case 0x0b -> sb.append("\\v");
                default -> {
                    if (cp < 0x20 || cp == 0x7f) {
                        sb.append(String.format("\\x%02x", cp));
                    } else if (Character.isISOControl(cp) || !Character.isDefined(cp)) {
                        sb.append(cp > 0xffff ? String.format("\\U%08x", cp) : String.format("\\u%04x", cp));
                    } else {
                        sb.appendCodePoint(cp);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
