package dev.gvproxy.api;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** A registry over an opener that records what it opened and closed; ports listed in {@code busy} fail to bind. */
final class FakeForwards {
    final List<String> opened = new ArrayList<>();
    final List<String> closed = new ArrayList<>();
    final List<String> busy = new ArrayList<>();
    final PortForwardRegistry registry = new PortForwardRegistry(f -> {
        if (busy.contains(f.local())) {
            return CompletableFuture.failedFuture(new java.io.IOException(
                    "listen tcp " + f.local() + ": bind: address already in use"));
        }
        opened.add(f.key());
        return CompletableFuture.completedFuture(() -> closed.add(f.key()));
    });
}
