package dev.gvproxy.platform.cli;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/**
 * A command-line parser with the observable behaviour of Go's {@code flag} package (as used by gvproxy and gvforwarder,
 * whose callers pass arguments that way).
 *
 * <ul>
 *   <li>One or two leading dashes are equivalent ({@code -listen} = {@code --listen}); names are case-sensitive.</li>
 *   <li>Value flags take {@code -f value} or {@code -f=value}. Boolean flags take only {@code -f} or
 *       {@code -f=true|false}: they never consume the next argument ({@code -debug false} stops parsing at
 *       {@code false}).</li>
 *   <li>Parsing stops at the first non-flag argument (a lone {@code -} is one) or after {@code --}; the rest is
 *       returned as positional arguments.</li>
 *   <li>Repeating a scalar flag: the last one wins. {@link #stringList} flags accumulate.</li>
 *   <li>Errors: the message (e.g. {@code flag provided but not defined: -x}) and then the usage, exit status 2.
 *       {@code -h}/{@code -help} (unless defined): usage, exit status 0.</li>
 * </ul>
 *
 * <p>{@link #parse} never exits the JVM: it returns a {@link ParseResult} whose {@code stderr} text and exit code the
 * caller's {@code main} prints and exits with. Usage text matches Go's {@code PrintDefaults}.
 *
 * <p>Not thread-safe; define all flags, then parse once.
 */
public final class GoFlagSet {

    /** What {@link #parse} concluded. */
    public enum Status {
        /** All flags parsed; run the program. */
        OK,
        /** {@code -h} or {@code -help} was given: print {@link ParseResult#stderr()} and exit 0. */
        HELP,
        /** A syntax or value error: print {@link ParseResult#stderr()} and exit 2. */
        ERROR
    }

    /**
     * Outcome of {@link #parse}.
     *
     * @param status   what happened
     * @param exitCode 0 for {@link Status#OK} and {@link Status#HELP}, 2 for {@link Status#ERROR}
     * @param error    the one-line error (without newline), or {@code null} when there is none
     * @param stderr   everything Go would have written to stderr (error line + usage), empty when {@code OK}
     * @param args     positional arguments left after the flags (empty unless {@code OK})
     */
    public record ParseResult(Status status, int exitCode, String error, String stderr, List<String> args) {
        /** @return true when the program should proceed */
        public boolean ok() {
            return status == Status.OK;
        }
    }

    /** A custom flag value, like Go's {@code flag.Value}. */
    public interface Value {
        /**
         * Parses and stores one occurrence of the flag.
         *
         * @throws IllegalArgumentException with the reason (it becomes the text after the colon in
         *                                  {@code invalid value "v" for flag -f: reason})
         */
        void set(String text);

        /** @return the current value as text (used for the default shown in the usage) */
        String asText();

        /** @return true if the flag takes no argument ({@code -f} means {@code -f=true}) */
        default boolean isBool() {
            return false;
        }

        /** @return the argument name shown in the usage ({@code value} in Go for custom types) */
        default String typeName() {
            return "value";
        }
    }

    /** One defined flag. */
    public abstract static sealed class Flag permits BoolFlag, IntFlag, UintFlag, StringFlag, StringListFlag, ValueFlag {
        private final String name;
        private final String usage;
        private final String defaultText;
        private boolean set;

        Flag(String name, String usage, String defaultText) {
            this.name = name;
            this.usage = usage;
            this.defaultText = defaultText;
        }

        /** @return the flag's name without dashes */
        public final String name() {
            return name;
        }

        /** @return the usage text given at definition */
        public final String usage() {
            return usage;
        }

        /** @return the default value as text (Go's {@code DefValue}) */
        public final String defaultText() {
            return defaultText;
        }

        /** @return true if the flag appeared on the command line (Go's {@code Visit}) */
        public final boolean isSet() {
            return set;
        }

        abstract void set(String text);

        abstract boolean isBool();

        abstract String typeName();

        /** Whether {@code defaultText} is the zero value of the type (Go then omits "(default ...)"). */
        abstract boolean defaultIsZero();

        boolean quoteDefault() {
            return false;
        }
    }

    /** A boolean flag. */
    public static final class BoolFlag extends Flag {
        private boolean value;

        BoolFlag(String name, boolean def, String usage) {
            super(name, usage, Boolean.toString(def));
            this.value = def;
        }

        /** @return the current value */
        public boolean get() {
            return value;
        }

        @Override
        void set(String text) {
            value = parseBool(text);
        }

        @Override
        boolean isBool() {
            return true;
        }

        @Override
        String typeName() {
            return "";
        }

        @Override
        boolean defaultIsZero() {
            return defaultText().equals("false");
        }
    }

