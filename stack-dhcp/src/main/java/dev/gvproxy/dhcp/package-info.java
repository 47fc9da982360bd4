/**
 * The gateway's DHCPv4 server (RFC 2131, RFC 2132 options, RFC 3397 search list, RFC 6842 client-identifier
 * echo) and DHCPv6 server (RFC 8415, RFC 3646 DNS options), built on the stack's in-stack UDP endpoint API.
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
 * <h2>DHCPv6</h2>
 *
 * <p><b>Layers</b> as for DHCPv4: {@link dev.gvproxy.dhcp.Dhcpv6Packet#check} walks every option (and those
 * nested in IA_NA) once with bounds (at most 64 options, 8 IA_NAs, 8 addresses per IA, DUIDs of 2..130 octets, no
 * duplicate identifiers) and names the reason ({@code dhcpv6.runt}, {@code dhcpv6.optionOverrun},
 * {@code dhcpv6.tooManyOptions}, ...); {@link dev.gvproxy.dhcp.Dhcpv6Repr} is the value read from a client and
 * written as Advertise or Reply; {@link dev.gvproxy.dhcp.Dhcpv6Server} keeps the bindings. It listens on UDP 547
 * at {@code ff02::1:2} (All_DHCP_Relay_Agents_and_Servers), {@code fe80::1} and the gateway's ULA address, and
 * answers from {@code fe80::1} (or the unicast address asked) to the client's source address at its MAC, so no
 * neighbour resolution is needed. The server identifier is the DUID-LL of the gateway MAC. Relay messages are
 * dropped ({@code dhcpv6.relay}): there are no relays on a virtual link.
 *
 * <p><b>Stateless</b> (the RA's O flag, the default): Information-Request -> Reply with the DNS servers (option
 * 23, default the gateway's IPv6 address, where the DNS server listens) and the search list (option 24, the
 * same encoding as option 119 via {@link dev.gvproxy.dhcp.DomainNames}), each when asked for in option 6 or when
 * the client sent no option 6.
 *
 * <p><b>Stateful</b> (IA_NA; for guests that want fixed addresses or run a DHCPv6-only client). Who gets
 * which address: a static lease by DUID, else by MAC, else the IA's current binding, else a free address the
 * client hinted, else the next free address of the pool, by default {@code prefix::1:0 - prefix::1:ffff}
 * (65,536 addresses of the /64, away from SLAAC's EUI-64 and random identifiers and from the gateway, device and
 * host alias). The MAC is the frame's source MAC: the switch pins it to the guest's port, while a MAC inside a
 * DUID-LL/LLT is only the client's word (a different one is counted, {@code dhcpv6.duidMacMismatch}, and
 * ignored). The IPv4 device lease's MAC gets {@code prefix::2} by default. A DUID whose binding belongs to another
 * MAC is served as a client of its own ({@code dhcpv6.duidConflict}), so replaying another guest's DUID reaches
 * nothing of its binding. Solicit -> Advertise (binds nothing) or, with Rapid Commit (option 14, on by default),
 * a committed Reply; Request, Renew and Rebind -> Reply binding the address for the lease time (default 3600 s
 * valid and preferred, T1 50%, T2 80%), with addresses the client listed that are no longer its own returned with
 * lifetimes 0; an unknown client renewing keeps a free address (as after a gateway restart). Release frees,
 * Decline quarantines the address for 10 minutes, Confirm answers Success or NotOnLink by the prefix (no
 * addresses: no reply, RFC 8415 18.3.3). With no address to give an IA gets NoAddrsAvail (in an Advertise, at the
 * top level: RFC 8415 18.3.9). Dynamic bindings are bounded by {@code maxLeases} (default 4096,
 * {@code dhcpv6.leaseLimit}); the pool scan is bounded by the addresses taken. Server-id rules follow RFC 8415
 * 16: Solicit, Rebind and Confirm must not carry one, Request, Renew, Release and Decline must carry ours
 * ({@code dhcpv6.otherServer} otherwise), Information-Request may.
 *
 * <p>Where the module stands: on stack-core's UDP endpoint API only; the network module installs it and its lease
 * expiry is one of the stack's deadline sources.
 */
package dev.gvproxy.dhcp;
