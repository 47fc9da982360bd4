package dev.gvproxy.api;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests: the Java client 1.10.0 ships writers
 * only, no parser. Every line must be a {@code # HELP}, a {@code # TYPE} or a sample; names, label names and
 * escapes follow the format's grammar; a family's TYPE comes once and before its samples; a sample belongs to the
 * family declared last (with the suffixes its type allows); no series appears twice; the text ends in a newline.
 * {@link #promtool} additionally runs {@code promtool check metrics} (Debian's {@code prometheus} package) when
 * it is installed.
 */
public final class PrometheusText {
    private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
    private static final Set<String> TYPES = Set.of("counter", "gauge", "histogram", "summary", "untyped");

    /** Parsed series: metric name + sorted labels, values escaped as in the text ({@code name{a="x",b="y"}}) -> value. */
    public final Map<String, Double> samples = new LinkedHashMap<>();
    /** Family name -> declared type. */
    public final Map<String, String> types = new HashMap<>();

    private PrometheusText() {
    }

    /** Parses {@code text} or throws {@link IllegalArgumentException} naming the offending line. */
    public static PrometheusText parse(String text) {
        if (!text.isEmpty() && !text.endsWith("\n")) {
            throw new IllegalArgumentException("exposition does not end in a newline");
        }
        PrometheusText out = new PrometheusText();
        Set<String> helped = new HashSet<>();
        String family = null;
        String familyType = null;
        String[] lines = text.split("\n", -1);
        int n = 0;
        for (String line : lines) {
            n++;
            if (line.isEmpty()) {
                if (n == lines.length) {
                    continue; // after the final newline
                }
                throw new IllegalArgumentException("line " + n + ": empty line");
            }
            try {
                if (line.startsWith("# HELP ")) {
                    String[] p = line.substring(7).split(" ", 2);
                    name(p[0]);
                    if (!helped.add(p[0])) {
                        throw new IllegalArgumentException("second HELP for " + p[0]);
                    }
                } else if (line.startsWith("# TYPE ")) {
                    String[] p = line.substring(7).split(" ");
                    if (p.length != 2 || !TYPES.contains(p[1])) {
                        throw new IllegalArgumentException("bad TYPE line");
                    }
                    name(p[0]);
                    if (out.types.put(p[0], p[1]) != null) {
                        throw new IllegalArgumentException("second TYPE for " + p[0]);
                    }
                    family = p[0];
                    familyType = p[1];
                } else if (line.startsWith("#")) {
                    continue; // a comment
                } else {
                    sample(out, line, family, familyType);
                }
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("line " + n + ": " + e.getMessage() + ": " + line, e);
            }
        }
        return out;
    }

    private static void name(String s) {
        if (!NAME.matcher(s).matches()) {
            throw new IllegalArgumentException("bad metric name " + s);
        }
    }

    private static void sample(PrometheusText out, String line, String family, String type) {
        Matcher m = NAME.matcher(line);
        if (!m.lookingAt()) {
            throw new IllegalArgumentException("no metric name");
        }
        String name = m.group();
        int i = m.end();
        if (family == null || !belongs(name, family, type)) {
            throw new IllegalArgumentException(name + " outside its family's TYPE (last TYPE: " + family + ")");
        }
        TreeMap<String, String> labels = new TreeMap<>();
        if (i < line.length() && line.charAt(i) == '{') {
            i++;
            while (line.charAt(i) != '}') {
                Matcher l = LABEL.matcher(line).region(i, line.length());
                if (!l.lookingAt()) {
                    throw new IllegalArgumentException("bad label name at " + i);
                }
                String label = l.group();
                i = l.end();
                if (line.charAt(i) != '=' || line.charAt(i + 1) != '"') {
                    throw new IllegalArgumentException("label " + label + " without =\"");
                }
                i += 2;
                StringBuilder v = new StringBuilder();
                while (line.charAt(i) != '"') {
                    char c = line.charAt(i++);
                    if (c == '\\') {
                        char e = line.charAt(i++);
                        switch (e) {
                            case '\\' -> v.append('\\');
                            case '"' -> v.append('"');
                            case 'n' -> v.append('\n');
                            default -> throw new IllegalArgumentException("bad escape \\" + e);
                        }
                    } else {
                        v.append(c);
                    }
                }
                i++;
                if (labels.put(label, v.toString()) != null) {
                    throw new IllegalArgumentException("label " + label + " twice");
                }
                if (line.charAt(i) == ',') {
                    i++;
                } else if (line.charAt(i) != '}') {
                    throw new IllegalArgumentException("expected , or } at " + i);
                }
            }
            i++;
        }
        if (i >= line.length() || line.charAt(i) != ' ') {
            throw new IllegalArgumentException("no space before the value");
        }
        String[] rest = line.substring(i + 1).split(" ");
        if (rest.length < 1 || rest.length > 2) {
            throw new IllegalArgumentException("expected value [timestamp]");
        }
        double value = switch (rest[0]) {
            case "NaN" -> Double.NaN;
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            default -> {
                if (!rest[0].matches("[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?")) {
                    throw new IllegalArgumentException("bad value " + rest[0]);
                }
                yield Double.parseDouble(rest[0]);
            }
        };
        if (rest.length == 2 && !rest[1].matches("-?[0-9]+")) {
            throw new IllegalArgumentException("bad timestamp " + rest[1]);
        }
        StringBuilder key = new StringBuilder(name);
        if (!labels.isEmpty()) {
            key.append('{');
            labels.forEach((k, v) -> key.append(k).append("=\"").append(v.replace("\\", "\\\\")
                    .replace("\"", "\\\"").replace("\n", "\\n")).append("\","));
            key.setLength(key.length() - 1);
            key.append('}');
        }
        if (out.samples.put(key.toString(), value) != null) {
            throw new IllegalArgumentException("series twice: " + key);
        }
    }

    private static boolean belongs(String name, String family, String type) {
        if (name.equals(family)) {
            return true;
        }
        return switch (type) {
            case "histogram" -> name.equals(family + "_bucket") || name.equals(family + "_sum")
                    || name.equals(family + "_count") || name.equals(family + "_created");
            case "summary" -> name.equals(family + "_sum") || name.equals(family + "_count")
                    || name.equals(family + "_created");
            case "counter" -> name.equals(family + "_created");
            default -> false;
        };
    }

    /** One series' value, or an exception naming what there is. */
    public double value(String series) {
        Double v = samples.get(series);
        if (v == null) {
            throw new AssertionError("no series " + series + " in " + samples.keySet());
        }
        return v;
    }

    /** Where {@code promtool} is, or null (it comes with Debian's {@code prometheus} package; .ci/run extracts it). */
    public static Path promtool() {
        for (String dir : (System.getenv().getOrDefault("PATH", "") + ":/usr/local/bin:/usr/bin").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "promtool"))) {
                return Path.of(dir, "promtool");
            }
        }
        return null;
    }

    /**
     * Runs {@code promtool check metrics} on {@code text}: returns its output (lint remarks, if any) when the text
     * parsed, throws when it did not, null when promtool is not installed.
     */
    public static String promtool(String text) throws IOException, InterruptedException {
        Path tool = promtool();
        if (tool == null) {
            return null;
        }
        Process p = new ProcessBuilder(tool.toString(), "check", "metrics").redirectErrorStream(true).start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(text.getBytes(StandardCharsets.UTF_8));
        }
        String output;
        try (InputStream o = p.getInputStream()) {
            output = new String(o.readAllBytes(), StandardCharsets.UTF_8);
        }
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("promtool did not finish");
        }
        // 3: the text parsed and only promtool's naming lint complained (e.g. "us" in dhcp.notForUs read as
        // microseconds); 1: it did not parse.
        if (p.exitValue() != 0 && p.exitValue() != 3) {
            throw new AssertionError("promtool check metrics failed (" + p.exitValue() + "): " + output);
        }
        return output;
    }
}
