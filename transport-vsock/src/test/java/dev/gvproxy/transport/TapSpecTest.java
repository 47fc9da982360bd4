package dev.gvproxy.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import org.junit.jupiter.api.Test;

class TapSpecTest {
    @Test
    void interfaceAlone() throws IOException {
        assertEquals(new TapSpec("tap0", null, false), TapSpec.parse("tap://tap0"));
    }

    @Test
    void namespaceAndOffload() throws IOException {
        assertEquals(new TapSpec("tap_1", "ci-guest", true), TapSpec.parse("tap://tap_1?netns=ci-guest&offload=true"));
        assertEquals(new TapSpec("t", null, false), TapSpec.parse("TAP://t?offload=false"));
    }

    @Test
    void refusesWhatIsNotATapUri() {
        for (String bad : new String[] {"unix:///tmp/x", "tap://", "tap:///tap0", "tap://tap0/x",
                "tap://sixteen-chars-xx", "tap://a b", "tap://tap0?netns=../etc", "tap://tap0?netns=a/b",
                "tap://tap0?offload=yes", "tap://tap0?mtu=9000", "tap0"}) {
            IOException e = assertThrows(IOException.class, () -> TapSpec.parse(bad), bad);
            assertTrue(e.getMessage().contains("\""), () -> bad + ": the message quotes what was wrong: " + e.getMessage());
        }
    }
}
