package dev.gvproxy.it.qemu;

import dev.gvproxy.VirtualNetwork;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.epoll.EpollDomainDatagramChannel;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.DomainSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import java.nio.file.Path;

/**
 * Test-only stand-ins for the QEMU stream and unixgram transports, attaching a socket to a real
 * {@link VirtualNetwork}'s switch, until {@code dev.gvproxy.transport.Transports} lands on main. All channels run on the
 * network's event loop, as the real transports must.
 */
final class InterimTransports {
    private InterimTransports() {}

    /** Listens at {@code path} for QEMU {@code -netdev stream} clients (4-byte big-endian length framing). */
    static Channel listenQemu(VirtualNetwork net, Path path) throws InterruptedException {
        VirtualSwitch sw = net.virtualSwitch();
        return new ServerBootstrap().group(net.eventLoop()).channel(EpollServerDomainSocketChannel.class)
                .childHandler(new ChannelInitializer<DomainSocketChannel>() {
                    @Override
                    protected void initChannel(DomainSocketChannel ch) {
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(VirtualSwitch.MAX_FRAME + 4, 0, 4, 0, 4),
                                new LengthFieldPrepender(4), new ChannelInboundHandlerAdapter() {
                                    private SwitchPort port;

                                    @Override
                                    public void channelActive(ChannelHandlerContext ctx) {
                                        port = sw.attach("qemu " + ch.remoteAddress(), endpoint(ch));
                                        ctx.fireChannelActive();
                                    }

                                    @Override
                                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                        sw.deliver(port, (ByteBuf) msg);
                                    }

                                    @Override
                                    public void channelReadComplete(ChannelHandlerContext ctx) {
                                        sw.flush();
                                    }

                                    @Override
                                    public void channelInactive(ChannelHandlerContext ctx) {
                                        sw.detach(port);
                                    }
                                });
                    }
                })
                .bind(new DomainSocketAddress(path.toFile())).sync().channel();
    }

    /** Binds a unix datagram socket at {@code path}; the first sender becomes the (only) VM. */
    static Channel listenDatagram(VirtualNetwork net, Path path) throws InterruptedException {
        VirtualSwitch sw = net.virtualSwitch();
        return new Bootstrap().group(net.eventLoop()).channel(EpollDomainDatagramChannel.class)
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(VirtualSwitch.MAX_FRAME))
                .handler(new ChannelInboundHandlerAdapter() {
                    private SwitchPort port;

                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        DomainDatagramPacket p = (DomainDatagramPacket) msg;
                        if (port == null) {
                            DomainSocketAddress peer = p.sender();
                            Channel ch = ctx.channel();
                            port = sw.attach("unixgram " + peer.path(), new LinkEndpoint() {
                                @Override
                                public void transmit(ByteBuf frame) {
                                    ch.write(new DomainDatagramPacket(frame, peer));
                                }

                                @Override
                                public void flush() {
                                    ch.flush();
                                }
                            });
                        }
                        sw.deliver(port, p.content());
                    }

                    @Override
                    public void channelReadComplete(ChannelHandlerContext ctx) {
                        sw.flush();
                    }
                })
                .bind(new DomainSocketAddress(path.toFile())).sync().channel();
    }

    private static LinkEndpoint endpoint(Channel ch) {
        return new LinkEndpoint() {
            @Override
            public void transmit(ByteBuf frame) {
                ch.write(frame);
            }

            @Override
            public void flush() {
                ch.flush();
            }

            @Override
            public boolean isWritable() {
                return ch.isWritable();
            }
        };
    }
}
