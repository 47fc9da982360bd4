package dev.gvproxy.it.netns;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * JUnit 5 extension for namespace guests: skips the test where they cannot run, and closes every guest started
 * through {@link #start} after the test, passed or failed, newest first.
 *
 * <pre>{@code
 * @RegisterExtension final NetnsGuestsExtension guests = new NetnsGuestsExtension();
 * ...
 * NetnsGuest a = guests.start(NetnsGuest.builder(url).staticAddress("192.168.127.10/24"));
 * }</pre>
 */
public final class NetnsGuestsExtension implements BeforeEachCallback, AfterEachCallback {
    private final Deque<AutoCloseable> resources = new ArrayDeque<>();

    @Override
    public void beforeEach(ExtensionContext context) {
        NetnsGuest.assumeSupported();
    }

    /** Starts a guest that is torn down after the test. */
    public NetnsGuest start(NetnsGuest.Builder builder) throws IOException, InterruptedException {
        NetnsGuest g = builder.start();
        synchronized (resources) {
            resources.push(g);
        }
        return g;
    }

    /** Registers any other resource (a test switch, a virtual network) to be closed after the guests. */
    public <T extends AutoCloseable> T track(T resource) {
        synchronized (resources) {
            resources.push(resource);
        }
        return resource;
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        Exception first = null;
        while (true) {
            AutoCloseable r;
            synchronized (resources) {
                r = resources.poll();
            }
            if (r == null) {
                break;
            }
            try {
                r.close();
            } catch (Exception | AssertionError e) {
                Exception wrapped = e instanceof Exception ex ? ex : new Exception(e);
                if (first == null) {
                    first = wrapped;
                } else {
                    first.addSuppressed(wrapped);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
