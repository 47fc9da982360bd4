package dev.gvproxy.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.wire.Ipv4Address;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** gvproxy's JSON shapes for {@code /services/dns/all} and {@code /services/dns/add}. */
class ZoneJsonTest {
    @Test
    void allRendersLikeGvproxy() {
        List<Zone> legacy = Zone.legacyDefaults(Ipv4Address.parse("192.168.127.1"), Ipv4Address.parse("192.168.127.254"));
        assertEquals("[{\"Name\":\"containers.internal.\",\"Records\":[{\"Name\":\"gateway\",\"IP\":\"192.168.127.1\"},"
                + "{\"Name\":\"host\",\"IP\":\"192.168.127.254\"}],\"DefaultIP\":\"\"},"
                + "{\"Name\":\"docker.internal.\",\"Records\":[{\"Name\":\"gateway\",\"IP\":\"192.168.127.1\"},"
                + "{\"Name\":\"host\",\"IP\":\"192.168.127.254\"}],\"DefaultIP\":\"\"}]", ZoneJson.toJson(legacy));
        assertEquals("null", ZoneJson.toJson(List.of()));
        assertEquals("[{\"Name\":\"dynamic.testing.\",\"Records\":null,\"DefaultIP\":\"192.168.127.2\"}]",
                ZoneJson.toJson(List.of(Zone.withDefault("dynamic.testing.", "192.168.127.2", List.of()))));
        assertEquals("[{\"Name\":\"t.\",\"Records\":[{\"Name\":\"\",\"IP\":\"10.0.0.1\",\"Regexp\":\"^a\\u003cb\\\\d\"}],"
                + "\"DefaultIP\":\"\"}]", ZoneJson.toJson(List.of(Zone.of("t.", List.of(ZoneRecord.regexp("^a<b\\d", "10.0.0.1"))))));
    }

    @Test
    void addParsesEitherCaseAndIgnoresUnknownKeys() {
        Zone z = ZoneJson.parseZone("{\"Name\":\"dynamic.internal.\",\"Records\":[{\"Name\":\"test\",\"IP\":\"192.168.127.254\"}]}");
        assertEquals(Zone.of("dynamic.internal.", List.of(ZoneRecord.of("test", "192.168.127.254"))), z);
        Zone d = ZoneJson.parseZone(" {\"name\":\"dynamic.testing.\", \"defaultip\":\"192.168.127.2\", \"extra\":[1,{\"x\":null}]} ");
        assertEquals(new Zone("dynamic.testing.", List.of(), OptionalInt.of(Ipv4Address.parse("192.168.127.2"))), d);
        Zone r = ZoneJson.parseZone("{\"Name\":\"t.\",\"Records\":[{\"regexp\":\"^web-\\\\d+$\",\"ip\":\"10.0.0.3\"}],\"DefaultIP\":null}");
        assertEquals("^web-\\d+$", r.records().getFirst().regexp());
        assertEquals(OptionalInt.empty(), r.defaultIp());
        assertEquals(z, ZoneJson.parseZone(ZoneJson.toJson(List.of(z)).replaceAll("^\\[|\\]$", "")));
    }

    @Test
    void badBodiesAreDecoderErrors() {
        for (String bad : new String[] {"", "{", "{\"Name\":}", "[1,2", "{\"Name\":1}", "{\"Records\":{}}", "nul",
            "{\"Name\":\"a\"} x", "\"\\q\"", "{\"Records\":[{\"IP\":\"1.2.3\"}]}", "{\"DefaultIP\":\"::1\"}",
            "{\"Records\":[{\"Regexp\":\"(\"}]}", "[".repeat(100)}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ZoneJson.parseZone(bad), bad);
            assertTrue(e.getMessage() != null && !e.getMessage().isEmpty(), bad);
        }
        assertEquals("invalid IP address: 1.2.3",
                assertThrows(IllegalArgumentException.class, () -> ZoneJson.parseZone("{\"DefaultIP\":\"1.2.3\"}")).getMessage());
        assertEquals("json: cannot unmarshal number into Go struct field Zone.Name of type string",
                assertThrows(IllegalArgumentException.class, () -> ZoneJson.parseZone("{\"Name\":1}")).getMessage());
    }
}
