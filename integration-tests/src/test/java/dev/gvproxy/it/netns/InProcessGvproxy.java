package dev.gvproxy.it.netns;

import dev.gvproxy.cli.GvproxyMain;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * gvproxy-java's CLI run in this JVM on a thread of its own, as the real-guest tests start it: {@code running}
 * once every listener is up, {@code exit} completing with the exit status when it stops.
 */
public record InProcessGvproxy(GvproxyMain.Running running, CompletableFuture<Integer> exit) {
    /**
     * Starts {@code gvproxy-java ARGS} and waits until it is ready.
     *
     * @throws AssertionError when it exits instead (with its status) or is not ready within {@code timeout}
     */
    public static InProcessGvproxy start(Duration timeout, String... args) throws Exception {
        CompletableFuture<GvproxyMain.Running> started = new CompletableFuture<>();
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread.ofPlatform().name("gvproxy-java").start(() -> exit.complete(
                GvproxyMain.run(args, System.out, System.err, started::complete)));
        GvproxyMain.Running running = CompletableFuture.anyOf(started, exit).thenApply(x -> started.getNow(null))
                .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (running == null) {
            throw new AssertionError("gvproxy-java did not start: exit " + exit.get());
        }
        return new InProcessGvproxy(running, exit);
    }
}
