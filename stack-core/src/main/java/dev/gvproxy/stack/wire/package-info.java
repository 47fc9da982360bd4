/**
 * Wire formats: Ethernet II, ARP, IPv4, ICMPv4, IPv6 with its extension headers, ICMPv6, NDP, UDP, TCP, the
 * Internet checksum and sequence-number arithmetic.
 *
 * <h2>Theory of operation</h2>
 *
 * <p>Two levels, as in smoltcp's {@code wire} module:
 * <ul>
 *   <li><b>Checked flyweight views</b> ({@code EthernetFrame}, {@code ArpPacket}, {@code Ipv4Packet},
 *       {@code Icmpv4Packet}, {@code Ipv6Packet}, {@code Icmpv6Packet}, {@code NdpPacket}, {@code UdpPacket},
 *       {@code TcpPacket}) are classes of static methods over
 *       {@code (ByteBuf buf, int off)}, where {@code off} is an <em>absolute</em> index (reader and writer indexes
 *       are never moved by accessors). Nothing is allocated or copied. Each view has a
 *       {@code check(buf, off, len, ...)} that looks at every length field first, then checksums, and returns
 *       {@code null} for a well-formed packet or an {@code Error} enum constant whose {@code counter()} is the
 *       name of the counter to bump ({@code ipv4.badChecksum}, {@code tcp.badOption}, ...). {@code check} never
 *       throws on any input; once it returned null, the accessors cannot throw for that packet. Accessors on an
 *       unchecked packet are a programming error and may throw {@link java.lang.IndexOutOfBoundsException}.</li>
 *   <li><b>Value representations</b> ({@code Ipv4Repr}, {@code Icmpv4Repr}, {@code Ipv6Repr},
 *       {@code Icmpv6Repr}, {@code NdpRepr}, {@code UdpRepr}, {@code TcpRepr}, {@code ArpPacket.Repr}) are small
 *       records with {@code parse(buf, off)} (from a checked packet),
 *       {@code bufferLen()} and {@code emit(out, ...)}, which appends at the writer index and computes
 *       checksums. {@code parse} followed by {@code emit} reproduces frames built by Linux byte for byte (tested
 *       with captured frames).</li>
 * </ul>
 *
 * <p><b>Open values.</b> EtherTypes, IP protocols, ICMP types/codes, ARP operations and TCP option kinds are
 * plain {@code int}s; the constant classes ({@link dev.gvproxy.stack.wire.EtherType},
 * {@link dev.gvproxy.stack.wire.IpProtocol}) only give names. An unknown value is never an error of the parser:
 * the layer above decides, and counts, what to do with it. Unknown TCP options are kept raw.
 *
 * <p><b>Ownership.</b> Every {@code ByteBuf} parameter in this package is <b>borrowed</b>: nothing here retains,
 * releases or keeps a reference to a buffer after returning. Payloads passed to {@code emit} are copied.
 *
 * <p><b>IPv6</b> (RFC 8200). The fixed header has no checksum and no options; what follows it is a chain of
 * extension headers. {@code Ipv6Packet.check} looks at the fixed header only; {@code Ipv6Packet.walk} then
 * follows the chain into a caller-owned, reusable {@code Ipv6Packet.Chain} without allocating, with a bound on
 * the headers walked (configuration, default 8: a guest cannot make the stack walk a packet of empty headers),
 * hop-by-hop options first only, options acted on as their type says, routing headers with segments left
 * refused, and real fragments ending the walk (the fragmentable part goes to the shared
 * {@link dev.gvproxy.stack.ip.FragmentReassembler}, and {@code walkPayload} walks the reassembled part). Where
 * RFC 8200 asks for an ICMPv6 Parameter Problem the chain says which code and pointer (already filtered by RFC
 * 4443 2.4 (e)); an upper-layer protocol the caller does not serve is answered from
 * {@code Chain.protocolPointer()}. TCP, UDP and ICMPv6 checksums include the IPv6 pseudo-header
 * ({@code Checksums.ipv6PseudoHeader}, {@code TcpPacket.checkIpv6}, {@code UdpPacket.checkIpv6}, where a zero
 * UDP checksum is invalid); for a reassembled payload the addresses are passed as values. NDP messages are ICMPv6
 * types 133-137: {@code NdpPacket.check} is RFC 4861's validation (hop limit 255, code 0, option lengths,
 * address rules), {@code NdpOption} walks options in 8-octet units like {@code OptionIterator} walks IPv4/TCP
 * options (a zero length invalidates the message), and {@code NdpRepr} reads and writes RS, RA (prefix
 * information, MTU, RDNSS, DNSSL), NS, NA and redirect (recognised, never acted on).
 *
 * <p><b>Addresses</b> are primitives where they fit: MACs in the low 48 bits of a {@code long}, IPv4 addresses in an
 * {@code int} in network order ({@link dev.gvproxy.stack.wire.MacAddress}, {@link dev.gvproxy.stack.wire.Ipv4Address}).
 * An IPv6 address is a record of two {@code long}s ({@link dev.gvproxy.stack.wire.Ipv6Address}), read from a
 * buffer without other allocation and compared in place with {@code equalsAt}; its text form is RFC 5952's.
 * TCP sequence numbers are {@code int}s compared with {@link dev.gvproxy.stack.wire.SeqNum}, never with
 * {@code <}.
 *
 * <p><b>Checksums</b> ({@link dev.gvproxy.stack.wire.Checksums}) sum eight bytes at a time through
 * {@link java.lang.invoke.VarHandle} views of the buffer's array or NIO buffer, without allocating; the data path verifies each checksum once,
 * in {@code check}.
 */
package dev.gvproxy.stack.wire;
