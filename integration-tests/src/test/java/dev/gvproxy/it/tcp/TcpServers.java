package dev.gvproxy.it.tcp;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Servers on 127.0.0.1 (only; or {@code ::1} after {@link #on}) that namespace guests reach as 192.168.127.254
 * (or the IPv6 host alias): an HTTP server, a hashing sink (also one that stalls on cue), a seeded source, a UDP
 * echo. One virtual thread per
 * connection; everything is closed by {@link #close}.
 */
public final class TcpServers implements AutoCloseable {
    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    private final ConcurrentLinkedQueue<AutoCloseable> closeables = new ConcurrentLinkedQueue<>();
    /** Where the servers listen: a loopback address, never another. */
    private volatile InetAddress bind = LOOPBACK;
    /** Connections a server finished without an I/O error. */
    final AtomicInteger completed = new AtomicInteger();
    /** Connections that ended with an I/O error. */
    final AtomicInteger failed = new AtomicInteger();

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** Fills {@code buf} with the next bytes of a seeded stream (the same generator the guest scripts use is not needed: digests are compared). */
    static void fill(SplittableRandom rnd, byte[] buf) {
        for (int i = 0; i < buf.length; i += 8) {
            long v = rnd.nextLong();
            for (int k = 0; k < 8 && i + k < buf.length; k++) {
                buf[i + k] = (byte) (v >>> (8 * k));
            }
        }
    }

    /**
     * Per connection: reads until EOF (the client's half-close), hashing what arrived, then writes
     * {@code "<hex sha256> <count>\n"} back and closes.
     */
    public int sink() throws IOException {
        return serve(sock -> {
            String reply = digestUntilEof(sock.getInputStream(), null, 0, null);
            sock.getOutputStream().write(reply.getBytes(StandardCharsets.US_ASCII));
            sock.shutdownOutput();
        });
    }

    /**
     * Like {@link #sink}, but after {@code readFirst} bytes it stops reading until {@code resume} opens;
     * {@code paused} completes when it stops, and {@code readSoFar} follows its progress.
     */
    int stallingSink(long readFirst, CountDownLatch resume, CompletableFuture<Void> paused, AtomicLong readSoFar)
            throws IOException {
        return serve(sock -> {
            sock.setReceiveBufferSize(64 * 1024);
            String reply = digestUntilEof(sock.getInputStream(), readSoFar, readFirst, () -> {
                paused.complete(null);
                try {
                    resume.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted");
                }
            });
            sock.getOutputStream().write(reply.getBytes(StandardCharsets.US_ASCII));
            sock.shutdownOutput();
        });
    }

    interface Pause {
        void run() throws IOException;
    }

    private static String digestUntilEof(InputStream in, AtomicLong progress, long pauseAt, Pause pause)
            throws IOException {
        MessageDigest md = sha256();
        long n = 0;
        byte[] buf = new byte[1 << 16];
        boolean pausedOnce = pause == null;
        while (true) {
            int want = buf.length;
            if (!pausedOnce && pauseAt - n < want) {
                want = (int) (pauseAt - n);
                if (want == 0) {
                    pausedOnce = true;
                    pause.run();
                    continue;
                }
            }
            int r = in.read(buf, 0, want);
            if (r < 0) {
                break;
            }
            md.update(buf, 0, r);
            n += r;
            if (progress != null) {
                progress.set(n);
            }
        }
        return HexFormat.of().formatHex(md.digest()) + " " + n + "\n";
    }

    /** Per connection: sends {@code bytes} of seeded pseudo-random data, then half-closes; the digest is recorded. */
    public int source(long bytes, CompletableFuture<String> digest) throws IOException {
        return serve(sock -> {
            MessageDigest md = sha256();
            SplittableRandom rnd = new SplittableRandom(42);
            byte[] buf = new byte[1 << 16];
            OutputStream out = sock.getOutputStream();
            long left = bytes;
            while (left > 0) {
                fill(rnd, buf);
                int n = (int) Math.min(buf.length, left);
                md.update(buf, 0, n);
                out.write(buf, 0, n);
                left -= n;
            }
            sock.shutdownOutput();
            digest.complete(HexFormat.of().formatHex(md.digest()));
            sock.getInputStream().read(); // wait for the client to close
        });
    }

    /**
     * Holds every connection open without reading or writing until the client closes or resets it;
     * {@code open} follows how many are open right now.
     */
    public int idle(AtomicInteger open) throws IOException {
        return serve(sock -> {
            open.incrementAndGet();
            try {
                sock.getInputStream().transferTo(OutputStream.nullOutputStream());
            } finally {
                open.decrementAndGet();
            }
        });
    }

    /** Servers started from now on listen on {@code loopback} (127.0.0.1 or ::1, the host's loopback only). */
    public TcpServers on(InetAddress loopback) {
        if (!loopback.isLoopbackAddress()) {
            throw new IllegalArgumentException("test servers listen on the host's loopback only: " + loopback);
        }
        bind = loopback;
        return this;
    }

    /** An HTTP server answering every GET with {@code body}. Returns its port. */
    public int http(String body) throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress(bind, 0), 0);
        s.createContext("/", ex -> {
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(b);
            }
        });
        s.start();
        closeables.add(() -> s.stop(0));
        return s.getAddress().getPort();
    }

    /** A UDP echo server. */
    public int udpEcho() throws IOException {
        DatagramSocket s = new DatagramSocket(new InetSocketAddress(bind, 0));
        closeables.add(s::close);
        Thread t = Thread.ofPlatform().daemon().start(() -> {
            byte[] buf = new byte[65536];
            while (!s.isClosed()) {
                try {
                    DatagramPacket p = new DatagramPacket(buf, buf.length);
                    s.receive(p);
                    s.send(new DatagramPacket(p.getData(), p.getLength(), p.getSocketAddress()));
                } catch (IOException e) {
                    return;
                }
            }
        });
        closeables.add(t::interrupt);
        return s.getLocalPort();
    }

    /** A port on 127.0.0.1 where nothing listens (bound then closed). */
    public static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
            return s.getLocalPort();
        }
    }

    interface Session {
        void run(Socket s) throws IOException;
    }

    private int serve(Session session) throws IOException {
        ServerSocket ss = new ServerSocket();
        ss.setReuseAddress(true);
        ss.bind(new InetSocketAddress(bind, 0), 4096);
        closeables.add(ss);
        Thread.ofPlatform().daemon().start(() -> {
            while (!ss.isClosed()) {
                try {
                    Socket sock = ss.accept();
                    closeables.add(sock);
                    Thread.ofVirtual().start(() -> {
                        try (sock) {
                            session.run(sock);
                            completed.incrementAndGet();
                        } catch (IOException e) {
                            failed.incrementAndGet(); // the client went away; the test sees it on its side
                        } finally {
                            closeables.remove(sock);
                        }
                    });
                } catch (IOException e) {
                    return;
                }
            }
        });
        return ss.getLocalPort();
    }

    @Override
    public void close() {
        for (AutoCloseable c; (c = closeables.poll()) != null; ) {
            try {
                c.close();
            } catch (Exception e) {
                // best effort
            }
        }
    }
}
