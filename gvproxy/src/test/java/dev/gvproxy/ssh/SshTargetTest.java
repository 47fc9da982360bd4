package dev.gvproxy.ssh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.model.GoNet;
import dev.gvproxy.stack.wire.Ipv4Address;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SshTargetTest {
    @Test
    void fullTunnelUri() throws Exception {
        SshTarget t = SshTarget.parseTunnelUri(
                "ssh-tunnel://core:s%40cret@192.168.127.3:2022/run/podman/podman.sock?key=/home/u/.ssh/id%20x&passphrase=p+q&secure=true");
        assertEquals("core", t.user());
        assertEquals("s@cret", t.password());
        assertEquals(Ipv4Address.parse("192.168.127.3"), t.ip());
        assertEquals(2022, t.port());
        assertEquals("/run/podman/podman.sock", t.socketPath());
        assertEquals(Path.of("/home/u/.ssh/id x"), t.identity());
        assertEquals("p+q", t.passphrase(), "a '+' in the query is a plus, as Go's url.Parse keeps it in paths");
        assertTrue(t.secure());
        assertEquals("core@192.168.127.3:2022/run/podman/podman.sock", t.describe());
    }

    @Test
    void defaults() throws Exception {
        SshTarget t = SshTarget.parseTunnelUri("ssh-tunnel://root@192.168.127.2/tmp/x.sock?key=/k");
        assertEquals(22, t.port());
        assertNull(t.password());
        assertNull(t.passphrase());
        assertFalse(t.secure());
    }

    @Test
    void forwardSockFlavour() {
        SshTarget t = SshTarget.forwardSock("core", Ipv4Address.parse("192.168.127.2"), "/run/user/1000/podman.sock",
                Path.of("/k"));
        assertEquals(22, t.port());
        assertFalse(t.secure());
        assertNull(t.passphrase());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "ssh-tunnel://root@192.168.127.2/x.sock|key not provided for unix-ssh connection",
        "ssh-tunnel://root@192.168.127.2/x.sock?key=|key not provided for unix-ssh connection",
        "ssh-tunnel://root@192.168.127.2?key=/k|remote uri must contain a path to a socket file",
        "ssh-tunnel://root@192.168.127.2/?key=/k|remote uri must contain a path to a socket file",
        "ssh-tunnel://root@guest.local/x.sock?key=/k|ssh-tunnel host must be an IPv4 address",
        "tcp://192.168.127.2:22|remote protocol for unix forwarder is not implemented: tcp",
        "ssh-tunnel://bad uri|failed to parse remote uri",
    })
    void errors(String uri, String message) {
        GoNet.GoError e = assertThrows(GoNet.GoError.class, () -> SshTarget.parseTunnelUri(uri));
        assertTrue(e.getMessage().startsWith(message), e.getMessage());
    }
}
