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
    void macOnALivePortIsNotTakenOverButMovesOnceThatPortDetaches() {
        SwitchPort pa = sw.attach("a", new Sink());
        SwitchPort pb = sw.attach("b", new Sink());
        sw.deliver(pa, frame(GW, A, 46));
        sw.deliver(pb, frame(GW, A, 46));
        assertEquals(pa, sw.portOf(A));
        assertEquals(1, counters.get("switch.macMoveDenied"));
        assertEquals(1, gw.dsts.size(), "the thief's frame is dropped");
        sw.detach(pa); // the VM reconnects: its old port goes, the new one may have the MAC
        sw.deliver(pb, frame(GW, A, 46));
        assertEquals(pb, sw.portOf(A));
        assertEquals(List.of("up 5a:94:ef:e4:0c:ee 0", "down 5a:94:ef:e4:0c:ee 0", "up 5a:94:ef:e4:0c:ee 1"), events);
    }

    /** Port security with a manual clock: limits, ageing, moves. */
    @org.junit.jupiter.api.Nested
    class PortSecurityRules {
        static final long SECOND = 1_000_000_000L;
        long now = 1_000 * SECOND;
        final Counters c = new Counters();
        final VirtualSwitch s = new VirtualSwitch(GW, c, () -> now, () -> now,
                dev.gvproxy.stack.PortSecurity.defaults().withMacsPerPort(4).withMacsTotal(6));
        final Sink gateway = new Sink();
        final List<String> log = new ArrayList<>();

        PortSecurityRules() {
            s.setGateway(gateway);
            s.addListener(new VirtualSwitch.MacListener() {
                @Override
                public void established(long mac, SwitchPort port) {
                    log.add("up " + mac + " " + port.id());
                }

                @Override
                public void closed(long mac, SwitchPort port) {
                    log.add("down " + mac + " " + port.id());
                }
            });
        }

        @Test
        void aPortLearnsAtMostItsLimitAndFurtherMacsAreDropped() {
            SwitchPort p = s.attach("flooder", new Sink());
            for (long m = 2; m < 12; m++) {
                s.deliver(p, frame(GW, m << 8, 46));
            }
            assertEquals(4, s.camSize());
            assertEquals(4, p.macCount());
            assertEquals(6, c.get("switch.portMacLimit"));
            assertEquals(4, gateway.dsts.size(), "frames from unlearnable MACs go nowhere");
            s.deliver(p, frame(GW, 2 << 8, 46)); // a learned MAC still works
            assertEquals(5, gateway.dsts.size());
        }

        @Test
        void theTableAsAWholeIsBounded() {
            SwitchPort p1 = s.attach("one", new Sink());
            SwitchPort p2 = s.attach("two", new Sink());
            for (long m = 2; m < 6; m++) {
                s.deliver(p1, frame(GW, m << 8, 46));
            }
            for (long m = 10; m < 14; m++) {
                s.deliver(p2, frame(GW, m << 8, 46));
            }
            assertEquals(6, s.camSize());
            assertEquals(2, c.get("switch.camFull"));
            assertEquals(6, s.cam().size());
        }

        @Test
        void silentMacsAgeOutOnTheClockWithoutLeavingTheirPort() {
            SwitchPort p = s.attach("a", new Sink());
            s.deliver(p, frame(GW, A, 46));
            s.deliver(p, frame(GW, B, 46));
            assertEquals(now + 300 * SECOND, s.nextDeadline());
            now += 200 * SECOND;
            s.deliver(p, frame(GW, B, 46)); // B keeps talking
            now += 100 * SECOND;
            s.expire(now);
            assertNull(s.portOf(A));
            assertEquals(p, s.portOf(B));
            assertEquals(1, c.get("switch.macAged"));
            assertEquals(List.of("up " + A + " 0", "up " + B + " 0"), log, "ageing is not leaving");
            assertEquals(now + 200 * SECOND, s.nextDeadline());
            now += 200 * SECOND;
            s.expire(now);
            assertEquals(0, s.camSize());
            assertEquals(Long.MAX_VALUE, s.nextDeadline());
            assertEquals(0, p.macCount());
        }

        @Test
        void ageingFreesRoomOnAFullPort() {
            SwitchPort p = s.attach("a", new Sink());
            for (long m = 2; m < 6; m++) {
                s.deliver(p, frame(GW, m << 8, 46));
            }
            s.deliver(p, frame(GW, 9 << 8, 46));
            assertEquals(1, c.get("switch.portMacLimit"));
            now += 300 * SECOND;
            s.deliver(p, frame(GW, 9 << 8, 46)); // ageing runs with the frame itself
            assertEquals(p, s.portOf(9 << 8));
            assertEquals(1, s.camSize());
        }

        @Test
        void aMacMovesOnlyAfterItWasSilentForTheAgeingTime() {
            SwitchPort victim = s.attach("victim", new Sink());
            SwitchPort thief = s.attach("thief", new Sink());
            s.deliver(victim, frame(GW, A, 46));
            now += 299 * SECOND;
            s.deliver(thief, frame(GW, A, 46));
            assertEquals(victim, s.portOf(A));
            assertEquals(1, c.get("switch.macMoveDenied"));
            now += SECOND;
            s.deliver(thief, frame(GW, A, 46));
            assertEquals(thief, s.portOf(A));
            assertEquals(List.of("up " + A + " 0", "down " + A + " 0", "up " + A + " 1"), log);
        }

        @Test
        void aDormantMacStillReceivesAndWakesWithoutAnEvent() {
            Sink vm = new Sink();
            SwitchPort p = s.attach("idle", vm);
            s.deliver(p, frame(GW, A, 46));
            now += 300 * SECOND;
            s.expire(now);
            assertNull(s.portOf(A));
            s.transmitFromGateway(frame(A, GW, 46)); // a host connect through a port forward to an idle VM
            assertEquals(List.of(A), vm.dsts);
            assertEquals(0, c.get("switch.unknownDestination"));
            s.deliver(p, frame(GW, A, 46));
            assertEquals(p, s.portOf(A));
            assertEquals(List.of("up " + A + " 0"), log);
        }

        @Test
        void detachTellsTheListenersAboutDormantMacsToo() {
            SwitchPort p = s.attach("idle", new Sink());
            s.deliver(p, frame(GW, A, 46));
            now += 300 * SECOND;
            s.expire(now);
            s.detach(p);
            assertEquals(List.of("up " + A + " 0", "down " + A + " 0"), log);
            s.transmitFromGateway(frame(A, GW, 46));
            assertEquals(1, c.get("switch.unknownDestination"));
        }

        @Test
        void aPortKeepsAtMostItsLimitOfDormantMacs() {
            SwitchPort p = s.attach("cycler", new Sink());
            for (long m = 2; m < 8; m++) { // six MACs one after the other, each silent for the ageing time
                s.deliver(p, frame(GW, m << 8, 46));
                now += 300 * SECOND;
                s.expire(now);
            }
            assertEquals(List.of("down " + (2L << 8) + " 0", "down " + (3L << 8) + " 0"),
                    log.stream().filter(l -> l.startsWith("down")).toList(), "the oldest dormant MACs leave");
        }

        @Test
        void theGatewaysMacAsASourceIsDropped() {
            SwitchPort p = s.attach("a", new Sink());
            Sink other = new Sink();
            s.attach("b", other);
            s.deliver(p, frame(MacAddress.BROADCAST, GW, 46));
            assertEquals(1, c.get("switch.gatewayMacSpoof"));
            assertTrue(other.dsts.isEmpty());
            assertTrue(gateway.dsts.isEmpty());
            assertNull(s.portOf(GW));
        }

        @Test
        void detachForgetsEveryMacOfThePortAndFreesTheTable() {
            SwitchPort p = s.attach("a", new Sink());
            for (long m = 2; m < 6; m++) {
                s.deliver(p, frame(GW, m << 8, 46));
            }
            assertTrue(p.toString().contains("port 0 (a) 00:00:00:00:02:00"), p::toString);
            s.detach(p);
            assertEquals(0, s.camSize());
            assertEquals(Long.MAX_VALUE, s.nextDeadline());
            assertEquals(4, log.stream().filter(l -> l.startsWith("down")).count());
        }

        @Test
        void aPortWithManyMacsLogsACountNotAList() {
            VirtualSwitch big = new VirtualSwitch(GW, c, () -> now, () -> now,
                    dev.gvproxy.stack.PortSecurity.defaults().withMacsPerPort(100));
            big.setGateway(gateway);
            SwitchPort p = big.attach("many", new Sink());
            for (long m = 2; m < 102; m++) {
                big.deliver(p, frame(GW, m << 8, 46));
            }
            String s = p.toString();
            assertTrue(s.endsWith(" and 96 more MACs"), s);
            assertTrue(s.length() < 120, s);
        }

        @Test
        void camCanBeReadFromAnotherThreadWhileTheLoopLearns() throws Exception {
            SwitchPort p = s.attach("a", new Sink());
            s.deliver(p, frame(GW, A, 46));
            java.util.concurrent.atomic.AtomicReference<java.util.Map<String, Integer>> seen =
                    new java.util.concurrent.atomic.AtomicReference<>();
            Thread t = Thread.ofPlatform().start(() -> seen.set(s.cam()));
            t.join();
            assertEquals(java.util.Map.of("5a:94:ef:e4:0c:ee", 0), seen.get());
        }
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
