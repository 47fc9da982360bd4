package dev.gvproxy.cli;

import dev.gvproxy.model.GoJson;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.URLEncoder;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code gvproxy-java flows --api unix:///path/to/api.sock [--guest IP] [--protocol tcp|udp|icmp] [--state S]
 * [--limit N]}: prints a running gvproxy-java's live flow table ({@code GET /services/flows} on its host API) as
 * a table, one flow a line, like {@code ss}. {@code --api} takes the {@code -listen} or {@code -services}
 * endpoint ({@code unix://} or {@code tcp://}).
 */
final class FlowsCommand {
    private static final String USAGE = "usage: gvproxy-java flows --api unix:///path/api.sock|tcp://host:port"
            + " [--guest IP] [--protocol tcp|udp|icmp] [--state STATE] [--limit N]";
    private static final String[] FILTERS = {"guest", "protocol", "state", "limit"};

    private FlowsCommand() {
    }

    /** Runs the subcommand ({@code args} without the word {@code flows}); returns the exit status. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        String api = null;
        StringBuilder query = new StringBuilder();
        for (int i = 0; i < args.length; i++) {
            String a = args[i].replaceFirst("^--?", "");
            String value = null;
            int eq = a.indexOf('=');
            if (eq >= 0) {
                value = a.substring(eq + 1);
                a = a.substring(0, eq);
            } else if (i + 1 < args.length) {
                value = args[++i];
            }
            if (value == null) {
                err.println(USAGE);
                return 2;
            }
            if (a.equals("api")) {
                api = value;
            } else if (List.of(FILTERS).contains(a)) {
                query.append(query.isEmpty() ? '?' : '&').append(a).append('=')
                        .append(URLEncoder.encode(value, StandardCharsets.UTF_8));
            } else {
                err.println("unknown flag " + args[i] + "\n" + USAGE);
                return 2;
            }
        }
        if (api == null) {
            err.println(USAGE);
            return 2;
        }
        String body;
        try {
            Response r = get(api, "/services/flows" + query);
            if (r.status() != 200) {
                err.print("gvproxy-java flows: " + r.status() + " " + r.body());
                return 1;
            }
            body = r.body();
        } catch (IOException | IllegalArgumentException e) {
            err.println("gvproxy-java flows: " + api + ": " + e.getMessage());
            return 1;
        }
        try {
            out.print(table(body));
        } catch (GoJson.JsonException | RuntimeException e) {
            err.println("gvproxy-java flows: unexpected answer: " + e.getMessage());
            return 1;
        }
        return 0;
    }

    record Response(int status, String body) {}

    /** One HTTP/1.1 GET with {@code Connection: close} over a unix or TCP socket. */
    static Response get(String api, String path) throws IOException {
        URI uri = URI.create(api);
        SocketChannel ch;
        if ("unix".equals(uri.getScheme())) {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(uri.getPath()));
        } else if ("tcp".equals(uri.getScheme())) {
            ch = SocketChannel.open(new InetSocketAddress(uri.getHost(), uri.getPort()));
        } else {
            throw new IllegalArgumentException("--api must be unix:// or tcp://");
        }
        try (ch) {
            OutputStream os = Channels.newOutputStream(ch);
            os.write(("GET " + path + " HTTP/1.1\r\nHost: gvproxy\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            os.flush();
            InputStream in = Channels.newInputStream(ch);
            // Bounded: the API bounds the table (MAX_LIMIT rows of a few hundred bytes).
            String raw = new String(in.readNBytes(64 << 20), StandardCharsets.UTF_8);
            int end = raw.indexOf("\r\n\r\n");
            if (end < 0 || !raw.startsWith("HTTP/1.1 ")) {
                throw new IOException("not an HTTP answer");
            }
            int status = Integer.parseInt(raw.substring(9, 12));
            return new Response(status, raw.substring(end + 4));
        }
    }

    /** The JSON of {@code /services/flows} as a table, with a note when the server truncated it. */
    @SuppressWarnings("unchecked")
    static String table(String json) throws GoJson.JsonException {
        Map<String, Object> doc = (Map<String, Object>) GoJson.decode(json);
        List<Object> flows = (List<Object>) doc.get("flows");
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"Proto", "State", "Guest", "Destination", "Host-Local", "Host-Remote", "Bytes-Guest>",
            "Bytes>Guest", "Pkts-Guest>", "Pkts>Guest", "Retrans", "Age-s", "Idle-s", "MAC", "Port"});
        for (Object o : flows) {
            Map<String, Object> f = (Map<String, Object>) o;
            rows.add(new String[] {str(f, "protocol"), str(f, "state"), str(f, "guest"), str(f, "destination"),
                str(f, "hostLocal"), str(f, "hostRemote"), str(f, "bytesFromGuest"), str(f, "bytesToGuest"),
                str(f, "packetsFromGuest"), str(f, "packetsToGuest"), str(f, "retransmits"),
                seconds(f.get("ageMillis")), seconds(f.get("idleMillis")), str(f, "mac"), str(f, "switchPort")});
        }
        int[] width = new int[rows.get(0).length];
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        StringBuilder b = new StringBuilder();
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                b.append(i == 0 ? "" : "  ").append(i == r.length - 1 ? r[i] : pad(r[i], width[i]));
            }
            b.append('\n');
        }
        if (Boolean.TRUE.equals(doc.get("truncated"))) {
            b.append("(").append(str(doc, "returned")).append(" of ").append(str(doc, "matched"))
                    .append(" flows shown: --limit raises the bound)\n");
        }
        return b.toString();
    }

    private static String pad(String s, int w) {
        return s + " ".repeat(w - s.length());
    }

    private static String str(Map<String, Object> m, String key) {
        Object v = m.get(key);
        if (v == null) {
            return "-";
        }
        return v instanceof Number n ? GoJsonNumbers.plain(n) : v.toString();
    }

    private static String seconds(Object millis) {
        if (!(millis instanceof Number n)) {
            return "-";
        }
        return String.format(java.util.Locale.ROOT, "%.1f", n.doubleValue() / 1000);
    }

    /** JSON numbers as the decoder gives them, printed without a fraction when they are whole. */
    private static final class GoJsonNumbers {
        static String plain(Number n) {
            double d = n.doubleValue();
            return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : n.toString();
        }
    }
}
