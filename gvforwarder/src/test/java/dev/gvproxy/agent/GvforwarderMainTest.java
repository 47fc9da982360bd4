package dev.gvproxy.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class GvforwarderMainTest {

    private record Run(int code, String out, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = GvforwarderMain.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void defaultsAreGvforwarders() {
        GvforwarderMain.Flags f = new GvforwarderMain.Flags();
        assertTrue(f.flags.parse().ok());
        Options o = GvforwarderMain.options(f);
        assertEquals("vsock://2:1024/connect", o.url());
        assertEquals("tap0", o.iface());
        assertEquals(List.of("eth0", "ens3", "enp0s1"), o.stopIfExist());
        assertEquals("5a:94:ef:e4:0c:ee", o.mac());
        assertEquals(4000, o.mtu());
        assertEquals(false, o.preexisting());
        assertEquals(false, o.debug());
        assertNull(o.netns());
    }

    @Test
    void goFlagForms() {
        GvforwarderMain.Flags f = new GvforwarderMain.Flags();
        assertTrue(f.flags.parse("--url=unix:///tmp/s", "-iface", "tap9", "-preexisting", "--mtu", "1500",
                "-stop-if-exist=", "-mac", "", "-netns", "ns1").ok());
        Options o = GvforwarderMain.options(f);
        assertEquals("unix:///tmp/s", o.url());
        assertEquals("tap9", o.iface());
        assertTrue(o.preexisting());
        assertEquals(1500, o.mtu());
        assertEquals(List.of(), o.stopIfExist());
        assertEquals("", o.mac());
        assertEquals("ns1", o.netns());
    }

    @Test
    void usageListsGvforwarderFlags() {
        Run r = run("-h");
        assertEquals(0, r.code());
        String expected = """
                Usage of gvforwarder-java:
                  -debug
                    \tdebug
                  -iface string
                    \ttap interface name (default "tap0")
                  -mac string
                    \tmac address (default "5a:94:ef:e4:0c:ee")
                  -mtu int
                    \tmtu (default 4000)
                  -netns string
                    \topen the TAP and run the DHCP client in this network namespace (/var/run/netns/NAME)
                  -offload
                    \tTAP with checksum/TSO offloads and the virtio-net header framing (gvproxy-java only)
                  -preexisting
                    \tuse preexisting/preconfigured TAP interface
                  -stop-if-exist string
                    \tstop if one of these interfaces exists at startup (default "eth0,ens3,enp0s1")
                  -url string
                    \turl where the tap send packets (default "vsock://2:1024/connect")
                  -version
                    \tprint version
                """;
        assertEquals(expected, r.err());
    }

    @Test
    void versionAndErrors() {
        Run v = run("-version");
        assertEquals(0, v.code());
        assertTrue(v.out().startsWith("gvforwarder version "), v.out());
        Run bad = run("-nope");
        assertEquals(2, bad.code());
        assertTrue(bad.err().startsWith("flag provided but not defined: -nope\nUsage of gvforwarder-java:\n"));
        Run badMtu = run("-mtu", "x");
        assertEquals(2, badMtu.code());
        assertTrue(badMtu.err().startsWith("invalid value \"x\" for flag -mtu: parse error\n"));
    }

    @Test
    void badValuesAreRejectedBeforeStarting() {
        GvforwarderMain.Flags f = new GvforwarderMain.Flags();
        assertTrue(f.flags.parse("-mac", "zz:zz").ok());
        assertThrows(IllegalArgumentException.class, () -> GvforwarderMain.options(f));
        GvforwarderMain.Flags g = new GvforwarderMain.Flags();
        assertTrue(g.flags.parse("-mtu", "0").ok());
        assertThrows(IllegalArgumentException.class, () -> GvforwarderMain.options(g));
    }

    @Test
    void stopIfExistFindsPresentInterfaces() throws Exception {
        Options o = Options.defaults().stopIfExist(List.of("gvj-none0", "lo"));
        assertEquals("lo", GvforwarderMain.preventingInterface(o));
        assertNull(GvforwarderMain.preventingInterface(Options.defaults().stopIfExist(List.of("gvj-none0"))));
        assertEquals(List.of("a", "b"), GvforwarderMain.splitNames("a,,b,"));
        assertEquals(List.of(), GvforwarderMain.splitNames(""));
    }
}