    /** A Go {@code int} flag (64-bit, base prefixes {@code 0x 0o 0b 0} and underscores accepted). */
    public static final class IntFlag extends Flag {
        private long value;

        IntFlag(String name, long def, String usage) {
            super(name, usage, Long.toString(def));
            this.value = def;
        }

        /** @return the current value */
        public long get() {
            return value;
        }

        /**
         * @return the current value as a Java int
         * @throws ArithmeticException if it does not fit
         */
        public int getInt() {
            return Math.toIntExact(value);
        }

        @Override
        void set(String text) {
            value = parseInt(text, true).longValue();
        }

        @Override
        boolean isBool() {
            return false;
        }

        @Override
        String typeName() {
            return "int";
        }

        @Override
        boolean defaultIsZero() {
            return defaultText().equals("0");
        }
    }

    /** A Go {@code uint} flag (64-bit unsigned; no sign accepted). */
    public static final class UintFlag extends Flag {
        private long value;

        UintFlag(String name, long def, String usage) {
            super(name, usage, Long.toUnsignedString(def));
            this.value = def;
        }

        /** @return the current value (unsigned 64-bit, in a long) */
        public long get() {
            return value;
        }

        @Override
        void set(String text) {
            value = parseInt(text, false).longValue();
        }

        @Override
        boolean isBool() {
            return false;
        }

        @Override
        String typeName() {
            return "uint";
        }

        @Override
        boolean defaultIsZero() {
            return defaultText().equals("0");
        }
    }

    /** A string flag. */
    public static final class StringFlag extends Flag {
        private String value;

        StringFlag(String name, String def, String usage) {
            super(name, usage, def);
            this.value = def;
        }

        /** @return the current value */
        public String get() {
            return value;
        }

        @Override
        void set(String text) {
            value = text;
        }

        @Override
        boolean isBool() {
            return false;
        }

        @Override
        String typeName() {
            return "string";
        }

        @Override
        boolean defaultIsZero() {
            return defaultText().isEmpty();
        }

        @Override
        boolean quoteDefault() {
            return true;
        }
    }

    /** A repeatable string flag: every occurrence appends (gvproxy's {@code arrayFlags}). */
    public static final class StringListFlag extends Flag {
        private final List<String> values = new ArrayList<>();

        StringListFlag(String name, String usage) {
            super(name, usage, "");
        }

        /** @return the values in command-line order (unmodifiable view) */
        public List<String> get() {
            return Collections.unmodifiableList(values);
        }

        @Override
        void set(String text) {
            values.add(text);
        }

        @Override
        boolean isBool() {
            return false;
        }

        @Override
        String typeName() {
            return "value";
        }

        @Override
        boolean defaultIsZero() {
            return true;
        }
    }

    /** A flag backed by a caller-supplied {@link Value}. */
    public static final class ValueFlag extends Flag {
        private final Value value;

        ValueFlag(String name, Value value, String usage) {
            super(name, usage, value.asText());
            this.value = value;
        }

        /** @return the backing value */
        public Value get() {
            return value;
        }

        @Override
        void set(String text) {
            value.set(text);
        }

        @Override
        boolean isBool() {
            return value.isBool();
        }

        @Override
        String typeName() {
            return value.typeName();
        }

        @Override
        boolean defaultIsZero() {
            String d = defaultText();
            return d.isEmpty() || d.equals("0") || d.equals("false") || d.equals("[]");
        }
    }

    private final String programName;
    private final Map<String, Flag> flags = new TreeMap<>(); // sorted: PrintDefaults lists flags by name
    private final Set<String> setOrder = new LinkedHashSet<>();
    private String usageHeader;

    /**
     * @param programName shown in the default usage header {@code Usage of NAME:}
     */
    public GoFlagSet(String programName) {
        this.programName = Objects.requireNonNull(programName);
        this.usageHeader = "Usage of " + programName + ":\n";
    }

    /** @return the program name given at construction */
    public String programName() {
        return programName;
    }

    /** Replaces the text printed before the flag list (default {@code "Usage of NAME:\n"}). */
    public GoFlagSet usageHeader(String header) {
        this.usageHeader = Objects.requireNonNull(header);
        return this;
    }

    /** Defines a boolean flag. */
    public BoolFlag bool(String name, boolean def, String usage) {
        return define(new BoolFlag(name, def, usage));
    }

    /** Defines a Go {@code int} flag. */
    public IntFlag integer(String name, long def, String usage) {
        return define(new IntFlag(name, def, usage));
    }

    /** Defines a Go {@code uint} flag ({@code def} is unsigned). */
    public UintFlag uint(String name, long def, String usage) {
        return define(new UintFlag(name, def, usage));
    }

