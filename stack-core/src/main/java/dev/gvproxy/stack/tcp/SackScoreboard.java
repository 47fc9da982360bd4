package dev.gvproxy.stack.tcp;

import static dev.gvproxy.stack.wire.SeqNum.gt;
import static dev.gvproxy.stack.wire.SeqNum.le;
import static dev.gvproxy.stack.wire.SeqNum.lt;

import dev.gvproxy.stack.wire.SeqNum;

/**
 * The sender's record of what the peer SACKed above SND.UNA (RFC 6675 section 2's scoreboard, kept as ranges):
 * sorted, disjoint, non-adjacent {@code [left, right)} blocks, at most {@link #CAPACITY}; on overflow the highest
 * blocks are kept. Fixed arrays, no allocation per update.
 */
final class SackScoreboard {
    static final int CAPACITY = 8;

    /** {@code [left0, right0, left1, right1, ...]}, ascending; {@link #count} pairs are valid. */
    final int[] blocks = new int[2 * CAPACITY];
    int count;
    private final int[] merged = new int[2 * (CAPACITY + 1)];

    boolean isEmpty() {
        return count == 0;
    }

    /** Merges {@code [l, r)} into the sorted, disjoint scoreboard. */
    void insert(int l, int r) {
        int[] tmp = merged;
        int n = 0;
        boolean placed = false;
        for (int b = 0; b < count; b++) {
            int bl = blocks[2 * b];
            int br = blocks[2 * b + 1];
            if (lt(br, l)) {
                tmp[2 * n] = bl;
                tmp[2 * n + 1] = br;
                n++;
            } else if (lt(r, bl)) {
                if (!placed) {
                    tmp[2 * n] = l;
                    tmp[2 * n + 1] = r;
                    n++;
                    placed = true;
                }
                tmp[2 * n] = bl;
                tmp[2 * n + 1] = br;
                n++;
            } else {
                l = SeqNum.min(l, bl);
                r = SeqNum.max(r, br);
            }
        }
        if (!placed) {
            tmp[2 * n] = l;
            tmp[2 * n + 1] = r;
            n++;
        }
        int keep = Math.min(n, CAPACITY);
        int from = n - keep; // keep the highest blocks when the scoreboard overflows
        System.arraycopy(tmp, 2 * from, blocks, 0, 2 * keep);
        count = keep;
    }

    /** Forgets what lies below the new SND.UNA. */
    void prune(int sndUna) {
        int n = 0;
        for (int b = 0; b < count; b++) {
            int l = blocks[2 * b];
            int r = blocks[2 * b + 1];
            if (gt(r, sndUna)) {
                blocks[2 * n] = SeqNum.max(l, sndUna);
                blocks[2 * n + 1] = r;
                n++;
            }
        }
        count = n;
    }

    /** Bytes SACKed: RFC 6675's measure of how far delivery has run past the first hole. */
    int bytes() {
        int n = 0;
        for (int b = 0; b < count; b++) {
            n += blocks[2 * b + 1] - blocks[2 * b];
        }
        return n;
    }

    /** The right edge of the highest block (only when not empty). */
    int highest() {
        return blocks[2 * (count - 1) + 1];
    }

    /** Whether a block covers {@code seq}. */
    boolean covers(int seq) {
        for (int b = 0; b < count; b++) {
            if (le(blocks[2 * b], seq) && lt(seq, blocks[2 * b + 1])) {
                return true;
            }
        }
        return false;
    }

    /** {@code seq}, or the right edge of the block covering it: the first byte at or after it not SACKed. */
    int skip(int seq) {
        for (int b = 0; b < count; b++) {
            if (le(blocks[2 * b], seq) && lt(seq, blocks[2 * b + 1])) {
                seq = blocks[2 * b + 1];
            }
        }
        return seq;
    }

    /** The left edge of the first block above {@code seq}, or {@code otherwise} when there is none. */
    int nextAbove(int seq, int otherwise) {
        for (int b = 0; b < count; b++) {
            if (gt(blocks[2 * b], seq)) {
                return blocks[2 * b];
            }
        }
        return otherwise;
    }
}
