package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link TcpLayer#listen}: in-stack services are accepted at once, without the SYN handler. */
@org.junit.jupiter.params.ParameterizedClass(name = "{0}")
@org.junit.jupiter.params.provider.EnumSource(TcpHarness.Family.class)
class TcpListenTest {
    TcpHarness h;

    /** Runs for both address families: the behaviour may not depend on it. */
    @org.junit.jupiter.params.Parameter
    TcpHarness.Family family;

    @org.junit.jupiter.api.BeforeEach
    void bench() {
        h = new TcpHarness(family);
    }

    @AfterEach
    void tearDown() {
        h.close();
    }

    @Test
    void synForAServedPortIsAnsweredAtOnceWithTheServicesHandler() {
        h.autoAccept = false;
        int[] made = {0};
        h.stack.tcp().listen(h.dstAddr, TcpHarness.DST_PORT, () -> {
            made[0]++;
            return h.app;
        });
        h.send(TcpHarness.syn());
        Segment synAck = h.recv();
        assertEquals(TcpFlags.SYN | TcpFlags.ACK, synAck.tcp().flags());
        assertEquals(REMOTE_SEQ + 1, synAck.ack());
        assertNull(h.lastSyn, "the SYN handler is not asked");
        assertEquals(1, made[0]);
        assertTrue(h.stack.tcp().pendingSyns().isEmpty());
        h.send(TcpHarness.fromGuest().seq(REMOTE_SEQ + 1).ack(ISS + 1).flags(TcpFlags.ACK)
                .timestamps(101, synAck.tcp().tsVal()));
        assertEquals("established", h.app.events.get(0));
    }

    @Test
    void servingTwiceIsRefusedAndUnlistenHandsSynsBackToTheSynHandler() {
        h.autoAccept = false;
        h.stack.tcp().listen(h.dstAddr, TcpHarness.DST_PORT, () -> h.app);
        assertThrows(IllegalStateException.class,
                () -> h.stack.tcp().listen(h.dstAddr, TcpHarness.DST_PORT, () -> h.app));
        h.stack.tcp().unlisten(h.dstAddr, TcpHarness.DST_PORT);
        h.send(TcpHarness.syn());
        h.expectNothing();
        assertEquals(TcpHarness.DST_PORT, h.lastSyn.dstPort());
    }
}
