package dev.gvproxy.platform.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.platform.cli.GoFlagSet.ParseResult;
import dev.gvproxy.platform.cli.GoFlagSet.Status;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class GoFlagSetTest {

    /** A flag set shaped like gvproxy's/gvforwarder's. */
    private static final class Fixture {
        final GoFlagSet fs = new GoFlagSet("prog");
        final GoFlagSet.StringFlag url = fs.string("url", "vsock://2:1024/connect", "url where the tap send packets");
        final GoFlagSet.BoolFlag debug = fs.bool("debug", false, "debug");
        final GoFlagSet.BoolFlag v = fs.bool("v", false, "verbose");
        final GoFlagSet.IntFlag mtu = fs.integer("mtu", 4000, "mtu");
        final GoFlagSet.UintFlag port = fs.uint("port", 0, "port");
        final GoFlagSet.StringListFlag listen = fs.stringList("listen", "listen endpoint");
        final GoFlagSet.StringFlag empty = fs.string("iface", "", "iface");
    }

    /** Each row: arguments, then the expected "url|debug|mtu|listen|positional" summary. */
    static Stream<Arguments> okForms() {
        return Stream.of(
                Arguments.of(List.of(), "vsock://2:1024/connect|false|4000|[]|[]"),
                Arguments.of(List.of("-url", "unix:///a"), "unix:///a|false|4000|[]|[]"),
                Arguments.of(List.of("--url", "unix:///a"), "unix:///a|false|4000|[]|[]"),
                Arguments.of(List.of("-url=unix:///a"), "unix:///a|false|4000|[]|[]"),
                Arguments.of(List.of("--url=unix:///a=b"), "unix:///a=b|false|4000|[]|[]"),
                Arguments.of(List.of("-url="), "|false|4000|[]|[]"),
                Arguments.of(List.of("-url", "-debug"), "-debug|false|4000|[]|[]"), // a value flag takes the next arg
                Arguments.of(List.of("-debug"), "vsock://2:1024/connect|true|4000|[]|[]"),
                Arguments.of(List.of("--debug"), "vsock://2:1024/connect|true|4000|[]|[]"),
                Arguments.of(List.of("-debug=true"), "vsock://2:1024/connect|true|4000|[]|[]"),
                Arguments.of(List.of("-debug=false"), "vsock://2:1024/connect|false|4000|[]|[]"),
                Arguments.of(List.of("-debug=1"), "vsock://2:1024/connect|true|4000|[]|[]"),
                Arguments.of(List.of("-debug=F"), "vsock://2:1024/connect|false|4000|[]|[]"),
                Arguments.of(List.of("-debug", "false"), "vsock://2:1024/connect|true|4000|[]|[false]"),
                Arguments.of(List.of("-debug", "false", "-mtu", "9"),
                        "vsock://2:1024/connect|true|4000|[]|[false, -mtu, 9]"),
                Arguments.of(List.of("-mtu", "1500"), "vsock://2:1024/connect|false|1500|[]|[]"),
                Arguments.of(List.of("-mtu=0x10"), "vsock://2:1024/connect|false|16|[]|[]"),
                Arguments.of(List.of("-mtu=010"), "vsock://2:1024/connect|false|8|[]|[]"),
                Arguments.of(List.of("-mtu=0o10"), "vsock://2:1024/connect|false|8|[]|[]"),
                Arguments.of(List.of("-mtu=0b101"), "vsock://2:1024/connect|false|5|[]|[]"),
                Arguments.of(List.of("-mtu=1_500"), "vsock://2:1024/connect|false|1500|[]|[]"),
                Arguments.of(List.of("-mtu=-1"), "vsock://2:1024/connect|false|-1|[]|[]"),
                Arguments.of(List.of("-mtu=+7"), "vsock://2:1024/connect|false|7|[]|[]"),
                Arguments.of(List.of("-mtu", "1", "-mtu", "2"), "vsock://2:1024/connect|false|2|[]|[]"), // last wins
                Arguments.of(List.of("-listen", "a", "--listen=b", "-listen", "c"),
                        "vsock://2:1024/connect|false|4000|[a, b, c]|[]"),
                Arguments.of(List.of("pos", "-debug"), "vsock://2:1024/connect|false|4000|[]|[pos, -debug]"),
                Arguments.of(List.of("-debug", "--", "-mtu", "1"), "vsock://2:1024/connect|true|4000|[]|[-mtu, 1]"),
                Arguments.of(List.of("--"), "vsock://2:1024/connect|false|4000|[]|[]"),
                Arguments.of(List.of("-", "-debug"), "vsock://2:1024/connect|false|4000|[]|[-, -debug]"));
    }

    @ParameterizedTest
    @MethodSource("okForms")
    void acceptsGoForms(List<String> args, String expected) {
        Fixture f = new Fixture();
        ParseResult r = f.fs.parse(args.toArray(String[]::new));
        assertEquals(Status.OK, r.status(), r.stderr());
        assertEquals(0, r.exitCode());
        assertEquals(expected, f.url.get() + "|" + f.debug.get() + "|" + f.mtu.get() + "|" + f.listen.get() + "|"
                + r.args());
    }

    /** An empty string is a positional argument ("" has fewer than 2 chars), and so stops parsing. */
    @Test
    void emptyArgumentIsPositional() {
        Fixture f = new Fixture();
        ParseResult r = f.fs.parse("", "-debug");
        assertTrue(r.ok());
        assertFalse(f.debug.get());
        assertEquals(List.of("", "-debug"), r.args());
    }

    static Stream<Arguments> errorForms() {
        return Stream.of(
                Arguments.of(List.of("-x"), "flag provided but not defined: -x"),
                Arguments.of(List.of("--nope=1"), "flag provided but not defined: -nope"),
                Arguments.of(List.of("-Debug"), "flag provided but not defined: -Debug"), // case-sensitive
                Arguments.of(List.of("---debug"), "bad flag syntax: ---debug"),
                Arguments.of(List.of("-=x"), "bad flag syntax: -=x"),
                Arguments.of(List.of("--=x"), "bad flag syntax: --=x"),
                Arguments.of(List.of("-url"), "flag needs an argument: -url"),
                Arguments.of(List.of("-mtu", "abc"), "invalid value \"abc\" for flag -mtu: parse error"),
                Arguments.of(List.of("-mtu="), "invalid value \"\" for flag -mtu: parse error"),
                Arguments.of(List.of("-mtu=0x"), "invalid value \"0x\" for flag -mtu: parse error"),
                Arguments.of(List.of("-mtu=08"), "invalid value \"08\" for flag -mtu: parse error"),
                Arguments.of(List.of("-mtu=1__0"), "invalid value \"1__0\" for flag -mtu: parse error"),
                Arguments.of(List.of("-mtu=_1"), "invalid value \"_1\" for flag -mtu: parse error"),
                Arguments.of(List.of("-mtu=1_"), "invalid value \"1_\" for flag -mtu: parse error"),
                Arguments.of(List.of("-mtu=1.5"), "invalid value \"1.5\" for flag -mtu: parse error"),
                Arguments.of(List.of("-mtu=99999999999999999999"),
                        "invalid value \"99999999999999999999\" for flag -mtu: value out of range"),
                Arguments.of(List.of("-port=-1"), "invalid value \"-1\" for flag -port: parse error"),
                Arguments.of(List.of("-port=18446744073709551616"),
                        "invalid value \"18446744073709551616\" for flag -port: value out of range"),
                Arguments.of(List.of("-debug=yes"), "invalid boolean value \"yes\" for -debug: parse error"),
                Arguments.of(List.of("-debug="), "invalid boolean value \"\" for -debug: parse error"),
                Arguments.of(List.of("-mtu", "a\"b"), "invalid value \"a\\\"b\" for flag -mtu: parse error"));
    }

    @ParameterizedTest
    @MethodSource("errorForms")
    void rejectsLikeGo(List<String> args, String message) {
        Fixture f = new Fixture();
        ParseResult r = f.fs.parse(args.toArray(String[]::new));
        assertEquals(Status.ERROR, r.status());
        assertEquals(2, r.exitCode());
        assertEquals(message, r.error());
        assertEquals(message + "\n" + f.fs.usage(), r.stderr());
        assertTrue(r.args().isEmpty());
    }

    @Test
    void helpPrintsUsageAndExitsZero() {
        for (String h : List.of("-h", "--h", "-help", "--help")) {
            Fixture f = new Fixture();
            ParseResult r = f.fs.parse("-debug", h, "-mtu", "1");
            assertEquals(Status.HELP, r.status(), h);
            assertEquals(0, r.exitCode());
            assertEquals(f.fs.usage(), r.stderr());
            assertTrue(r.stderr().startsWith("Usage of prog:\n"));
        }
    }

    @Test
    void definedHelpFlagIsOrdinary() {
        GoFlagSet fs = new GoFlagSet("p");
        GoFlagSet.BoolFlag h = fs.bool("h", false, "host mode");
        assertTrue(fs.parse("-h").ok());
        assertTrue(h.get());
    }

    @Test
    void usageMatchesPrintDefaults() {
        GoFlagSet fs = new GoFlagSet("gvforwarder");
        fs.string("url", "vsock://2:1024/connect", "url where the tap send packets");
        fs.bool("debug", false, "debug");
        fs.integer("mtu", 4000, "mtu");
        fs.string("iface", "", "tap interface name");
        fs.bool("x", false, "one-letter bool");
        fs.bool("on", true, "defaults to true");
        fs.stringList("listen", "control endpoint");
        fs.string("config", "", "path to the `file` to read");
        fs.integer("ssh-port", 2222, "Port to access the guest virtual machine.\nMust be between 1024 and 65535");
        fs.uint("n", 0, "count");
        String expected = """
                Usage of gvforwarder:
                  -config file
                    \tpath to the file to read
                  -debug
                    \tdebug
                  -iface string
                    \ttap interface name
                  -listen value
                    \tcontrol endpoint
                  -mtu int
                    \tmtu (default 4000)
                  -n uint
                    \tcount
                  -on
                    \tdefaults to true (default true)
                  -ssh-port int
                    \tPort to access the guest virtual machine.
                    \tMust be between 1024 and 65535 (default 2222)
                  -url string
                    \turl where the tap send packets (default "vsock://2:1024/connect")
                  -x\tone-letter bool
                """;
        assertEquals(expected, fs.usage());
    }

    @Test
    void recordsWhichFlagsWereSet() {
        Fixture f = new Fixture();
        assertTrue(f.fs.parse("-mtu", "1", "-debug", "-mtu=2").ok());
        assertEquals(List.of("mtu", "debug"), f.fs.setFlags());
        assertTrue(f.mtu.isSet());
        assertFalse(f.url.isSet());
        assertEquals("4000", f.mtu.defaultText());
    }

    @Test
    void customValues() {
        GoFlagSet fs = new GoFlagSet("p");
        StringBuilder seen = new StringBuilder();
        GoFlagSet.Value ip = new GoFlagSet.Value() {
            @Override
            public void set(String text) {
                if (!text.matches("\\d+\\.\\d+\\.\\d+\\.\\d+")) {
                    throw new IllegalArgumentException("not an IPv4 address");
                }
                seen.append(text);
            }

            @Override
            public String asText() {
                return seen.toString();
            }
        };
        fs.var("ip", ip, "address");
        assertTrue(fs.parse("-ip", "1.2.3.4").ok());
        assertEquals("1.2.3.4", seen.toString());
        ParseResult bad = fs.parse("-ip", "nope");
        assertEquals("invalid value \"nope\" for flag -ip: not an IPv4 address", bad.error());
    }

    @Test
    void redefinitionIsRejected() {
        GoFlagSet fs = new GoFlagSet("p");
        fs.bool("a", false, "");
        assertThrows(IllegalArgumentException.class, () -> fs.string("a", "", ""));
    }

    @Test
    void intAccessors() {
        Fixture f = new Fixture();
        assertTrue(f.fs.parse("-mtu", "0x7fffffffff", "-port", "18446744073709551615").ok());
        assertThrows(ArithmeticException.class, f.mtu::getInt);
        assertEquals(-1L, f.port.get()); // unsigned max in a long
    }
}
