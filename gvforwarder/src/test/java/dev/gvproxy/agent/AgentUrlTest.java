package dev.gvproxy.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

class AgentUrlTest {

    @Test
    void connectRequestIsByteExact() {
        assertEquals("POST /connect HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 0\r\n\r\n",
                new String(AgentUrl.connectRequest("/connect"), StandardCharsets.US_ASCII));
    }

    @Test
    void vsockDefault() throws IOException {
        AgentUrl u = AgentUrl.parse("vsock://2:1024/connect");
        assertEquals("vsock", u.scheme());
        assertEquals("2", u.host());
        assertEquals(1024, u.port());
        assertEquals("/connect", u.request());
    }

    @Test
    void vsockWithoutPathSendsNoRequest() throws IOException {
        assertNull(AgentUrl.parse("vsock://3:1024").request());
        assertEquals(4294967295L, Long.parseLong(AgentUrl.parse("vsock://4294967295:1/connect").host()));
        assertThrows(IOException.class, () -> AgentUrl.parse("vsock://4294967296:1/connect"));
        assertThrows(IOException.class, () -> AgentUrl.parse("vsock://host:1/connect"));
        assertThrows(IOException.class, () -> AgentUrl.parse("vsock://2/connect"));
    }

    @Test
    void unixAlwaysPostsConnect() throws IOException {
        AgentUrl u = AgentUrl.parse("unix:///tmp/network.sock");
        assertEquals("/tmp/network.sock", u.path());
        assertEquals("/connect", u.request());
        assertThrows(IOException.class, () -> AgentUrl.parse("unix://"));
    }

    @Test
    void tcpDefaultsToConnect() throws IOException {
        AgentUrl u = AgentUrl.parse("tcp://127.0.0.1:7777");
        assertEquals("127.0.0.1", u.host());
        assertEquals(7777, u.port());
        assertEquals("/connect", u.request());
        assertEquals("/other", AgentUrl.parse("tcp://127.0.0.1:7777/other").request());
    }

    @Test
    void stdioBecomesFlags() throws IOException {
        AgentUrl u = AgentUrl.parse("stdio:/usr/bin/gvproxy?listen-stdio=accept&debug=true&x=a%20b");
        assertEquals("/usr/bin/gvproxy", u.path());
        assertEquals(List.of("-listen-stdio=accept", "-debug=true", "-x=a b"), u.args());
        assertNull(u.request());
    }

    @Test
    void otherSchemesAreRejected() {
        IOException e = assertThrows(IOException.class, () -> AgentUrl.parse("http://127.0.0.1/connect"));
        assertEquals("unexpected scheme http", e.getMessage());
    }

    @Test
    void sockaddrVmEncoding() {
        // svm_family = AF_VSOCK (40), reserved 0, port 1024, cid 2, flags 0, zero[3]: host (little-endian) order.
        assertArrayEquals(HexFormat.of().parseHex("2800" + "0000" + "00040000" + "02000000" + "00000000"),
                VsockStream.sockaddrVm(2, 1024));
        assertArrayEquals(HexFormat.of().parseHex("2800" + "0000" + "ffffffff" + "ffffffff" + "00000000"),
                VsockStream.sockaddrVm(0xffff_ffffL, 0xffff_ffffL));
        assertThrows(IllegalArgumentException.class, () -> VsockStream.sockaddrVm(-1, 1));
        assertThrows(IllegalArgumentException.class, () -> VsockStream.sockaddrVm(2, 1L << 32));
    }
}
