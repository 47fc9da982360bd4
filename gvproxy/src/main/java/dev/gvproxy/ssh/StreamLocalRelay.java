package dev.gvproxy.ssh;

import com.jcraft.jsch.ChannelDirectStreamLocal;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Relays one host unix-socket client and one {@code direct-streamlocal} channel, both ways, with half-close as
 * gvproxy does: the host's EOF becomes an SSH channel EOF, the guest's EOF a {@code shutdownOutput} of the host
 * socket; both ends are closed once both directions finished (or either fails).
 *
 * <p>Host to guest runs on the relay's own (virtual) thread; guest to host runs on JSch's reader thread, which
 * writes into the host socket (a blocking write: a host client that stops reading stalls the shared connection,
 * the price of JSch's threading model).
 */
final class StreamLocalRelay implements Runnable {
    private static final Logger LOG = Logger.getLogger(StreamLocalRelay.class.getName());
    private static final int BUFFER = 32 * 1024;

    private final SocketChannel client;
    private final SshClient ssh;
    private final Runnable onDone;
    private ChannelDirectStreamLocal channel;
    private boolean hostDone; // guarded by this
    private boolean guestDone; // guarded by this
    private boolean finished; // guarded by this

    /** @param onDone told once, when both ends are closed */
    StreamLocalRelay(SocketChannel client, SshClient ssh, Runnable onDone) {
        this.client = client;
        this.ssh = ssh;
        this.onDone = onDone;
    }

    @Override
    public void run() {
        try {
            channel = ssh.openStreamLocal(new ToHost());
        } catch (IOException e) {
            LOG.log(Level.WARNING, "ssh forward to {0}: {1}", new Object[] {ssh.target().describe(), e.getMessage()});
            finish();
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            finish();
            return;
        }
        try {
            OutputStream toGuest = channel.getOutputStream();
            ByteBuffer buf = ByteBuffer.allocate(BUFFER);
            while (true) {
                buf.clear();
                int n = client.read(buf);
                if (n < 0) {
                    break;
                }
                toGuest.write(buf.array(), 0, n);
                toGuest.flush();
                if (channel.isClosed()) {
                    throw new IOException("channel closed by the guest");
                }
            }
            toGuest.close(); // SSH_MSG_CHANNEL_EOF: the guest's socket sees end of input
            synchronized (this) {
                hostDone = true;
            }
            finishIfBothDone();
        } catch (IOException e) {
            LOG.log(Level.FINE, "ssh forward host side ended", e);
            finish();
        }
    }

    private void finishIfBothDone() {
        boolean both;
        synchronized (this) {
            both = hostDone && guestDone;
        }
        if (both) {
            finish();
        }
    }

    /** Closes both ends, once. */
    void finish() {
        synchronized (this) {
            if (finished) {
                return;
            }
            finished = true;
        }
        if (channel != null) {
            channel.disconnect();
        }
        try {
            client.close();
        } catch (IOException e) {
            LOG.log(Level.FINE, "closing ssh forward client", e);
        }
        onDone.run();
    }

    /** Guest bytes, written by JSch's reader thread; {@code close()} is the guest's EOF or the channel's end. */
    private final class ToHost extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            ByteBuffer bb = ByteBuffer.wrap(b, off, len);
            while (bb.hasRemaining()) {
                client.write(bb);
            }
        }

        @Override
        public void close() {
            try {
                if (client.isOpen()) {
                    client.shutdownOutput();
                }
            } catch (IOException e) {
                LOG.log(Level.FINE, "half-closing ssh forward client", e);
            }
            synchronized (StreamLocalRelay.this) {
                guestDone = true;
            }
            finishIfBothDone();
        }
    }
}