    /** Defines a string flag. */
    public StringFlag string(String name, String def, String usage) {
        return define(new StringFlag(name, Objects.requireNonNull(def), usage));
    }

    /** Defines a repeatable string flag whose occurrences accumulate in order. */
    public StringListFlag stringList(String name, String usage) {
        return define(new StringListFlag(name, usage));
    }

    /** Defines a flag backed by a custom {@link Value}. */
    public ValueFlag var(String name, Value value, String usage) {
        return define(new ValueFlag(name, Objects.requireNonNull(value), usage));
    }

    private <F extends Flag> F define(F flag) {
        String n = flag.name();
        if (n.isEmpty() || n.startsWith("-") || n.contains("=")) {
            throw new IllegalArgumentException("flag " + n + " has an invalid name");
        }
        if (flags.putIfAbsent(n, flag) != null) {
            throw new IllegalArgumentException(programName + " flag redefined: " + n);
        }
        return flag;
    }

    /** @return the flag with this name, or {@code null} */
    public Flag lookup(String name) {
        return flags.get(name);
    }

    /** @return names of the flags that were set on the command line, in the order first seen */
    public List<String> setFlags() {
        return List.copyOf(setOrder);
    }

    /**
     * Parses the arguments (without the program name). Never exits.
     *
     * @param argv the command-line arguments
     * @return the outcome; when not {@link ParseResult#ok()}, print {@code stderr()} and exit with {@code exitCode()}
     */
    public ParseResult parse(String... argv) {
        int i = 0;
        while (i < argv.length) {
            String s = argv[i];
            if (s.length() < 2 || s.charAt(0) != '-') {
                break; // first non-flag argument (a lone "-" included)
            }
            int minuses = 1;
            if (s.charAt(1) == '-') {
                minuses = 2;
                if (s.length() == 2) {
                    i++; // "--" terminates the flags and is consumed
                    break;
                }
            }
            String name = s.substring(minuses);
            if (name.isEmpty() || name.charAt(0) == '-' || name.charAt(0) == '=') {
                return fail("bad flag syntax: " + s);
            }
            i++;
            String value = null;
            int eq = name.indexOf('=', 1);
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            Flag flag = flags.get(name);
            if (flag == null) {
                if (name.equals("help") || name.equals("h")) {
                    return new ParseResult(Status.HELP, 0, null, usage(), List.of());
                }
                return fail("flag provided but not defined: -" + name);
            }
            if (flag.isBool()) {
                if (value != null) {
                    try {
                        flag.set(value);
                    } catch (IllegalArgumentException e) {
                        return fail("invalid boolean value \"" + goQuoteBody(value) + "\" for -" + name + ": "
                                + e.getMessage());
                    }
                } else {
                    try {
                        flag.set("true");
                    } catch (IllegalArgumentException e) {
                        return fail("invalid boolean flag " + name + ": " + e.getMessage());
                    }
                }
            } else {
                if (value == null && i < argv.length) {
                    value = argv[i++];
                }
                if (value == null) {
                    return fail("flag needs an argument: -" + name);
                }
                try {
                    flag.set(value);
                } catch (IllegalArgumentException e) {
                    return fail("invalid value \"" + goQuoteBody(value) + "\" for flag -" + name + ": "
                            + e.getMessage());
                }
            }
            flag.set = true;
            setOrder.add(name);
        }
        List<String> rest = List.of(argv).subList(i, argv.length);
        return new ParseResult(Status.OK, 0, null, "", List.copyOf(rest));
    }

    private ParseResult fail(String error) {
        return new ParseResult(Status.ERROR, 2, error, error + "\n" + usage(), List.of());
    }

    /** @return the full usage text: the header followed by {@link #defaults()} */
    public String usage() {
        return usageHeader + defaults();
    }

    /** @return the flag list exactly as Go's {@code PrintDefaults} formats it */
    public String defaults() {
        StringBuilder out = new StringBuilder();
        for (Flag f : flags.values()) {
            StringBuilder b = new StringBuilder("  -").append(f.name());
            String[] nameAndUsage = unquoteUsage(f);
            if (!nameAndUsage[0].isEmpty()) {
                b.append(' ').append(nameAndUsage[0]);
            }
            if (b.length() <= 4) { // "  -x": one-letter flag without argument name, usage on the same line
                b.append('\t');
            } else {
                b.append("\n    \t");
            }
            b.append(nameAndUsage[1].replace("\n", "\n    \t"));
            if (!f.defaultIsZero()) {
                if (f.quoteDefault()) {
                    b.append(" (default \"").append(goQuoteBody(f.defaultText())).append("\")");
                } else {
                    b.append(" (default ").append(f.defaultText()).append(')');
                }
            }
            out.append(b).append('\n');
        }
        return out.toString();
    }

