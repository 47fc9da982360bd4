package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.FileDescriptor;
import io.netty.util.concurrent.Future;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@code -listen-bess unixpacket:///path}: a listening {@code AF_UNIX}/{@code SOCK_SEQPACKET} socket (User-Mode
 * Linux's {@code vec0:transport=bess}) registered with the network's epoll loop as an {@link EpollIoHandle}; every
 * accepted connection becomes a {@link BessPort} on the same loop. gvproxy accepts once and exits when that VM
 * goes; this keeps accepting, so a VM can reconnect and several can attach.
 */
final class BessListener implements Listener, EpollIoHandle {
    private static final Logger LOG = Logger.getLogger(BessListener.class.getName());
    private static final int BACKLOG = 128;

    private final NetworkContext ctx;
    private final IoEventLoop loop;
    private final Path path;
    private final FileDescriptor fd;
    private final ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;
    private final Set<BessPort> ports = new LinkedHashSet<>();
    private final CompletableFuture<Void> closeFuture = new CompletableFuture<>();
    private final Counters.Counter acceptError;
    private IoRegistration registration;
    private boolean closed;
    private long accepted;

    private BessListener(NetworkContext ctx, IoEventLoop loop, Path path, int fd) {
        this.ctx = ctx;
        this.loop = loop;
        this.path = path;
        this.fd = new FileDescriptor(fd);
        this.acceptError = ctx.counters().counter("transport.acceptError");
    }

    /** Binds, listens and registers; must not be called on the loop (it waits for the registration). */
    static BessListener bind(Path path, NetworkContext ctx) throws IOException {
        if (!(ctx.loop() instanceof IoEventLoop loop) || !loop.isCompatible(EpollIoHandle.class)) {
            throw new IOException("-listen-bess (SOCK_SEQPACKET) needs Linux and the epoll transport; this network's loop is "
                    + ctx.loop().getClass().getSimpleName() + " (-Dgvproxy.transport=nio or not Linux)");
        }
        int fd = SeqPacket.socket();
        BessListener l = new BessListener(ctx, loop, path, fd);
        try {
            SeqPacket.bindListen(fd, path.toString(), BACKLOG);
        } catch (IOException e) {
            l.closeFd();
            throw new IOException("listen unixpacket " + path + ": " + e.getMessage(), e);
        }
        try {
            Future<IoRegistration> f = loop.register(l).await();
            if (!f.isSuccess()) {
                throw new IOException("listen unixpacket " + path + ": epoll registration failed", f.cause());
            }
            IoRegistration reg = f.getNow();
            loop.submit(() -> {
                l.registration = reg;
                reg.submit(EpollIoOps.EPOLLIN);
            }).get(30, TimeUnit.SECONDS);
        } catch (IOException e) {
            l.close();
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            l.close();
            throw new IOException("interrupted", e);
        } catch (ExecutionException | TimeoutException e) {
            l.close();
            throw new IOException("listen unixpacket " + path + ": " + e, e);
        }
        LOG.log(Level.INFO, "bess: listening on {0}", path);
        return l;
    }

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    @Override
    public void handle(IoRegistration reg, IoEvent event) {
        while (!closed) {
            int c = SeqPacket.accept(fd.intValue());
            if (c == -SeqPacket.EAGAIN) {
                return;
            }
            if (c == -SeqPacket.EINTR) {
                continue;
            }
            if (c < 0) {
                // EMFILE and friends: the connection stays queued; log, count, keep listening.
                acceptError.inc();
                LOG.log(Level.WARNING, "bess {0}: accept: {1}", new Object[] {path, SeqPacket.strerror(-c)});
                return;
            }
            attach(c);
        }
    }

    private void attach(int c) {
        accepted++;
        BessPort p = new BessPort(c, ctx.sw(), ctx.counters(), "bess:" + path + "#" + accepted, alloc, ports::remove);
        ports.add(p);
        Future<IoRegistration> f = loop.register(p);
        if (f.isDone()) {
            registered(p, f);
        } else {
            f.addListener(x -> registered(p, f));
        }
    }

    private void registered(BessPort p, Future<IoRegistration> f) {
        if (!f.isSuccess()) {
            acceptError.inc();
            LOG.log(Level.WARNING, "bess {0}: epoll registration failed: {1}", new Object[] {path, f.cause()});
            p.close("registration failed");
            return;
        }
        p.registered(f.getNow());
    }

    /** The connections currently attached (on the loop only). */
    Set<BessPort> ports() {
        return ports;
    }

    @Override
    public SocketAddress localAddress() {
        return new DomainSocketAddress(path.toString());
    }

    @Override
    public CompletableFuture<Void> closeFuture() {
        return closeFuture;
    }

    /** Also called by the loop when it shuts down with the socket still registered. */
    @Override
    public void close() {
        if (loop.inEventLoop()) {
            closeOnLoop();
        } else if (!loop.isShutdown()) {
            loop.execute(this::closeOnLoop);
            closeFuture.join();
        } else {
            closeOnLoop();
        }
    }

    private void closeOnLoop() {
        if (closed) {
            return;
        }
        closed = true;
        if (registration != null) {
            registration.cancel();
        }
        closeFd();
        for (BessPort p : new ArrayList<>(ports)) {
            p.close("listener closed");
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot delete {0}: {1}", new Object[] {path, e.toString()});
        }
        closeFuture.complete(null);
    }

    private void closeFd() {
        try {
            fd.close();
        } catch (IOException ignored) {
            // the descriptor is gone either way
        }
    }
}
