package dev.gvproxy.dns;

import dev.gvproxy.stack.wire.Ipv4Address;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * gvproxy's JSON shapes for zones (spec 4, {@code GET /services/dns/all} and {@code POST /services/dns/add}),
 * as Go's {@code encoding/json} writes and reads them, so the HTTP API needs no JSON library for DNS.
 *
 * <p>Writing: capitalised field names, {@code ""} for an unset IP, {@code Regexp} only when set,
 * {@code null} for an empty record list or zone list, HTML-safe string escaping as Go does. Reading: keys
 * matched case-insensitively, unknown keys ignored, {@code null} meaning unset; errors are
 * {@link IllegalArgumentException}s whose message is the 400 body.
 */
public final class ZoneJson {
    private ZoneJson() {}

    /** The body of {@code GET /services/dns/all}. */
    public static String toJson(List<Zone> zones) {
        if (zones.isEmpty()) {
            return "null";
        }
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < zones.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            Zone z = zones.get(i);
            sb.append("{\"Name\":");
            string(sb, z.name());
            sb.append(",\"Records\":");
            if (z.records().isEmpty()) {
                sb.append("null");
            } else {
                sb.append('[');
                for (int k = 0; k < z.records().size(); k++) {
                    ZoneRecord r = z.records().get(k);
                    if (k > 0) {
                        sb.append(',');
                    }
                    sb.append("{\"Name\":");
                    string(sb, r.name());
                    sb.append(",\"IP\":");
                    string(sb, Ipv4Address.format(r.ip()));
                    if (r.regexp() != null) {
                        sb.append(",\"Regexp\":");
                        string(sb, r.regexp());
                    }
                    sb.append('}');
                }
                sb.append(']');
            }
            sb.append(",\"DefaultIP\":");
            string(sb, z.defaultIp().isPresent() ? Ipv4Address.format(z.defaultIp().getAsInt()) : "");
            sb.append('}');
        }
        return sb.append(']').toString();
    }

    /**
     * Decodes the body of {@code POST /services/dns/add}.
     *
     * @throws IllegalArgumentException with a decoder-style message for bad JSON, a bad IP or a bad regexp
     */
    public static Zone parseZone(String json) {
        Object v = new Parser(json).document();
        if (v == null) {
            return new Zone("", List.of(), OptionalInt.empty());
        }
        Map<String, Object> o = object(v, "Zone", "");
        String name = str(field(o, "Name"), "Zone.Name");
        List<ZoneRecord> records = new ArrayList<>();
        Object recs = field(o, "Records");
        if (recs != null) {
            if (!(recs instanceof List<?> l)) {
                throw mismatch(recs, "Zone.Records", "[]types.Record");
            }
            for (Object e : l) {
                if (e == null) {
                    records.add(new ZoneRecord("", 0, null));
                    continue;
                }
                Map<String, Object> r = object(e, "Record", "Zone.Records");
                String rname = str(field(r, "Name"), "Zone.Records.Name");
                String ip = str(field(r, "IP"), "Zone.Records.IP");
                String re = str(field(r, "Regexp"), "Zone.Records.Regexp");
                records.add(new ZoneRecord(rname, ip.isEmpty() ? 0 : ipv4(ip), re.isEmpty() ? null : re));
            }
        }
        String dflt = str(field(o, "DefaultIP"), "Zone.DefaultIP");
        return new Zone(name, records, dflt.isEmpty() ? OptionalInt.empty() : OptionalInt.of(ipv4(dflt)));
    }

    private static int ipv4(String s) {
        if (s.indexOf(':') >= 0 && ResolvConf.literal(s) != null) {
            throw new IllegalArgumentException("only IPv4 addresses are supported in DNS zones: " + s);
        }
        return Ipv4Address.parse(s); // strict dotted quad, "invalid IP address: ..." as Go says
    }

    /** Go's lookup: an exact key first, then a case-insensitive one. */
    private static Object field(Map<String, Object> o, String name) {
        if (o.containsKey(name)) {
            return o.get(name);
        }
        for (Map.Entry<String, Object> e : o.entrySet()) {
            if (e.getKey().equalsIgnoreCase(name)) {
                return e.getValue();
            }
        }
        return null;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object v, String type, String field) {
        if (v instanceof Map<?, ?> m) {
            return (Map<String, Object>) m;
        }
        throw mismatch(v, field, "types." + type);
    }

    private static String str(Object v, String field) {
        if (v == null) {
            return "";
        }
        if (v instanceof String s) {
            return s;
        }
        throw mismatch(v, field, "string");
    }

    private static IllegalArgumentException mismatch(Object v, String field, String goType) {
        String kind = v instanceof String ? "string" : v instanceof Boolean ? "bool" : v instanceof List ? "array"
                : v instanceof Map ? "object" : "number";
        return new IllegalArgumentException("json: cannot unmarshal " + kind
                + (field.isEmpty() ? "" : " into Go struct field " + field) + " of type " + goType);
    }

    private static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == '\u2028' || c == '\u2029') {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    /** A small strict JSON reader (RFC 8259): objects, arrays, strings, numbers, true/false/null. */
    private static final class Parser {
        private static final int MAX_DEPTH = 64;
        private final String s;
        private int pos;
        private int depth;

        Parser(String s) {
            this.s = s;
        }

        Object document() {
            skipWs();
            if (pos >= s.length()) {
                throw new IllegalArgumentException("EOF");
            }
            Object v = value();
            skipWs();
            if (pos < s.length()) {
                throw error("after top-level value");
            }
            return v;
        }

        private IllegalArgumentException error(String context) {
            if (pos >= s.length()) {
                return new IllegalArgumentException("unexpected EOF");
            }
            return new IllegalArgumentException("invalid character '" + s.charAt(pos) + "' " + context);
        }

        private void skipWs() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                    return;
                }
                pos++;
            }
        }

        private Object value() {
            if (pos >= s.length()) {
                throw error("");
            }
            char c = s.charAt(pos);
            return switch (c) {
                case '{' -> object();
                case '[' -> array();
                case '"' -> string();
                case 't' -> literal("true", Boolean.TRUE);
                case 'f' -> literal("false", Boolean.FALSE);
                case 'n' -> literal("null", null);
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        yield number();
                    }
                    throw error("looking for beginning of value");
                }
            };
        }

        private Object literal(String word, Object v) {
            if (!s.startsWith(word, pos)) {
                throw error("in literal " + word);
            }
            pos += word.length();
            return v;
        }

        private Object number() {
            int start = pos;
            if (s.charAt(pos) == '-') {
                pos++;
            }
            int digits = pos;
            while (pos < s.length() && "0123456789.eE+-".indexOf(s.charAt(pos)) >= 0) {
                pos++;
            }
            try {
                if (pos == digits) {
                    throw new NumberFormatException();
                }
                return Double.parseDouble(s.substring(start, pos));
            } catch (NumberFormatException e) {
                pos = start;
                throw error("in numeric literal");
            }
        }

        private Map<String, Object> object() {
            enter();
            pos++;
            Map<String, Object> m = new LinkedHashMap<>();
            skipWs();
            if (pos < s.length() && s.charAt(pos) == '}') {
                pos++;
                depth--;
                return m;
            }
            while (true) {
                skipWs();
                if (pos >= s.length() || s.charAt(pos) != '"') {
                    throw error("looking for beginning of object key string");
                }
                String k = string();
                skipWs();
                if (pos >= s.length() || s.charAt(pos) != ':') {
                    throw error("after object key");
                }
                pos++;
                skipWs();
                m.put(k, value());
                skipWs();
                if (pos < s.length() && s.charAt(pos) == ',') {
                    pos++;
                } else if (pos < s.length() && s.charAt(pos) == '}') {
                    pos++;
                    depth--;
                    return m;
                } else {
                    throw error("after object key:value pair");
                }
            }
        }

        private List<Object> array() {
            enter();
            pos++;
            List<Object> l = new ArrayList<>();
            skipWs();
            if (pos < s.length() && s.charAt(pos) == ']') {
                pos++;
                depth--;
                return l;
            }
            while (true) {
                skipWs();
                l.add(value());
                skipWs();
                if (pos < s.length() && s.charAt(pos) == ',') {
                    pos++;
                } else if (pos < s.length() && s.charAt(pos) == ']') {
                    pos++;
                    depth--;
                    return l;
                } else {
                    throw error("after array element");
                }
            }
        }

        private void enter() {
            if (++depth > MAX_DEPTH) {
                throw new IllegalArgumentException("exceeded max depth");
            }
        }

        private String string() {
            pos++;
            StringBuilder sb = new StringBuilder();
            while (true) {
                if (pos >= s.length()) {
                    throw error("in string literal");
                }
                char c = s.charAt(pos++);
                if (c == '"') {
                    return sb.toString();
                }
                if (c < 0x20) {
                    pos--;
                    throw error("in string literal");
                }
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                if (pos >= s.length()) {
                    throw error("in string escape code");
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case '"', '\\', '/' -> sb.append(e);
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'u' -> {
                        if (pos + 4 > s.length()) {
                            throw error("in \\u hexadecimal character escape");
                        }
                        try {
                            sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                        } catch (NumberFormatException ex) {
                            throw error("in \\u hexadecimal character escape");
                        }
                        pos += 4;
                    }
                    default -> {
                        pos--;
                        throw error("in string escape code");
                    }
                }
            }
        }
    }
}
