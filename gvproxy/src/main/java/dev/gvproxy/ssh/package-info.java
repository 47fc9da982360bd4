/**
 * SSH unix-socket forwards: {@code -forward-sock/-forward-dest/-forward-user/-forward-identity} (spec 5.7) and
 * {@code unix} port forwards with an {@code ssh-tunnel://} remote (spec 5.6). A host unix socket's clients are each
 * relayed over one shared SSH connection to the guest's sshd, in a {@code direct-streamlocal@openssh.com} channel
 * to a unix socket inside the guest (typically the Podman API socket).
 *
 * <h2>Theory of operation</h2>
 * <ul>
 *   <li>{@link dev.gvproxy.ssh.TunnelSocket}: the SSH connection's TCP leg is an active open from the gateway into
 *       the virtual network ({@link dev.gvproxy.model.Tunneler}), exactly as gvproxy dials sshd from its gVisor
 *       stack; no host port forward is needed (so it works with {@code -ssh-port -1} and in config mode). It adapts
 *       the loop-bound {@link dev.gvproxy.forwarder.TunnelStream} to the blocking streams JSch wants, with the guest's TCP
 *       window as backpressure on reads and the stream's send space on writes.</li>
 *   <li>{@link dev.gvproxy.ssh.SshClient}: one JSch session per forward, gvproxy's retry rules (60 start-up tries
 *       with back-off for {@code -forward-sock}; per client 3 channel opens with keep-alive check and reconnect),
 *       5 s connect/handshake timeout.</li>
 *   <li>{@link dev.gvproxy.ssh.UnixSocketForward} + {@link dev.gvproxy.ssh.StreamLocalRelay}: the host socket
 *       (mode 0600, replaces an existing file, removed on close) and the per-client relay with half-close.</li>
 *   <li>{@link dev.gvproxy.ssh.SshSocketForwards} (CLI flags, eager, fatal if sshd never answers) and
 *       {@link dev.gvproxy.ssh.SshTunnelOpener} (API expose, lazy, connection closed on unexpose).</li>
 * </ul>
 * Threads: JSch is a blocking library (a reader thread per session, writers block on SSH window space), so this
 * package runs on virtual threads and JSch's own threads, never on the network's event loop; it talks to the loop
 * only through {@code execute} hand-offs in {@link dev.gvproxy.ssh.TunnelSocket}. Anything that may write to the
 * SSH connection (disconnects, channel closes) is done off the loop, since the write may wait for send space that
 * only the loop can report.
 *
 * <h2>Host keys</h2>
 * Like gvproxy, the guest's host key is not verified for {@code -forward-sock} (the VM and its key are new; the
 * connection never leaves the machine: it is carried by the in-process virtual network). For {@code ssh-tunnel://}
 * with {@code secure=true}, {@code ~/.ssh/known_hosts} is consulted: a listed, different key is refused, an unlisted
 * host accepted (gvproxy's behaviour). known_hosts is never written.
 *
 * <h2>Library choice: the maintained JSch fork ({@code com.github.mwiede:jsch} 2.27.3)</h2>
 * <ul>
 *   <li>It has the channel: {@code com.jcraft.jsch.ChannelDirectStreamLocal} ("direct-streamlocal@openssh.com",
 *       opened with {@code Session.openChannel}). Apache MINA SSHD ({@code sshd-core} 2.15/2.16, both served by the
 *       Maven registry here) has no client support for it: its jar contains no "direct-streamlocal" string, only
 *       {@code ChannelDirectTcpip}/{@code TcpipClientChannel}; it would need a hand-written channel class.</li>
 *   <li>Pluggable transport: JSch's {@code Proxy} interface is just "connect, then give me an InputStream and an
 *       OutputStream", so the SSH connection can ride a {@link dev.gvproxy.forwarder.TunnelStream} without a host socket.
 *       MINA's transport is an {@code IoServiceFactory} (NIO2/MINA/Netty connectors to a {@code SocketAddress});
 *       bridging it to the virtual network would need a custom connector or a loopback listener.</li>
 *   <li>Maintained and small: regular releases (2.27.3, August 2025, served by the registry here), JDK-only (no
 *       required dependencies; Ed25519 via the JDK), supports OpenSSH-format keys and current algorithms
 *       (rsa-sha2, ECDSA, Ed25519, curve25519, chacha20-poly1305), i.e. what today's OpenSSH offers.</li>
 * </ul>
 * The cost: JSch's threading model (blocking streams, one reader thread per session). A host client that stops
 * reading stalls the other channels of its forward's connection (JSch delivers channel data on the reader
 * thread); acceptable for the API-socket use this feature exists for.
 */
package dev.gvproxy.ssh;
