package dev.gvproxy.transport;

import io.netty.channel.epoll.VSockAddress;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;

/**
 * A parsed gvproxy listen URI (spec 1.1): {@code unix:///abs/path}, {@code unixgram:///abs/path},
 * {@code unixpacket:///abs/path}, {@code tcp://host:port}, {@code vsock://:PORT}, {@code vsock://CID:PORT} and the
 * hyperkit form {@code vsock://<non-numeric host>:PORT/DIR}. Error messages follow gvproxy's where it has one.
 *
 * <p>vsock: an empty host is {@code VMADDR_CID_ANY} (gvproxy binds the CID read from {@code /dev/vsock}; binding
 * ANY accepts connections to every local CID, a superset). A numeric host is the CID (uint32). A non-numeric host
 * (gvproxy's default is {@code null}) with a directory path is macOS gvproxy's emulation of hyperkit's
 * vsock-to-unix convention: a unix socket at {@code DIR/00000002.<port as 8 lowercase hex digits>}, given as
 * {@link #path()}; we accept it on Linux too. A path after a numeric or empty host is ignored, as on Linux gvproxy.
 *
 * @param scheme lower-case scheme
 * @param path the socket path for unix schemes and the hyperkit vsock form, else null
 * @param inet the address for tcp (unresolved only if the host did not resolve), else null
 * @param vsock the AF_VSOCK address for {@code vsock://[CID]:PORT}, else null
 */
record EndpointUri(String scheme, String path, InetSocketAddress inet, VSockAddress vsock) {

    EndpointUri(String scheme, String path, InetSocketAddress inet) {
        this(scheme, path, inet, null);
    }

    /** True for the hyperkit-style {@code vsock://null:PORT/DIR} form, served by a unix socket. */
    boolean isHyperkitVsock() {
        return scheme.equals("vsock") && path != null;
    }

    static EndpointUri parse(String text) throws IOException {
        URI uri;
        try {
            uri = new URI(text);
        } catch (URISyntaxException e) {
            throw new IOException("invalid URI " + goQuote(text) + ": " + e.getMessage(), e);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        switch (scheme) {
            case "unix", "unixgram", "unixpacket" -> {
                String path = uri.getPath();
                if (path == null || path.isEmpty()) {
                    throw new IOException("missing socket path in " + goQuote(text));
                }
                return new EndpointUri(scheme, path, null);
            }
            case "tcp" -> {
                return new EndpointUri(scheme, null, parseHostPort(text, uri.getRawAuthority()));
            }
            case "vsock" -> {
                return parseVsock(text, uri);
            }
            default -> throw new IOException("unexpected scheme");
        }
    }

    private static EndpointUri parseVsock(String text, URI uri) throws IOException {
        String authority = uri.getRawAuthority();
        if (authority == null) {
            throw new IOException("missing CID:PORT in " + goQuote(text));
        }
        int colon = authority.lastIndexOf(':');
        if (colon < 0) {
            throw new IOException("missing port in address " + goQuote(authority));
        }
        String host = authority.substring(0, colon);
        long port = parseUint32(authority.substring(colon + 1), "port", text);
        String dir = uri.getPath();
        if (!host.isEmpty() && !isDigits(host)) {
            if (dir == null || dir.isEmpty() || dir.equals("/")) {
                throw new IOException("invalid vsock CID " + goQuote(host) + " in " + goQuote(text)
                        + " (a non-numeric host needs a directory: vsock://null:PORT/DIR)");
            }
            String name = String.format("00000002.%08x", port);
            return new EndpointUri("vsock", java.nio.file.Path.of(dir).resolve(name).toString(), null, null);
        }
        long cid = host.isEmpty() ? 0xFFFF_FFFFL : parseUint32(host, "CID", text);
        return new EndpointUri("vsock", null, null, new VSockAddress((int) cid, (int) port));
    }

    private static boolean isDigits(String s) {
        return !s.isEmpty() && s.chars().allMatch(c -> c >= '0' && c <= '9');
    }

    private static long parseUint32(String s, String what, String text) throws IOException {
        try {
            long v = Long.parseLong(s);
            if (isDigits(s) && v <= 0xFFFF_FFFFL) {
                return v;
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw new IOException("invalid vsock " + what + " " + goQuote(s) + " in " + goQuote(text));
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
