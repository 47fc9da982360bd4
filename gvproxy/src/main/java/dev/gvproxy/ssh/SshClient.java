package dev.gvproxy.ssh;

import com.jcraft.jsch.ChannelDirectStreamLocal;
import com.jcraft.jsch.JSch;
import com.jcraft.jsch.JSchException;
import com.jcraft.jsch.Session;
import dev.gvproxy.model.Tunneler;
import dev.gvproxy.stack.wire.Ipv4Address;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Executor;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One SSH connection to a guest sshd, shared by every client of a forward, with gvproxy's retry rules (spec 5.7):
 * <ul>
 *   <li>{@link #connectWithRetries}: start-up, up to 60 tries with back-off 100 ms doubling to 1 s;</li>
 *   <li>{@link #openStreamLocal}: per client, up to 3 channel opens 200 ms apart; between tries a keep-alive
 *       global request, and if the connection is dead, a reconnect (up to 3 tries, 200 ms apart).</li>
 * </ul>
 * The TCP connection is an active open through the virtual network ({@link TunnelSocket}), with a 5 s connect
 * and handshake timeout. Blocking: call from any thread but the network's event loop. Thread-safe.
 */
public final class SshClient implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(SshClient.class.getName());
    static final int TIMEOUT_MILLIS = 5_000;
    static final String CHANNEL_TYPE = "direct-streamlocal@openssh.com";

    /** How waits between tries happen; tests inject one that does not sleep. */
    @FunctionalInterface
    public interface Sleeper {
        void sleep(long millis) throws InterruptedException;
    }

    /** How one SSH connection is made; the default dials through the network, tests can fake it. */
    @FunctionalInterface
    interface Connector {
        Session connect(SshTarget target) throws JSchException;
    }

    private final SshTarget target;
    private final Connector connector;
    private final Sleeper sleeper;
    private final Object connectLock = new Object();
    private Session session; // guarded by this
    private boolean closed; // guarded by this

    /**
     * @param loop the network's event loop
     * @param tunneler opens the TCP connection to sshd from the gateway
     */
    public SshClient(SshTarget target, Executor loop, Tunneler tunneler) {
        this(target, (Connector) t -> dial(t, loop, tunneler), (Sleeper) Thread::sleep);
    }

    private SshClient(SshTarget target, Connector connector, Sleeper sleeper) {
        this.target = target;
        this.connector = connector;
        this.sleeper = sleeper;
    }

    /** A client whose connections come from {@code connector} (tests). */
    static SshClient withConnector(SshTarget target, Connector connector, Sleeper sleeper) {
        return new SshClient(target, connector, sleeper);
    }

    public SshTarget target() {
        return target;
    }

    /** One SSH connection: TCP through the tunneler, key (and password) auth, the configured host-key policy. */
    static Session dial(SshTarget t, Executor loop, Tunneler tunneler) throws JSchException {
        JSch jsch = new JSch();
        jsch.setInstanceLogger(new JulLogger());
        jsch.addIdentity(t.identity().toString(),
                t.passphrase() == null ? null : t.passphrase().getBytes(StandardCharsets.UTF_8));
        jsch.setHostKeyRepository(t.secure()
                ? HostKeys.knownHostsLenient(Path.of(System.getProperty("user.home"), ".ssh", "known_hosts"))
                : HostKeys.acceptAny());
        Session s = jsch.getSession(t.user(), Ipv4Address.format(t.ip()), t.port());
        // Our repository decides; "yes" makes JSch refuse a CHANGED key and never prompt or write known_hosts.
        s.setConfig("StrictHostKeyChecking", "yes");
        if (t.password() != null) {
            s.setPassword(t.password());
            s.setConfig("PreferredAuthentications", "publickey,keyboard-interactive,password");
        } else {
            s.setConfig("PreferredAuthentications", "publickey");
        }
        s.setDaemonThread(true);
        TunnelSocket socket = new TunnelSocket(loop, tunneler, t.ip(), t.port());
        socket.readTimeout(TIMEOUT_MILLIS); // a sshd that accepts but never speaks must not hang us
        s.setProxy(socket);
        s.connect(TIMEOUT_MILLIS);
        socket.readTimeout(0);
        return s;
    }

    /**
     * Connects, trying up to {@code tries} times with back-off from {@code firstDelayMillis} doubling to
     * {@code maxDelayMillis} (gvproxy: 60, 100 ms, 1 s), logging "Waiting for sshd" between tries.
     *
     * @throws IOException the last error once every try failed, or if closed meanwhile
     */
    public void connectWithRetries(int tries, long firstDelayMillis, long maxDelayMillis)
            throws IOException, InterruptedException {
        long delay = firstDelayMillis;
        JSchException last = null;
        for (int i = 1; i <= tries; i++) {
            synchronized (this) {
                if (closed) {
                    throw new IOException("ssh forward to " + target.describe() + " closed while connecting");
                }
            }
            try {
                reconnect();
                return;
            } catch (JSchException e) {
                last = e;
                if (i < tries) {
                    LOG.log(Level.INFO, "Waiting for sshd: {0} ({1})", new Object[] {target.describe(), e.getMessage()});
                    sleeper.sleep(delay);
                    delay = Math.min(delay * 2, maxDelayMillis);
                }
            }
        }
        throw new IOException("cannot connect to sshd at " + target.describe() + ": " + last.getMessage(), last);
    }

    /** The live session, connecting if there is none (lazy {@code ssh-tunnel://} forwards). */
    private Session session() throws JSchException {
        synchronized (this) {
            if (session != null && session.isConnected()) {
                return session;
            }
        }
        synchronized (connectLock) {
            synchronized (this) {
                if (session != null && session.isConnected()) {
                    return session; // another client reconnected meanwhile
                }
            }
            return reconnect();
        }
    }

    /** Replaces the connection with a new one; connects are serialised, the state lock is not held meanwhile. */
    private Session reconnect() throws JSchException {
        synchronized (connectLock) {
            Session old;
            synchronized (this) {
                if (closed) {
                    throw new JSchException("ssh forward closed");
                }
                old = session;
                session = null;
            }
            if (old != null) {
                old.disconnect();
            }
            Session s = connector.connect(target);
            synchronized (this) {
                if (closed) {
                    s.disconnect();
                    throw new JSchException("ssh forward closed");
                }
                session = s;
            }
            LOG.log(Level.INFO, "ssh connection to {0} established", target.describe());
            return s;
        }
    }

    /** Keep-alive check: false if the connection is gone (the request cannot be written or the reader ended). */
    private boolean alive() {
        Session s;
        synchronized (this) {
            s = session;
        }
        if (s == null || !s.isConnected()) {
            return false;
        }
        try {
            s.sendKeepAliveMsg();
            return s.isConnected();
        } catch (Exception e) {
            return false;
        }
    }

    /** Reconnects a dead connection, up to 3 tries 200 ms apart; quietly leaves the last error for the next open. */
    private void reviveIfDead() throws InterruptedException {
        if (alive()) {
            return;
        }
        for (int i = 1; i <= 3; i++) {
            try {
                reconnect();
                return;
            } catch (JSchException e) {
                LOG.log(Level.FINE, "ssh reconnect to " + target.describe() + " failed", e);
                if (i < 3) {
                    sleeper.sleep(200);
                }
            }
        }
    }

    /**
     * Opens a {@code direct-streamlocal@openssh.com} channel to the target's socket. Guest bytes are written to
     * {@code toHost} on JSch's reader thread; the guest's EOF (or the channel's end) closes it.
     *
     * @throws IOException once every try failed
     */
    public ChannelDirectStreamLocal openStreamLocal(OutputStream toHost) throws IOException, InterruptedException {
        Exception last = null;
        for (int i = 1; i <= 3; i++) {
            try {
                ChannelDirectStreamLocal ch = (ChannelDirectStreamLocal) session().openChannel(CHANNEL_TYPE);
                ch.setSocketPath(target.socketPath());
                ch.setOutputStream(toHost);
                ch.connect(TIMEOUT_MILLIS);
                return ch;
            } catch (JSchException | RuntimeException e) {
                last = e;
                synchronized (this) {
                    if (closed) {
                        break;
                    }
                }
                if (i < 3) {
                    sleeper.sleep(200);
                    reviveIfDead();
                }
            }
        }
        throw new IOException("cannot open " + CHANNEL_TYPE + " to " + target.describe() + ": "
                + (last == null ? "closed" : last.getMessage()), last);
    }

    /**
     * Disconnects; every channel ends with the connection. Never blocks the caller: the disconnect writes to the
     * tunnel, which needs the network's event loop (where unexpose runs), so it happens on a thread of its own.
     */
    @Override
    public void close() {
        Session s;
        synchronized (this) {
            closed = true;
            s = session;
            session = null;
        }
        if (s != null) {
            Thread.ofVirtual().name("ssh-disconnect").start(s::disconnect);
        }
    }
}
