/**
 * Which of Netty's transports this process's host sockets use.
 *
 * <h2>Theory of operation</h2>
 * A channel only registers on an event loop of its own transport, so a virtual network's loop and every socket
 * opened on it must come from one choice. {@link dev.gvproxy.platform.SocketTransport#get()} makes it once per
 * process: {@code -Dgvproxy.transport=epoll|kqueue|nio} if set (an unavailable native transport asked for by
 * name is an error), otherwise epoll on Linux, kqueue on macOS, NIO where neither loads. Every module that makes
 * an event loop group, a TCP/UDP/unix socket or a unix socket address asks it; nothing else names an
 * {@code Epoll*}, {@code KQueue*} or {@code Nio*} channel class.
 *
 * <p>An event loop group may busy-poll ({@link dev.gvproxy.platform.BusyPoll}, Netty's {@code SelectStrategy} seam,
 * the same for all three transports): for a bounded window after its last work the loop polls without blocking,
 * so a reply that comes back within the window costs no thread wake-up; after the window it sleeps as usual.
 *
 * <p>Each transport is its own class, loaded only when chosen, so nothing epoll-specific is touched at class-load
 * time on macOS or under NIO. Features only Linux has (AF_VSOCK, BESS seqpacket, unprivileged ICMP ping sockets
 * registered as epoll handles, TAP) call {@link dev.gvproxy.platform.SocketTransport#requireEpoll} or check
 * {@link dev.gvproxy.platform.SocketTransport#isEpoll()} where they start, and fail with a message that names the
 * transport in use. NIO has no unix datagram channel (vfkit's {@code unixgram://}); it has TCP, UDP and unix
 * stream sockets (through {@link java.net.UnixDomainSocketAddress}).
 *
 * <p>{@link dev.gvproxy.platform.Libc} is the project's one binding of the C library through FFM, for the few
 * system calls neither the JDK nor Netty wraps (TAP, setns, AF_VSOCK, seqpacket, ping sockets, getrlimit): one
 * errno capture (a per-thread buffer), one failure type ({@link dev.gvproxy.platform.NativeException}), each
 * downcall linked on first use. {@link dev.gvproxy.platform.DescriptorLimit} reads {@code RLIMIT_NOFILE}, from
 * which the guest budgets are derived.
 *
 * <p>Where the module stands: at the bottom beside stack-core; everything that opens a host socket or calls the C
 * library goes through it, and both binaries take their command-line pieces from platform.cli.
 */
package dev.gvproxy.platform;
