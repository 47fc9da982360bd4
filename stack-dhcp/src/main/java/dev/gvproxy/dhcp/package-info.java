/**
 * The gateway's DHCPv4 server (RFC 2131, RFC 2132 options, RFC 3397 search list, RFC 6842 client-identifier
 * echo), built on the stack's in-stack UDP endpoint API.
 *
 * <h2>Theory of operation</h2>
 *
 * <p><b>Layers.</b> {@link dev.gvproxy.dhcp.DhcpPacket} is a checked flyweight over the UDP payload: its
 * {@code check} validates the fixed header, the magic cookie and every option's length (including options
 * overloaded into {@code file}/{@code sname}) and returns a counted error ({@code dhcp.badMagic},
 * {@code dhcp.truncatedOption}, {@code dhcp.overlongOption}, {@code dhcp.missingEnd}, ...) instead of throwing.
 * {@link dev.gvproxy.dhcp.DhcpRepr} is the value a reply is built as and emitted from (padded to BOOTP's
 * 300 bytes). {@link dev.gvproxy.dhcp.LeasePool} owns all address state; {@link dev.gvproxy.dhcp.DhcpServer}
 * maps messages to pool operations and replies.
 *
 * <p><b>Who gets which address.</b> Clients are identified by option 61 or, without it, by their MAC (an
 * option 61 that is just {@code 01 + MAC} counts as the MAC). A MAC with a static lease always gets its static
 * address. Anyone else gets, in order: its current lease or offer, its previous address if nobody took it since,
 * the address it asked for (option 50) if available, else the lowest available pool address — so in the
 * default network the device MAC gets .2 and other guests get .3, .4, ... deterministically. Never handed out:
 * the network and broadcast addresses, the gateway, the host alias and other gateway virtual IPs, in-subnet DNS
 * servers, other clients' static addresses, addresses held by an unexpired offer (30 s) or lease, and declined
 * addresses (quarantined for 10 minutes). When nothing is left the DISCOVER gets no answer and
 * {@code dhcp.poolExhausted} counts it.
 *
 * <p><b>Messages.</b> DISCOVER -> OFFER (the address is held for the client). REQUEST is classified by its
 * fields as RFC 2131 section 4.3.2 says: SELECTING (option 54 present; a different server id means the client
 * chose another server: silent), INIT-REBOOT (option 50, no server id), RENEWING (ciaddr, unicast) or REBINDING
 * (ciaddr, broadcast). The server is authoritative for the virtual link: it ACKs an address that is the client's
 * own or free, and NAKs one that is outside the subnet, reserved, held by someone else, or different from the
 * client's static address or unexpired lease (the client then restarts with DISCOVER). Unlike the RFC's
 * "remain silent without a record", an unknown client rebooting with a free address keeps it, which is what a
 * guest wants after gvproxy-java restarts. RELEASE frees the lease (the address is remembered for the client);
 * DECLINE quarantines the address; INFORM gets an ACK with configuration but no lease time.
 *
 * <p><b>Bound to the port</b> (the guest is untrusted). A message whose chaddr is not the frame's source MAC
 * is dropped ({@code dhcp.chaddrMismatch}); the switch keeps that MAC on the port it was learned on, so a
 * guest can only ask, release or decline for itself. A client identifier whose active record belongs to
 * another MAC is served as a separate client ({@code dhcp.clientIdConflict}), so borrowing another guest's
 * DUID reaches nothing of its lease. The clients behind one switch port hold at most {@code leasesPerPort}
 * offers and leases together (default 16, {@code dhcp.portLeaseLimit}); a client that moves to a new port
 * (a reconnecting VM) takes its record along. Every BOUND and static lease is published to the stack's
 * {@link dev.gvproxy.stack.ip.AddressBindings}, which source validation reads.
 *
 * <p><b>Replies</b> carry options 53 and 54 (server id = gateway), 51/58/59 (T1 = 50%, T2 = 87.5%) for leases,
 * then 1, 3 (gateway), 6, 15 (when a domain is set), 26 (MTU), 28, 119 (when search domains are set) in the
 * client's parameter-request-list order, then 61 and 82 echoed. They go out per RFC 2131 section 4.1: NAK to
 * broadcast; with ciaddr set, unicast to ciaddr; with the broadcast flag, to 255.255.255.255 at the broadcast
 * MAC; otherwise to yiaddr at chaddr without ARP. giaddr is echoed but never used: there are no relays on a
 * virtual link.
 *
 * <p><b>Time.</b> Nothing here reads a clock: every entry point takes {@code now} (monotonic nanoseconds).
 * Expiry runs lazily at the start of each datagram and in {@link dev.gvproxy.dhcp.DhcpServer#poll}, which the
 * owner should call at {@link dev.gvproxy.dhcp.DhcpServer#nextDeadline()}; state is bounded by the pool size
 * (one record per address, one per client).
 *
 * <p><b>Differences from gvproxy</b> (spec section 3.4), all deliberate: the host alias and broadcast
 * address are never leased, leases expire and can be released or declined, wrong requests are NAKed, INFORM is
 * answered, T1/T2 and option 15 are sent, and an empty search list omits option 119 instead of sending it empty.
 *
 * <p>Where the module stands: on stack-core's UDP endpoint API only; the network module installs it and its lease
 * expiry is one of the stack's deadline sources.
 */
package dev.gvproxy.dhcp;
