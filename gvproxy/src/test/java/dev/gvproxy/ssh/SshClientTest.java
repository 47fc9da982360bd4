package dev.gvproxy.ssh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.jcraft.jsch.JSch;
import com.jcraft.jsch.JSchException;
import com.jcraft.jsch.Session;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** gvproxy's start-up retry rules, with a fake connection and a sleeper that only records. */
class SshClientTest {
    private static final SshTarget TARGET = SshTarget.forwardSock("core", 0xc0a87f02, "/run/podman/podman.sock",
            Path.of("/k"));

    private final List<Long> sleeps = new ArrayList<>();

    /** An unconnected session stands for "connected" here: connectWithRetries only needs a successful return. */
    private static Session session() throws JSchException {
        return new JSch().getSession("core", "192.168.127.2", 22);
    }

    @Test
    void backOffDoublesFrom100msTo1s() throws Exception {
        AtomicInteger tries = new AtomicInteger();
        SshClient c = SshClient.withConnector(TARGET, t -> {
            if (tries.incrementAndGet() < 8) {
                throw new JSchException("Connection refused");
            }
            return session();
        }, sleeps::add);
        c.connectWithRetries(60, 100, 1000);
        assertEquals(8, tries.get());
        assertEquals(List.of(100L, 200L, 400L, 800L, 1000L, 1000L, 1000L), sleeps);
        c.close();
    }

    @Test
    void givesUpAfterSixtyTriesWithTheLastError() {
        AtomicInteger tries = new AtomicInteger();
        SshClient c = SshClient.withConnector(TARGET, t -> {
            throw new JSchException("try " + tries.incrementAndGet());
        }, sleeps::add);
        IOException e = assertThrows(IOException.class, () -> c.connectWithRetries(60, 100, 1000));
        assertEquals(60, tries.get());
        assertEquals(59, sleeps.size(), "no wait after the last try");
        assertEquals("cannot connect to sshd at core@192.168.127.2:22/run/podman/podman.sock: try 60", e.getMessage());
    }

    @Test
    void closeStopsTheRetries() {
        AtomicInteger tries = new AtomicInteger();
        SshClient[] self = new SshClient[1];
        self[0] = SshClient.withConnector(TARGET, t -> {
            if (tries.incrementAndGet() == 3) {
                self[0].close(); // e.g. gvproxy shutting down while the guest is still booting
            }
            throw new JSchException("Connection refused");
        }, sleeps::add);
        IOException e = assertThrows(IOException.class, () -> self[0].connectWithRetries(60, 100, 1000));
        assertEquals(3, tries.get());
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }

    @Test
    void openFailsWithoutAConnectionAfterThreeTries() {
        AtomicInteger tries = new AtomicInteger();
        SshClient c = SshClient.withConnector(TARGET, t -> {
            tries.incrementAndGet();
            throw new JSchException("Connection refused");
        }, sleeps::add);
        IOException e = assertThrows(IOException.class, () -> c.openStreamLocal(java.io.OutputStream.nullOutputStream()));
        assertTrue(e.getMessage().startsWith("cannot open direct-streamlocal@openssh.com to core@192.168.127.2:22"),
                e.getMessage());
        // 3 opens (each tries to connect once) + up to 3 reconnects between each pair of opens
        assertEquals(3 + 2 * 3, tries.get());
        assertTrue(sleeps.stream().allMatch(ms -> ms == 200L), sleeps.toString());
    }
}
