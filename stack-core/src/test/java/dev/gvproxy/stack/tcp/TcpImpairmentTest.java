package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.tcp.TcpHarness.ISS;
import static dev.gvproxy.stack.tcp.TcpHarness.REMOTE_SEQ;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.tcp.TcpHarness.Segment;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * TCP over a bad link: focused regressions for bugs the real-guest impairment tests found, and a seeded
 * netsim (two {@link TcpConnection}s joined by a lossy, reordering, duplicating, delaying link on a manual
 * clock) that must deliver byte-exact.
 */
class TcpImpairmentTest {

    /** Found by the stalled-reader netns test: the held right edge crept up by a scale unit per ACK. */
    @Nested
    class ReceiveWindowEdge {
        final TcpHarness h = new TcpHarness(); // 64 KiB receive buffer, window scale 7 (128-byte units)

        @AfterEach
        void close() {
            h.close();
        }

        @Test
        void roundingNeverLetsTheStackAcceptMoreThanItsBuffer() {
            h.establish();
            h.app.consumeImmediately = false;
            int seq = REMOTE_SEQ + 1;
            int edge = seq + 65535; // what the SYN-ACK offered (unscaled)
            // A sender that always fills the advertised window with odd-sized segments, as Linux does when
            // it probes a closing window; each segment is ACKed at once (the delayed-ACK timer runs).
            for (int i = 0; i < 2000 && seq - edge < 0; i++) {
                int len = Math.min(1000, edge - seq);
                h.send(h.ack(seq, ISS + 1), h.bytes(len, i));
                seq += len;
                h.advanceMs(50);
                for (Segment s : h.drain()) {
                    int offered = s.ack() + (s.tcp().window() << 7);
                    if (offered - edge > 0) {
                        edge = offered;
                    }
                }
            }
            int accepted = h.conn.unconsumedBytes();
            assertTrue(accepted <= 65536, "accepted " + accepted + " bytes into a 65536-byte buffer");
            assertTrue(accepted + h.conn.rcvWnd() <= 65536 + 127, "offered beyond the buffer: " + accepted + " + "
                    + h.conn.rcvWnd());
            assertTrue(accepted > 65536 - 1000, "the buffer filled: " + accepted);
        }
    }
}
