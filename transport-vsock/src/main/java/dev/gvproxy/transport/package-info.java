/**
 * Transports: every way a VM's Ethernet frames reach the network's {@link dev.gvproxy.stack.link.VirtualSwitch}
 * (spec sections 1.1-1.10, 4.1).
 *
 * <h2>API (stable; other modules integrate against it)</h2>
 * <pre>{@code
 * NetworkContext ctx = new NetworkContext(boss, networkLoop, sw, counters);   // boss may be null
 * Listener q = Transports.listenQemu("unix:///run/gv/qemu.sock", ctx);        // -listen-qemu
 * Listener a = Transports.listenApi("unix:///run/gv/api.sock", ctx, httpFallback);             // -listen (+ /connect)
 * Listener a2 = Transports.listenApi(uri, ctx, httpFallback, Framing.QEMU);   // gvproxy's /connect quirk with -listen-qemu
 * Listener s = Transports.listenServices(uri, ctx, httpFallback);             // -services (no /connect)
 * Listener v = Transports.listenDatagram("unixgram:///run/gv/vfkit.sock", ctx); // -listen-vfkit, QEMU -netdev dgram
 * Listener o = Transports.attachStdio(ctx);                                   // -listen-stdio
 * Listener k = Transports.listenVpnkit(uri, ctx, mtu, uuidToMacOrNull);      // -listen-vpnkit (handshake, then 2-byte LE)
 * Listener u = Transports.listenBess("unixpacket:///run/gv/bess.sock", ctx);  // -listen-bess (User-Mode Linux)
 * Listener h = Transports.listenStream(uri, ctx, Framing.HYPERKIT);           // any framing, no handshake
 * ChannelPort p = Transports.attach(channel, ctx, Framing.QEMU, "name");     // an already connected channel
 * Listener t = Transports.attachStreams(readable, writable, framing, ctx, "name"); // blocking fds (pipes)
 * Listener tp = Transports.attachTap("tap://tap0?netns=guest&offload=true", ctx);  // -listen-tap, no agent
 * }</pre>
 * {@code listen*} bind synchronously, must not be called on the event loop, and throw {@code IOException}
 * with gvproxy's wording ({@code unexpected scheme}, {@code "<path>" already exists}). {@link
 * dev.gvproxy.transport.Listener#close()} stops accepting, closes every accepted connection (their ports
 * detach) and deletes the unix socket file it created; {@code closeFuture()} completes when the endpoint is
 * gone (for stdio: at end of input, where gvproxy would exit).
 *
 * <h2>Framings</h2>
 * <table>
 *   <caption>How frames are delimited</caption>
 *   <tr><th>transport</th><th>URI</th><th>framing</th><th>connections</th></tr>
 *   <tr><td>{@code -listen-qemu}</td><td>unix, tcp</td><td>4-byte big-endian length + frame</td><td>any number, reconnect ok</td></tr>
 *   <tr><td>{@code /connect} on {@code -listen}</td><td>unix (mode 0600), tcp</td><td>HTTP request, no response,
 *       then 2-byte little-endian length + frame (or 4-byte BE if asked). With {@code Upgrade: gvproxy-vnet-v1}
 *       (gvforwarder-java {@code -offload}; never sent by the Go gvforwarder): a {@code 101} reply, then 4-byte BE
 *       length + 12-byte virtio-net header + frame of up to 64 KiB ({@code VnetCodec}; the port has offloads, see
 *       {@link dev.gvproxy.stack.link.VirtioNetHeader})</td><td>any number</td></tr>
 *   <tr><td>{@code -listen-vfkit}, QEMU {@code -netdev dgram}</td><td>unixgram</td><td>one datagram = one frame;
 *       a first {@code VFKT} datagram is consumed</td><td>every named sender address is a VM with its own port
 *       (up to 64; gone, restarted or idle peers are removed, see {@code DatagramPort})</td></tr>
 *   <tr><td>{@code -listen-vpnkit}</td><td>unix, tcp</td><td>49-byte init echoed, 41-byte command, 258-byte reply
 *       (MTU, MAC), then 2-byte little-endian length + frame</td><td>any number</td></tr>
 *   <tr><td>{@code -listen-bess}</td><td>unixpacket</td><td>one SOCK_SEQPACKET message = one frame</td>
 *       <td>any number, reconnect ok</td></tr>
 *   <tr><td>{@code -listen-stdio}</td><td>-</td><td>2-byte little-endian length + frame</td><td>one</td></tr>
 *   <tr><td>{@code -listen-tap} (gvproxy-java only)</td><td>{@code tap://IFACE[?netns=NAME&offload=true]}</td>
 *       <td>one {@code read}/{@code write} of the TAP fd = one frame, behind a 12-byte virtio-net header with
 *       offloads ({@code TapPort})</td><td>one interface; it ends when the interface is deleted</td></tr>
 * </table>
 * A declared length of 0 or above {@link dev.gvproxy.stack.link.VirtualSwitch#MAX_FRAME} (131072) is logged
 * ({@code invalid packet size: N ...}), counted as {@code transport.badFrameLength} and closes that connection
 * only. Frames shorter than 14 bytes are dropped by the switch ({@code switch.runtFrame}), never fatal. The
 * hyperkit framing cannot carry frames above 65535 bytes: they are dropped and counted
 * ({@code transport.frameTooLargeForFraming}) instead of gvproxy's clamped, stream-corrupting length.
 *
 * <p><b>TAP.</b> {@code TapPort} is the one transport with no socket: the network's loop reads the TAP fd itself
 * (in its epoll set through {@code SocketTransport.watchReadable}; under NIO a thread waits in {@code poll} and
 * hands each read batch to the loop) and writes frames to it directly. It serves a network namespace the way pasta
 * does, with no gvforwarder-java in between: half the thread wake-ups and socket crossings per packet. An open TAP
 * fd keeps its namespace alive, so {@code ip netns del} alone does not end the port; deleting the interface does.
 *
 * <p><b>vsock.</b> {@code -listen}, {@code -services}, {@code -listen-qemu} and {@code -listen-vpnkit} also take
 * {@code vsock://:PORT} (any CID) and {@code vsock://CID:PORT}: an AF_VSOCK listener on the same epoll loop
 * (package {@code dev.gvproxy.transport.vsock}). The hyperkit form {@code vsock://null:PORT/DIR} is a unix socket at
 * {@code DIR/00000002.<port as 8 hex digits>} (an existing file there is deleted first), as macOS gvproxy does; we
 * accept it on Linux too. Firecracker and cloud-hypervisor ("hybrid vsock") deliver a guest's connection to host
 * port P on the unix socket {@code <uds_path>_P}, so {@code -listen unix://<uds_path>_1024} serves their
 * gvforwarder guests with no vsock code at all.
 *
 * <p><b>BESS.</b> Netty's epoll transport has no SOCK_SEQPACKET channel (a domain stream channel on a seqpacket fd
 * would merge frames into one message whenever its gathering write sends several buffers), and junixsocket only
 * runs on the NIO loop, which would put BESS VMs on a second thread. So {@link dev.gvproxy.transport.BessListener}
 * and {@link dev.gvproxy.transport.BessPort} call {@code socket/bind/listen/accept4/recv/send} through FFM and
 * register their descriptors with the network's epoll loop as {@code EpollIoHandle}s (level-triggered), the same
 * way the ICMP forwarder registers ping sockets: one loop, no locks. A read takes up to 64 messages per wakeup
 * into one native 128 KiB buffer ({@code MSG_TRUNC} detects oversize messages, which are dropped and counted) and
 * copies each into a right-sized buffer; each outbound frame is one {@code send}, and on {@code EAGAIN} the rest
 * waits for {@code EPOLLOUT}.
 *
 * <p><b>Transports other than epoll.</b> Every listener takes its channel classes and unix socket addresses from
 * {@link dev.gvproxy.platform.SocketTransport}. Under kqueue or NIO the unix and tcp stream listeners work
 * unchanged; vsock and BESS listeners refuse with a message naming the transport, and under NIO so does
 * {@code unixgram://} (the JDK has no unix datagram channel). A listener's reported address stays Netty's
 * {@code DomainSocketAddress} whatever the transport bound with.
 *
 * <h2>Threading</h2>
 * Every channel that carries frames (accepted children, the datagram socket) is registered on the network's
 * single event loop ({@code ServerBootstrap.group(boss, loop)}), where the switch runs: no locks. Only stdio
 * uses threads: Netty's epoll transport has no channel for pipes/ttys, so one platform thread reads and one
 * writes, and frames cross to the loop with {@code loop.execute} in read-sized batches (bounded in number).
 *
 * <h2>Flush per read batch</h2>
 * {@link dev.gvproxy.transport.ChannelPort} hands each decoded frame to {@code VirtualSwitch.deliver}; transports
 * never flush. The network's driver flushes the switch once at the end of the event-loop task (issue 10: one
 * flush and deadline driver per network), so all frames switched because of one socket read, and everything
 * else the same task wrote, leave in one flush per port: a burst costs one {@code writev} per port. The
 * transports mark the end of a read batch with {@code VirtualSwitch.readComplete()}, which flushes only when no
 * driver is installed (their unit tests).
 *
 * <h2>Buffer ownership</h2>
 * Decoded frames are retained slices of the read buffer (no copy) and are <b>taken</b> by
 * {@code VirtualSwitch.deliver}. The one deliberate copy: a datagram is read into a 128 KiB buffer (so none is
 * truncated) and, when much smaller, copied into a right-sized one (with room in front, see below) so a queued
 * frame does not pin 128 KiB. Outbound, {@code LinkEndpoint.transmit} <b>takes</b> the frame. A stream transport
 * writes its 2- or 4-byte prefix (and, with offloads, the 12-byte virtio-net header) into the room in front of
 * the frame when the buffer is the frame's own ({@code Headroom.isOwn}): every frame the gateway builds, every
 * segment {@code SoftwareGso} cuts, and every frame a datagram or BESS guest sends (copied out of the read buffer
 * into a {@code Headroom.ioBuffer}) has that room and leaves as one buffer. Other frames (a stream guest's switched
 * to another guest: a view of its transport's read buffer, whose bytes in front are its own prefix and, before
 * that, the previous frame's, possibly still queued; a broadcast shared by several ports) stay untouched and get a
 * prefix buffer of their own beside them (and, with offloads, a composite of header and frame). The channel
 * releases them after writing. The stdio transport's writer thread does the same with its gathering write. When a peer stops reading, frames queue up to {@code ChannelPort.MAX_QUEUED_BYTES}
 * (4 MiB) and are then dropped ({@code transport.txQueueFull}, and per port {@code transport.port<id>.txQueueFull},
 * so {@code /stats} names the guest that does not keep up); {@code isWritable()} turns false above the 1 MiB
 * write-buffer high mark. The 4 MiB bound is the right kind of bound (Ethernet is lossy, a queue towards a VM
 * that stopped reading must not grow), and at about 2,800 full frames it is deep enough for bursts; what fills
 * it in practice was the gateway's TCP sending whole guest windows at once (issue 9: 90,066 drops in a soak, UDP
 * DNS replies among them). The TCP sender now paces on the port instead (issue 10): it sends no new segment while
 * {@code isWritable()} is false, and every transport reports the drain with {@code VirtualSwitch.portWritable}
 * (Netty's {@code channelWritabilityChanged} for stream and datagram channels, the BESS and stdio queues'
 * own low marks), which wakes the paused senders.
 *
 * <h2>Lifecycle and differences from gvproxy</h2>
 * A port attaches when its connection becomes active (for {@code /connect}: when the request is seen) and
 * detaches when it closes; the switch then forgets its MACs. Every listener keeps accepting, so a VM can
 * disconnect and reconnect (new port id, its MAC is learned again); gvproxy accepts qemu/vfkit/stdio once and
 * exits. One vfkit datagram socket serves several VMs, one port per sender address (gvproxy serves the first
 * sender only, upstream issue #383); a peer's port goes when sends to it find nobody bound, when its socket file
 * is gone as another peer arrives, or after an idle time. {@code /connect} keeps frame bytes that arrived in the same read as the request (gvproxy loses them).
 * API, qemu and vpnkit unix sockets are created 0600 whatever the umask (bound under a random sibling name,
 * chmod-ed, renamed into place; vfkit's datagram socket is chmod-ed right after bind); qemu and
 * vfkit socket paths must not exist beforehand. A vpnkit connection whose init lacks the {@code VMN3T}
 * magic is closed with a logged reason (gvproxy attaches it anyway); one closed mid-handshake is logged. Transport errors close one connection, never the process.
 *
 * <h2>Counters</h2>
 * {@code transport.badFrameLength}, {@code transport.frameTooLargeForFraming}, {@code transport.txQueueFull},
 * {@code transport.txClosedPort}, {@code transport.portError}, {@code transport.unexpectedMessage},
 * {@code transport.connectAttach}, {@code transport.httpNotFound}, {@code transport.httpBadRequest},
 * {@code transport.unnamedPeer}, {@code transport.datagramSendError}, {@code transport.datagramPeerLimit},
 * {@code transport.datagramPeerGone}, {@code transport.datagramPeerIdle},
 * {@code transport.vfkitHello}, {@code transport.acceptError} (BESS accept failures),
 * {@code transport.vpnkitBadHandshake} (wrong magic, or closed before the handshake completed).
 *
 * <p>The package {@code dev.gvproxy.transport.tap} (TAP devices through FFM) is separate.
 *
 * <p>Where the module stands: above stack-core and platform, below network and the guest agent (gvforwarder), which
 * reuses its framings and TAP device; it knows nothing of the HTTP API or the CLI.
 */
package dev.gvproxy.transport;
