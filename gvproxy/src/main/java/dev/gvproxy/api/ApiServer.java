package dev.gvproxy.api;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import java.util.function.Supplier;

/** Factories that put the API on a listener (spec 4.1). */
public final class ApiServer {
    private ApiServer() {}

    /**
     * The per-connection handler for {@code Transports.listenApi} ({@link ApiHandler.Surface#FULL}) or
     * {@code Transports.listenServices} ({@link ApiHandler.Surface#SERVICES}): it sits after the transport's
     * {@code HttpServerCodec} and {@code /connect} router.
     */
    public static Supplier<ChannelHandler> hostFallback(ApiContext api, ApiHandler.Surface surface) {
        return () -> new ApiHandler(api, surface);
    }

    /**
     * The in-VM API for a connection accepted on gateway:80 inside the virtual network: only
     * {@code /services/forwarder/{all,expose,unexpose}}, optionally behind a bearer token
     * ({@link ApiContext.Builder#inVmToken}). The channel's {@code remoteAddress()} must be the guest's
     * {@code InetSocketAddress}: {@code expose} fills an empty remote host with it.
     */
    public static ChannelInitializer<Channel> inVm(ApiContext api) {
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast("http", new HttpServerCodec());
                ch.pipeline().addLast(ApiHandler.AGGREGATOR, new HttpObjectAggregator(api.maxBody));
                ch.pipeline().addLast("api", new ApiHandler(api, ApiHandler.Surface.IN_VM));
            }
        };
    }
}
