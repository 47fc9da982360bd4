package dev.gvproxy.ssh;

import com.jcraft.jsch.HostKey;
import com.jcraft.jsch.HostKeyRepository;
import com.jcraft.jsch.JSch;
import com.jcraft.jsch.JSchException;
import com.jcraft.jsch.UserInfo;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Host-key policies. gvproxy does not verify the guest's host key for {@code -forward-sock} (the guest is a VM the
 * caller just created, whose key is new each time), and for {@code ssh-tunnel://} only with {@code secure=true},
 * where a key listed in {@code ~/.ssh/known_hosts} must match but an unlisted host is accepted. Neither policy ever
 * writes known_hosts.
 */
final class HostKeys implements HostKeyRepository {
    private final HostKeyRepository known;

    private HostKeys(HostKeyRepository known) {
        this.known = known;
    }

    /** Accepts every host key. */
    static HostKeys acceptAny() {
        return new HostKeys(null);
    }

    /** Refuses a key that contradicts {@code knownHosts}; accepts hosts it does not list. */
    static HostKeys knownHostsLenient(Path knownHosts) throws JSchException {
        if (!Files.isReadable(knownHosts)) {
            return acceptAny();
        }
        JSch j = new JSch();
        j.setKnownHosts(knownHosts.toString());
        return new HostKeys(j.getHostKeyRepository());
    }

    @Override
    public int check(String host, byte[] key) {
        if (known == null) {
            return OK;
        }
        int r = known.check(host, key);
        return r == NOT_INCLUDED ? OK : r;
    }

    @Override
    public void add(HostKey hostkey, UserInfo ui) {
        // never persisted
    }

    @Override
    public void remove(String host, String type) {
    }

    @Override
    public void remove(String host, String type, byte[] key) {
    }

    @Override
    public String getKnownHostsRepositoryID() {
        return known == null ? "accept-any" : known.getKnownHostsRepositoryID();
    }

    @Override
    public HostKey[] getHostKey() {
        return known == null ? new HostKey[0] : known.getHostKey();
    }

    @Override
    public HostKey[] getHostKey(String host, String type) {
        return known == null ? new HostKey[0] : known.getHostKey(host, type);
    }
}
