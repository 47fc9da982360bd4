package dev.gvproxy.api;

import dev.gvproxy.model.DnsRecord;
import dev.gvproxy.model.DnsZone;
import dev.gvproxy.model.PortForward;
import dev.gvproxy.model.PortForwards;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The state file: round trip, atomic 0600 writes, unchanged state not rewritten, a damaged file reported. */
class StateStoreTest {
    @TempDir
    Path dir;

    private static StateStore.State sample() {
        return new StateStore.State(
                List.of(new StateStore.SavedForward(new PortForward("127.0.0.1:8080", "192.168.127.3:80", "tcp"),
                                PortForwards.Origin.GUEST),
                        new StateStore.SavedForward(new PortForward("/run/x.sock", "tcp://192.168.127.3:22", "unix"),
                                PortForwards.Origin.HOST)),
                List.of(new DnsZone("dynamic.internal.", List.of(new DnsRecord("db", "192.168.127.3", null),
                        new DnsRecord("", "192.168.127.9", "^a.*")), ""), new DnsZone("b.", null, "192.168.127.2")),
                List.of(new StateStore.SavedLease("5a:94:ef:00:00:01", "5a:94:ef:00:00:01", "192.168.127.3")));
    }

    @Test
    void roundTripAtomicAndPrivate() throws Exception {
        Path stateDir = dir.resolve("state");
        try (StateStore s = StateStore.open(stateDir)) {
            assertEquals(StateStore.State.EMPTY, s.load());
            s.save(sample());
        }
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(stateDir)));
        Path file = stateDir.resolve(StateStore.FILE_NAME);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        try (var files = Files.list(stateDir)) {
            assertEquals(1, files.count(), "no temporary file left");
        }
        try (StateStore s = StateStore.open(stateDir)) {
            assertEquals(sample(), s.load());
            long before = Files.getLastModifiedTime(file).toMillis();
            Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(before - 10_000));
            s.save(sample()); // unchanged: not rewritten
            s.close();
            assertEquals(before - 10_000, Files.getLastModifiedTime(file).toMillis());
        }
    }

    @Test
    void aDamagedFileIsReported() throws Exception {
        Path stateDir = Files.createDirectory(dir.resolve("state"));
        Files.writeString(stateDir.resolve(StateStore.FILE_NAME), "{\"forwards\":[{\"local\":");
        try (StateStore s = StateStore.open(stateDir)) {
            IOException e = assertThrows(IOException.class, s::load);
            assertTrue(e.getMessage().contains("is damaged"), e.getMessage());
        }
    }
}
