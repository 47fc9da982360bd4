package dev.gvproxy.dns;

import dev.gvproxy.stack.wire.Ipv4Address;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The parts of resolv.conf(5) a forwarder needs, parsed the way glibc does: at most three
 * {@code nameserver} lines (IP literals only, port 53: the format has no port syntax), the last
 * {@code search}/{@code domain} line wins, and {@code options ndots:n timeout:n attempts:n rotate}.
 * Unknown lines and malformed values are ignored, never fatal.
 *
 * @param nameservers empty when the file names none (the caller then uses glibc's default, 127.0.0.1:53)
 * @param search search domains without trailing dots
 * @param ndots names with fewer dots than this are tried with the search domains first (glibc default 1, max 15)
 * @param timeout per-try timeout (glibc default 5 s, max 30 s)
 * @param attempts rounds over all nameservers (glibc default 2, max 5)
 * @param rotate start each query at the next nameserver instead of the first
 */
public record ResolvConf(List<InetSocketAddress> nameservers, List<String> search, int ndots, Duration timeout,
        int attempts, boolean rotate) {

    static final int MAX_NAMESERVERS = 3;
    static final int MAX_SEARCH = 6;
    private static final int MAX_FILE_BYTES = 64 * 1024;

    public ResolvConf {
        nameservers = List.copyOf(nameservers);
        search = List.copyOf(search);
    }

    /** glibc's behaviour for a missing or empty file. */
    public static ResolvConf defaults() {
        return new ResolvConf(List.of(), List.of(), 1, Duration.ofSeconds(5), 2, false);
    }

    /** Reads {@code file}; a missing or unreadable file gives {@link #defaults()}. */
    public static ResolvConf load(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return parse(new String(in.readNBytes(MAX_FILE_BYTES), StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            return defaults();
        }
    }

    public static ResolvConf parse(String text) {
        List<InetSocketAddress> ns = new ArrayList<>();
        List<String> search = List.of();
        int ndots = 1;
        int timeoutSec = 5;
        int attempts = 2;
        boolean rotate = false;
        for (String raw : text.split("\n")) {
            String line = raw.strip();
            if (line.isEmpty() || line.charAt(0) == '#' || line.charAt(0) == ';') {
                continue;
            }
            String[] f = line.split("\\s+");
            switch (f[0]) {
                case "nameserver" -> {
                    if (f.length >= 2 && ns.size() < MAX_NAMESERVERS) {
                        InetAddress a = literal(f[1]);
                        if (a != null) {
                            ns.add(new InetSocketAddress(a, 53));
                        }
                    }
                }
                case "domain" -> search = f.length >= 2 ? List.of(trimDot(f[1])) : List.of();
                case "search" -> {
                    List<String> s = new ArrayList<>();
                    for (int i = 1; i < f.length && s.size() < MAX_SEARCH; i++) {
                        if (f[i].charAt(0) == '#' || f[i].charAt(0) == ';') {
                            break;
                        }
                        String d = trimDot(f[i]);
                        if (!d.isEmpty()) {
                            s.add(d);
                        }
                    }
                    search = s;
                }
                case "options" -> {
                    for (int i = 1; i < f.length; i++) {
                        String o = f[i];
                        if (o.startsWith("ndots:")) {
                            ndots = clamp(o.substring(6), ndots, 0, 15);
                        } else if (o.startsWith("timeout:")) {
                            timeoutSec = clamp(o.substring(8), timeoutSec, 1, 30);
                        } else if (o.startsWith("attempts:")) {
                            attempts = clamp(o.substring(9), attempts, 1, 5);
                        } else if (o.equals("rotate")) {
                            rotate = true;
                        }
                    }
                }
                default -> { }
            }
        }
        return new ResolvConf(ns, search, ndots, Duration.ofSeconds(timeoutSec), attempts, rotate);
    }

    private static String trimDot(String d) {
        return d.endsWith(".") ? d.substring(0, d.length() - 1) : d;
    }

    private static int clamp(String v, int dflt, int min, int max) {
        try {
            return Math.max(min, Math.min(max, Integer.parseInt(v)));
        } catch (NumberFormatException e) {
            return dflt;
        }
    }

    /**
     * Parses an IP literal strictly (dotted quad, or IPv6 text) without ever consulting a resolver;
     * {@code null} if it is not one.
     */
    static InetAddress literal(String s) {
        try {
            if (s.indexOf(':') >= 0) {
                return java.net.Inet6Address.ofLiteral(s);
            }
            return Ipv4Address.toInet(Ipv4Address.parse(s));
        } catch (IllegalArgumentException e) {
            return null;
        }
    }
}
