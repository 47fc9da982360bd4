package dev.gvproxy.transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.channel.ServerChannel;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.VSockAddress;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.Socket;
import io.netty.channel.unix.UnixChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.platform.SocketTransport;
import dev.gvproxy.transport.tap.TapDevice;
import dev.gvproxy.transport.vsock.VsockServerChannel;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Entry points that attach VMs to a network's {@link VirtualSwitch}: one static method per kind of
 * gvproxy endpoint. See the package documentation for framings, threading and lifecycle.
 *
 * <p>The {@code listen*} methods bind synchronously and must not be called on an event loop. They throw
 * {@link IOException} with gvproxy's message where it has one ({@code unexpected scheme},
 * {@code "<path>" already exists}). Every listener keeps accepting for its whole life, so a VM can
 * disconnect and reconnect (gvproxy accepts qemu, bess and vfkit once and exits when that one ends).
 */
public final class Transports {
    private static final Logger LOG = Logger.getLogger(Transports.class.getName());

    /** Write buffer marks for VM connections: above the high mark the port reports not writable. */
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(256 * 1024, 1024 * 1024);

    private Transports() {}

    /**
     * {@code -listen-qemu}: QEMU {@code -netdev stream/socket} connections, 4-byte big-endian framing.
     *
     * @param uri {@code unix:///path} (the file must not exist) or {@code tcp://host:port}
     */
    public static Listener listenQemu(String uri, NetworkContext ctx) throws IOException {
        return listenStream(uri, ctx, Framing.QEMU);
    }

    /**
     * A stream listener whose every connection is a switch port with the given framing and no handshake
     * (qemu; or hyperkit framing, e.g. for tests or a vpnkit handshake added in front later).
     */
    public static Listener listenStream(String uri, NetworkContext ctx, Framing framing) throws IOException {
        EndpointUri ep = EndpointUri.parse(uri);
        String kind = framing.name().toLowerCase(java.util.Locale.ROOT);
        // 0600 whatever the umask: the socket carries a VM's whole network (gvproxy leaves it to the umask).
        return bindStream(ep, ctx, kind, true, true, framesChild(ctx, framing, kind, ep.path()));
    }

    /** Child setup for frames with no handshake: decoder, encoder, {@link ChannelPort}. */
    static Consumer<Channel> framesChild(NetworkContext ctx, Framing framing, String kind, String path) {
        return ch -> initFrames(ch.pipeline(), ctx, framing, kind + ":" + (path != null ? path : describe(ch)));
    }

    /** Child setup for {@code -listen-vpnkit}: the handshake, which then installs the frame handlers. */
    static Consumer<Channel> vpnkitChild(NetworkContext ctx, int mtu, Function<String, Long> macForUuid) {
        if (mtu < 0 || mtu > 65535) {
            throw new IllegalArgumentException("mtu out of range: " + mtu);
        }
        Function<String, Long> macs = macForUuid != null ? macForUuid : uuid -> null;
        return ch -> ch.pipeline().addLast("vpnkit", new VpnkitHandshake(ctx.sw(), ctx.counters(), mtu, macs));
    }

    /** Child setup for the HTTP API: {@code HttpServerCodec}, then {@code /connect} or the fallback. */
    static Consumer<Channel> httpChild(NetworkContext ctx, Supplier<? extends ChannelHandler> httpFallback,
                                       Framing connectFraming) {
        return ch -> {
            ch.config().setWriteBufferWaterMark(WATER_MARK);
            ch.pipeline().addLast("http", new HttpServerCodec());
            ch.pipeline().addLast("connect", new ConnectHandler(ctx.sw(), ctx.counters(), connectFraming, httpFallback));
        };
    }

    /**
     * {@code -listen-vpnkit}: hyperkit's {@code virtio-vpnkit} handshake, then hyperkit framing. Every
     * connection is a separate VM (accept loop, as in gvproxy).
     *
     * @param mtu the MTU told to the VM, 0..65535
     * @param macForUuid the MAC for a VM UUID (gvproxy's {@code vpnKitUUIDMacAddresses}); returning null (or
     *     passing null) gives a random locally administered MAC
     */
    public static Listener listenVpnkit(String uri, NetworkContext ctx, int mtu, Function<String, Long> macForUuid)
            throws IOException {
        Consumer<Channel> init = vpnkitChild(ctx, mtu, macForUuid);
        EndpointUri ep = EndpointUri.parse(uri);
        return bindStream(ep, ctx, "vpnkit", false, true, init);
    }

