package dev.gvproxy.transport;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.stack.wire.MacAddress;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Server side of hyperkit's {@code virtio-vpnkit} handshake (spec 1.6), then hyperkit framing.
 *
 * <p>The client speaks first: a 49-byte init ({@code VMN3T}, version, commit id), which is echoed back
 * unchanged; then a 41-byte command whose bytes 1..36 are the VM's UUID (command byte and preferred IPv4 are
 * ignored, as gvproxy does). The reply is 258 bytes: type 1 (VIF), MTU and MTU+14 as little-endian uint16, the
 * VM's MAC, zeros. After that the connection carries 2-byte little-endian frames: this decoder installs the
 * frame decoder, encoder and {@link ChannelPort} after itself and removes itself, which forwards any bytes
 * already received past the handshake.
 */
final class VpnkitHandshake extends ByteToMessageDecoder {
    private static final Logger LOG = Logger.getLogger(VpnkitHandshake.class.getName());
    static final int INIT_LENGTH = 49;
    static final int COMMAND_LENGTH = 41;
    static final int RESPONSE_LENGTH = 258;

    private final VirtualSwitch sw;
    private final Counters counters;
    private final int mtu;
    private final Function<String, Long> macForUuid;
    private final Counters.Counter badHandshake;
    private boolean initDone;

    /** @param macForUuid the VM's MAC for a UUID, or null for a random locally administered one */
    VpnkitHandshake(VirtualSwitch sw, Counters counters, int mtu, Function<String, Long> macForUuid) {
        this.sw = sw;
        this.counters = counters;
        this.mtu = mtu;
        this.macForUuid = macForUuid;
        this.badHandshake = counters.counter("transport.vpnkitBadHandshake");
    }

    /** @param in <b>borrowed</b> (the cumulation) */
    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (!initDone) {
            if (in.readableBytes() < INIT_LENGTH) {
                return;
            }
            if (!in.toString(in.readerIndex(), 5, StandardCharsets.US_ASCII).equals("VMN3T")) {
                // gvproxy echoes anything and attaches the connection anyway; a peer that is not hyperkit gets
                // closed here instead of having its bytes switched as frames.
                badHandshake.inc();
                LOG.log(Level.WARNING, "vpnkit: {0}: bad handshake magic, closing", ctx.channel().remoteAddress());
                in.skipBytes(in.readableBytes());
                ctx.close();
                return;
            }
            // gvproxy echoes the init unchanged, so magic and version always "match"
            ctx.writeAndFlush(in.readRetainedSlice(INIT_LENGTH));
            initDone = true;
        }
        if (in.readableBytes() < COMMAND_LENGTH) {
            return;
        }
        String uuid = in.toString(in.readerIndex() + 1, 36, StandardCharsets.US_ASCII);
        in.skipBytes(COMMAND_LENGTH);
        Long mac = macForUuid.apply(uuid);
        long vmMac = mac != null ? mac : MacAddress.randomLocal(ThreadLocalRandom.current());
        ByteBuf resp = ctx.alloc().buffer(RESPONSE_LENGTH);
        resp.writeByte(1);
        resp.writeShortLE(mtu);
        resp.writeShortLE(mtu + 14);
        MacAddress.write(resp, vmMac);
        resp.writeZero(RESPONSE_LENGTH - resp.writerIndex());
        ctx.writeAndFlush(resp);
        LOG.log(Level.INFO, "vpnkit: VM {0} gets MAC {1}", new Object[] {uuid, MacAddress.format(vmMac)});

        ChannelPipeline p = ctx.pipeline();
        p.addAfter(ctx.name(), "frameDecoder", Framing.HYPERKIT.newDecoder(counters));
        p.addAfter("frameDecoder", "frameEncoder", Framing.HYPERKIT.newEncoder(counters));
        p.addAfter("frameEncoder", "port", new ChannelPort(sw, counters, "vpnkit:" + uuid.strip()));
        p.remove(this); // hands the bytes after the handshake to the frame decoder
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        // Still in the pipeline: the handshake never completed (the port was never attached).
        badHandshake.inc();
        LOG.log(Level.WARNING, "vpnkit: {0}: connection closed during the handshake ({1})",
                new Object[] {ctx.channel().remoteAddress(), initDone ? "after the init" : "before the init"});
        super.channelInactive(ctx);
    }
}
