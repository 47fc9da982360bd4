package dev.gvproxy.model;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A small JSON reader and writer that behaves like Go's {@code encoding/json} where the API shows it.
 *
 * <p>Reading mirrors {@code json.NewDecoder(body).Decode(&v)}: only the first JSON value is read (trailing
 * bytes are ignored), an empty body fails with {@code EOF}, a truncated value with {@code unexpected EOF},
 * and syntax errors carry Go's scanner wording ({@code invalid character 'x' looking for beginning of value}).
 * Values become {@link Map} (insertion ordered, duplicate keys: last wins), {@link List}, {@link String},
 * {@link BigDecimal}, {@link Boolean} or {@code null}. {@link #field} does Go's struct-field lookup: exact name
 * first, then case-insensitive.
 *
 * <p>Limits (the API's bodies come from untrusted guests): nesting deeper than {@link #MAX_DEPTH} and number
 * literals longer than {@link #MAX_NUMBER_CHARS} characters are refused ({@code json: nesting too deep},
 * {@code json: number too long}) before any conversion, so no input makes {@link BigDecimal} parse megabytes of
 * digits (a single 1 MB number used to stall the event loop for seconds). No API field is a number, so nothing
 * compatible is lost; Go itself refuses nesting deeper than 10,000.
 *
 * <p>Writing: {@link #string} is the one writer of JSON strings as Go's encoder escapes them ({@code <},
 * {@code >}, {@code &}, U+2028/2029 as {@code \\u} escapes); every JSON document the project writes in Go's shapes
 * (the API's answers, notifications, the state file) is built from it, and the shapes several writers share live
 * here ({@link #forward}, {@link #forwards}). {@link #quote} is not JSON: it is Go's {@code strconv.Quote}, for
 * error texts.
 */
public final class GoJson {
    private GoJson() {}

    /** Deepest nesting of objects and arrays accepted. */
    public static final int MAX_DEPTH = 16;
    /** Longest number literal accepted (a 64-bit integer has 20 characters; ports have 5). */
    public static final int MAX_NUMBER_CHARS = 32;

    /** A decoding error whose message is what Go's decoder would have said. */
    public static final class JsonException extends Exception {
        /**
         * An invalid JSON text or field.
         * @param message the error text
         */
        public JsonException(String message) {
            super(message);
        }
    }

    /**
     * Reads the first JSON value of {@code text}.
     *
     * @param text the JSON text
     * @return the decoded value (Map, List, String, Double, Boolean or null)
     * @throws JsonException if the input is not valid
     */
    public static Object decode(String text) throws JsonException {
        Reader r = new Reader(text);
        r.skipSpace();
        if (r.pos >= text.length()) {
            throw new JsonException("EOF");
        }
        return r.value();
    }

    private static final class Reader {
        private final String s;
        private int pos;
        private int depth;

        Reader(String s) {
            this.s = s;
        }

        void skipSpace() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                    pos++;
                } else {
                    break;
                }
            }
        }

        char peek(String unused) throws JsonException {
            if (pos >= s.length()) {
                throw new JsonException("unexpected EOF");
            }
            return s.charAt(pos);
        }

        JsonException invalid(char c, String context) {
            return new JsonException("invalid character " + quoteChar(c) + " " + context);
        }

        Object value() throws JsonException {
            char c = peek("");
            switch (c) {
                case '{':
                    return object();
                case '[':
                    return array();
                case '"':
                    return string();
                case 't':
                    literal("true");
                    return Boolean.TRUE;
                case 'f':
                    literal("false");
                    return Boolean.FALSE;
                case 'n':
                    literal("null");
                    return null;
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw invalid(c, "looking for beginning of value");
            }
        }

        void literal(String word) throws JsonException {
            pos++;
            for (int i = 1; i < word.length(); i++) {
                char c = peek("");
                if (c != word.charAt(i)) {
                    throw invalid(c, "in literal " + word + " (expecting " + quoteChar(word.charAt(i)) + ")");
                }
                pos++;
            }
            // What follows a top-level scalar is not examined (Go's Decoder stops after the value).
        }

        void enter() throws JsonException {
            if (++depth > MAX_DEPTH) {
                throw new JsonException("json: nesting too deep (more than " + MAX_DEPTH + " levels)");
            }
        }

        Map<String, Object> object() throws JsonException {
            pos++; // '{'
            enter();
            Map<String, Object> out = new LinkedHashMap<>();
            skipSpace();
            char c = peek("");
            if (c == '}') {
                pos++;
                depth--;
                return out;
            }
            while (true) {
                skipSpace();
                c = peek("");
                if (c != '"') {
                    throw invalid(c, "looking for beginning of object key string");
                }
                String key = string();
                skipSpace();
                c = peek("");
                if (c != ':') {
                    throw invalid(c, "after object key");
                }
                pos++;
                skipSpace();
                Object v = value();
                out.remove(key);
                out.put(key, v);
                skipSpace();
                c = peek("");
                if (c == ',') {
                    pos++;
                    continue;
                }
                if (c == '}') {
                    pos++;
                    depth--;
                    return out;
                }
                throw invalid(c, "after object key:value pair");
            }
        }

        List<Object> array() throws JsonException {
            pos++; // '['
            enter();
            List<Object> out = new ArrayList<>();
            skipSpace();
            char c = peek("");
            if (c == ']') {
                pos++;
                depth--;
                return out;
            }
            while (true) {
                skipSpace();
                out.add(value());
                skipSpace();
                c = peek("");
                if (c == ',') {
                    pos++;
                    continue;
                }
                if (c == ']') {
                    pos++;
                    depth--;
                    return out;
                }
                throw invalid(c, "after array element");
            }
        }

        String string() throws JsonException {
            pos++; // opening quote
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = peek("");
                pos++;
                if (c == '"') {
                    return b.toString();
                }
                if (c < 0x20) {
                    throw invalid(c, "in string literal");
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = peek("");
                pos++;
                switch (e) {
                    case '"', '\\', '/' -> b.append(e);
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'n' -> b.append('\n');
                    case 'r' -> b.append('\r');
                    case 't' -> b.append('\t');
                    case 'u' -> {
                        int v = 0;
                        for (int i = 0; i < 4; i++) {
                            char h = peek("");
                            int d = Character.digit(h, 16);
                            if (d < 0 || h > 0x7f) {
                                throw invalid(h, "in \\u hexadecimal character escape");
                            }
                            v = v * 16 + d;
                            pos++;
                        }
                        b.append((char) v);
                    }
                    default -> throw invalid(e, "in string escape code");
                }
            }
        }

        BigDecimal number() throws JsonException {
            int start = pos;
            if (s.charAt(pos) == '-') {
                pos++;
                char c = peek("");
                if (c < '0' || c > '9') {
                    throw invalid(c, "in numeric literal");
                }
            }
            if (s.charAt(pos) == '0') {
                pos++;
            } else {
                digits();
            }
            if (pos < s.length() && s.charAt(pos) == '.') {
                pos++;
                char c = peek("");
                if (c < '0' || c > '9') {
                    throw invalid(c, "after decimal point in numeric literal");
                }
                digits();
            }
            if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                pos++;
                char c = peek("");
                if (c == '+' || c == '-') {
                    pos++;
                    c = peek("");
                }
                if (c < '0' || c > '9') {
                    throw invalid(c, "in exponent of numeric literal");
                }
                digits();
            }
            if (pos - start > MAX_NUMBER_CHARS) {
                throw new JsonException("json: number too long (more than " + MAX_NUMBER_CHARS + " characters)");
            }
            try {
                return new BigDecimal(s.substring(start, pos));
            } catch (NumberFormatException e) { // an exponent beyond int range
                throw new JsonException("json: number out of range: " + s.substring(start, pos));
            }
        }

        void digits() {
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
                pos++;
            }
        }
    }

    /** Go's {@code quoteChar}: {@code 'x'}, with {@code '\''} and {@code '"'} special-cased. */
    static String quoteChar(char c) {
        if (c == '\'') {
            return "'\\''";
        }
        if (c == '"') {
            return "'\"'";
        }
        String q = quote(String.valueOf(c));
        return "'" + q.substring(1, q.length() - 1) + "'";
    }

    /**
     * Go's struct-field lookup for decoding: the exact key first, otherwise the first key equal ignoring case.
     *
     * @return the value, or {@code absent} when no key matches
     * @param absent the value when the field is missing
     * @param name the field name
     * @param obj a decoded JSON object
     */
    public static Object field(Map<String, Object> obj, String name, Object absent) {
        if (obj.containsKey(name)) {
            return obj.get(name);
        }
        Object found = absent;
        for (Map.Entry<String, Object> e : obj.entrySet()) {
            if (e.getKey().equalsIgnoreCase(name)) {
                found = e.getValue(); // Go keeps scanning: the last case-insensitive match wins
            }
        }
        return found;
    }

    /**
     * Go's name for a decoded JSON value's kind in {@code cannot unmarshal X into ...}.
     *
     * @param v a decoded JSON value
     * @return the JSON kind name (Go's wording)
     */
    public static String kind(Object v) {
        if (v instanceof String) {
            return "string";
        }
        if (v instanceof BigDecimal) {
            return "number";
        }
        if (v instanceof Boolean) {
            return "bool";
        }
        if (v instanceof List) {
            return "array";
        }
        if (v instanceof Map) {
            return "object";
        }
        return "null";
    }

    /**
     * Decodes a string field like Go: absent or null leaves {@code def}; a non-string is an
     * {@code UnmarshalTypeError}.
     *
     * @param where Go's {@code Struct.field} path for the error, e.g. {@code ExposeRequest.local}
     * @param goType Go type name shown in the error, e.g. {@code string}
     * @param def the value when the field is missing or null
     * @param name the field name
     * @param obj a decoded JSON object
     * @return the field's string value
     * @throws JsonException if the input is not valid
     */
    public static String stringField(Map<String, Object> obj, String name, String def, String where, String goType)
            throws JsonException {
        Object v = field(obj, name, null);
        if (v == null) {
            return def;
        }
        if (!(v instanceof String str)) {
            throw new JsonException("json: cannot unmarshal " + kind(v) + " into Go struct field " + where
                    + " of type " + goType);
        }
        return str;
    }

    /**
     * Go's {@code strconv.Quote} for the characters the API produces (ASCII escapes, \\u for other controls).
     *
     * @param s the text
     * @return {@code s} as a JSON string literal
     */
    public static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        b.append(String.format(Locale.ROOT, "\\x%02x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    /**
     * A JSON string literal as Go's encoder writes it (HTML-safe escaping).
     *
     * @param s the text
     * @return {@code s} as a JSON string literal
     */
    public static String string(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == '\u2028' || c == '\u2029') {
                        b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    /**
     * A forward as gvproxy's {@code types.ExposeRequest}: {@code {"local":…,"remote":…,"protocol":…}}.
     *
     * @param f the forward
     * @return the forward as gvproxy writes it
     */
    public static String forward(PortForward f) {
        return "{\"local\":" + string(f.local()) + ",\"remote\":" + string(f.remote()) + ",\"protocol\":"
                + string(f.protocol()) + "}";
    }

    /**
     * A JSON array of {@link #forward} objects in the given order ({@code []} when empty; no newline).
     *
     * @param all the forwards
     * @return the forwards as gvproxy's {@code /all} writes them
     */
    public static String forwards(List<PortForward> all) {
        StringBuilder b = new StringBuilder("[");
        for (PortForward f : all) {
            if (b.length() > 1) {
                b.append(',');
            }
            b.append(forward(f));
        }
        return b.append(']').toString();
    }
}
