/**
 * Real-guest tests with network namespaces: each {@link dev.gvproxy.it.netns.NetnsGuest} is a fresh namespace whose
 * only link is a TAP pumped by an in-process gvforwarder-java to a gvproxy {@code /connect} endpoint, so the Linux
 * kernel in the namespace is the guest's TCP/IP stack. Tests drive it with {@code ip netns exec} commands and wait
 * on conditions with timeouts; {@link dev.gvproxy.it.netns.NetnsGuestsExtension} guarantees teardown (agent, child
 * processes by PID, namespace, {@code /etc/netns/NAME}). {@link dev.gvproxy.it.netns.TestHub} is a test-only L2 hub
 * for checking the harness without the real stack.
 */
package dev.gvproxy.it.netns;
