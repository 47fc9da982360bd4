package dev.gvproxy.api;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import java.util.function.Supplier;
import dev.gvproxy.stack.Counters;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;

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

    /** Request line and header limits of the in-VM API's codec (the requests are tiny; Netty's defaults are 4/8 KiB). */
    static final int MAX_INITIAL_LINE = 4096;
    static final int MAX_HEADER_SIZE = 8192;

    /**
     * The in-VM API for a connection accepted on gateway:80 inside the virtual network: only
     * {@code /services/forwarder/{all,expose,unexpose}} on guest-created forwards, optionally behind a bearer
     * token ({@link ApiContext.Builder#inVmToken}). The channel's {@code remoteAddress()} must be the guest's
     * {@code InetSocketAddress}: {@code expose} fills an empty remote host with it. Concurrent connections are
     * bounded per network and per guest address ({@code api.inVmConnectionLimit},
     * {@code api.inVmGuestConnectionLimit}); the initializer must serve one network (its counts live on that
     * network's loop).
     */
    public static ChannelInitializer<Channel> inVm(ApiContext api) {
        Counters.Counter networkLimit = api.apiCounters.counter("api.inVmConnectionLimit");
        Counters.Counter guestLimit = api.apiCounters.counter("api.inVmGuestConnectionLimit");
        Map<Object, Integer> perGuest = new HashMap<>();
        int[] total = {0};
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                Object guest = ch.remoteAddress() instanceof InetSocketAddress isa && isa.getAddress() != null
                        ? isa.getAddress() : "unknown";
                if (total[0] >= api.maxInVmConnections) {
                    networkLimit.inc();
                    ch.close();
                    return;
                }
                if (perGuest.getOrDefault(guest, 0) >= api.maxInVmConnectionsPerGuest) {
                    guestLimit.inc();
                    ch.close();
                    return;
                }
                total[0]++;
                perGuest.merge(guest, 1, Integer::sum);
                ch.closeFuture().addListener(f -> {
                    total[0]--;
                    perGuest.computeIfPresent(guest, (k, n) -> n <= 1 ? null : n - 1);
                });
                ch.pipeline().addLast("http", new HttpServerCodec(MAX_INITIAL_LINE, MAX_HEADER_SIZE, 8192));
                ch.pipeline().addLast(ApiHandler.AGGREGATOR, ApiHandler.aggregator(api));
                ch.pipeline().addLast("api", new ApiHandler(api, ApiHandler.Surface.IN_VM));
            }
        };
    }
}
