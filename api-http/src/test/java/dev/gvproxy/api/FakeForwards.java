package dev.gvproxy.api;

import dev.gvproxy.model.PortForwardRegistry;
import dev.gvproxy.stack.Counters;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** A registry over an opener that records what it opened and closed; ports listed in {@code busy} fail to bind. */
final class FakeForwards {
    final List<String> opened = new ArrayList<>();
    final List<String> closed = new ArrayList<>();
    final List<String> busy = new ArrayList<>();
    final Counters counters = new Counters();
    final PortForwardRegistry registry;

    FakeForwards() {
        this(PortForwardRegistry.GuestPolicy.DEFAULT);
    }

    /** Port 0 "binds" 45678. */
    FakeForwards(PortForwardRegistry.GuestPolicy policy) {
        registry = new PortForwardRegistry(f -> {
            if (busy.contains(f.local())) {
                return CompletableFuture.failedFuture(new java.io.IOException(
                        "listen tcp " + f.local() + ": bind: address already in use"));
            }
            opened.add(f.key());
            if (f.local().endsWith(":0")) {
                String bound = f.local().substring(0, f.local().length() - 1) + "45678";
                return CompletableFuture.completedFuture(new PortForwardRegistry.Bound() {
                    @Override
                    public String boundLocal() {
                        return bound;
                    }

                    @Override
                    public void close() {
                        closed.add(f.protocol() + "/" + bound);
                    }
                });
            }
            return CompletableFuture.completedFuture(() -> closed.add(f.key()));
        }, policy, counters);
    }
}
