package dev.gvproxy.ssh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.jcraft.jsch.JSchException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SshSocketForwardsTest {
    @TempDir
    Path dir;

    @Test
    void hostSocketForms() throws Exception {
        assertEquals(Path.of("/tmp/a.sock"), SshSocketForwards.hostSocketPath("/tmp/a.sock"));
        assertEquals(Path.of("/tmp/a.sock"), SshSocketForwards.hostSocketPath("unix:///tmp/a.sock"));
        IOException e = assertThrows(IOException.class,
                () -> SshSocketForwards.hostSocketPath("npipe:////./pipe/docker_engine"));
        assertTrue(e.getMessage().contains("only supported on Windows"), e.getMessage());
    }

    @Test
    void socketCreatedAtOnceReplacingAFileThenFatalWhenSshdNeverAnswers() throws Exception {
        Path sock = dir.resolve("podman.sock");
        Files.writeString(sock, "stale");
        CompletableFuture<String> fatal = new CompletableFuture<>();
        SshSocketForwards f = SshSocketForwards.start(
                List.of(new SshSocketForwards.Spec("unix://" + sock, "/run/podman/podman.sock", "core", "/k")),
                t -> SshClient.withConnector(t, x -> {
                    throw new JSchException("Connection refused");
                }, ms -> { }), 0xc0a87f02, fatal::complete);
        try {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(sock)));
            assertFalse(Files.isRegularFile(sock), "the stale file was replaced by the socket");
            assertEquals(List.of(sock), f.paths());
            String why = fatal.get(30, TimeUnit.SECONDS);
            assertEquals("cannot connect to sshd at core@192.168.127.2:22/run/podman/podman.sock: Connection refused",
                    why);
        } finally {
            f.close();
        }
        assertFalse(Files.exists(sock), "removed on close");
    }

    @Test
    void closeWhileWaitingForSshdIsNotFatal() throws Exception {
        Path sock = dir.resolve("api.sock");
        CompletableFuture<String> fatal = new CompletableFuture<>();
        CompletableFuture<Void> tried = new CompletableFuture<>();
        CompletableFuture<Void> release = new CompletableFuture<>();
        SshSocketForwards f = SshSocketForwards.start(
                List.of(new SshSocketForwards.Spec(sock.toString(), "/d", "u", "/k")),
                t -> SshClient.withConnector(t, x -> {
                    tried.complete(null);
                    release.join();
                    throw new JSchException("Connection refused");
                }, ms -> { }), 1, fatal::complete);
        tried.get(30, TimeUnit.SECONDS);
        f.close();
        release.complete(null);
        assertFalse(Files.exists(sock));
        assertThrows(java.util.concurrent.TimeoutException.class, () -> fatal.get(500, TimeUnit.MILLISECONDS));
    }

    @Test
    void bindFailureLeavesNothingBehind() throws Exception {
        Path first = dir.resolve("one.sock");
        Path bad = dir.resolve("missing-dir").resolve("two.sock");
        assertThrows(IOException.class, () -> SshSocketForwards.start(List.of(
                new SshSocketForwards.Spec(first.toString(), "/d", "u", "/k"),
                new SshSocketForwards.Spec(bad.toString(), "/d", "u", "/k")),
                t -> SshClient.withConnector(t, x -> {
                    throw new JSchException("no");
                }, ms -> { }), 1, why -> { }));
        assertFalse(Files.exists(first));
    }
}
