package dev.gvproxy.ssh;

import com.jcraft.jsch.Proxy;
import com.jcraft.jsch.SocketFactory;
import dev.gvproxy.forwarder.TunnelStream;
import dev.gvproxy.model.Tunneler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * JSch's transport over a {@link TunnelStream}: the SSH client's TCP connection is an active open from the gateway
 * into the virtual network (as gvproxy dials sshd), not a host socket. JSch reads and writes blocking streams on its
 * own threads; the stream lives on the network's event loop, so this class is the hand-over between the two.
 *
 * <p>Guest to client: {@link TunnelStream.Handler#onData} copies the bytes into a queue (on the loop) and releases
 * the buffer; the reader takes them and only then reports them {@link TunnelStream#consumed}, so the guest's TCP
 * window is what bounds the queue. Client to guest: {@link OutputStream#write} waits while the stream has no send
 * space (last value seen on the loop, refreshed by {@link TunnelStream.Handler#onSendSpace}), then hands a copy to
 * the loop; at most one chunk per writer goes past the advertised space.
 *
 * <p>{@link #close()} resets the connection: it is only called when the SSH session is torn down.
 */
final class TunnelSocket implements Proxy, TunnelStream.Handler {
    private static final int CHUNK = 16 * 1024;

    private final Executor loop;
    private final Tunneler tunneler;
    private final int ip;
    private final int port;
    private final Object lock = new Object();
    // Guarded by lock.
    private final ArrayDeque<byte[]> incoming = new ArrayDeque<>();
    private int headOffset;
    private boolean eof;
    private boolean gone;
    private boolean closed;
    private int space;
    private int readTimeoutMillis;
    // Loop only.
    private TunnelStream stream;
    private boolean streamGone;

    private final InputStream in = new In();
    private final OutputStream out = new Out();

    /**
     * @param loop the network's event loop (every {@link TunnelStream} call goes through it)
     * @param ip the guest IPv4 address as an int
     */
    TunnelSocket(Executor loop, Tunneler tunneler, int ip, int port) {
        this.loop = loop;
        this.tunneler = tunneler;
        this.ip = ip;
        this.port = port;
    }

    /** Dials through the tunneler; {@code host}/{@code port} from JSch are ignored (the target is fixed). */
    @Override
    public void connect(SocketFactory ignored, String host, int ignoredPort, int timeout) throws Exception {
        CompletableFuture<Void> up = new CompletableFuture<>();
        loop.execute(() -> tunneler.connect(ip, port).whenComplete((s, err) -> loop.execute(() -> {
            if (err != null || s == null) {
                up.completeExceptionally(err != null ? err : new IOException("no stream"));
                return;
            }
            synchronized (lock) {
                if (closed) {
                    s.abort();
                    up.completeExceptionally(new IOException("closed while connecting"));
                    return;
                }
                space = s.sendSpace();
            }
            stream = s;
            s.start(this);
            up.complete(null);
        })));
        try {
            // gvproxy's SSH connect timeout (5 s) is shorter than the stack's dial timeout (10 s); a stream that
            // arrives after we gave up is reset (closed is set).
            up.get(timeout > 0 ? timeout : 30_000L, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            close();
            Throwable c = e.getCause();
            throw c instanceof Exception ex ? ex : new IOException(c);
        } catch (TimeoutException | InterruptedException e) {
            close();
            throw new IOException("connect to port " + port + " timed out", e);
        }
    }

    /** Bounds each blocking read (0 = forever); JSch has no socket here to set {@code SO_TIMEOUT} on. */
    void readTimeout(int millis) {
        synchronized (lock) {
            readTimeoutMillis = millis;
        }
    }

    @Override
    public InputStream getInputStream() {
        return in;
    }

    @Override
    public OutputStream getOutputStream() {
        return out;
    }

    /** No host socket: JSch checks for null before using it. */
    @Override
    public Socket getSocket() {
        return null;
    }

    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            incoming.clear();
            lock.notifyAll();
        }
        loop.execute(() -> {
            if (stream != null && !streamGone) {
                streamGone = true;
                stream.abort();
            }
        });
    }

    // --- guest side, on the loop ------------------------------------------------------------------------

    /** @param data <b>taken</b>: copied and released here */
    @Override
    public void onData(ByteBuf data) {
        byte[] bytes = new byte[data.readableBytes()];
        data.readBytes(bytes);
        data.release();
        boolean drop;
        synchronized (lock) {
            drop = closed;
            if (!drop && bytes.length > 0) {
                incoming.add(bytes);
                lock.notifyAll();
            }
        }
        if (drop) {
            stream.consumed(bytes.length); // nobody will read it: keep the window open until the reset lands
        }
    }

    @Override
    public void onFin() {
        synchronized (lock) {
            eof = true;
            lock.notifyAll();
        }
    }

    @Override
    public void onSendSpace() {
        int s = stream.sendSpace();
        synchronized (lock) {
            space = s;
            lock.notifyAll();
        }
    }

    @Override
    public void onClosed() {
        streamGone = true;
        synchronized (lock) {
            eof = true;
            gone = true;
            lock.notifyAll();
        }
    }

    private void consumed(int n) {
        loop.execute(() -> {
            if (!streamGone) {
                stream.consumed(n);
            }
        });
    }

    private void send(byte[] copy) {
        loop.execute(() -> {
            if (streamGone) {
                return;
            }
            stream.send(Unpooled.wrappedBuffer(copy));
            int s = stream.sendSpace();
            synchronized (lock) {
                space = s;
            }
        });
    }

    // --- client side, on JSch's threads -----------------------------------------------------------------

    private final class In extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            int n;
            synchronized (lock) {
                long deadline = readTimeoutMillis > 0 ? System.nanoTime() + readTimeoutMillis * 1_000_000L : 0;
                while (incoming.isEmpty() && !eof && !closed) {
                    long waitMs = 0;
                    if (deadline != 0) {
                        long remaining = deadline - System.nanoTime();
                        if (remaining <= 0) {
                            throw new SocketTimeoutException("read timed out");
                        }
                        waitMs = Math.max(1, remaining / 1_000_000L);
                    }
                    try {
                        lock.wait(waitMs);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException();
                    }
                }
                if (closed) {
                    throw new IOException("socket closed");
                }
                if (incoming.isEmpty()) {
                    return -1;
                }
                byte[] head = incoming.peek();
                n = Math.min(len, head.length - headOffset);
                System.arraycopy(head, headOffset, b, off, n);
                headOffset += n;
                if (headOffset == head.length) {
                    incoming.poll();
                    headOffset = 0;
                }
            }
            consumed(n);
            return n;
        }

        @Override
        public int available() {
            synchronized (lock) {
                return incoming.isEmpty() ? 0 : incoming.peek().length - headOffset;
            }
        }
    }

    private final class Out extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                int n = Math.min(len, CHUNK);
                synchronized (lock) {
                    while (space <= 0 && !gone && !closed) {
                        try {
                            lock.wait();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new InterruptedIOException();
                        }
                    }
                    if (gone || closed) {
                        throw new IOException("connection closed");
                    }
                    space -= n; // estimate until the loop reports the real value
                }
                byte[] copy = new byte[n];
                System.arraycopy(b, off, copy, 0, n);
                send(copy);
                off += n;
                len -= n;
            }
        }
    }
}
