package dev.gvproxy.testing;

import static org.junit.jupiter.api.Assertions.assertFalse;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

/** The leak detector really sees a leak (so a green suite means something). */
class LeakTrackingTest {
    @Test
    void detectsALeakedBuffer() {
        leak();
        assertFalse(LeakTracking.collect().isEmpty(), "a dropped, unreleased buffer must be reported");
    }

    private static void leak() {
        ByteBuf b = Unpooled.directBuffer(16);
        b.writeInt(42);
    }
}