    /**
     * {@code -listen}: the full HTTP API with {@code /connect} in the default hyperkit framing.
     *
     * @param httpFallback makes one handler per connection for every request but {@code /connect} (it sits
     *     after an {@code HttpServerCodec}); null answers those with gvproxy's 404
     */
    public static Listener listenApi(String uri, NetworkContext ctx, Supplier<? extends ChannelHandler> httpFallback)
            throws IOException {
        return listenApi(uri, ctx, httpFallback, Framing.HYPERKIT);
    }

    /**
     * {@code -listen} with an explicit {@code /connect} framing. gvproxy uses qemu framing on
     * {@code /connect} when {@code -listen-qemu} is also given (spec 1.5 quirk); pass {@link Framing#QEMU} to
     * reproduce that. Unix sockets are created with mode 0600 (gvproxy leaves them to the umask).
     */
    public static Listener listenApi(String uri, NetworkContext ctx, Supplier<? extends ChannelHandler> httpFallback,
                                     Framing connectFraming) throws IOException {
        java.util.Objects.requireNonNull(connectFraming, "connectFraming");
        return listenHttp(uri, ctx, httpFallback, connectFraming, "api");
    }

    /** {@code -services}: the HTTP API without {@code /connect} (it falls through to {@code httpFallback}/404). */
    public static Listener listenServices(String uri, NetworkContext ctx, Supplier<? extends ChannelHandler> httpFallback)
            throws IOException {
        return listenHttp(uri, ctx, httpFallback, null, "services");
    }

    private static Listener listenHttp(String uri, NetworkContext ctx, Supplier<? extends ChannelHandler> httpFallback,
                                       Framing connectFraming, String kind) throws IOException {
        EndpointUri ep = EndpointUri.parse(uri);
        return bindStream(ep, ctx, kind, false, true, httpChild(ctx, httpFallback, connectFraming));
    }

    /**
     * {@code -listen-vfkit} / QEMU {@code -netdev dgram}: a unix datagram socket, one datagram per frame, each
     * sender address a VM with its own switch port (a leading {@code VFKT} hello is consumed).
     *
     * @param uri {@code unixgram:///path}; the file must not exist
     */
    public static Listener listenDatagram(String uri, NetworkContext ctx) throws IOException {
        return listenDatagram(uri, ctx, DatagramPort.Options.DEFAULTS.maxPeers(),
                java.time.Duration.ofNanos(DatagramPort.Options.DEFAULTS.idleNanos()));
    }

    /**
     * {@link #listenDatagram(String, NetworkContext)} with its peer limits: every sender address is a VM with a
     * port of its own (upstream issue #383).
     *
     * @param maxPeers VMs one socket serves at once (default 64); datagrams from more senders are dropped
     * @param peerIdle a VM that sent nothing for this long loses its port (default 1 h)
     */
    public static Listener listenDatagram(String uri, NetworkContext ctx, int maxPeers, java.time.Duration peerIdle)
            throws IOException {
        DatagramPort.Options options = new DatagramPort.Options(maxPeers, peerIdle.toNanos());
        EndpointUri ep = EndpointUri.parse(uri);
        if (!ep.scheme().equals("unixgram")) {
            throw new IOException("vfkit listen address must be unixgram:// address");
        }
        checkNotOnLoop(ctx);
        Path path = Path.of(ep.path());
        refuseExisting(path);
        Class<? extends Channel> type;
        try {
            type = SocketTransport.get().domainDatagramChannel();
        } catch (UnsupportedOperationException e) {
            throw new IOException("listen unixgram " + path + ": " + e.getMessage(), e);
        }
        Bootstrap b = new Bootstrap()
                .group(ctx.loop())
                .channel(type)
                .option(ChannelOption.SO_SNDBUF, 1 << 20)
                // One datagram per read buffer; sized for the largest frame so none is truncated.
                .option(ChannelOption.RECVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(VirtualSwitch.MAX_FRAME))
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .handler(new DatagramPort(ctx.sw(), ctx.counters(), "vfkit:" + path, options, System::nanoTime));
        ChannelFuture f = b.bind(new DomainSocketAddress(path.toString())).awaitUninterruptibly();
        if (!f.isSuccess()) {
            throw new IOException("listen unixgram " + path + ": " + f.cause().getMessage(), f.cause());
        }
        try {
            // 0600 whatever the umask (a short window after bind; vfkit connects only once we are ready).
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | RuntimeException e) {
            f.channel().close().awaitUninterruptibly();
            throw new IOException("listen unixgram " + path + ": " + e.getMessage(), e);
        }
        // Netty's unix datagram config has no SO_RCVBUF option; set it on the socket (the kernel caps it at
        // net.core.rmem_max, as it does for gvproxy).
        if (f.channel() instanceof UnixChannel uc && uc.fd() instanceof Socket socket) {
            try {
                socket.setReceiveBufferSize(4 << 20);
            } catch (IOException e) {
                LOG.log(Level.WARNING, "{0}: cannot set SO_RCVBUF: {1}", new Object[] {path, e.toString()});
            }
        }
        LOG.log(Level.INFO, "listening for datagram frames on {0}", path);
        return new ChannelListener(f.channel(), null, new DomainSocketAddress(path.toString()), path, ctx.loop());
    }