    /** Go's {@code UnquoteUsage}: a back-quoted word in the usage names the argument. */
    private static String[] unquoteUsage(Flag f) {
        String usage = f.usage();
        int a = usage.indexOf('`');
        if (a >= 0) {
            int b = usage.indexOf('`', a + 1);
            if (b >= 0) {
                String name = usage.substring(a + 1, b);
                return new String[] {name, usage.substring(0, a) + name + usage.substring(b + 1)};
            }
        }
        return new String[] {f.typeName(), usage};
    }

    /** Escapes like the inside of Go's {@code %q} for the printable-ASCII and common control characters. */
    static String goQuoteBody(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\t' -> b.append("\\t");
                case '\r' -> b.append("\\r");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        b.append(String.format(Locale.ROOT, "\\x%02x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }

    /** Go's {@code strconv.ParseBool}; failures carry Go's flag-package reason {@code parse error}. */
    static boolean parseBool(String s) {
        return switch (s) {
            case "1", "t", "T", "TRUE", "true", "True" -> true;
            case "0", "f", "F", "FALSE", "false", "False" -> false;
            default -> throw new IllegalArgumentException("parse error");
        };
    }

    private static final BigInteger INT64_MIN = BigInteger.valueOf(Long.MIN_VALUE);
    private static final BigInteger INT64_MAX = BigInteger.valueOf(Long.MAX_VALUE);
    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    /**
     * Go's {@code strconv.ParseInt(s, 0, 64)} / {@code ParseUint(s, 0, 64)}: optional sign (signed only), base prefix
     * {@code 0x 0o 0b} or a leading {@code 0} for octal, underscores between digits. Failures carry the flag
     * package's reasons {@code parse error} / {@code value out of range}.
     */
    static BigInteger parseInt(String s0, boolean signed) {
        String s = s0;
        boolean negative = false;
        if (signed && !s.isEmpty() && (s.charAt(0) == '+' || s.charAt(0) == '-')) {
            negative = s.charAt(0) == '-';
            s = s.substring(1);
        }
        if (s.isEmpty()) {
            throw new IllegalArgumentException("parse error");
        }
        int base = 10;
        String digits = s;
        if (s.charAt(0) == '0') {
            if (s.length() >= 3 && (s.charAt(1) | 0x20) == 'x') {
                base = 16;
                digits = s.substring(2);
            } else if (s.length() >= 3 && (s.charAt(1) | 0x20) == 'o') {
                base = 8;
                digits = s.substring(2);
            } else if (s.length() >= 3 && (s.charAt(1) | 0x20) == 'b') {
                base = 2;
                digits = s.substring(2);
            } else if (s.length() >= 2 && ((s.charAt(1) | 0x20) == 'x' || (s.charAt(1) | 0x20) == 'o'
                    || (s.charAt(1) | 0x20) == 'b')) {
                throw new IllegalArgumentException("parse error"); // a bare prefix such as "0x"
            } else {
                base = 8;
                digits = s.substring(1);
                if (digits.isEmpty()) {
                    digits = "0";
                }
            }
        }
        if (s.indexOf('_') >= 0) {
            if (!underscoreOk(s)) {
                throw new IllegalArgumentException("parse error");
            }
            digits = digits.replace("_", "");
            if (digits.isEmpty()) {
                throw new IllegalArgumentException("parse error");
            }
        }
        for (int k = 0; k < digits.length(); k++) {
            if (Character.digit(digits.charAt(k), base) < 0 || digits.charAt(k) > 0x7f) {
                throw new IllegalArgumentException("parse error");
            }
        }
        BigInteger v = new BigInteger(digits, base);
        if (negative) {
            v = v.negate();
        }
        if (signed ? v.compareTo(INT64_MIN) < 0 || v.compareTo(INT64_MAX) > 0 : v.compareTo(UINT64_MAX) > 0) {
            throw new IllegalArgumentException("value out of range");
        }
        return v;
    }

    /** Go's {@code underscoreOK}: underscores only separate digits (a base prefix counts as a digit). */
    private static boolean underscoreOk(String s) {
        char saw = '^';
        int i = 0;
        boolean hex = false;
        if (s.length() >= 2 && s.charAt(0) == '0') {
            char p = (char) (s.charAt(1) | 0x20);
            if (p == 'b' || p == 'o' || p == 'x') {
                i = 2;
                saw = '0';
                hex = p == 'x';
            }
        }
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            if ((c >= '0' && c <= '9') || (hex && ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'))) {
                saw = '0';
                continue;
            }
            if (c == '_') {
                if (saw != '0') {
                    return false;
                }
                saw = '_';
                continue;
            }
            if (saw == '_') {
                return false;
            }
            saw = '!';
        }
        return saw != '_';
    }
}
