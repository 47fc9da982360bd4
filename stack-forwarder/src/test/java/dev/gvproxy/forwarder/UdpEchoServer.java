package dev.gvproxy.forwarder;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.util.concurrent.LinkedBlockingQueue;

/** A UDP echo server on 127.0.0.1 (ephemeral port) running on its own thread; records each sender. */
final class UdpEchoServer implements AutoCloseable {
    final DatagramChannel ch;
    final LinkedBlockingQueue<InetSocketAddress> senders = new LinkedBlockingQueue<>();
    private final Thread thread;

    UdpEchoServer() throws IOException {
        ch = DatagramChannel.open();
        // Room for a test's burst (capped by net.core.rmem_max): the datagrams arrive faster than this thread runs.
        ch.setOption(java.net.StandardSocketOptions.SO_RCVBUF, 4 << 20);
        ch.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        thread = Thread.ofPlatform().daemon().name("udp-echo").start(this::serve);
    }

    int port() throws IOException {
        return ((InetSocketAddress) ch.getLocalAddress()).getPort();
    }

    private void serve() {
        ByteBuffer buf = ByteBuffer.allocate(65536);
        try {
            while (true) {
                buf.clear();
                SocketAddress from = ch.receive(buf);
                senders.add((InetSocketAddress) from);
                buf.flip();
                ch.send(buf, from);
            }
        } catch (ClosedChannelException e) {
            // closed by the test
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() throws Exception {
        ch.close();
        thread.join(5000);
    }
}
