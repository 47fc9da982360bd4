package dev.gvproxy.dhcp;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * RFC 1035 section 3.1 name encoding for option 119 (RFC 3397): each name as length-prefixed labels ending
 * in a zero byte, with suffixes already written replaced by a two-byte pointer ({@code 0xC0 | offset}),
 * offsets counting from the start of the option's (concatenated) data.
 */
public final class DomainNames {
    private DomainNames() {}

    /**
     * Encodes a search list with compression. Names may end with a dot; empty names are skipped.
     *
     * @throws IllegalArgumentException on an empty label, a label over 63 bytes, a name over 255 bytes,
     *     or non-ASCII characters
     */
    public static byte[] encodeSearchList(List<String> names) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Map<String, Integer> suffixes = new HashMap<>();
        for (String raw : names) {
            String name = normalize(raw);
            if (name.isEmpty()) {
                continue;
            }
            String[] labels = name.split("\\.", -1);
            for (int i = 0; i < labels.length; i++) {
                String suffix = String.join(".", java.util.Arrays.copyOfRange(labels, i, labels.length))
                        .toLowerCase(Locale.ROOT);
                Integer at = suffixes.get(suffix);
                if (at != null) {
                    out.write(0xC0 | (at >>> 8));
                    out.write(at);
                    break;
                }
                if (out.size() < 0x3FFF) {
                    suffixes.put(suffix, out.size());
                }
                byte[] l = labels[i].getBytes(StandardCharsets.US_ASCII);
                out.write(l.length);
                out.write(l, 0, l.length);
                if (i == labels.length - 1) {
                    out.write(0);
                }
            }
        }
        return out.toByteArray();
    }

    /** Checks a domain name (RFC 1035 limits) and returns it without a trailing dot. */
    public static String normalize(String raw) {
        String name = raw.trim();
        if (name.endsWith(".")) {
            name = name.substring(0, name.length() - 1);
        }
        if (name.isEmpty()) {
            return name;
        }
        if (!StandardCharsets.US_ASCII.newEncoder().canEncode(name)) {
            throw new IllegalArgumentException("domain name is not ASCII: " + raw);
        }
        if (name.length() + 2 > 255) {
            throw new IllegalArgumentException("domain name too long: " + raw);
        }
        for (String label : name.split("\\.", -1)) {
            if (label.isEmpty() || label.length() > 63) {
                throw new IllegalArgumentException("bad label in domain name: " + raw);
            }
        }
        return name;
    }
}
