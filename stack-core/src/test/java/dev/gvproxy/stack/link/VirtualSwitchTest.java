package dev.gvproxy.stack.link;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class VirtualSwitchTest {
    static final long GW = MacAddress.parse("5a:94:ef:e4:0c:dd");
    static final long A = MacAddress.parse("5a:94:ef:e4:0c:ee");
    static final long B = MacAddress.parse("02:00:00:00:00:0b");
    static final long C = MacAddress.parse("02:00:00:00:00:0c");

    final Counters counters = new Counters();
    final VirtualSwitch sw = new VirtualSwitch(GW, counters, () -> 0L);
    final Sink gw = new Sink();
    final List<String> events = new ArrayList<>();

    /** Records frames written to it (as dst MACs) and releases them. */
    static final class Sink implements LinkEndpoint {
        final List<Long> dsts = new ArrayList<>();
        int flushes;

        @Override
        public void transmit(ByteBuf frame) {
            dsts.add(MacAddress.get(frame, frame.readerIndex()));
            frame.release();
        }

        @Override
        public void flush() {
            flushes++;
        }
    }

    VirtualSwitchTest() {
        sw.setGateway(gw);
        sw.addListener(new VirtualSwitch.MacListener() {
            @Override
            public void established(long mac, SwitchPort port) {
                events.add("up " + MacAddress.format(mac) + " " + port.id());
            }

            @Override
            public void closed(long mac, SwitchPort port) {
                events.add("down " + MacAddress.format(mac) + " " + port.id());
            }
        });
    }

    static ByteBuf frame(long dst, long src, int payload) {
        ByteBuf b = Unpooled.buffer();
        MacAddress.write(b, dst);
        MacAddress.write(b, src);
        b.writeShort(0x0800);
        b.writeZero(payload);
        return b;
    }

    @AfterEach
    void noStrayCounters() {
        sw.flush();
    }

    @Test
    void learnsAndSwitchesUnicastAndCountsBytes() {
        Sink a = new Sink();
        Sink b = new Sink();
        SwitchPort pa = sw.attach("a", a);
        SwitchPort pb = sw.attach("b", b);
        sw.deliver(pa, frame(MacAddress.BROADCAST, A, 46)); // A learned; broadcast to b and gateway
        assertEquals(List.of(MacAddress.BROADCAST), b.dsts);
        assertEquals(List.of(MacAddress.BROADCAST), gw.dsts);
        assertTrue(a.dsts.isEmpty(), "never back to the source");
        sw.deliver(pb, frame(A, B, 46));
        assertEquals(List.of(A), a.dsts);
        assertEquals(2, sw.cam().size());
        assertEquals(0, sw.cam().get("5a:94:ef:e4:0c:ee"));
        assertEquals(120, sw.bytesReceived());
        assertEquals(120, sw.bytesSent()); // 60 to b + 60 to a (the gateway is not a port)
        assertEquals(60, pa.bytesOut());
        assertEquals(1, pa.framesIn());
        assertEquals(List.of("up 5a:94:ef:e4:0c:ee 0", "up 02:00:00:00:00:0b 1"), events);
        sw.flush();
        assertEquals(1, a.flushes);
        assertEquals(1, b.flushes);
    }

    @Test
    void unknownUnicastIsDroppedAndCounted() {
        SwitchPort pa = sw.attach("a", new Sink());
        sw.deliver(pa, frame(C, A, 46));
        assertEquals(1, counters.get("switch.unknownDestination"));
    }

    @Test
    void detachForgetsMacsAndNotifies() {
        Sink a = new Sink();
        SwitchPort pa = sw.attach("a", a);
        SwitchPort pb = sw.attach("b", new Sink());
        sw.deliver(pa, frame(GW, A, 46));
        assertEquals(List.of(GW), gw.dsts);
        sw.detach(pa);
        assertNull(sw.portOf(A));
        assertEquals("down 5a:94:ef:e4:0c:ee 0", events.get(events.size() - 1));
        sw.deliver(pb, frame(A, B, 46));
        assertTrue(a.dsts.isEmpty());
        assertEquals(1, counters.get("switch.unknownDestination"));
        sw.deliver(pa, frame(GW, A, 46)); // late frame from a detached port
        assertEquals(1, counters.get("switch.detachedPort"));
        SwitchPort pc = sw.attach("a-again", new Sink());
        assertEquals(2, pc.id(), "ids are never reused");
    }

    @Test
    void macMovesToTheNewPort() {
        SwitchPort pa = sw.attach("a", new Sink());
        SwitchPort pb = sw.attach("b", new Sink());
        sw.deliver(pa, frame(GW, A, 46));
        sw.deliver(pb, frame(GW, A, 46));
        assertEquals(pb, sw.portOf(A));
        sw.detach(pa);
        assertEquals(pb, sw.portOf(A), "detaching the old port must not forget a MAC that moved");
    }

    @Test
    void runtsAndMulticastSourcesAreDropped() {
        SwitchPort pa = sw.attach("a", new Sink());
        sw.deliver(pa, Unpooled.buffer().writeZero(13));
        sw.deliver(pa, frame(GW, MacAddress.parse("01:00:5e:00:00:01"), 10));
        assertEquals(1, counters.get("switch.runtFrame"));
        assertEquals(1, counters.get("switch.multicastSource"));
        assertTrue(gw.dsts.isEmpty());
    }

    @Test
    void gatewayBroadcastReachesEveryPortAndUnicastFollowsCam() {
        Sink a = new Sink();
        Sink b = new Sink();
        SwitchPort pa = sw.attach("a", a);
        sw.attach("b", b);
        sw.transmitFromGateway(frame(MacAddress.BROADCAST, GW, 46));
        assertEquals(1, a.dsts.size());
        assertEquals(1, b.dsts.size());
        sw.deliver(pa, frame(GW, A, 46));
        sw.transmitFromGateway(frame(A, GW, 46));
        assertEquals(2, a.dsts.size());
        assertEquals(1, b.dsts.size());
    }
}
