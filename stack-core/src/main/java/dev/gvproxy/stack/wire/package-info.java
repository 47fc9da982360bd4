/**
 * Wire formats: Ethernet II, ARP, IPv4, ICMPv4, UDP, TCP, the Internet checksum and sequence-number arithmetic.
 *
 * <h2>Theory of operation</h2>
 *
 * <p>Two levels, as in smoltcp's {@code wire} module:
 * <ul>
 *   <li><b>Checked flyweight views</b> ({@code EthernetFrame}, {@code ArpPacket}, {@code Ipv4Packet},
 *       {@code Icmpv4Packet}, {@code UdpPacket}, {@code TcpPacket}) are classes of static methods over
 *       {@code (ByteBuf buf, int off)}, where {@code off} is an <em>absolute</em> index (reader and writer indexes
 *       are never moved by accessors). Nothing is allocated or copied. Each view has a
 *       {@code check(buf, off, len, ...)} that looks at every length field first, then checksums, and returns
 *       {@code null} for a well-formed packet or an {@code Error} enum constant whose {@code counter()} is the
 *       name of the counter to bump ({@code ipv4.badChecksum}, {@code tcp.badOption}, ...). {@code check} never
 *       throws on any input; once it returned null, the accessors cannot throw for that packet. Accessors on an
 *       unchecked packet are a programming error and may throw {@link java.lang.IndexOutOfBoundsException}.</li>
 *   <li><b>Value representations</b> ({@code Ipv4Repr}, {@code Icmpv4Repr}, {@code UdpRepr}, {@code TcpRepr},
 *       {@code ArpPacket.Repr}) are small records with {@code parse(buf, off)} (from a checked packet),
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
 * <p><b>Addresses</b> are primitives: MACs in the low 48 bits of a {@code long}, IPv4 addresses in an {@code int}
 * in network order ({@link dev.gvproxy.stack.wire.MacAddress}, {@link dev.gvproxy.stack.wire.Ipv4Address}).
 * TCP sequence numbers are {@code int}s compared with {@link dev.gvproxy.stack.wire.SeqNum}, never with
 * {@code <}.
 *
 * <p><b>Checksums</b> ({@link dev.gvproxy.stack.wire.Checksums}) sum eight bytes at a time through
 * {@link java.lang.invoke.VarHandle} views of the buffer's array or NIO buffer, without allocating; the data path verifies each checksum once,
 * in {@code check}.
 */
package dev.gvproxy.stack.wire;
