package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.GUEST_PORT;
import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import dev.gvproxy.stack.wire.TcpFlags;
import io.netty.buffer.Unpooled;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The network-wide TCP buffer budget ({@link TcpMemory}, like Linux's tcp_mem): windows shrink as it fills,
 * host reads pause (send space 0), every connection keeps a floor, and the total stays within
 * limit + connections x floor.
 */
class TcpMemoryTest {
    static final int LIMIT = 32 * 1024;
    final TcpHarness h = new TcpHarness(TcpConfig.forMtu(1500).withBuffers(65536, 65536).withOptions(true, true, 0));

    @AfterEach
    void tearDown() {
        h.close();
    }

    private TcpConnection open(int guestPort) {
        h.send(TcpHarness.syn().srcPort(guestPort).windowScale(0));
        Segment synAck = h.recv();
        h.send(TcpHarness.fromGuest().srcPort(guestPort).seq(REMOTE_SEQ + 1).ack(ISS + 1).flags(TcpFlags.ACK)
                .timestamps(101, synAck.tcp().tsVal()));
        h.drain();
        return h.conn;
    }

    @Test
    void windowsShrinkAsTheBudgetFillsAndReopenWhenConsumed() {
        h.stack.tcp().setMemoryLimit(LIMIT);
        TcpMemory mem = h.stack.tcp().memory();
        int floor = mem.floor();
        h.app.consumeImmediately = false;

        h.send(TcpHarness.syn().windowScale(0));
        Segment synAck = h.recv();
        assertEquals(LIMIT, synAck.tcp().window(), "the SYN-ACK promises no more than the budget");
        h.send(h.ack(REMOTE_SEQ + 1, ISS + 1).timestamps(101, synAck.tcp().tsVal()));
        TcpConnection a = h.conn;

        // The host stopped reading: the guest fills the whole promised window, nothing is consumed.
        byte[] data = h.bytes(1000, 3);
        int sent = 0;
        while (sent + data.length <= LIMIT) {
            h.send(h.ack(REMOTE_SEQ + 1 + sent, ISS + 1), data);
            sent += data.length;
        }
        List<Segment> acks = h.drain();
        int lastWindow = acks.getLast().tcp().window();
        assertTrue(lastWindow <= LIMIT - sent + 1, "window closes as the budget fills: " + lastWindow);
        assertTrue(mem.used() <= LIMIT + floor, "used " + mem.used());
        assertTrue(h.counters.get("tcp.memoryPressure") > 0);

        // A second connection still gets the floor (no zero window, no starvation), never more.
        TcpConnection b = open(GUEST_PORT + 1);
        assertTrue(b.rcvWnd() <= floor && b.rcvWnd() > 0, "floor window " + b.rcvWnd());
        assertTrue(b.sendSpace() > 0 && b.sendSpace() <= floor, "host reads of b pause at the floor: " + b.sendSpace());
        assertTrue(mem.used() <= LIMIT + 3L * floor, "used " + mem.used());

        // The host resumes: a's bytes are consumed, the budget frees, a's window reopens.
        a.consumed(h.app.unconsumed, h.now);
        h.app.unconsumed = 0;
        h.sw.flush();
        Segment update = h.drain().getLast();
        assertTrue(update.tcp().window() > lastWindow, "window update after consume: " + update.tcp().window());
        assertTrue(mem.used() <= LIMIT + 3L * floor);
    }

    @Test
    void sendBufferIsChargedAndReleasedOnClose() {
        h.stack.tcp().setMemoryLimit(LIMIT);
        TcpMemory mem = h.stack.tcp().memory();
        TcpConnection a = open(GUEST_PORT);
        long base = mem.used();
        a.send(Unpooled.wrappedBuffer(h.bytes(20_000, 1)), h.now);
        h.sw.flush();
        assertEquals(base + 20_000, mem.used(), "host -> guest bytes held until acknowledged");
        assertTrue(a.sendSpace() < LIMIT - 20_000 + 1);
        a.abort(h.now);
        assertEquals(0, mem.used(), "a closed connection holds nothing");
    }

    @Test
    void unlimitedByDefault() {
        TcpConnection a = open(GUEST_PORT);
        assertEquals(65535, a.rcvWnd() > 0 ? Math.min(65535, a.rcvWnd()) : 0);
        assertEquals(0, h.counters.get("tcp.memoryPressure"));
    }
}
