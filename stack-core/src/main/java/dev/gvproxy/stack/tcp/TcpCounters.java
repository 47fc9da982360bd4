package dev.gvproxy.stack.tcp;

import dev.gvproxy.stack.Counters;

/** The TCP layer's named counters, created once per stack. */
final class TcpCounters {
    final Counters.Counter segmentsIn;
    final Counters.Counter segmentsOut;
    final Counters.Counter retransmits;
    final Counters.Counter fastRetransmits;
    final Counters.Counter timeouts;
    final Counters.Counter dupAcks;
    final Counters.Counter paws;
    final Counters.Counter outOfWindow;
    final Counters.Counter challengeAcks;
    final Counters.Counter noAck;
    final Counters.Counter ackUnsent;
    final Counters.Counter outOfOrder;
    final Counters.Counter outOfOrderOverflow;
    final Counters.Counter persistProbes;
    final Counters.Counter keepaliveProbes;
    final Counters.Counter aborted;
    final Counters.Counter resetsReceived;
    final Counters.Counter dataAfterClose;
    final Counters.Counter badSynAck;
    final Counters.Counter spuriousRetransmits;
    final Counters.Counter congestionUndos;
    final Counters.Counter dsacksSent;
    final Counters.Counter lostRetransmits;
    final Counters.Counter tailLossProbes;

    TcpCounters(Counters c) {
        segmentsIn = c.counter("tcp.in.segments");
        segmentsOut = c.counter("tcp.out.segments");
        retransmits = c.counter("tcp.out.retransmits");
        fastRetransmits = c.counter("tcp.fastRetransmit");
        timeouts = c.counter("tcp.retransmitTimeout");
        dupAcks = c.counter("tcp.in.dupAcks");
        paws = c.counter("tcp.pawsRejected");
        outOfWindow = c.counter("tcp.outOfWindow");
        challengeAcks = c.counter("tcp.out.challengeAcks");
        noAck = c.counter("tcp.noAckFlag");
        ackUnsent = c.counter("tcp.ackOfUnsentData");
        outOfOrder = c.counter("tcp.in.outOfOrder");
        outOfOrderOverflow = c.counter("tcp.outOfOrderOverflow");
        persistProbes = c.counter("tcp.out.persistProbes");
        keepaliveProbes = c.counter("tcp.out.keepaliveProbes");
        aborted = c.counter("tcp.aborted");
        resetsReceived = c.counter("tcp.in.resets");
        dataAfterClose = c.counter("tcp.dataAfterClose");
        badSynAck = c.counter("tcp.badSynAck");
        spuriousRetransmits = c.counter("tcp.in.dsacks");
        congestionUndos = c.counter("tcp.congestionUndo");
        dsacksSent = c.counter("tcp.out.dsacks");
        lostRetransmits = c.counter("tcp.lostRetransmits");
        tailLossProbes = c.counter("tcp.out.tailLossProbes");
    }
}
