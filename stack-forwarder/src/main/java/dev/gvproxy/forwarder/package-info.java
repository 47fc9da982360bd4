/**
 * The host side of the gateway: guest traffic that is not for an in-stack service is terminated here and
 * re-originated with ordinary host sockets on the network's own event loop.
 *
 * <h2>Theory of operation</h2>
 *
 * <p><b>Flows, not routing.</b> Nothing is routed at L3. Each guest conversation becomes a <i>flow</i> with
 * two sides, in passt's terms: the guest side is what the guest sees (its address and port, and the
 * destination it addressed), the host side is a socket of this process. NAT
 * ({@code StackConfig.translate}) is decided once, when the flow is created, and only rewrites the
 * destination address (192.168.127.254 becomes 127.0.0.1; ports are kept). Whatever comes back on the
 * host side is sent to the guest <i>as if from the original destination</i>, so the guest never sees the
 * translation.
 *
 * <p><b>Both families, one path.</b> Flow keys hold IPv6 addresses (IPv4 ones IPv4-mapped), and
 * {@link dev.gvproxy.forwarder.HostRoutes} is the one place a destination becomes a host address: IPv4 by the
 * NAT as above; the IPv6 host alias as the host's {@code ::1} (127.0.0.1 without IPv6 loopback); NAT64
 * ({@code 64:ff9b::/96}, RFC 6052) as the embedded IPv4 address, which then meets the same NAT, refusals and
 * egress rules as if the guest had used IPv4; any other global IPv6 address as itself, over a host IPv6 socket.
 * TCP, UDP and ICMP echo forwarding call it for every new flow; the egress filter judges the IPv4 address it
 * reports (native IPv6 destinations are refused while the policy has deny rules, since its rules are IPv4 only).
 *
 * <p><b>UDP</b> ({@link dev.gvproxy.forwarder.UdpForwarder}, {@link dev.gvproxy.forwarder.UdpFlow}). Key:
 * (guest ip, guest port, destination ip, destination port). The first datagram of a key opens an
 * UDP socket (of the process's {@code SocketTransport}, epoll by default) bound to an ephemeral port and connected to the NAT'ed destination; the
 * connected socket makes the kernel filter replies to that exact peer (endpoint-dependent mapping, like
 * gvproxy). Datagrams arriving before the connect completes wait in a queue of at most 16. Guest payloads
 * go out as retained slices of the received frame, all a batch of guest frames carried for a flow in one flush
 * ({@code sendmmsg} on epoll); to a loopback destination, runs of equal-size datagrams are copied back to back and
 * leave as one UDP GSO write each ({@link dev.gvproxy.forwarder.UdpGso}, {@code udp.fwd.gsoWrites}). Replies are
 * copied once into the outgoing frame by the stack, which fragments anything above the MTU. Flows die after 90 s
 * without a datagram
 * in either direction (time is injected; the sweep runs once a second); at most 4096 exist per network and
 * a guest's budget per guest, a new key beyond that is dropped and counted ({@code udp.flowLimit},
 * {@code budget.udpFlowsPerGuest}); link-local destinations are dropped unless
 * allowed ({@code udp.linkLocalDrop}). Unlike gvproxy, an ECONNREFUSED on the host socket (the peer
 * answered ICMP port unreachable) is turned into an ICMP port unreachable to the guest, quoting a
 * reconstruction of its last datagram, so guests fail fast instead of timing out.
 *
 * <p><b>ICMP echo</b> ({@link dev.gvproxy.forwarder.IcmpForwarder}, {@link dev.gvproxy.forwarder.PingSocket}).
 * Key: (guest ip, echo identifier, destination). Each key gets an unprivileged Linux ping socket (FFM
 * {@code socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)}, or {@code AF_INET6}/{@code IPPROTO_ICMPV6}) connected to the
 * host address {@code HostRoutes} gives (ICMPv6 echo to a NAT64 address leaves as ICMP echo and its reply comes
 * back as ICMPv6); the kernel
 * replaces the identifier with the socket's own and hands this socket only its replies, so a reply is
 * rebuilt for the guest from the flow (identifier, original destination) and the reply's sequence and
 * data. Ping sockets are registered directly with Netty's epoll loop as {@code EpollIoHandle}s — the same
 * mechanism Netty's channels use — so there is no polling thread. That needs the epoll transport: under
 * {@code -Dgvproxy.transport=nio} (or on macOS) the forwarder refuses to install with a message saying so and
 * the network runs without ICMP echo forwarding (TCP and UDP are unaffected). The kernel allows ping sockets only
 * within {@code net.ipv4.ping_group_range}: when it refuses, one warning explains the sysctl and every
 * refused echo is counted.
 *
 * <p><b>The guest is untrusted: budgets and owners</b> ({@link dev.gvproxy.forwarder.GuestFlows}). Every flow
 * a guest makes the host hold is registered under its owner, the source MAC of the frame that created it, and
 * charged to a guest (the MAC's switch port, else the MAC) and to the network: host sockets per guest and per
 * network (defaults derived from {@code RLIMIT_NOFILE}: the network may use all but 256 descriptors, one
 * guest a quarter of that), UDP flows and ping sockets per guest, host connects in flight per guest and per
 * destination. Refusals are counted under {@code budget.*}: a SYN over the socket budget is answered with a
 * RST at once ({@code tcp.forward.budgetRefused}), one over a half-open budget waits for a slot, or is
 * dropped and retransmitted by the guest when the wait queue is full ({@code tcp.forward.budgetDropped});
 * a UDP datagram or echo over budget is dropped. The network-wide caps above (4096 UDP flows, connects in
 * flight) stay as the outer bound. When a switch port closes, its MACs' flows are kept for a grace period (default 30 s) so a reconnecting agent keeps its
 * connections; a MAC not seen again by then has every flow aborted and its host sockets closed
 * ({@code budget.flowsAbortedOnLeave}). The descriptor is the budgeted resource: a TCP flow is released
 * when its host channel closes, whatever closed it. TCP buffer memory is budgeted per network in
 * stack-core ({@code TcpMemory}): the bridge reports bytes consumed only once the host socket took them,
 * so Netty's outbound queue is inside that budget, and while a host is behind (its last flush left more than
 * the channel's high-water mark unwritten) the bridge copies the guest's payload out of the frame so that a
 * stalled host pins payload bytes, not whole transport read buffers ({@code tcp.bridge.bytesCopiedWhileBlocked}).
 * A batch's own writes, which pass the mark before their one flush, are not copied: at most one batch per
 * connection is held as slices when the host stalls.
 *
 * <p><b>Egress policy</b> ({@link dev.gvproxy.forwarder.EgressPolicy}, {@link dev.gvproxy.forwarder.EgressFilter}).
 * Ordered allow/deny rules (prefix, protocol, ports; first match wins; no match allows) decide each new flow at
 * the one point where it would be re-originated, on the loop, against the destination as the guest addressed it
 * (before NAT): the SYN gate before the host connect (denied: RST, no socket; a SYN that waited for a connect slot
 * is checked again), the UDP forwarder before a flow's host socket and the ICMP forwarder before a ping socket
 * (denied: ICMP destination unreachable code 13, administratively prohibited, RFC 1812 5.2.7.1, through the
 * stack's one unreachable builder; never about a broadcast or multicast). Only new flows are decided: a flow that
 * exists keeps going until a replacement asks to close what it denies, which goes through the same abort path
 * as a departed guest's flows ({@link dev.gvproxy.forwarder.GuestFlows#abortWhere}, each flow registered with its
 * pre-NAT target). The gateway's own services (DHCP, DNS, the in-VM API) and port forwards into the guests are not
 * egress and are never filtered. Counted as {@code egress.denied[.tcp|.udp|.icmp]}, {@code egress.flowsClosed},
 * and per rule (hits since the policy was set).
 *
 * <p><b>One attach path for TCP.</b> Every guest TCP connection the gateway terminates has the same
 * application side, {@link dev.gvproxy.forwarder.GuestStream}: the stack's connection events as a
 * {@link dev.gvproxy.forwarder.TunnelStream} (events before the consumer starts are held), whether the guest
 * opened it (the SYN gate's connections) or the gateway did ({@code GuestStream.open}: port forwards,
 * {@code /tunnel}, SSH forwards; dial timeout, refusal and the established future live there). A stream
 * meets a host channel in one relay, {@link dev.gvproxy.forwarder.TcpBridge}: outbound connections, tcp and
 * unix port forwards and {@code /tunnel} all go through it. In-stack services (DNS over TCP, the in-VM API)
 * are registered with stack-core's {@code TcpLayer.listen}, TCP's counterpart of {@code UdpDemux.bind}.
 *
 * <p><b>The SYN gate's seam.</b> {@link dev.gvproxy.forwarder.TcpForwarder} reaches hosts through a
 * {@link dev.gvproxy.forwarder.HostConnector} (host sockets by default) and times connects out itself on the
 * network's loop, so the gate (SYN-ACK only once connected, RST on refusal or timeout, the in-flight cap and
 * the per-guest budgets) is tested segment by segment with a scripted connector and a hand-moved clock.
 *
 * <p><b>Host-socket errors.</b> Every forwarded host channel ends in a handler that keeps errors off Netty's
 * pipeline tail: epoll may report a connecting socket readable before its connect completes, Netty's read
 * then fails with {@code NotYetConnectedException} (ENOTCONN); that is harmless and counted
 * ({@code tcp.forward.readBeforeConnect}). Once attached, the bridge turns any host error into a reset of the
 * guest connection ({@code tcp.bridge.hostError}).
 *
 * <p><b>Threading.</b> Everything here runs on the network's single event loop, as the stack does: no
 * locks. {@code install(...)} helpers wire a forwarder into a {@code NetworkStack} and schedule its idle
 * sweep on that loop; tests drive {@code poll(now)} themselves with a manual clock.
 *
 * <p><b>Counters</b> ({@code udp.*}, {@code udp.fwd.*}, {@code icmp.fwd.*}): every datagram or echo that is
 * not forwarded increments one, named for the reason.
 *
 * <p><b>Port forwards, host -> guest</b> ({@link dev.gvproxy.forwarder.PortForwarder},
 * {@code TcpPortForward}, {@code UdpPortForward}, {@code UnixPortForward}). The other
 * direction: a host listener is the host side, and the guest side is created by the gateway itself. The
 * forwarder owns only the live listeners ({@code open} returns a handle, closing it stops the listener);
 * keying by {@code protocol/local} (the literal {@code local} string, as in gvproxy), duplicate refusal,
 * ownership and listing are the network module's {@code PortForwardRegistry}, one place for every kind of
 * forward (SSH tunnels too). For
 * {@code tcp} and {@code unix} (unix socket -> {@code tcp://IPv4:port}) every accepted client gets a
 * connection actively opened into the guest ({@code TcpLayer.connect}: SYN-SENT -> ESTABLISHED) from the
 * gateway IP and an ephemeral port (49152-65535, free for that guest ip:port), joined to the client by the
 * same {@code TcpBridge} the outbound path uses (read the host only while the send buffer has room,
 * {@code consumed} after the host write, half-close both ways). A guest RST to the SYN, or no answer
 * within the dial timeout (10 s), ends the client with a plain close (EOF, like gvproxy, which accepts
 * before it dials); a reset of an established connection is relayed as a reset. {@code udp}: one host
 * socket; each client address gets a gateway-side source port bound in the stack's UDP demux, so guest
 * replies to it go back to that client; idle 90 s closes a flow. Unexpose closes the listener only
 * (running TCP relays finish; UDP flows end). A tcp/udp {@code local} with port 0 binds a free port and the
 * handle names it (the registry keys and lists it so). A unix forward replaces only a stale socket at its path (connect refused), never a
 * regular file, directory, symlink or live socket, and its socket is 0600 whatever the umask (bound under a
 * sibling name, chmod-ed, renamed into place). {@code /tunnel} hands an accepted host channel (the HTTP
 * client's, after {@code OK}) to the same guest-side machinery. Optionally the guest sees the real client
 * instead of the gateway; a loopback client is then shown as the host alias 192.168.127.254 (a guest
 * drops 127.0.0.1 from its ethernet), and addresses inside the virtual subnet or IPv6 fall back to the
 * gateway. Remotes must be IP literals: IPv4, or for tcp a guest's IPv6 address ({@code [addr]:port}, the
 * connection then comes from the gateway's IPv6 address); host names are refused with a message (400 at the
 * API) rather than crashing as in gvproxy. Counters: {@code tcp.portfwd.*} (accepted, guestRefused,
 * dialTimeout, noSourcePort) and {@code udp.portfwd.*} (flows, drops by reason).
 *
 * <p>Where the module stands: above stack-core and platform, below network. It is the only module that opens host
 * sockets for guest flows, so stack-core stays free of I/O and every host-side policy (NAT, budgets, connect
 * limits) is in one place.
 */
package dev.gvproxy.forwarder;
