/**
 * Real-guest TCP tests through the gateway (issue 3's "must show" list): a namespace guest
 * ({@link dev.gvproxy.it.netns.NetnsGuest}, pumped by gvforwarder-java) talks to servers on the host's 127.0.0.1
 * as 192.168.127.254.
 *
 * <p>Impairment without netem (these kernels lack {@code sch_netem}): random loss comes from iptables'
 * {@code statistic} match inside the guest namespace; reordering, duplication and delay come from
 * the one impairment model, {@link dev.gvproxy.stack.link.Impairment}, applied by
 * {@link dev.gvproxy.stack.link.LinkImpairment} installed on the switch's gateway egress (every frame the stack
 * sends) and, optionally, from the agent's pump for the guest's own frames. Every transfer is checked with
 * SHA-256 on both ends; throughput is printed, never asserted. Nothing leaves 127.0.0.1 and the test namespaces.
 */
package dev.gvproxy.it.tcp;
