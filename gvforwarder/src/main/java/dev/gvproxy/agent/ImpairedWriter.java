package dev.gvproxy.agent;

import dev.gvproxy.stack.link.Impairment;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.DelayQueue;
import java.util.concurrent.Delayed;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Applies an {@link Impairment} (the stack's one impairment model, deciding with its {@link Impairment.Dice}, so
 * the numbers mean what they mean on the gateway's egress) between a pump and its output. Frames not delayed are
 * written inline by the pump thread; delayed ones go through a {@link DelayQueue} served by a sender thread.
 * Writes are serialized, so the output sees one writer at a time. The pump is a blocking thread, not an event
 * loop, hence this applier beside {@link dev.gvproxy.stack.link.LinkImpairment}.
 */
final class ImpairedWriter implements AutoCloseable {
    /** Where frames finally go (the TAP, or the stream with the length header added). */
    interface Output {
        void write(ByteBuffer frame) throws IOException;
    }

    private final Output out;
    private final Impairment.Dice dice;
    private final DelayQueue<Item> queue = new DelayQueue<>();
    private final Thread sender;
    private final Consumer<Throwable> onError;
    private final AtomicLong passed;
    private final AtomicLong dropped;
    private final AtomicLong duplicated;
    private final AtomicLong delayed;
    private long seq;

    /** Counters shared by the writers of all attempts of one agent. */
    record Stats(AtomicLong passed, AtomicLong dropped, AtomicLong duplicated, AtomicLong delayed) {
        Stats() {
            this(new AtomicLong(), new AtomicLong(), new AtomicLong(), new AtomicLong());
        }
    }

    ImpairedWriter(Impairment imp, Output out, String name, Stats stats, Consumer<Throwable> onError) {
        this.passed = stats.passed();
        this.dropped = stats.dropped();
        this.duplicated = stats.duplicated();
        this.delayed = stats.delayed();
        this.out = out;
        this.dice = imp.dice();
        this.onError = onError;
        this.sender = imp.delays() ? Thread.ofPlatform().daemon(true).name("impair-" + name).start(this::sendLoop)
                : null;
    }

    /**
     * Offers one frame (the buffer's remaining bytes; borrowed: copied if it must outlive the call).
     */
    void submit(ByteBuffer frame) throws IOException {
        if (dice.lose()) {
            dropped.incrementAndGet();
            return;
        }
        int copies = dice.duplicate() ? 2 : 1;
        if (copies == 2) {
            duplicated.incrementAndGet();
        }
        for (int i = 0; i < copies; i++) {
            long delayNanos = dice.delayNanos();
            if (delayNanos <= 0) {
                write(frame.duplicate());
            } else {
                ByteBuffer copy = ByteBuffer.allocateDirect(frame.remaining());
                copy.put(frame.duplicate()).flip();
                delayed.incrementAndGet();
                queue.add(new Item(copy, System.nanoTime() + delayNanos, seq++));
            }
        }
    }

    private synchronized void write(ByteBuffer frame) throws IOException {
        out.write(frame);
        passed.incrementAndGet();
    }

    private void sendLoop() {
        try {
            while (true) {
                write(queue.take().frame);
            }
        } catch (InterruptedException e) {
            // closed
        } catch (IOException | RuntimeException e) {
            onError.accept(e);
        }
    }

    @Override
    public void close() {
        if (sender != null) {
            sender.interrupt();
            try {
                sender.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        queue.clear();
    }

    private record Item(ByteBuffer frame, long due, long seq) implements Delayed {
        @Override
        public long getDelay(TimeUnit unit) {
            return unit.convert(due - System.nanoTime(), TimeUnit.NANOSECONDS);
        }

        @Override
        public int compareTo(Delayed o) {
            Item other = (Item) o;
            int c = Long.compare(due - other.due, 0); // nanoTime values: compare by difference
            return c != 0 ? c : Long.compare(seq, other.seq);
        }
    }
}
