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
 * with {@code retainedDuplicate()} rather than copied (the last receiver gets the frame itself); endpoints must
 * therefore not modify a frame's bytes. What an endpoint may write is the room in front of a frame, and only when
 * the buffer is its alone ({@code Headroom.isOwn}: one reference, not a view): the gateway builds every frame
 * with room for a transport's framing ({@code Headroom.buffer}), and so does {@code SoftwareGso} for the segments
 * it cuts, and the datagram and BESS transports for the frames they copy out of their read buffers, so those leave
 * a stream transport as one buffer. A frame a stream guest sends is a view of its transport's read buffer, whose
 * bytes in front are not all its own; switched to another guest, it gets a header buffer of its own.
 *
 * <p>The guest is untrusted, so the table is a budget, not a cache: each port learns a bounded number of
 * MACs, the switch a bounded total, silent MACs age out (an O(1) list ordered by last use, popped per frame
 * and by the deadline driver), and a MAC learned on a live port cannot be taken by another one. A frame
 * whose source cannot be learned is dropped before anything else looks at it, so a MAC flood costs a
 * counter per frame and no memory. {@link dev.gvproxy.stack.link.VirtualSwitch.IngressFilter} lets the
 * gateway stack check what passed for network-layer spoofing. Each port publishes its MAC list as an
 * immutable array, so the {@code /cam} view is built off the event loop.
 *
 * <p>Offloads: a port whose endpoint says {@link dev.gvproxy.stack.link.LinkEndpoint#offloads()} (a guest agent
 * that negotiated the virtio-net header framing) may send and receive TCP frames larger than the MTU, up to one IP
 * datagram (64 KiB). Its transport turns the {@link dev.gvproxy.stack.link.VirtioNetHeader} into a plain frame on
 * the way in (partial checksums completed, bad headers counted and dropped) and writes one on the way out, so the
 * switch and the stack see complete Ethernet frames only. The switch is the one place where a large TCP frame from
 * an offload port or from the gateway meets a port without offloads; there it is cut to the MTU in software
 * ({@link dev.gvproxy.stack.link.SoftwareGso}, counted under {@code switch.gso.*}). Frames between ports without
 * offloads pass unchanged, whatever their size, as in gvproxy.
 *
 * <p>Tests of the stack over a bad link describe it with the one impairment model,
 * {@link dev.gvproxy.stack.link.Impairment} (loss, duplicate, delay, jitter, reorder with netem's meanings), and
 * apply it on the gateway's egress with {@link dev.gvproxy.stack.link.LinkImpairment}; the guest agent applies
 * the same model, with the same decision sequence, in its pump.
 */
package dev.gvproxy.stack.link;
