/**
 * Real User-Mode Linux guests attached over BESS ({@code -listen-bess}).
 *
 * <p>{@code linux.uml} (Debian package {@code user-mode-linux}) boots a Linux kernel as an ordinary process in about
 * a second. Its root is the host filesystem through {@code hostfs}, mounted read-only ({@code ro}); {@code init=} is
 * a shell script the test writes, run by the host's dash with the host's dynamically linked tools. The guest's NIC is
 * {@code vec0:transport=bess,dst=SOCK}: UML connects a {@code SOCK_SEQPACKET} socket to our listener and exchanges
 * one frame per message. The console is the process's stdin/stdout ({@code con0=fd:0,fd:1}); the test reads it for
 * markers. The guest never touches the real network: its only NIC is the virtual one, and it halts at the end
 * ({@code poweroff -f}), which ends the process. Tests skip when {@code linux.uml} or a tool is missing.
 */
package dev.gvproxy.it.uml;
