package dev.gvproxy.stack.ip;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.ArpPacket;
import dev.gvproxy.stack.wire.EtherType;
import dev.gvproxy.stack.wire.EthernetFrame;
import dev.gvproxy.stack.wire.Headroom;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * ARP for the gateway (RFC 826): answers requests for the gateway IP and the configured virtual IPs only
 * (spec 3.3; other addresses belong to the VMs, which answer for themselves), and learns every sender's
 * binding so that datagrams waiting for resolution can go out.
 */
public final class ArpResponder {
    private final StackConfig config;
    private final VirtualSwitch sw;
    private final ArpCache cache;
    private final Ipv4Output output;
    private final ByteBufAllocator alloc;
    private final Counters counters;
    private final Counters.Counter replies;
    private final Counters.Counter notForUs;
    private final Counters.Counter unknownOp;
    private final Counters.Counter received;

    public ArpResponder(StackConfig config, VirtualSwitch sw, ArpCache cache, Ipv4Output output,
            ByteBufAllocator alloc, Counters counters) {
        this.config = config;
        this.sw = sw;
        this.cache = cache;
        this.output = output;
        this.alloc = alloc;
        this.counters = counters;
        this.replies = counters.counter("arp.out.replies");
        this.notForUs = counters.counter("arp.notForGateway");
        this.unknownOp = counters.counter("arp.unknownOperation");
        this.received = counters.counter("arp.in.packets");
    }

    /**
     * @param frame <b>borrowed</b>; the ARP packet starts at {@code off} and has {@code len} bytes
     */
    public void input(ByteBuf frame, int off, int len, long now) {
        ArpPacket.Error err = ArpPacket.check(frame, off, len);
        if (err != null) {
            counters.counter(err.counter()).inc();
            return;
        }
        received.inc();
        int op = ArpPacket.operation(frame, off);
        long sha = ArpPacket.senderHardwareAddress(frame, off);
        int spa = ArpPacket.senderProtocolAddress(frame, off);
        int tpa = ArpPacket.targetProtocolAddress(frame, off);
        if (spa != 0 && !config.isGatewayAddress(spa)) {
            cache.learn(spa, sha, now);
            output.flushResolved(spa, sha);
        }
        if (op == ArpPacket.OP_REPLY) {
            return;
        }
        if (op != ArpPacket.OP_REQUEST) {
            unknownOp.inc();
            return;
        }
        if (!config.isGatewayAddress(tpa)) {
            notForUs.inc();
            return;
        }
        replies.inc();
        ByteBuf f = Headroom.buffer(alloc, 0, EthernetFrame.HEADER_LEN + ArpPacket.LEN);
        EthernetFrame.writeHeader(f, sha, config.gatewayMac(), EtherType.ARP);
        ArpPacket.write(f, ArpPacket.OP_REPLY, config.gatewayMac(), tpa, sha, spa);
        sw.transmitFromGateway(f);
    }
}
