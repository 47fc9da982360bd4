/**
 * TAP devices and network namespaces through {@code java.lang.foreign} (no JNI, no helper binaries).
 *
 * <p>Theory of operation: {@link dev.gvproxy.platform.Libc} (the project's one libc binding) binds the few system calls needed (open, ioctl,
 * read/write, poll, eventfd, socket/connect, setns) with errno capture; failures become
 * {@link dev.gvproxy.platform.NativeException} carrying errno and strerror text.
 * {@link dev.gvproxy.transport.tap.Netns} runs a short task on a fresh platform thread that has {@code setns}-ed
 * into {@code /var/run/netns/NAME} and switches back before ending, so no pooled or virtual thread is ever left in
 * a foreign namespace. {@link dev.gvproxy.transport.tap.TapDevice} creates the interface with {@code TUNSETIFF}
 * ({@code IFF_TAP|IFF_NO_PI}: raw Ethernet frames) inside that task, together with an AF_INET control socket for
 * the link ioctls; both fds keep their namespace afterwards. Frames are read with a non-blocking fd plus
 * {@code poll} on an eventfd so {@code close()} can wake a blocked pump thread, and the fd is only closed after the
 * last in-flight call returns.
 */
package dev.gvproxy.transport.tap;
