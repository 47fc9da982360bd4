package dev.gvproxy.platform;

import java.util.Locale;

/**
 * The process's open-file limit, {@code getrlimit(RLIMIT_NOFILE)}'s soft value: the budgets of guest flows are
 * derived from it. On Linux it is read from {@code /proc/self/limits} (a downcall's linking costs tens of
 * milliseconds of start-up), elsewhere through {@link Libc#getrlimitSoft}. Not {@code java.lang.management}: that
 * module is not in the distribution's runtime and costs start-up time for one number.
 */
public final class DescriptorLimit {
    /** When neither source can be read: Linux's usual soft default. */
    static final long UNKNOWN = 1024;
    /** An "unlimited" limit is taken as this many (more than any budget needs). */
    static final long UNLIMITED = 1L << 20;

    private DescriptorLimit() {}

    /** The soft "Max open files" of {@code /proc/self/limits}, {@value #UNLIMITED} for unlimited, 0 if unread. */
    static long fromProcLimits() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
                    if (soft.equals("unlimited")) {
                        return UNLIMITED;
                    }
                    long n = Long.parseLong(soft);
                    return n <= 0 ? 0 : Math.min(n, UNLIMITED);
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // fall back to getrlimit
        }
        return 0;
    }

    /** The soft {@code RLIMIT_NOFILE}; {@value #UNKNOWN} when it cannot be read. */
    public static long get() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        int resource;
        if (os.contains("linux")) {
            long fromProc = fromProcLimits();
            if (fromProc != 0) {
                return fromProc;
            }
            resource = 7;
        } else if (os.contains("mac") || os.contains("bsd")) {
            resource = 8;
        } else {
            return UNKNOWN;
        }
        try {
            long cur = Libc.getrlimitSoft(resource);
            return cur < 0 || cur > UNLIMITED ? UNLIMITED : cur == 0 ? UNKNOWN : cur;
        } catch (Throwable t) {
            return UNKNOWN;
        }
    }
}
