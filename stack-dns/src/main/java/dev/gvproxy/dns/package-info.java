/**
 * The gateway's DNS server: static zones answered locally, everything else forwarded to the host's
 * resolvers (spec section 3.5, with gvproxy's bugs fixed as DESIGN.md "Compatibility choices" lists).
 *
 * <h2>Theory of operation</h2>
 * <b>One core, two transports.</b> {@link dev.gvproxy.dns.DnsServer#answer} maps a raw query to a raw
 * response (or "send nothing"). The UDP front-end is the server itself, bound to gateway:53 on the stack's
 * {@link dev.gvproxy.stack.udp.UdpDemux} and, when the stack speaks IPv6, to port 53 of the gateway's IPv6
 * address (what RDNSS and DHCPv6 announce) and of {@code fe80::1}; answers go back from the address asked to. A
 * TCP front-end feeds a {@link dev.gvproxy.dns.DnsTcpSession} per
 * connection, which frames with {@link dev.gvproxy.dns.DnsTcpFraming}. The transport only changes the size
 * limit: 512 bytes on UDP, or the client's EDNS0 payload size capped by
 * {@link dev.gvproxy.dns.DnsConfig#maxUdpPayload()}; 65535 on TCP. A UDP answer that does not fit loses
 * whole RRsets and carries TC, so the client retries over TCP.
 *
 * <p><b>Decision order for one query.</b>
 * <ol>
 *   <li>Shorter than a header: dropped ({@code dns.runt}). QR set: dropped ({@code dns.notQuery}), so two
 *       servers can never bounce responses. Unparseable, not exactly one question, or two OPT records:
 *       FORMERR built from the raw header. Opcode other than QUERY: NOTIMP. EDNS version above 0: BADVERS.
 *       Zone transfers and other meta types, or a TSIG-signed query: REFUSED.</li>
 *   <li>Static zones ({@link dev.gvproxy.dns.ZoneTable}), class IN: the first zone the name is strictly
 *       below decides, case-insensitively. A record holds an IPv4 or an IPv6 address (gvproxy's {@code IP} is
 *       a {@code net.IP}: the API and YAML take either); per family the first matching record answers, A from
 *       an IPv4 one and AAAA from an IPv6 one (ANY gets both), with TTL 0, and the zone's default IP (IPv4
 *       only) when no record matches. A question no record of its family answers, and every other type, gets
 *       NOERROR and no data; no match and no default is NXDOMAIN. The default zones hold AAAA records for
 *       {@code gateway} and {@code host} (the gateway's and the host alias's IPv6 addresses) next to the A
 *       records when the network speaks IPv6. A name inside a zone never reaches the upstream.</li>
 *   <li>The host's hosts file ({@link dev.gvproxy.dns.HostsFile}) for A/AAAA (a listed name is answered from
 *       the file alone) and IPv4 PTR.</li>
 *   <li>The upstream ({@link dev.gvproxy.dns.UpstreamResolver}): the host's resolv.conf nameservers (or an
 *       explicit list), tried in order for {@code attempts} rounds with {@code timeout} per try; SERVFAIL,
 *       REFUSED or NOTIMP moves on to the next server. Names with fewer than ndots dots are tried with each
 *       search domain first; an answer found that way is returned behind a synthesized CNAME from the asked
 *       name. The upstream's answer, authority and additional sections are copied into a response carrying
 *       the client's ID, question (in the client's case), RD and CD, with RA set and AA clear; no server
 *       reachable, or the upstream's own failure, is SERVFAIL (gvproxy answered NXDOMAIN, which clients
 *       cache as "does not exist").</li>
 * </ol>
 *
 * <p><b>Threads.</b> Everything runs on the network's event loop except dnsjava's upstream I/O, which
 * runs on dnsjava's NIO selector thread; every upstream completion is handed back through the
 * {@code Executor loop} given to {@link dev.gvproxy.dns.DnsServer#install}, so counters, the in-flight
 * count and the stack are touched by the loop only. At most {@link dev.gvproxy.dns.DnsConfig#maxInFlight()}
 * upstream queries are outstanding; beyond that queries get SERVFAIL at once ({@code dns.inFlightLimit}), and
 * at most {@link dev.gvproxy.dns.DnsConfig#maxInFlightPerClient()} per guest source address of either family
 * ({@code dns.inFlightPerClientLimit}), so one guest cannot leave the others with SERVFAIL.
 * Zones change at runtime from any thread ({@code /services/dns/add}) by swapping an immutable snapshot.
 *
 * <p><b>Host configuration.</b> resolv.conf and the hosts file are read at start and re-read when their
 * size, mtime or inode changes, checked at most every {@link dev.gvproxy.dns.DnsConfig#reloadInterval()}
 * (a VPN rewriting resolv.conf takes effect without a restart). IPv6 nameservers are used as written, a
 * numeric or existing interface scope ({@code fe80::1%eth0}) included; one naming an unknown interface is
 * skipped. Both paths are configuration, so tests use
 * their own files and a resolver on 127.0.0.1.
 *
 * <p>Where the module stands: on stack-core's UDP endpoint API and TcpLayer.listen, with dnsjava; dnsjava's resolver
 * thread is the one documented exception to 'no threads below network'.
 */
package dev.gvproxy.dns;
