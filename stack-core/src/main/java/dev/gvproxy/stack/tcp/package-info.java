/**
 * TCP at the gateway: the stack terminates every connection a guest opens (impersonating its destination)
 * and opens connections into guests for port forwards.
 *
 * <h2>Theory of operation</h2>
 *
 * <p><b>Reading list.</b> RFC 9293 (the state machine; SEGMENT ARRIVES, section 3.10.7, is the order of the
 * checks), RFC 5961 (RST/SYN/ACK validation, challenge ACKs), RFC 7323 (window scale, timestamps, PAWS), RFC
 * 2018 and 2883 (SACK, DSACK), RFC 5681 and 6582 (congestion control, NewReno), RFC 6675 (SACK-based loss
 * recovery: the scoreboard and IsLost), RFC 8985 section 7 (the tail loss probe; RACK's time-based loss
 * detection is not implemented), RFC 6298 (the retransmission timer), RFC 6928 (initial window), RFC 1122
 * 4.2.3 (delayed ACK, silly window avoidance, keepalive). Fields carry the RFC names: SND.UNA is {@code sndUna},
 * RCV.NXT {@code rcvNxt}, SEG.SEQ {@code seg.seq}.
 *
 * <p><b>Path of a segment.</b> {@link dev.gvproxy.stack.tcp.TcpLayer} checks it ({@code TcpPacket.check}), parses
 * it into its one reused {@link dev.gvproxy.stack.tcp.TcpSegment} (no allocation per segment), finds the
 * connection by 4-tuple, hands a new SYN to the {@code SynHandler} (the forwarder connects to the host first
 * and only then accepts, so a refused host connect becomes a RST) and answers anything else with a RST
 * (RFC 9293 3.10.7.1). The connection's {@code onSegment} runs the checks of SEGMENT ARRIVES in RFC order and
 * then sends whatever the state, windows and timers call for.
 *
 * <p><b>Both families.</b> A connection's addresses are {@code Ipv6Address} values, IPv4 ones IPv4-mapped, and
 * its key is the one {@code FlowKey}; the layer is the TCP handler of both {@code Ipv4Input} and
 * {@code Ipv6Input}. What differs per family is small and explicit: the pseudo-header of the checksum
 * ({@code TcpSegmentWriter}, {@code TcpPacket.checkWithAddressSum}), the headroom a segment keeps for the
 * headers, the output it leaves through, and the MSS (MTU - 40 over IPv4, MTU - 60 over IPv6; the default peer
 * MSS 536 or 1220). The lookup of a received segment's connection compares the last connection found field by
 * field, then searches the {@code ConnectionTable} with the segment's primitive fields: no key is built per
 * segment, whichever connection it belongs to. The tests whose behaviour could
 * depend on the family (the state matrix, the layer, opens, listen, connection and edge cases) run for both.
 *
 * <p><b>How a connection is cut.</b> Along the lines its tests already follow (sender, receiver, congestion):
 * <ul>
 *   <li>{@link dev.gvproxy.stack.tcp.TcpConnection}: the state, SEGMENT ARRIVES for synchronized states
 *       (RST, SYN, ACK field, text in that order), close and TIME-WAIT, the timers' dispatch, the memory charge,
 *       the {@code Handler} events and the public API the forwarder uses. It composes every outgoing header
 *       ({@code emit}): the sender chooses sequence number, flags and payload, the receiver supplies ACK number,
 *       window and SACK blocks.</li>
 *   <li>{@code TcpHandshake}: OPEN, SYN-SENT and the ACK completing SYN-RECEIVED, and the SYN options
 *       negotiation; it only runs before the connection is established.</li>
 *   <li>{@code TcpSender}: the send sequence space and {@code SendBuffer}, the ACK field,
 *       NewReno with a {@code SackScoreboard} picking the holes to resend, DSACK-driven undo and reordering
 *       detection, lost-retransmission detection, the tail loss probe, the RTO
 *       ({@link dev.gvproxy.stack.tcp.RttEstimator}), zero-window (persist) and keepalive probes.</li>
 *   <li>{@code TcpReceiver}: the receive sequence space, acceptability, PAWS and TS.Recent, the
 *       {@code Reassembler} for out-of-order data, the advertised window (receiver SWS
 *       avoidance; a scaled edge is never retracted beyond what RFC 7323 2.4 allows), delayed ACKs, the ACK
 *       owed at the end of a read batch (one per connection per batch, sent by {@code TcpLayer.flush} when the
 *       switch flushes the gateway), the ACK of a FIN that finds our side open (it waits for our FIN or the
 *       delayed-ACK timer, as Linux's pingpong mode: a three-segment close) and the DSACK to report.</li>
 * </ul>
 * The halves are package-private classes reached through final fields; they share the connection's state
 * rather than copying it, so nothing is allocated or looked up per segment. Advertising a window changes
 * receiver state (the right edge promised); that happens in the receiver before the header is written, and
 * {@code TcpReceiver.ackSent} records the ACK afterwards. The bytes of every TCP header the stack sends,
 * connections' and the layer's resets alike, are laid out by {@link dev.gvproxy.stack.wire.TcpSegmentWriter}
 * (Linux's option order), and every option list is walked by {@link dev.gvproxy.stack.wire.OptionIterator}.
 *
 * <p><b>Time.</b> Nothing here reads a clock: every entry point takes {@code now} (monotonic nanoseconds).
 * Each connection reports {@code nextDeadline()} (retransmission, TLP, persist, keepalive, delayed ACK,
 * TIME-WAIT); the layer keeps the connections in a heap by that deadline ({@code ConnectionTimers}, which a
 * connection leaves when it closes) and its owner calls {@code poll(now)} at the earliest.
 * Tests drive a manual clock and never sleep.
 *
 * <p><b>Guest-port backpressure.</b> A connection knows the switch port of its guest ({@code TcpLayer.Links}:
 * by the SYN's source MAC, or through the neighbour cache for an active open). The sender sends no new segment
 * while that port is not writable, because the transport's queue is full and the segment would be dropped
 * there and cost an RTO with backoff; it parks in the layer's list for the port, and
 * {@code TcpLayer.linkWritable} sends what waited when the transport reports the drain. Only the data loop
 * of {@code TcpSender.transmit} is held; ACKs, FINs and resets are not (they are small, and an ACK withheld
 * would stall the guest's own sending).
 *
 * <p><b>Buffers.</b> A received segment's payload is <b>borrowed</b> for the call; in-order data goes to
 * {@code Handler.onData} as a retained slice the handler <b>takes</b>, out-of-order data is kept as retained
 * slices until delivered or the connection closes. {@code send} <b>takes</b> the application's buffer into
 * the send buffer until acknowledged; each transmission is a new buffer, with room in front for every header
 * that precedes it, holding the TCP header and a copy of its payload range, copied straight from the send buffer's
 * buffers (no slice or composite per segment), that {@code Output.transmit} takes. Closing a connection releases both buffers.
 *
 * <p><b>Limits.</b> Per-connection buffers come from {@link dev.gvproxy.stack.tcp.TcpConfig}; the network-wide
 * budget {@link dev.gvproxy.stack.tcp.TcpMemory} caps what windows may promise and what may be queued. Drops
 * and refusals are counted in {@code TcpCounters} and the layer's {@code tcp.*} counters.
 */
package dev.gvproxy.stack.tcp;
