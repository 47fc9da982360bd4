package dev.gvproxy.stack.tcp;

import dev.gvproxy.stack.wire.SeqNum;
import io.netty.buffer.ByteBuf;
import java.util.ArrayList;

/**
 * Out-of-order segments waiting for the gap before them to fill (RFC 9293 3.10.7.4 "queue it for later
 * processing"). Kept as retained slices sorted by sequence number, trimmed so no two overlap, and bounded
 * in count; also the source of the SACK blocks we send (RFC 2018 section 4).
 */
final class Reassembler {
    private static final class Piece {
        int seq;
        ByteBuf data;

        int end() {
            return seq + data.readableBytes();
        }
    }

    private final ArrayList<Piece> pieces = new ArrayList<>();
    private final int maxSegments;
    private int bytes;
    /** Sequence number of the most recently queued segment: its block goes first in SACK (RFC 2018). */
    private int lastSeq;
    private boolean haveLast;
    /** An out-of-order FIN: its sequence number, valid when {@code haveFin}. */
    private int finSeq;
    private boolean haveFin;

    Reassembler(int maxSegments) {
        this.maxSegments = maxSegments;
    }

    boolean isEmpty() {
        return pieces.isEmpty() && !haveFin;
    }

    int bytes() {
        return bytes;
    }

    int segments() {
        return pieces.size();
    }

    /**
     * Queues the bytes of a segment that no held piece covers yet (first arrival wins), and its FIN.
     *
     * @param data <b>borrowed</b>: retained slices are kept
     * @return false when the queue was full and something was not kept
     */
    boolean add(int seq, ByteBuf data, boolean fin) {
        int len = data.readableBytes();
        int end = seq + len;
        if (fin) {
            finSeq = end;
            haveFin = true;
        }
        int start = seq;
        int i = 0;
        int n = pieces.size();
        if (n > 0 && SeqNum.le(pieces.get(n - 1).end(), start)) {
            i = n; // the common case, appending after the last piece: skip the scan (pieces are sorted, disjoint)
        }
        while (i < pieces.size() && SeqNum.le(pieces.get(i).end(), start)) {
            i++;
        }
        boolean complete = true;
        while (SeqNum.lt(start, end)) {
            Piece next = i < pieces.size() ? pieces.get(i) : null;
            int gapEnd = next == null ? end : SeqNum.min(end, next.seq);
            if (SeqNum.lt(start, gapEnd)) {
                if (pieces.size() >= maxSegments) {
                    complete = false;
                    break;
                }
                Piece p = new Piece();
                p.seq = start;
                p.data = data.retainedSlice(data.readerIndex() + (start - seq), gapEnd - start);
                pieces.add(i, p);
                bytes += gapEnd - start;
                i++;
                start = gapEnd;
            }
            if (next == null) {
                break;
            }
            start = SeqNum.max(start, next.end());
            i++;
        }
        if (len > 0) {
            lastSeq = seq;
            haveLast = true;
        }
        return complete;
    }

    /** Flag of {@link #pull}: set when the FIN directly follows the data pulled (or RCV.NXT itself). */
    boolean pulledFin;

    /**
     * Removes and returns data that now starts at {@code rcvNxt} (trimming anything before it), or null when
     * the next piece is still beyond a gap. The caller takes the returned buffer. {@link #pulledFin} tells
     * whether the peer's FIN comes right after it (or, with a null return, right at {@code rcvNxt}).
     */
    ByteBuf pull(int rcvNxt) {
        pulledFin = false;
        while (!pieces.isEmpty()) {
            Piece p = pieces.get(0);
            if (SeqNum.gt(p.seq, rcvNxt)) {
                break;
            }
            pieces.remove(0);
            bytes -= p.data.readableBytes();
            if (SeqNum.le(p.end(), rcvNxt)) {
                p.data.release();
                continue;
            }
            p.data.skipBytes(rcvNxt - p.seq);
            pulledFin = haveFin && finSeq == p.end();
            if (pulledFin) {
                haveFin = false;
            }
            return p.data;
        }
        if (haveFin && finSeq == rcvNxt) {
            pulledFin = true;
            haveFin = false;
        }
        return null;
    }

    /**
     * Writes up to {@code max} SACK blocks into {@code out} ([left, right] pairs), the block holding the most
     * recent segment first, then the others in sequence order; returns how many.
     */
    int sackBlocks(int[] out, int max) {
        int n = 0;
        int first = -1;
        // Merge adjacent pieces into blocks.
        int[] blocks = new int[2 * Math.min(pieces.size(), 64)];
        int count = 0;
        for (Piece p : pieces) {
            if (count > 0 && blocks[2 * count - 1] == p.seq) {
                blocks[2 * count - 1] = p.end();
            } else if (count < blocks.length / 2) {
                blocks[2 * count] = p.seq;
                blocks[2 * count + 1] = p.end();
                count++;
            }
        }
        if (haveLast) {
            for (int b = 0; b < count; b++) {
                if (SeqNum.le(blocks[2 * b], lastSeq) && SeqNum.lt(lastSeq, blocks[2 * b + 1])) {
                    first = b;
                    break;
                }
            }
        }
        if (first >= 0 && n < max) {
            out[0] = blocks[2 * first];
            out[1] = blocks[2 * first + 1];
            n = 1;
        }
        for (int b = 0; b < count && n < max; b++) {
            if (b != first && blocks[2 * b] != blocks[2 * b + 1]) {
                out[2 * n] = blocks[2 * b];
                out[2 * n + 1] = blocks[2 * b + 1];
                n++;
            }
        }
        return n;
    }

    void release() {
        for (Piece p : pieces) {
            p.data.release();
        }
        pieces.clear();
        bytes = 0;
        haveFin = false;
    }
}
