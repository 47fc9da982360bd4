/**
 * SSH through gvproxy-java with a real OpenSSH {@code sshd} in a namespace guest: the default SSH port forward with
 * the real {@code ssh} client, {@code -forward-sock} and {@code ssh-tunnel://} forwards to guest unix sockets
 * ({@code direct-streamlocal@openssh.com} channels over a connection the gateway dials through the virtual
 * network), reconnect after an sshd restart, and {@code /tunnel} to sshd. Needs root, /dev/net/tun and the Debian
 * packages openssh-server, openssh-client, socat and curl; skips with a message otherwise.
 */
package dev.gvproxy.it.ssh;
