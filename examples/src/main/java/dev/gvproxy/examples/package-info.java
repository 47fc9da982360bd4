/**
 * Small programs a VM-launcher author copies from. Each builds a {@link dev.gvproxy.network.VirtualNetwork} (switch, gateway
 * stack, DHCP, DNS, NAT to the host on one event loop), attaches one kind of guest, and runs until Ctrl-C:
 * {@link dev.gvproxy.examples.QemuExample} (QEMU {@code -netdev stream}), {@link dev.gvproxy.examples.NetnsExample}
 * (a Linux network namespace, pasta-style, via the in-process gvforwarder) and
 * {@link dev.gvproxy.examples.ExposePortExample} (host-to-guest port forwards from code and from the guest's
 * in-VM API on gateway:80). See examples/README.md.
 */
package dev.gvproxy.examples;
