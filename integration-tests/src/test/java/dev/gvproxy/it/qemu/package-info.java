/**
 * Real-guest tests under QEMU (TCG): a Debian cloud kernel and a busybox initramfs boot, configure virtio-net, run one
 * command and report its exit status on the serial console.
 *
 * <p>Theory of operation. {@link dev.gvproxy.it.qemu.QemuGuestAssets} runs
 * {@code integration-tests/scripts/qemu-guest-assets.sh}, which resolves the kernel package that
 * {@code linux-image-cloud-amd64} depends on, fetches it with {@code apt-get download}, keeps only {@code vmlinuz} and the
 * virtio-net modules (decompressed) in a cache keyed by package and version, and builds an initramfs from
 * {@code busybox-static} and the guest's {@code /init} ({@code scripts/qemu-guest/init}). The guest is driven entirely by the
 * kernel command line ({@code gvj.ip}, {@code gvj.gw}, {@code gvj.mtu}, {@code gvj.net=dhcp}, {@code gvj.cmd=<base64>}) and
 * optionally by files appended to the initramfs as a second cpio archive ({@link dev.gvproxy.it.qemu.CpioNewc}).
 *
 * <p>{@link dev.gvproxy.it.qemu.QemuGuest} starts {@code qemu-system-x86_64} with one virtio-net NIC attached to a given
 * {@code -netdev} (a {@code stream} or {@code dgram} unix socket served by the stack under test), copies the serial console
 * to a log under {@code target/qemu-logs}, and waits, without sleeping, for the marker {@code GVJ-RESULT:<nonce>:rc=<n>} that
 * {@code /init} prints before powering off. QEMU is always killed by its process handle on close. Where QEMU or a kernel is
 * unavailable the tests are skipped through JUnit assumptions, never failed.
 */
package dev.gvproxy.it.qemu;
