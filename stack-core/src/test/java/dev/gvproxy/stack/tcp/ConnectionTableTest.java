package dev.gvproxy.stack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.ip.FlowKey;
import dev.gvproxy.stack.wire.Ipv6Address;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link ConnectionTable}: lookups by primitive fields agree with a {@code HashMap<FlowKey, ...>} model under random
 * adds and removes of IPv4 and IPv6 connections (removal in the middle of probe runs included), removal is by
 * identity, and adding a 4-tuple again replaces its connection.
 */
class ConnectionTableTest {
    private final TcpConfig cfg = TcpConfig.forMtu(1500);
    private final TcpCounters counters = new TcpCounters(new Counters());
    private final TcpConnection.Output output = (c, seg, now) -> seg.release();
    private final TcpConnection.Handler handler = (c, data) -> data.release();

    private TcpConnection conn(Ipv6Address guest, int guestPort, Ipv6Address peer, int peerPort) {
        return new TcpConnection(peer, peerPort, guest, guestPort, cfg, PooledByteBufAllocator.DEFAULT, output,
                counters, handler, 1);
    }

    private static TcpConnection find(ConnectionTable t, FlowKey k) {
        return t.get(k.guest().hi(), k.guest().lo(), k.guestPort(), k.peer().hi(), k.peer().lo(), k.peerPort());
    }

    @Test
    void agreesWithAMapUnderRandomAddsAndRemoves() {
        SplittableRandom rnd = new SplittableRandom(7);
        // A small key space, so that probe runs form, grow and are cut by removals; a fixed seed makes runs
        // reproducible.
        Ipv6Address[] guests = {Ipv6Address.ofIpv4(0xC0A8_7F02), Ipv6Address.ofIpv4(0xC0A8_7F03),
                Ipv6Address.parse("fd00:5a94:efe4::2")};
        Ipv6Address[] peers = {Ipv6Address.ofIpv4(0xC612_0001), Ipv6Address.parse("2001:2::1")};
        ConnectionTable table = new ConnectionTable(42);
        HashMap<FlowKey, TcpConnection> model = new HashMap<>();
        for (int op = 0; op < 20_000; op++) {
            int g = rnd.nextInt(guests.length);
            int p = rnd.nextInt(peers.length);
            // One family per flow, as FlowKey requires.
            Ipv6Address guest = guests[g];
            Ipv6Address peer = guest.isIpv4Mapped() ? peers[0] : peers[1];
            FlowKey k = new FlowKey(guest, 40000 + rnd.nextInt(200), peer, p == 0 ? 80 : 443);
            TcpConnection had = model.get(k);
            if (had != null && rnd.nextInt(3) > 0) {
                assertTrue(table.remove(had));
                model.remove(k);
            } else if (had == null) {
                TcpConnection c = conn(k.guest(), k.guestPort(), k.peer(), k.peerPort());
                table.add(c);
                model.put(k, c);
            }
            assertSame(model.get(k), find(table, k), k.toString());
            assertEquals(model.size(), table.size());
            if (op % 1000 == 0) {
                for (var e : model.entrySet()) {
                    assertSame(e.getValue(), find(table, e.getKey()));
                }
                assertEquals(new HashSet<>(model.values()), new HashSet<>(table.snapshot()));
            }
        }
        for (var e : model.entrySet()) {
            assertSame(e.getValue(), find(table, e.getKey()));
            assertSame(e.getValue(), table.get(e.getKey().guest(), e.getKey().guestPort(), e.getKey().peer(),
                    e.getKey().peerPort()));
        }
    }

    @Test
    void removalIsByIdentityAndAddReplaces() {
        ConnectionTable table = new ConnectionTable(1);
        Ipv6Address guest = Ipv6Address.ofIpv4(0xC0A8_7F02);
        Ipv6Address peer = Ipv6Address.ofIpv4(0xC612_0001);
        TcpConnection old = conn(guest, 40000, peer, 80);
        TcpConnection incarnation = conn(guest, 40000, peer, 80);
        table.add(old);
        table.add(incarnation);
        assertEquals(1, table.size());
        assertSame(incarnation, table.get(guest, 40000, peer, 80));
        assertFalse(table.remove(old), "the replaced connection is no longer in the table");
        assertSame(incarnation, table.get(guest, 40000, peer, 80));
        assertTrue(table.remove(incarnation));
        assertNull(table.get(guest, 40000, peer, 80));
        assertEquals(0, table.size());
    }

    @Test
    void growsAndClears() {
        ConnectionTable table = new ConnectionTable(3);
        Ipv6Address peer = Ipv6Address.parse("2001:2::1");
        List<TcpConnection> all = new ArrayList<>();
        for (int i = 0; i < 5000; i++) {
            Ipv6Address guest = new Ipv6Address(0xfd005a94efe40000L, i);
            TcpConnection c = conn(guest, 40000 + i % 7, peer, 443);
            table.add(c);
            all.add(c);
        }
        assertEquals(5000, table.size());
        for (TcpConnection c : all) {
            assertSame(c, table.get(c.remoteIp(), c.remotePort(), c.localIp(), c.localPort()));
        }
        table.clear();
        assertEquals(0, table.size());
        assertNull(table.get(all.get(0).remoteIp(), all.get(0).remotePort(), all.get(0).localIp(), 443));
    }
}
