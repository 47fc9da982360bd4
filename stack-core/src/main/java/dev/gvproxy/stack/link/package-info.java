/**
 * Layer 2: the learning {@link dev.gvproxy.stack.link.VirtualSwitch}, its ports, the
 * {@link dev.gvproxy.stack.link.LinkEndpoint} seam that transports and the gateway implement, and pcap
 * recording.
 *
 * <h2>Theory of operation</h2>
 * Each attached VM connection is a {@link dev.gvproxy.stack.link.SwitchPort} with an id that is never
 * reused. The CAM table maps MAC to port and is keyed by a primitive {@code long}, so switching a frame
 * allocates nothing. Frames written to ports are not flushed immediately: the switch remembers which
 * ports it wrote and {@link dev.gvproxy.stack.link.VirtualSwitch#flush()} flushes them once per read
 * batch, so a burst of frames costs one {@code writev} per port. Broadcast frames are shared among ports
 * with {@code retainedDuplicate()} rather than copied; endpoints must therefore not modify a frame.
 */
package dev.gvproxy.stack.link;
