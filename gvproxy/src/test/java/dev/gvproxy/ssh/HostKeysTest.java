package dev.gvproxy.ssh;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.jcraft.jsch.HostKeyRepository;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostKeysTest {
    @TempDir
    Path dir;

    /** An ssh-ed25519 public key blob (string type, string 32-byte key) filled with {@code fill}. */
    private static byte[] blob(int fill) throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        byte[] type = "ssh-ed25519".getBytes(StandardCharsets.US_ASCII);
        d.writeInt(type.length);
        d.write(type);
        d.writeInt(32);
        for (int i = 0; i < 32; i++) {
            d.write(fill);
        }
        return b.toByteArray();
    }

    @Test
    void acceptAnyAcceptsEverything() throws Exception {
        assertEquals(HostKeyRepository.OK, HostKeys.acceptAny().check("[192.168.127.2]:2022", blob(1)));
    }

    @Test
    void secureRefusesAChangedKeyButAcceptsUnlistedHosts() throws Exception {
        Path known = dir.resolve("known_hosts");
        Files.writeString(known, "[192.168.127.2]:2022 ssh-ed25519 " + Base64.getEncoder().encodeToString(blob(1)) + "\n");
        HostKeys k = HostKeys.knownHostsLenient(known);
        assertEquals(HostKeyRepository.OK, k.check("[192.168.127.2]:2022", blob(1)));
        assertEquals(HostKeyRepository.CHANGED, k.check("[192.168.127.2]:2022", blob(2)));
        assertEquals(HostKeyRepository.OK, k.check("192.168.127.3", blob(2)), "unlisted host: accepted like gvproxy");
        k.add(null, null); // never persisted
        assertEquals(1, Files.readAllLines(known).size());
    }

    @Test
    void missingKnownHostsFileAcceptsAny() throws Exception {
        assertEquals(HostKeyRepository.OK, HostKeys.knownHostsLenient(dir.resolve("none")).check("h", blob(3)));
    }
}
