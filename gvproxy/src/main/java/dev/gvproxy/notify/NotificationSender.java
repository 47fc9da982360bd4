package dev.gvproxy.notify;

import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.MacAddress;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Pushes notifications to a unix stream socket owned by the consumer (spec 1.11): for each message a new
 * connection, one JSON object and {@code \n}, close. Messages wait in a 100-entry queue; when it is full the
 * message is dropped with a warning, and a failed connection loses its message (no retry), as in gvproxy.
 *
 * <p>{@link #send} never blocks (it is called from the network's event loop, e.g. by the switch's
 * {@link VirtualSwitch.MacListener}); one daemon thread does the socket work.
 */
public final class NotificationSender implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(NotificationSender.class.getName());
    public static final int QUEUE_SIZE = 100;
    private static final Notification STOP = new Notification("", "");

    private final Path socket;
    private final BlockingQueue<Notification> queue = new ArrayBlockingQueue<>(QUEUE_SIZE);
    private final Thread worker;
    private volatile boolean closed;

    /** @param socket the consumer's listening socket, or null for a sender that drops everything */
    public NotificationSender(Path socket) {
        this.socket = socket;
        if (socket == null) {
            worker = null;
            return;
        }
        worker = Thread.ofPlatform().daemon().name("gvproxy-notify").unstarted(this::run);
        worker.start();
    }

    /** A sender that does nothing (no {@code -notification}). */
    public static NotificationSender none() {
        return new NotificationSender(null);
    }

    public boolean enabled() {
        return socket != null;
    }

    /** Queues a message; drops it with a warning when 100 are already waiting. */
    public void send(Notification n) {
        if (socket == null || closed) {
            return;
        }
        if (!queue.offer(n)) {
            LOG.warning("notification queue is full, dropping " + n.type() + " notification");
        }
    }

    public void send(String type) {
        send(Notification.of(type));
    }

    /** Turns the switch's MAC events into {@code connection_established}/{@code connection_closed}. */
    public VirtualSwitch.MacListener macListener() {
        return new VirtualSwitch.MacListener() {
            @Override
            public void established(long mac, SwitchPort port) {
                send(new Notification(Notification.CONNECTION_ESTABLISHED, MacAddress.format(mac)));
            }

            @Override
            public void closed(long mac, SwitchPort port) {
                send(new Notification(Notification.CONNECTION_CLOSED, MacAddress.format(mac)));
            }
        };
    }

    private void run() {
        while (true) {
            Notification n;
            try {
                n = queue.take();
            } catch (InterruptedException e) {
                return;
            }
            if (n == STOP) {
                return;
            }
            deliver(n);
        }
    }

    private void deliver(Notification n) {
        byte[] line = (n.toJson() + "\n").getBytes(StandardCharsets.UTF_8);
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ByteBuffer b = ByteBuffer.wrap(line);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot send {0} notification to {1}: {2}",
                    new Object[] {n.type(), socket, e.getMessage()});
        }
    }

    /**
     * Sends what is queued (waiting at most {@code timeoutMillis}), then stops the worker. Used at exit so a final
     * {@code hypervisor_error} still reaches the consumer.
     */
    public void drainAndClose(long timeoutMillis) {
        if (worker == null || closed) {
            closed = true;
            return;
        }
        closed = true;
        try {
            if (!queue.offer(STOP, timeoutMillis, TimeUnit.MILLISECONDS)) {
                worker.interrupt();
            }
            worker.join(timeoutMillis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        worker.interrupt();
    }

    @Override
    public void close() {
        drainAndClose(1000);
    }
}
