/**
 * The gateway's network stack, deterministic and free of I/O: frames in, frames out.
 *
 * <h2>Theory of operation</h2>
 * A transport hands each frame to {@link dev.gvproxy.stack.link.VirtualSwitch#deliver}, which learns the
 * source MAC and either switches the frame to another VM's port or gives it to the
 * {@link dev.gvproxy.stack.NetworkStack} (gateway MAC or broadcast). The stack validates it layer by layer
 * ({@code wire} views check lengths once, so no accessor can throw), answers ARP and ICMP echo itself,
 * reassembles fragments, and demultiplexes UDP and TCP to in-stack services (DHCP, DNS) or to the
 * forwarder, which re-originates flows from host sockets. Output is written back through the switch; nothing
 * here flushes: the first frame of a batch asks the network's driver (set with
 * {@link dev.gvproxy.stack.link.VirtualSwitch#setFlushRequest}) for one flush at the end of the event-loop task.
 *
 * <p>Everything runs on one event loop per virtual network; nothing here creates threads, reads a clock
 * or opens a socket. Time is injected: {@code now} (monotonic nanoseconds) is passed in, and each
 * component reports its next deadline; {@link dev.gvproxy.stack.NetworkStack#nextDeadline()} gathers the
 * stack's own (TCP, reassembly, ARP, switch ageing) and every registered
 * {@link dev.gvproxy.stack.DeadlineSource} (DHCP, the forwarder's flow tables, ...), so one timer serves the
 * network. Every dropped frame increments a {@link dev.gvproxy.stack.Counters} counter named
 * {@code <layer>.<reason>}.
 *
 * <p>Backpressure towards a guest: a TCP sender sends no new segment while its guest's switch port is full
 * ({@link dev.gvproxy.stack.link.SwitchPort#isWritable()}), and resumes when the transport reports the drain
 * ({@link dev.gvproxy.stack.link.VirtualSwitch#portWritable}); the host side is paced by the send space.
 *
 * <p>Where the module stands: at the bottom of the module graph, with only Netty's buffers and common utilities
 * below it, so every protocol machine is testable frame-in/frame-out with scripted input and a hand-moved clock.
 *
 * <p>Memory a guest can make the stack hold is bounded per network and per source: fragment reassembly in
 * total and per source address ({@code FragmentReassembler}); TCP buffers of all connections together
 * ({@link dev.gvproxy.stack.tcp.TcpMemory}, like Linux's {@code tcp_mem}: as the budget fills, advertised
 * windows shrink and send space, which paces host reads, goes to zero, down to a small floor per
 * connection).
 *
 * <p>Buffer ownership: every {@code ByteBuf} parameter is documented as <b>borrowed</b> (valid during
 * the call; retain a slice to keep it) or <b>taken</b> (the callee releases it or passes it on exactly
 * once, on every path).
 */
package dev.gvproxy.stack;
