package dev.gvproxy.model;

/**
 * The few Go standard-library parsers whose error texts reach API clients ({@code net.SplitHostPort},
 * {@code strconv.ParseUint}, {@code net.ParseIP} for IPv4).
 */
public final class GoNet {
    private GoNet() {}

    /** A Go error with its message. */
    public static class GoError extends Exception {
        /**
         * An error with Go's text.
         * @param message the error text
         */
        public GoError(String message) {
            super(message);
        }
    }

    /**
     * Go's {@code net.SplitHostPort}; returns {host, port}.
     *
     * @param hostport {@code host:port}, {@code [v6]:port}
     * @return {host, port}
     * @throws GoError with Go's error text when the input is invalid
     */
    public static String[] splitHostPort(String hostport) throws GoError {
        String host;
        int i = hostport.lastIndexOf(':');
        if (i < 0) {
            throw addrError(hostport, "missing port in address");
        }
        int j = 0;
        int k = 0;
        if (!hostport.isEmpty() && hostport.charAt(0) == '[') {
            int end = hostport.indexOf(']');
            if (end < 0) {
                throw addrError(hostport, "missing ']' in address");
            }
            if (end + 1 == hostport.length()) {
                throw addrError(hostport, "missing port in address");
            } else if (end + 1 != i) {
                if (hostport.charAt(end + 1) == ':') {
                    throw addrError(hostport, "too many colons in address");
                }
                throw addrError(hostport, "missing port in address");
            }
            host = hostport.substring(1, end);
            j = 1;
            k = end + 1;
        } else {
            host = hostport.substring(0, i);
            if (host.indexOf(':') >= 0) {
                throw addrError(hostport, "too many colons in address");
            }
        }
        if (hostport.indexOf('[', j) >= 0) {
            throw addrError(hostport, "unexpected '[' in address");
        }
        if (hostport.indexOf(']', k) >= 0) {
            throw addrError(hostport, "unexpected ']' in address");
        }
        return new String[] {host, hostport.substring(i + 1)};
    }

    private static GoError addrError(String addr, String err) {
        return new GoError(addr.isEmpty() ? err : "address " + addr + ": " + err);
    }

    /**
     * Go's {@code net.JoinHostPort}.
     *
     * @param host a host or IP
     * @param port a port
     * @return {@code host:port}, brackets around an IPv6 host
     */
    public static String joinHostPort(String host, String port) {
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
    }

    /**
     * Go's {@code strconv.ParseUint(s, 10, bits)}.
     *
     * @param bits the integer width (as Go's {@code strconv.ParseUint})
     * @param s the decimal text, no sign or spaces
     * @return the parsed value, at most {@code 2^bits - 1}
     * @throws GoError with Go's error text when the input is invalid
     */
    public static long parseUint(String s, int bits) throws GoError {
        String fn = "strconv.ParseUint";
        if (s.isEmpty()) {
            throw new GoError(fn + ": parsing " + GoJson.quote(s) + ": invalid syntax");
        }
        long max = bits == 64 ? -1L : (1L << bits) - 1;
        long v = 0;
        boolean overflow = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                throw new GoError(fn + ": parsing " + GoJson.quote(s) + ": invalid syntax");
            }
            if (!overflow) {
                long next = v * 10 + (c - '0');
                if (Long.compareUnsigned(v, Long.divideUnsigned(-1L, 10)) > 0 || Long.compareUnsigned(next, v) < 0
                        || Long.compareUnsigned(next, max) > 0) {
                    overflow = true;
                } else {
                    v = next;
                }
            }
        }
        if (overflow) {
            throw new GoError(fn + ": parsing " + GoJson.quote(s) + ": value out of range");
        }
        return v;
    }

    /**
     * Parses a dotted-quad IPv4 literal like Go's {@code net.ParseIP} (no leading zeros, four decimal parts).
     *
     * @return the address as an int, or {@code null} if {@code s} is not an IPv4 literal
     * @param s the text
     */
    public static Integer parseIpv4(String s) {
        int parts = 0;
        int value = 0;
        int i = 0;
        while (i < s.length() || parts < 4) {
            if (parts > 0) {
                if (i >= s.length() || s.charAt(i) != '.') {
                    return null;
                }
                i++;
            }
            int start = i;
            int n = 0;
            while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9' && i - start < 3) {
                n = n * 10 + (s.charAt(i) - '0');
                i++;
            }
            int len = i - start;
            if (len == 0 || n > 255 || (len > 1 && s.charAt(start) == '0')) {
                return null;
            }
            value = (value << 8) | n;
            parts++;
            if (parts == 4) {
                return i == s.length() ? value : null;
            }
        }
        return null;
    }

    /**
     * True if {@code s} parses as an IPv6 literal (used only to word the rejection).
     *
     * @param s the text
     * @return whether {@code s} has an IPv6 address's shape
     */
    public static boolean looksLikeIpv6(String s) {
        return s.indexOf(':') >= 0;
    }
}
