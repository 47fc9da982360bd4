package dev.gvproxy.it.netns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.time.Duration;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code -url stdio:/prog?listen-stdio=accept}: gvforwarder-java spawns gvproxy-java as its child and pumps frames
 * over the child's stdin/stdout (gvforwarder's documented pairing), then the guest pings the gateway.
 */
class StdioUrlTest {
    @RegisterExtension
    final NetnsGuestsExtension guests = new NetnsGuestsExtension();

    @TempDir
    Path dir;

    @Test
    void guestReachesGatewayThroughAStdioChild() throws Exception {
        // A one-line launcher for gvproxy-java from this test's own class path.
        Path javaBin = Path.of(System.getProperty("java.home"), "bin", "java");
        Path launcher = dir.resolve("gvproxy-java");
        Files.writeString(launcher, "#!/bin/sh\nexec '" + javaBin + "' --enable-native-access=ALL-UNNAMED -cp '"
                + System.getProperty("java.class.path") + "' dev.gvproxy.cli.GvproxyMain \"$@\"\n");
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwx------"));

        NetnsGuest g = guests.start(NetnsGuest.builder("stdio:" + launcher + "?listen-stdio=accept")
                .staticAddress("192.168.127.10/24").startTimeout(Duration.ofSeconds(30)));
        // The child JVM needs a moment to start; ping until the gateway answers.
        NetnsGuest.await(Duration.ofSeconds(30), "gateway reachable over stdio", () -> {
            try {
                return g.exec("ping", "-c", "1", "-W", "1", "192.168.127.1").ok();
            } catch (Exception e) {
                return false;
            }
        }, g::diagnostics);
        ExecResult ping = g.exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "192.168.127.1");
        assertEquals(0, ping.exitCode(), ping::toString);
        assertTrue(ping.stdout().contains(" 0% packet loss"), ping::toString);
    }
}