    /**
     * {@code -listen-bess}: User-Mode Linux's {@code vec0:transport=bess}, an {@code AF_UNIX}/{@code SOCK_SEQPACKET}
     * socket where one message is one frame, no handshake. Every accepted connection is a port (gvproxy accepts
     * one and exits when it ends; this keeps accepting, so the VM can reconnect).
     *
     * @param uri {@code unixpacket:///path}; the file must not exist
     */
    public static Listener listenBess(String uri, NetworkContext ctx) throws IOException {
        EndpointUri ep = EndpointUri.parse(uri);
        if (!ep.scheme().equals("unixpacket")) {
            throw new IOException("bess listen address must be unixpacket:// address");
        }
        checkNotOnLoop(ctx);
        Path path = Path.of(ep.path());
        refuseExisting(path);
        return BessListener.bind(path, ctx);
    }

    /**
     * {@code -listen-stdio}: frames on this process's stdin/stdout with 2-byte little-endian framing. Nothing
     * else may write to stdout afterwards (logs go to stderr). {@link Listener#closeFuture()} completes at EOF.
     */
    public static Listener attachStdio(NetworkContext ctx) {
        return attachStreams(new FileInputStream(FileDescriptor.in).getChannel(),
                new FileOutputStream(FileDescriptor.out).getChannel(), Framing.HYPERKIT, ctx, "stdio");
    }

    /**
     * Frames over any pair of blocking byte channels (pipes, a FIFO, a char device), served by two platform
     * threads that hand frames to the event loop. Closing the listener closes both channels.
     */
    public static Listener attachStreams(ReadableByteChannel in, WritableByteChannel out, Framing framing,
                                         NetworkContext ctx, String name) {
        return new BlockingStreamPort(in, out, framing, ctx, name).start();
    }

    /**
     * Attaches a TAP interface as a port read and written by the network's event loop ({@link TapPort}): no guest
     * agent in between, as pasta serves a namespace. {@code uri} is {@code tap://IFACE}, optionally with
     * {@code ?netns=NAME} (a namespace under {@code /var/run/netns}, as {@code ip netns} makes them) and
     * {@code &offload=true} (a virtio-net header with checksum and TSO offloads: 64 KiB TCP segments each way).
     * An existing interface (say {@code ip tuntap add tap0 mode tap}, configured by the guest) is attached as it
     * is; otherwise a new one is created and goes away when the port closes. The link is brought up; its addresses
     * are the guest's business (DHCP from the gateway, or static). Needs {@code CAP_NET_ADMIN} in the namespace and
     * Linux. Must not be called on the event loop.
     */
    public static Listener attachTap(String uri, NetworkContext ctx) throws IOException {
        TapSpec spec = TapSpec.parse(uri);
        TapDevice tap = TapDevice.open(spec.iface(), spec.netns(), spec.offload());
        try {
            tap.setUp(); // sets IFF_UP over the flags it reads: nothing changes on a link already up
        } catch (IOException | RuntimeException e) {
            tap.close();
            throw e;
        }
        String name = "tap:" + (spec.netns() == null ? "" : spec.netns() + "/") + tap.name();
        return new TapPort(tap, ctx, name).start();
    }

    /**
     * Makes an already connected stream channel a switch port (e.g. a channel on an inherited fd, a vsock
     * child, or an outbound connection). The channel must be registered on {@code ctx.loop()}.
     */
    public static ChannelPort attach(Channel ch, NetworkContext ctx, Framing framing, String name) {
        if (ch.eventLoop() != ctx.loop()) {
            throw new IllegalArgumentException(ch + " is not on the network's event loop");
        }
        ch.config().setWriteBufferWaterMark(WATER_MARK);
        return initFrames(ch.pipeline(), ctx, framing, name);
    }

