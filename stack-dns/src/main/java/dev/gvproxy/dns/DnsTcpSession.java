package dev.gvproxy.dns;

import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.function.Consumer;

/**
 * One DNS-over-TCP connection's glue between a byte stream and {@link DnsServer#answer}: decodes the
 * 2-byte length framing, answers each query (pipelined queries may be answered out of order, as RFC 7766
 * 6.2.1.1 allows; clients match by ID) and writes each framed response to {@code writer}.
 *
 * <p>Loop only. The front-end should stop reading while {@link #wantsInput()} is false: beyond
 * {@code maxPending} outstanding queries further ones are dropped and counted ({@code dns.tcp.pendingLimit}).
 */
public final class DnsTcpSession {
    private final DnsServer server;
    private final Consumer<ByteBuf> writer;
    private final ByteBufAllocator alloc;
    private final int maxPending;
    private final DnsTcpFraming.Decoder decoder = new DnsTcpFraming.Decoder();
    private final Counters.Counter pendingLimit;
    private int pending;
    private boolean closed;
    private Runnable whenDrained;
    private final dev.gvproxy.stack.wire.Ipv6Address client;

    /**
     * @param writer called on the loop with each framed response, which it <b>takes</b>
     * @param maxPending queries of this connection that may wait for the upstream at once
     */
    public DnsTcpSession(DnsServer server, Counters counters, Consumer<ByteBuf> writer, ByteBufAllocator alloc,
            int maxPending) {
        this(server, counters, writer, alloc, maxPending, (dev.gvproxy.stack.wire.Ipv6Address) null);
    }

    /** @param clientIp the guest's address: its forwarded queries count against its in-flight budget */
    public DnsTcpSession(DnsServer server, Counters counters, Consumer<ByteBuf> writer, ByteBufAllocator alloc,
            int maxPending, int clientIp) {
        this(server, counters, writer, alloc, maxPending,
                clientIp == 0 ? null : dev.gvproxy.stack.wire.Ipv6Address.ofIpv4(clientIp));
    }

    /** @param client the guest's address of either family (IPv4-mapped), or null: see the {@code int} form */
    public DnsTcpSession(DnsServer server, Counters counters, Consumer<ByteBuf> writer, ByteBufAllocator alloc,
            int maxPending, dev.gvproxy.stack.wire.Ipv6Address client) {
        this.client = client;
        this.server = server;
        this.writer = writer;
        this.alloc = alloc;
        this.maxPending = maxPending;
        this.pendingLimit = counters.counter("dns.tcp.pendingLimit");
    }

    /** @param data <b>borrowed</b>: bytes read from the connection, consumed entirely */
    public void received(ByteBuf data) {
        for (byte[] query : decoder.decode(data)) {
            if (closed) {
                return;
            }
            if (pending >= maxPending) {
                pendingLimit.inc();
                continue;
            }
            pending++;
            server.answer(query, true, client).thenAccept(resp -> {
                pending--;
                if (resp != null && !closed) {
                    writer.accept(DnsTcpFraming.encode(alloc, resp));
                }
                if (pending == 0 && whenDrained != null && !closed) {
                    Runnable r = whenDrained;
                    whenDrained = null;
                    r.run();
                }
            });
        }
    }

    /** True while another query can be taken without dropping. */
    public boolean wantsInput() {
        return pending < maxPending;
    }

    public int pending() {
        return pending;
    }

    /**
     * The client finished sending (FIN): runs {@code then} (e.g. shut down the output) once every pending
     * answer has been written, at once if none is pending. Clients may half-close right after their query
     * (RFC 7766 6.2.1), so shutting down before the upstream answered would lose the answer.
     */
    public void finishThen(Runnable then) {
        if (pending == 0) {
            then.run();
        } else {
            whenDrained = then;
        }
    }

    /** The connection is gone: answers still pending are discarded. */
    public void close() {
        closed = true;
    }
}
