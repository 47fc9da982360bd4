package dev.gvproxy.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.gvproxy.stack.wire.Ipv4Address;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** Zone matching and gvproxy's {@code /services/dns/add} merge rules (its pkg/services/dns/dns_test.go cases). */
class ZoneTableTest {
    static int ip(String s) {
        return Ipv4Address.parse(s);
    }

    @Test
    void addWithDefaultIp() {
        ZoneTable t = new ZoneTable(List.of());
        t.add(Zone.withDefault("dynamic.testing.", "192.168.0.1", List.of()));
        assertEquals(List.of(new Zone("dynamic.testing.", List.of(), OptionalInt.of(ip("192.168.0.1")))), t.zones());
    }

    @Test
    void addWithRecordsAndKeepInsertionOrder() {
        ZoneTable t = new ZoneTable(List.of());
        t.add(Zone.of("testing.", List.of(ZoneRecord.of("host", "192.168.0.1"))));
        t.add(Zone.withDefault("dynamic.testing.", "192.168.0.2", List.of()));
        assertEquals("testing.", t.zones().get(0).name());
        assertEquals("dynamic.testing.", t.zones().get(1).name());
    }

    @Test
    void readdingPrependsRecordsAndReplacesTheDefault() {
        ZoneTable t = new ZoneTable(List.of());
        t.add(Zone.withDefault("testing.", "192.168.0.9", List.of(ZoneRecord.of("host", "192.168.0.1"))));
        t.add(Zone.withDefault("other.", "192.168.0.7", List.of()));
        t.add(Zone.of("testing.", List.of(ZoneRecord.of("gateway", "192.168.0.2"), ZoneRecord.of("host", "192.168.0.3"))));
        Zone z = t.zones().get(0);
        assertEquals(List.of(ZoneRecord.of("gateway", "192.168.0.2"), ZoneRecord.of("host", "192.168.0.3"),
                ZoneRecord.of("host", "192.168.0.1")), z.records(), "posted records first, duplicates kept");
        assertEquals(OptionalInt.empty(), z.defaultIp(), "an omitted default erases the old one");
        assertEquals("other.", t.zones().get(1).name(), "replaced in place");
        assertEquals(new ZoneTable.Result.Address(ip("192.168.0.3")), t.lookup("host.testing."));
    }

    @Test
    void sameZoneMatchedRegardlessOfCaseAndTrailingDot() {
        ZoneTable t = new ZoneTable(List.of(Zone.of("Testing", List.of(ZoneRecord.of("a", "10.0.0.1")))));
        assertEquals(new ZoneTable.Result.Address(ip("10.0.0.1")), t.lookup("A.TESTING."));
        t.add(Zone.of("testing.", List.of(ZoneRecord.of("b", "10.0.0.2"))));
        assertEquals(1, t.zones().size());
        assertEquals(new ZoneTable.Result.Address(ip("10.0.0.2")), t.lookup("b.testing."));
    }

    @Test
    void firstMatchingZoneWins() {
        ZoneTable t = new ZoneTable(List.of(
                Zone.withDefault("dynamic.testing.", "192.168.127.2", List.of()),
                Zone.of("testing.", List.of(ZoneRecord.of("gateway", "192.168.127.1")))));
        assertEquals(new ZoneTable.Result.Address(ip("192.168.127.2")), t.lookup("gateway.dynamic.testing."));
        assertEquals(new ZoneTable.Result.Address(ip("192.168.127.1")), t.lookup("gateway.testing."));
        assertInstanceOf(ZoneTable.Result.NxDomain.class, t.lookup("other.testing."));
        assertInstanceOf(ZoneTable.Result.NotLocal.class, t.lookup("testing."));
        assertInstanceOf(ZoneTable.Result.NotLocal.class, t.lookup("xtesting."));
        assertInstanceOf(ZoneTable.Result.NotLocal.class, t.lookup("outside.test."));
    }

    @Test
    void recordsInOrderNameOrRegexp() {
        ZoneTable t = new ZoneTable(List.of(Zone.of("z.", List.of(
                ZoneRecord.regexp("^db", "10.0.0.1"),
                ZoneRecord.of("db2", "10.0.0.2"),
                ZoneRecord.regexp("[0-9]$", "10.0.0.3")))));
        assertEquals(new ZoneTable.Result.Address(ip("10.0.0.1")), t.lookup("db2.z."), "first record wins");
        assertEquals(new ZoneTable.Result.Address(ip("10.0.0.3")), t.lookup("web9.z."));
        assertEquals(new ZoneTable.Result.Address(ip("10.0.0.1")), t.lookup("DB.z."));
    }
}