    private static ChannelPort initFrames(ChannelPipeline p, NetworkContext ctx, Framing framing, String name) {
        ChannelPort port = new ChannelPort(ctx.sw(), ctx.counters(), name);
        p.addLast("frameDecoder", framing.newDecoder(ctx.counters()));
        p.addLast("frameEncoder", framing.newEncoder(ctx.counters()));
        p.addLast("port", port);
        return port;
    }

    private static String describe(Channel child) {
        // unix children have no useful remote address; the listening path identifies them (see framesChild)
        return String.valueOf(child.remoteAddress());
    }

    private static void checkNotOnLoop(NetworkContext ctx) {
        if (ctx.loop().inEventLoop()) {
            throw new IllegalStateException("listen must not be called on the network's event loop (it blocks)");
        }
    }

    private static void refuseExisting(Path path) throws IOException {
        if (Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            throw new FileAlreadyExistsException(EndpointUri.goQuote(path.toString()) + " already exists");
        }
    }

    /**
     * @param refuseExisting gvproxy's {@code "<path>" already exists} check (qemu, vfkit); otherwise an existing
     *     file fails like Go's bind does
     * @param privateSocket create a unix socket with mode 0600 (bound under a random sibling name, chmod-ed,
     *     then renamed into place, so no one can connect before the mode is set)
     */
    private static Listener bindStream(EndpointUri ep, NetworkContext ctx, String kind, boolean refuseExisting,
                                       boolean privateSocket, Consumer<Channel> initChild) throws IOException {
        checkNotOnLoop(ctx);
        ChannelGroup children = new DefaultChannelGroup(kind, ctx.loop());
        ServerBootstrap b = serverBootstrap(ctx, children, initChild);
        switch (ep.scheme()) {
            case "vsock" -> {
                if (ep.isHyperkitVsock()) {
                    // macOS gvproxy deletes whatever is at DIR/00000002.<port> first (hyperkit's convention).
                    Path path = Path.of(ep.path());
                    Files.deleteIfExists(path);
                    return bindUnix(b, path, ctx, children, kind, false, privateSocket);
                }
                requireEpoll("listen vsock://");
                b.channelFactory(VsockServerChannel::new);
                Channel server = bindVsock(b, ep.vsock());
                LOG.log(Level.INFO, "{0}: listening on vsock {1}", new Object[] {kind, server.localAddress()});
                return new ChannelListener(server, children, server.localAddress(), null, ctx.loop());
            }
            case "unix" -> {
                return bindUnix(b, Path.of(ep.path()), ctx, children, kind, refuseExisting, privateSocket);
            }
            case "tcp" -> {
                b.channel(SocketTransport.get().serverSocketChannel())
                        .option(ChannelOption.SO_REUSEADDR, true)
                        .childOption(ChannelOption.TCP_NODELAY, true);
                Channel server = bind(b, ep.inet(), "tcp", ep.inet());
                LOG.log(Level.INFO, "{0}: listening on {1}", new Object[] {kind, server.localAddress()});
                return new ChannelListener(server, children, server.localAddress(), null, ctx.loop());
            }
            default -> throw new IOException("unexpected scheme");
        }
    }

