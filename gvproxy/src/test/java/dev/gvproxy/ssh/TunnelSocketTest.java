package dev.gvproxy.ssh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.forwarder.TunnelStream;
import dev.gvproxy.model.Tunneler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link TunnelSocket} over a fake stream whose "loop" is a single-thread executor. */
class TunnelSocketTest {
    private final ExecutorService loop = Executors.newSingleThreadExecutor(r -> new Thread(r, "fake-loop"));

    @AfterEach
    void stop() throws Exception {
        loop.shutdown();
        assertTrue(loop.awaitTermination(10, TimeUnit.SECONDS));
    }

    /** Records what the socket does; every method runs on the fake loop. */
    static final class FakeStream implements TunnelStream {
        final ByteArrayOutputStream sent = new ByteArrayOutputStream();
        volatile TunnelStream.Handler handler;
        volatile int space = 1 << 20;
        volatile int consumed;
        volatile boolean shutdown;
        volatile boolean aborted;

        @Override
        public void start(Handler h) {
            handler = h;
        }

        @Override
        public int sendSpace() {
            return space;
        }

        /** @param data <b>taken</b> */
        @Override
        public void send(ByteBuf data) {
            try {
                synchronized (sent) {
                    data.readBytes(sent, data.readableBytes());
                }
            } catch (IOException e) {
                throw new AssertionError(e);
            } finally {
                data.release();
            }
        }

        @Override
        public void shutdownOutput() {
            shutdown = true;
        }

        @Override
        public void consumed(int n) {
            consumed += n;
        }

        @Override
        public void abort() {
            aborted = true;
        }

        String sentText() {
            synchronized (sent) {
                return sent.toString(StandardCharsets.US_ASCII);
            }
        }
    }

    private TunnelSocket connected(FakeStream s) throws Exception {
        int[] dialled = new int[2];
        Tunneler t = (ip, port) -> {
            dialled[0] = ip;
            dialled[1] = port;
            return CompletableFuture.completedFuture(s);
        };
        TunnelSocket sock = new TunnelSocket(loop, t, 0xc0a87f02, 22);
        sock.connect(null, "ignored", 1, 5000);
        assertEquals(0xc0a87f02, dialled[0]);
        assertEquals(22, dialled[1]);
        assertNull(sock.getSocket());
        return sock;
    }

    private void onLoop(Runnable r) throws Exception {
        loop.submit(r).get(10, TimeUnit.SECONDS);
    }

    @Test
    void bytesBothWaysWithWindowAccounting() throws Exception {
        FakeStream s = new FakeStream();
        TunnelSocket sock = connected(s);
        sock.getOutputStream().write("SSH-2.0-JSCH\r\n".getBytes(StandardCharsets.US_ASCII));
        onLoop(() -> { });
        assertEquals("SSH-2.0-JSCH\r\n", s.sentText());

        onLoop(() -> s.handler.onData(Unpooled.copiedBuffer("SSH-2.0-OpenSSH_9\r\n", StandardCharsets.US_ASCII)));
        byte[] buf = new byte[5];
        assertEquals(5, sock.getInputStream().read(buf));
        assertEquals("SSH-2", new String(buf, StandardCharsets.US_ASCII));
        byte[] rest = new byte[100];
        int n = sock.getInputStream().read(rest);
        assertEquals("SSH-2.0-OpenSSH_9\r\n".length() - 5, n);
        onLoop(() -> { });
        assertEquals(19, s.consumed, "the guest's window reopens only for bytes read");

        onLoop(() -> s.handler.onFin());
        assertEquals(-1, sock.getInputStream().read(rest));
    }

    @Test
    void writerWaitsForSendSpace() throws Exception {
        FakeStream s = new FakeStream();
        s.space = 0;
        TunnelSocket sock = connected(s);
        ExecutorService writer = Executors.newSingleThreadExecutor();
        try {
            Future<?> w = writer.submit(() -> {
                sock.getOutputStream().write(new byte[] {1, 2, 3});
                return null;
            });
            assertThrows(TimeoutException.class, () -> w.get(300, TimeUnit.MILLISECONDS), "blocked without space");
            onLoop(() -> {
                s.space = 1000;
                s.handler.onSendSpace();
            });
            w.get(10, TimeUnit.SECONDS);
            onLoop(() -> { });
            assertEquals(3, s.sent.size());
        } finally {
            writer.shutdownNow();
        }
    }

    @Test
    void readTimeoutAndClosedStream() throws Exception {
        FakeStream s = new FakeStream();
        TunnelSocket sock = connected(s);
        sock.readTimeout(100);
        assertThrows(SocketTimeoutException.class, () -> sock.getInputStream().read(new byte[10]));
        sock.readTimeout(0);
        onLoop(() -> s.handler.onClosed());
        assertEquals(-1, sock.getInputStream().read(new byte[10]));
        assertThrows(IOException.class, () -> sock.getOutputStream().write(1), "the guest side is gone");
        sock.close();
        onLoop(() -> { });
        assertFalse(s.aborted, "no reset of a connection that is already gone");
    }

    @Test
    void closeResetsAndUnblocksReaders() throws Exception {
        FakeStream s = new FakeStream();
        TunnelSocket sock = connected(s);
        Future<Integer> r = Executors.newVirtualThreadPerTaskExecutor().submit(() -> sock.getInputStream().read(new byte[4]));
        sock.close();
        assertThrows(java.util.concurrent.ExecutionException.class, () -> r.get(10, TimeUnit.SECONDS));
        onLoop(() -> { });
        assertTrue(s.aborted);
        // late data after close is acknowledged, not queued
        onLoop(() -> s.handler.onData(Unpooled.wrappedBuffer(new byte[7])));
        assertEquals(7, s.consumed);
    }

    @Test
    void failedDialIsThrown() {
        Tunneler refused = (ip, port) -> CompletableFuture.failedFuture(new ConnectException("connection refused"));
        TunnelSocket sock = new TunnelSocket(loop, refused, 1, 22);
        ConnectException e = assertThrows(ConnectException.class, () -> sock.connect(null, "h", 22, 5000));
        assertEquals("connection refused", e.getMessage());
    }

    @Test
    void lateStreamAfterTimeoutIsReset() throws Exception {
        CompletableFuture<TunnelStream> pending = new CompletableFuture<>();
        TunnelSocket sock = new TunnelSocket(loop, (ip, port) -> pending, 1, 22);
        assertThrows(IOException.class, () -> sock.connect(null, "h", 22, 100));
        FakeStream s = new FakeStream();
        pending.complete(s);
        onLoop(() -> { });
        onLoop(() -> { });
        assertTrue(s.aborted);
        assertArrayEquals(new byte[0], s.sent.toByteArray());
    }
}
