package dev.gvproxy.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

class EndpointUriTest {
    @Test
    void unixForms() throws IOException {
        assertEquals(new EndpointUri("unix", "/run/gv/qemu.sock", null), EndpointUri.parse("unix:///run/gv/qemu.sock"));
        assertEquals("/x.sock", EndpointUri.parse("unix://ignoredhost/x.sock").path());
        assertEquals("/v.sock", EndpointUri.parse("unixgram:///v.sock").path());
        assertEquals("/a b", EndpointUri.parse("unix:///a%20b").path());
        assertThrows(IOException.class, () -> EndpointUri.parse("unix://"));
    }

    @Test
    void tcpForms() throws IOException {
        EndpointUri u = EndpointUri.parse("tcp://127.0.0.1:1234");
        assertEquals(new InetSocketAddress("127.0.0.1", 1234), u.inet());
        assertNull(u.path());
        assertTrue(EndpointUri.parse("tcp://:1234").inet().getAddress().isAnyLocalAddress());
        assertEquals(new InetSocketAddress("::1", 80), EndpointUri.parse("tcp://[::1]:80").inet());
        assertThrows(IOException.class, () -> EndpointUri.parse("tcp://127.0.0.1"));
        assertThrows(IOException.class, () -> EndpointUri.parse("tcp://[::1]"));
        assertThrows(IOException.class, () -> EndpointUri.parse("tcp://127.0.0.1:99999"));
    }

    @Test
    void otherSchemesAreUnexpected() {
        assertEquals("unexpected scheme", assertThrows(IOException.class, () -> EndpointUri.parse("npipe:///x")).getMessage());
        assertEquals("unexpected scheme", assertThrows(IOException.class, () -> EndpointUri.parse("/just/a/path")).getMessage());
    }

    @Test
    void goQuote() {
        assertEquals("\"/tmp/x.sock\"", EndpointUri.goQuote("/tmp/x.sock"));
        assertEquals("\"a\\\"b\\\\c\\n\\x01\"", EndpointUri.goQuote("a\"b\\c\n\u0001"));
        assertEquals("\"caf\u00e9\"", EndpointUri.goQuote("caf\u00e9"));
    }
}
