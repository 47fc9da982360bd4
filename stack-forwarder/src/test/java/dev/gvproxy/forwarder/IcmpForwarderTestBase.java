package dev.gvproxy.forwarder;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;

/**
 * The set-up the ICMP and ICMPv6 forwarder tests share: an epoll transport (ping sockets are registered as epoll
 * handles), a {@link LoopHarness} the subclass starts in its own {@code @BeforeEach} (IPv4-only or with IPv6),
 * the forwarder on its loop, and optionally a {@link TestNetns} to open the ping sockets in. Everything is closed
 * after each test, the forwarder first.
 */
abstract class IcmpForwarderTestBase {
    static final long WAIT = 5000;
    LoopHarness h;
    IcmpForwarder fwd;
    TestNetns ns;

    /** Runs before the subclass's {@code @BeforeEach} (JUnit runs a superclass's first). */
    @BeforeEach
    final void requireEpoll() {
        Assumptions.assumeTrue(dev.gvproxy.platform.SocketTransport.get().isEpoll(),
                "skipped: ICMP ping sockets are registered as epoll handles; transport is "
                        + dev.gvproxy.platform.SocketTransport.get());
    }

    @AfterEach
    final void closeForwarderHarnessAndNamespace() throws Exception {
        if (fwd != null) {
            h.run(fwd::close);
        }
        if (h != null) {
            h.close();
        }
        if (ns != null) {
            ns.close();
        }
    }

    /** Installs the forwarder on the harness's loop, with the harness's clock. */
    void install(IcmpForwarder.Options o, PingSocket.Opener opener) throws Exception {
        fwd = h.onLoop(() -> IcmpForwarder.install(h.stack, h.loop, () -> h.now, o, opener));
    }

    /** Ping sockets inside a fresh namespace where they are allowed; skips when namespaces are unavailable. */
    PingSocket.Opener namespaceOpener() throws Exception {
        String why = TestNetns.unavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
        ns = TestNetns.create();
        return PingSocket.inNamespace(ns.path);
    }
}
