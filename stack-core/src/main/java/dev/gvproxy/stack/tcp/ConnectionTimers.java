package dev.gvproxy.stack.tcp;

import java.util.Arrays;

/**
 * The connections that have a deadline, earliest first: a binary min-heap on {@link TcpConnection#scheduledDeadline}
 * whose entries know their place ({@link TcpConnection#timerIndex}), so a connection leaves it the moment it closes,
 * and queueing one allocates nothing.
 *
 * <p>Why not a {@code PriorityQueue} of (deadline, connection) records, as before: it cannot remove an entry
 * cheaply, so a closed connection stayed reachable until its last queued deadline passed. A connection's first
 * deadline is the SYN-ACK's retransmission timer, one second, so at a few thousand connects a second the heap held
 * several thousand dead connections with their host channels, which outlived young collections, filled the old
 * generation and grew the heap to its maximum (360 MB RSS after a connect loop, 14 MB of it live).
 *
 * <p>The layer keeps its lazy rule: a connection is queued at its earliest deadline, and a deadline that moves later
 * (a retransmission timer restarted by each ACK) leaves the entry where it is; when it comes due the connection
 * finds nothing to do and is queued again. Event loop only.
 */
final class ConnectionTimers {
    private TcpConnection[] heap = new TcpConnection[16];
    private int size;

    /** The connection with the earliest deadline, or null. */
    TcpConnection first() {
        return size == 0 ? null : heap[0];
    }

    /** The earliest queued deadline, or {@code Long.MAX_VALUE}. */
    long earliest() {
        return size == 0 ? Long.MAX_VALUE : heap[0].scheduledDeadline;
    }

    int size() {
        return size;
    }

    /** Queues {@code c} at {@code deadline}, or moves it there if it is queued. */
    void set(TcpConnection c, long deadline) {
        long old = c.scheduledDeadline;
        c.scheduledDeadline = deadline;
        int i = c.timerIndex;
        if (i < 0) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            i = size++;
            heap[i] = c;
            c.timerIndex = i;
            siftUp(i);
        } else if (deadline < old) {
            siftUp(i);
        } else {
            siftDown(i);
        }
    }

    /** Takes {@code c} out, if queued; its deadline becomes {@link TcpConnection#NEVER}. */
    void remove(TcpConnection c) {
        int i = c.timerIndex;
        if (i < 0) {
            return;
        }
        c.timerIndex = -1;
        c.scheduledDeadline = TcpConnection.NEVER;
        int last = --size;
        TcpConnection moved = heap[last];
        heap[last] = null;
        if (i != last) {
            heap[i] = moved;
            moved.timerIndex = i;
            siftDown(i);
            siftUp(moved.timerIndex);
        }
    }

    /** Empties the heap (the layer's shutdown). */
    void clear() {
        for (int i = 0; i < size; i++) {
            heap[i].timerIndex = -1;
            heap[i].scheduledDeadline = TcpConnection.NEVER;
            heap[i] = null;
        }
        size = 0;
    }

    private void siftUp(int i) {
        TcpConnection c = heap[i];
        long d = c.scheduledDeadline;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            TcpConnection p = heap[parent];
            if (p.scheduledDeadline <= d) {
                break;
            }
            heap[i] = p;
            p.timerIndex = i;
            i = parent;
        }
        heap[i] = c;
        c.timerIndex = i;
    }

    private void siftDown(int i) {
        TcpConnection c = heap[i];
        long d = c.scheduledDeadline;
        int half = size >>> 1;
        while (i < half) {
            int child = 2 * i + 1;
            TcpConnection ch = heap[child];
            int right = child + 1;
            if (right < size && heap[right].scheduledDeadline < ch.scheduledDeadline) {
                child = right;
                ch = heap[child];
            }
            if (d <= ch.scheduledDeadline) {
                break;
            }
            heap[i] = ch;
            ch.timerIndex = i;
            i = child;
        }
        heap[i] = c;
        c.timerIndex = i;
    }
}
