package dev.gvproxy.it.cli;

import static dev.gvproxy.testing.Frames.arp;
import static dev.gvproxy.testing.Frames.ethernet;
import static dev.gvproxy.testing.Frames.icmpEcho;
import static dev.gvproxy.testing.Frames.ip;
import static dev.gvproxy.testing.Frames.ipv4;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gvproxy.cli.GvproxyMain;
import dev.gvproxy.it.netns.InProcessGvproxy;
import dev.gvproxy.platform.SocketTransport;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.ChannelOption;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 12 item 2 (upstream #383) through the CLI: two vfkit-style VMs (unix datagram sockets bound to paths of
 * their own) on one {@code -listen-vfkit} socket of an in-process gvproxy-java. Each says {@code VFKT}, resolves the
 * gateway with ARP and pings it, and a frame from one for the other's MAC reaches the other only. Frames are
 * built by hand; only unix sockets in a temporary directory are used.
 */
class VfkitTwoVmsTest {
    private static final long MAC_A = MacAddress.parse("02:12:00:00:00:0a");
    private static final long MAC_B = MacAddress.parse("02:12:00:00:00:0b");
    private static final long GW_MAC = MacAddress.parse("5a:94:ef:e4:0c:dd");
    private static final int GW_IP = ip("192.168.127.1");
    private static final int IP_A = ip("192.168.127.10");
    private static final int IP_B = ip("192.168.127.11");

    @TempDir
    Path dir;

    /** A VM stand-in: a unix datagram socket bound to a path, sending to gvproxy's socket. */
    static final class Vm implements AutoCloseable {
        final Channel ch;
        final DomainSocketAddress gvproxy;
        final BlockingQueue<byte[]> received = new LinkedBlockingQueue<>();

        Vm(EventLoopGroup group, Path local, DomainSocketAddress gvproxy) throws InterruptedException {
            this.gvproxy = gvproxy;
            ch = new Bootstrap().group(group).channel(SocketTransport.get().domainDatagramChannel())
                    .option(ChannelOption.RECVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(VirtualSwitch.MAX_FRAME))
                    .handler(new SimpleChannelInboundHandler<DomainDatagramPacket>() {
                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, DomainDatagramPacket msg) {
                            received.add(ByteBufUtil.getBytes(msg.content()));
                        }
                    })
                    .bind(new DomainSocketAddress(local.toString())).sync().channel();
        }

        void send(byte[] datagram) {
            ch.writeAndFlush(new DomainDatagramPacket(Unpooled.wrappedBuffer(datagram), gvproxy)).syncUninterruptibly();
        }

        /** The next unicast frame of EtherType {@code type} (floods, e.g. the other VM's ARP, are skipped). */
        byte[] next(int type) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (System.nanoTime() < deadline) {
                byte[] f = received.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
                if (f != null && f.length >= 14 && ((f[12] & 0xff) << 8 | (f[13] & 0xff)) == type
                        && (f[0] & 1) == 0) {
                    return f;
                }
            }
            fail("no frame of type " + Integer.toHexString(type));
            return null;
        }

        @Override
        public void close() {
            ch.close().syncUninterruptibly();
        }
    }

    @Test
    void twoVmsOnOneVfkitSocketReachTheGatewayAndEachOther() throws Exception {
        Assumptions.assumeTrue(SocketTransport.get().kind() != SocketTransport.Kind.NIO,
                "skipped: unix datagram sockets need epoll or kqueue; transport is " + SocketTransport.get());
        Path vfkit = dir.resolve("vfkit.sock");
        int sshPort;
        try (ServerSocket s = new ServerSocket(0)) {
            sshPort = s.getLocalPort();
        }
        InProcessGvproxy gv = InProcessGvproxy.start(Duration.ofSeconds(60), "-listen-vfkit", "unixgram://" + vfkit,
                "-ssh-port", Integer.toString(sshPort));
        GvproxyMain.Running running = gv.running();
        EventLoopGroup group = SocketTransport.get().newEventLoopGroup(1);
        DomainSocketAddress server = new DomainSocketAddress(vfkit.toString());
        try (Vm a = new Vm(group, dir.resolve("vm-a.sock"), server);
             Vm b = new Vm(group, dir.resolve("vm-b.sock"), server)) {
            a.send("VFKT".getBytes(StandardCharsets.US_ASCII));
            b.send("VFKT".getBytes(StandardCharsets.US_ASCII));
            for (Object[] vm : new Object[][] {{a, MAC_A, IP_A}, {b, MAC_B, IP_B}}) {
                Vm v = (Vm) vm[0];
                long mac = (Long) vm[1];
                int ip = (Integer) vm[2];
                // ARP who-has 192.168.127.1: the gateway answers this VM, at its own address
                v.send(ethernet(MacAddress.BROADCAST, mac, 0x0806, arp(1, mac, ip, 0, GW_IP)));
                byte[] reply = v.next(0x0806);
                assertEquals(mac, MacAddress.get(Unpooled.wrappedBuffer(reply), 0), "ARP reply to this VM");
                assertEquals(GW_MAC, MacAddress.get(Unpooled.wrappedBuffer(reply), 22), "the gateway's MAC");
                // ping the gateway
                byte[] data = "vfkit".getBytes(StandardCharsets.US_ASCII);
                v.send(ethernet(GW_MAC, mac, 0x0800, ipv4(ip, GW_IP, 1, 7, 0x4000, 64, icmpEcho(8, 42, 1, data))));
                byte[] echo = v.next(0x0800);
                assertEquals(0, echo[14 + 20], "ICMP echo reply");
                assertArrayEquals(data, Arrays.copyOfRange(echo, 14 + 28, 14 + 28 + data.length));
            }
            // A to B: a frame for B's MAC reaches B, and not A
            byte[] aToB = ethernet(MAC_B, MAC_A, 0x0800,
                    ipv4(IP_A, IP_B, 1, 9, 0x4000, 64, icmpEcho(8, 43, 1, new byte[32])));
            a.send(aToB);
            assertArrayEquals(aToB, b.next(0x0800));
            byte[] bToA = ethernet(MAC_A, MAC_B, 0x0800,
                    ipv4(IP_B, IP_A, 1, 10, 0x4000, 64, icmpEcho(0, 43, 1, new byte[32])));
            b.send(bToA);
            assertArrayEquals(bToA, a.next(0x0800));

            var internals = running.network().internals();
            assertEquals(2, (int) internals.call(() -> internals.virtualSwitch().ports().size()), "a port per VM");
            assertNotNull(internals.call(() -> internals.virtualSwitch().portOf(MAC_A)));
            assertEquals(2, internals.counters().get("transport.vfkitHello"));
            assertEquals(0, internals.counters().get("switch.macMoveDenied"));
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            running.stop("test done");
            assertEquals(0, gv.exit().get(60, TimeUnit.SECONDS));
        }
    }
}
