package dev.gvproxy.it.qemu;

import dev.gvproxy.platform.SocketTransport;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Test-only stand-in for the gateway: answers ARP for 192.168.127.1, ICMP echo requests to it and DHCP, over a QEMU
 * stream socket (4-byte big-endian length framing) or a unix datagram socket (one frame per datagram, replies go to the
 * first sender's address). It exists to validate the guest harness independently of the real stack.
 */
final class TestResponder implements AutoCloseable {
    static final long GATEWAY_MAC = 0x5a94efe40cddL;
    static final int GATEWAY_IP = (192 << 24) | (168 << 16) | (127 << 8) | 1;

    final AtomicLong framesIn = new AtomicLong();
    final AtomicLong arpReplies = new AtomicLong();
    final AtomicLong echoReplies = new AtomicLong();
    final AtomicLong dhcpReplies = new AtomicLong();
    /** MTU offered in DHCP option 26 (distinct from the default so the test sees it applied). */
    static final int DHCP_MTU = 1400;
    private final EventLoopGroup group = SocketTransport.get().newEventLoopGroup(1);
    private Channel channel;
    private volatile DomainSocketAddress datagramPeer;

    private TestResponder() {}

    /** Listens on a unix stream socket at {@code path} (QEMU {@code -netdev stream} connects to it). */
    static TestResponder stream(Path path) throws InterruptedException {
        TestResponder r = new TestResponder();
        r.channel = new ServerBootstrap().group(r.group).channel(SocketTransport.get().serverDomainSocketChannel())
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(131072 + 4, 0, 4, 0, 4),
                                new LengthFieldPrepender(4), new SimpleChannelInboundHandler<ByteBuf>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf frame) {
                                        ByteBuf reply = r.respond(frame, ctx.alloc());
                                        if (reply != null) {
                                            ctx.writeAndFlush(reply);
                                        }
                                    }
                                });
                    }
                })
                .bind(SocketTransport.get().domainAddress(path)).sync().channel();
        return r;
    }

    /** Binds a unix datagram socket at {@code path} (QEMU {@code -netdev dgram} sends to it). */
    static TestResponder datagram(Path path) throws InterruptedException {
        TestResponder r = new TestResponder();
        r.channel = new Bootstrap().group(r.group).channel(SocketTransport.get().domainDatagramChannel())
                // The default datagram allocator reads 2 KiB: frames up to 128 KiB must arrive whole.
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(131072))
                .handler(new SimpleChannelInboundHandler<DomainDatagramPacket>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DomainDatagramPacket p) {
                        if (r.datagramPeer == null) {
                            r.datagramPeer = p.sender();
                        }
                        ByteBuf reply = r.respond(p.content(), ctx.alloc());
                        if (reply != null) {
                            ctx.writeAndFlush(new DomainDatagramPacket(reply, r.datagramPeer));
                        }
                    }
                })
                .bind(new DomainSocketAddress(path.toFile())).sync().channel();
        return r;
    }

    /**
     * The reply to one frame, or null.
     *
     * @param f the frame, <b>borrowed</b>
     */
    ByteBuf respond(ByteBuf f, ByteBufAllocator alloc) {
        framesIn.incrementAndGet();
        int b = f.readerIndex();
        int len = f.readableBytes();
        if (len < 14) {
            return null;
        }
        int type = f.getUnsignedShort(b + 12);
        if (type == 0x0806 && len >= 42 && f.getUnsignedShort(b + 20) == 1 && f.getInt(b + 38) == GATEWAY_IP) {
            ByteBuf r = alloc.buffer(42);
            r.writeBytes(f, b + 6, 6).writeShort((int) (GATEWAY_MAC >>> 32)).writeInt((int) GATEWAY_MAC).writeShort(0x0806);
            r.writeShort(1).writeShort(0x0800).writeByte(6).writeByte(4).writeShort(2);
            r.writeShort((int) (GATEWAY_MAC >>> 32)).writeInt((int) GATEWAY_MAC).writeInt(GATEWAY_IP);
            r.writeBytes(f, b + 22, 10); // requester's MAC and IP
            arpReplies.incrementAndGet();
            return r;
        }
        if (type != 0x0800 || len < 34) {
            return null;
        }
        int ihl = (f.getUnsignedByte(b + 14) & 0x0f) * 4;
        int total = f.getUnsignedShort(b + 16); // not the frame length: QEMU pads short frames
        if (ihl >= 20 && 14 + total <= len && total >= ihl + 8 + 244 && f.getUnsignedByte(b + 23) == 17
                && f.getUnsignedShort(b + 14 + ihl + 2) == 67) {
            return dhcp(f, b + 14 + ihl + 8, total - ihl - 8, alloc);
        }
        if (ihl < 20 || total < ihl + 8 || 14 + total > len || f.getUnsignedByte(b + 23) != 1
                || f.getInt(b + 30) != GATEWAY_IP || f.getUnsignedByte(b + 14 + ihl) != 8) {
            return null;
        }
        ByteBuf r = alloc.buffer(14 + total);
        r.writeBytes(f, b + 6, 6).writeShort((int) (GATEWAY_MAC >>> 32)).writeInt((int) GATEWAY_MAC).writeShort(0x0800);
        r.writeBytes(f, b + 14, total);
        int ip = 14;
        int src = r.getInt(ip + 12);
        r.setInt(ip + 12, r.getInt(ip + 16)).setInt(ip + 16, src);
        r.setByte(ip + 8, 64).setShort(ip + 10, 0).setShort(ip + 10, checksum(r, ip, ihl));
        int icmp = ip + ihl;
        r.setByte(icmp, 0).setShort(icmp + 2, 0).setShort(icmp + 2, checksum(r, icmp, total - ihl));
        echoReplies.incrementAndGet();
        return r;
    }

    /**
     * A DHCP OFFER/ACK for a DISCOVER/REQUEST: always 192.168.127.2/24, router and DNS 192.168.127.1, MTU
     * {@link #DHCP_MTU}, domain {@code gvj.test}. Just enough to exercise the guest's udhcpc hook.
     *
     * @param f the frame, <b>borrowed</b>; {@code bootp} is the BOOTP message's offset in it
     */
    private ByteBuf dhcp(ByteBuf f, int bootp, int bootpLen, ByteBufAllocator alloc) {
        if (f.getUnsignedByte(bootp) != 1 || f.getInt(bootp + 236) != 0x63825363) {
            return null;
        }
        int msgType = 0;
        for (int o = bootp + 240, end = bootp + bootpLen; o < end; ) {
            int code = f.getUnsignedByte(o);
            if (code == 255) {
                break;
            }
            if (code == 0) {
                o++;
                continue;
            }
            if (o + 1 >= end || o + 2 + f.getUnsignedByte(o + 1) > end) {
                return null;
            }
            if (code == 53) {
                msgType = f.getUnsignedByte(o + 2);
            }
            o += 2 + f.getUnsignedByte(o + 1);
        }
        int replyType = msgType == 1 ? 2 : msgType == 3 ? 5 : 0;
        if (replyType == 0) {
            return null;
        }
        ByteBuf m = alloc.buffer(300);
        m.writeByte(2).writeByte(1).writeByte(6).writeByte(0).writeInt(f.getInt(bootp + 4)); // op, htype, hlen, hops, xid
        m.writeShort(0).writeShort(f.getUnsignedShort(bootp + 10)).writeInt(0); // secs, flags, ciaddr
        m.writeInt(GATEWAY_IP + 1).writeInt(GATEWAY_IP).writeInt(0); // yiaddr, siaddr, giaddr
        m.writeBytes(f, bootp + 28, 16).writeZero(64 + 128).writeInt(0x63825363);
        m.writeByte(53).writeByte(1).writeByte(replyType);
        m.writeByte(54).writeByte(4).writeInt(GATEWAY_IP);
        m.writeByte(51).writeByte(4).writeInt(3600);
        m.writeByte(1).writeByte(4).writeInt(0xffffff00);
        m.writeByte(3).writeByte(4).writeInt(GATEWAY_IP);
        m.writeByte(6).writeByte(4).writeInt(GATEWAY_IP);
        m.writeByte(26).writeByte(2).writeShort(DHCP_MTU);
        m.writeByte(15).writeByte(8).writeBytes("gvj.test".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        m.writeByte(255);
        while (m.readableBytes() < 300) {
            m.writeByte(0);
        }
        int udpLen = 8 + m.readableBytes();
        ByteBuf r = alloc.buffer(14 + 20 + udpLen);
        r.writeShort(0xffff).writeInt(0xffffffff); // broadcast: the client has no address yet
        r.writeShort((int) (GATEWAY_MAC >>> 32)).writeInt((int) GATEWAY_MAC).writeShort(0x0800);
        r.writeByte(0x45).writeByte(0).writeShort(20 + udpLen).writeInt(0).writeByte(64).writeByte(17).writeShort(0);
        r.writeInt(GATEWAY_IP).writeInt(0xffffffff);
        r.setShort(14 + 10, checksum(r, 14, 20));
        r.writeShort(67).writeShort(68).writeShort(udpLen).writeShort(0); // UDP checksum 0: none (allowed on IPv4)
        r.writeBytes(m);
        m.release();
        dhcpReplies.incrementAndGet();
        return r;
    }

    private static int checksum(ByteBuf buf, int off, int len) {
        long sum = 0;
        for (int i = 0; i + 1 < len; i += 2) {
            sum += buf.getUnsignedShort(off + i);
        }
        if ((len & 1) != 0) {
            sum += buf.getUnsignedByte(off + len - 1) << 8;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) (~sum & 0xffff);
    }

    @Override
    public void close() throws Exception {
        try {
            if (channel != null) {
                channel.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).sync();
        }
        Path bound = channel != null ? SocketTransport.domainPath(channel.localAddress()) : null;
        if (bound != null) {
            Files.deleteIfExists(bound);
        }
    }
}
