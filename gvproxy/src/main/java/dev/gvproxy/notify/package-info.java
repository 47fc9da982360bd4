/**
 * Notifications pushed to a consumer's unix socket ({@code -notification unix:///path}, spec 1.11).
 *
 * <h2>Theory of operation</h2>
 * {@link dev.gvproxy.notify.NotificationSender#send} only enqueues (bounded at 100, drop with a warning when
 * full), so the network's event loop never blocks on a slow consumer; one daemon thread connects to the socket
 * for every message, writes the JSON object and a newline, and closes. The switch's MAC events become
 * {@code connection_established}/{@code connection_closed} through
 * {@link dev.gvproxy.notify.NotificationSender#macListener()}.
 *
 * <p>Difference from gvproxy: {@code ready} is sent after every listener (API, services, hypervisor transports)
 * is bound, not before the hypervisor listeners exist.
 */
package dev.gvproxy.notify;
