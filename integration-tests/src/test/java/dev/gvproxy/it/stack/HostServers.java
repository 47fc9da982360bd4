package dev.gvproxy.it.stack;

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

/** Servers on 127.0.0.1 that guests reach through the host alias 192.168.127.254. Closed by the test. */
final class HostServers implements AutoCloseable {
    private final ConcurrentLinkedQueue<AutoCloseable> closeables = new ConcurrentLinkedQueue<>();

    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** An HTTP server answering every GET with {@code body}. Returns its port. */
    int http(String body) throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress(LOOPBACK, 0), 0);
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

    /**
     * Per connection: reads until EOF (the client's half-close), hashing what arrived, then writes the hex
     * SHA-256 and the byte count back and closes. Proves guest->host integrity and half-close.
     */
    int sink() throws IOException {
        return serve(sock -> {
            MessageDigest md = sha256();
            long n = 0;
            byte[] buf = new byte[1 << 16];
            InputStream in = sock.getInputStream();
            for (int r; (r = in.read(buf)) > 0; ) {
                md.update(buf, 0, r);
                n += r;
            }
            String reply = HexFormat.of().formatHex(md.digest()) + " " + n + "\n";
            sock.getOutputStream().write(reply.getBytes(StandardCharsets.US_ASCII));
            sock.shutdownOutput();
        });
    }

    /** Per connection: sends {@code bytes} of seeded pseudo-random data, then closes; digests recorded. */
    int source(long bytes, CompletableFuture<String> digest) throws IOException {
        return serve(sock -> {
            MessageDigest md = sha256();
            SplittableRandom rnd = new SplittableRandom(42);
            byte[] buf = new byte[1 << 16];
            OutputStream out = sock.getOutputStream();
            long left = bytes;
            while (left > 0) {
                for (int i = 0; i < buf.length; i += 8) {
                    long v = rnd.nextLong();
                    for (int k = 0; k < 8; k++) {
                        buf[i + k] = (byte) (v >>> (8 * k));
                    }
                }
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

    /** A UDP echo server. */
    int udpEcho() throws IOException {
        DatagramSocket s = new DatagramSocket(new InetSocketAddress(LOOPBACK, 0));
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
    static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
            return s.getLocalPort();
        }
    }

    interface Session {
        void run(Socket s) throws IOException;
    }

    private int serve(Session session) throws IOException {
        ServerSocket ss = new ServerSocket(0, 1024, LOOPBACK);
        closeables.add(ss);
        Thread.ofPlatform().daemon().start(() -> {
            while (!ss.isClosed()) {
                try {
                    Socket sock = ss.accept();
                    closeables.add(sock);
                    Thread.ofVirtual().start(() -> {
                        try (sock) {
                            session.run(sock);
                        } catch (IOException e) {
                            // the client went away; the test sees it on its side
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