    private static ServerBootstrap serverBootstrap(NetworkContext ctx, ChannelGroup children,
                                                   Consumer<Channel> initChild) {
        return new ServerBootstrap()
                .group(ctx.acceptGroup(), ctx.loop())
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        children.add(ch);
                        initChild.accept(ch);
                    }
                });
    }

    /**
     * Binds {@code factory}'s server channel to {@code address} with the given child setup (one of
     * {@link #framesChild}, {@link #vpnkitChild}, {@link #httpChild}). Tests serve the vsock channel classes over a
     * unix socket this way ({@link VsockServerChannel#unixStandIn()}), since nothing can connect over vsock here.
     */
    static Listener bindServerChannel(ChannelFactory<? extends ServerChannel> factory, SocketAddress address,
                                      Path socketFile, NetworkContext ctx, String kind, Consumer<Channel> initChild)
            throws IOException {
        checkNotOnLoop(ctx);
        ChannelGroup children = new DefaultChannelGroup(kind, ctx.loop());
        ServerBootstrap b = serverBootstrap(ctx, children, initChild).channelFactory(factory);
        Channel server = bind(b, address, kind, address);
        return new ChannelListener(server, children, server.localAddress(), socketFile, ctx.loop());
    }

    private static Channel bindVsock(ServerBootstrap b, VSockAddress addr) throws IOException {
        ChannelFuture f = b.bind(addr).awaitUninterruptibly();
        if (f.isSuccess()) {
            return f.channel();
        }
        String shown = (addr.getCid() == VSockAddress.VMADDR_CID_ANY ? "" : Integer.toUnsignedString(addr.getCid()))
                + ":" + Integer.toUnsignedString(addr.getPort());
        for (Throwable t = f.cause(); t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage());
            if (m.contains("Address family not supported") || m.contains("EAFNOSUPPORT")) {
                throw new IOException("listen vsock " + shown + ": this kernel has no AF_VSOCK support"
                        + " (load the vsock transport module, e.g. vmw_vsock_virtio_transport or vhost_vsock): " + m,
                        f.cause());
            }
        }
        throw new IOException("listen vsock " + shown + ": " + f.cause().getMessage(), f.cause());
    }

    private static Listener bindUnix(ServerBootstrap b, Path path, NetworkContext ctx, ChannelGroup children,
                                     String kind, boolean refuseExisting, boolean privateSocket) throws IOException {
        if (refuseExisting) {
            refuseExisting(path);
        } else if (Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException("listen unix " + path + ": bind: address already in use");
        }
        b.channel(SocketTransport.get().serverDomainSocketChannel());
        Path bindPath = privateSocket ? tempSibling(path) : path;
        Channel server = bind(b, SocketTransport.get().domainAddress(bindPath), "unix", path);
        if (privateSocket) {
            try {
                Files.setPosixFilePermissions(bindPath, PosixFilePermissions.fromString("rw-------"));
                Files.move(bindPath, path);
            } catch (IOException | RuntimeException e) {
                server.close().awaitUninterruptibly();
                Files.deleteIfExists(bindPath);
                throw new IOException("listen unix " + path + ": " + e.getMessage(), e);
            }
        }
        LOG.log(Level.INFO, "{0}: listening on {1}", new Object[] {kind, path});
        return new ChannelListener(server, children, new DomainSocketAddress(path.toString()), path, ctx.loop());
    }

    /** Refuses a Linux/epoll-only listener with a message that says which transport is in use. */
    private static void requireEpoll(String what) throws IOException {
        try {
            SocketTransport.get().requireEpoll(what);
        } catch (UnsupportedOperationException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    private static Channel bind(ServerBootstrap b, SocketAddress addr, String net, Object shown) throws IOException {
        ChannelFuture f = b.bind(addr).awaitUninterruptibly();
        if (!f.isSuccess()) {
            throw new IOException("listen " + net + " " + shown + ": " + f.cause().getMessage(), f.cause());
        }
        return f.channel();
    }

    private static Path tempSibling(Path path) {
        String suffix = Long.toString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE, 36);
        Path dir = path.toAbsolutePath().getParent();
        return dir.resolve(".gvj-" + suffix);
    }

    /** A bound server or datagram channel plus the connections it accepted. */
    private static final class ChannelListener implements Listener {
        private final Channel channel;
        private final ChannelGroup children;
        private final SocketAddress address;
        private final Path socketFile;
        private final EventLoop networkLoop;
        private final CompletableFuture<Void> closeFuture = new CompletableFuture<>();

        ChannelListener(Channel channel, ChannelGroup children, SocketAddress address, Path socketFile,
                        EventLoop networkLoop) {
            this.channel = channel;
            this.children = children;
            this.address = address;
            this.socketFile = socketFile;
            this.networkLoop = networkLoop;
            channel.closeFuture().addListener(f -> cleanup());
        }

        private void cleanup() {
            if (socketFile != null) {
                try {
                    Files.deleteIfExists(socketFile);
                } catch (IOException e) {
                    LOG.log(Level.WARNING, "cannot delete {0}: {1}", new Object[] {socketFile, e.toString()});
                }
            }
            if (children != null) {
                children.close().addListener(f -> closeFuture.complete(null));
            } else {
                closeFuture.complete(null);
            }
        }

        @Override
        public SocketAddress localAddress() {
            return address;
        }

        @Override
        public CompletableFuture<Void> closeFuture() {
            return closeFuture;
        }

        @Override
        public void close() {
            channel.close();
            if (!channel.eventLoop().inEventLoop() && !networkLoop.inEventLoop()) {
                closeFuture.join();
            }
        }
    }
}
