/**
 * {@code gvforwarder-java}: the guest agent that connects a TAP interface to gvproxy.
 *
 * <p>Theory of operation: {@link dev.gvproxy.agent.Gvforwarder} mirrors gvforwarder's {@code run()} loop. Each
 * attempt dials the {@code -url} ({@code vsock} through FFM, {@code unix}/{@code tcp} through JDK socket channels,
 * {@code stdio} as a child process), writes the exact request bytes gvforwarder writes ({@code POST /connect} with an
 * empty {@code Host}; no response is read), opens the TAP (inside {@code -netns} via {@code setns}), configures it
 * unless {@code -preexisting}, and pumps frames with 2-byte little-endian length prefixes on two platform threads
 * (blocking I/O; the TAP side polls an eventfd so closing wakes it). The DHCP client runs as a child process with
 * our own lease script, so a namespace never touches the host's resolv.conf. Any failure closes the attempt and
 * retries after a second, redoing everything, so gvproxy restarts and TAP removal heal by themselves.
 * {@link dev.gvproxy.agent.GvforwarderMain} is the command line; tests drive {@code Gvforwarder} in-process and may
 * put an {@link dev.gvproxy.stack.link.Impairment} (seeded loss, duplication, delay, jitter, reordering: the
 * stack's one impairment model) into either pump direction, since this machine has no netem.
 *
 * <p>Where the module stands: on transport-vsock (framings, TAP, netns) and platform.cli only; it never depends on the
 * host CLI, the API or the network module, so the guest side carries none of the host's libraries.
 */
package dev.gvproxy.agent;
