package dev.gvproxy.forwarder;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** {@link HostReadBuffer}: reads grow while they come back full, shrink when they bring little, never exceed the limit. */
class HostReadBufferTest {
    final HostReadBuffer reads = new HostReadBuffer();

    /** One read that brought {@code got} of what was asked; returns what the next one asks for. */
    int read(int got) {
        int asked = reads.guess();
        reads.record(asked, Math.min(got, asked));
        return reads.guess();
    }

    @Test
    void aStreamingSenderGrowsTheReadToTheMaximum() {
        assertEquals(HostReadBuffer.INITIAL, reads.guess());
        int guess = 0;
        for (int i = 0; i < 10; i++) {
            guess = read(Integer.MAX_VALUE);
        }
        assertEquals(HostReadBuffer.MAX, guess);
    }

    @Test
    void smallMessagesShrinkItAgain() {
        for (int i = 0; i < 10; i++) {
            read(Integer.MAX_VALUE);
        }
        int guess = 0;
        for (int i = 0; i < 30; i++) {
            guess = read(1);
        }
        assertEquals(HostReadBuffer.MIN, guess, "a request-response connection reads small");
        assertEquals(HostReadBuffer.MIN, read(HostReadBuffer.MIN / 2), "and never below the minimum");
    }

    @Test
    void theSendSpaceCapsEveryReadWithoutShrinkingTheNextOnes() {
        for (int i = 0; i < 10; i++) {
            read(Integer.MAX_VALUE);
        }
        reads.limit(3000);
        assertEquals(3000, reads.guess(), "a read never takes more than the guest connection may queue");
        assertEquals(3000, read(3000));
        reads.limit(1 << 30);
        assertEquals(HostReadBuffer.MAX, reads.guess(), "a full read of a capped size is no reason to shrink");
        reads.limit(0);
        assertEquals(1, reads.guess(), "at least a byte");
    }

    @Test
    void aPartialReadOfAModerateSizeKeepsIt() {
        read(Integer.MAX_VALUE); // 8 KiB
        int guess = reads.guess();
        assertEquals(guess, read(guess / 2), "half a buffer: the size fits");
    }

    @Test
    void theLargestReadFollowsNettysLowMemoryMode() {
        assertEquals(256 << 10, HostReadBuffer.max(true), "one-off buffers: smaller ones fare better");
        assertEquals(1 << 20, HostReadBuffer.max(false), "the adaptive allocator pools up to 1 MiB");
    }
}
