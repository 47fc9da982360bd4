package dev.gvproxy.stack.link;

import static dev.gvproxy.testing.Frames.GW_IP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pcap file is what tshark reads: a ping exchange through the gateway shows as ICMP request/reply. */
class PcapWriterTest {
    @TempDir
    Path dir;

    Path record(int pings) throws IOException {
        return record(pings, false);
    }

    /** Records {@code pings} echo exchanges with the gateway, over IPv6 when {@code ipv6}. */
    Path record(int pings, boolean ipv6) throws IOException {
        Path file = dir.resolve("capture.pcap");
        Counters counters = new Counters();
        long[] now = {1_763_800_000_000_000_000L};
        VirtualSwitch sw = new VirtualSwitch(StackConfig.DEFAULT_GATEWAY_MAC, counters, () -> now[0]);
        NetworkStack stack = new NetworkStack(StackConfig.defaults(), sw, counters, PooledByteBufAllocator.DEFAULT,
                () -> now[0]);
        try (PcapWriter pcap = new PcapWriter(file, 262144)) {
            sw.setTap(pcap);
            SwitchPort guest = sw.attach("guest", new LinkEndpoint() {
                @Override
                public void transmit(ByteBuf frame) {
                    frame.release();
                }

                @Override
                public void flush() {}
            });
            for (int i = 1; i <= pings; i++) {
                now[0] += 1_000_123L;
                sw.deliver(guest, ipv6 ? io.netty.buffer.Unpooled.wrappedBuffer(Frames.ping6(GUEST6,
                        StackConfig.defaults().ipv6().gateway(), 0x42, i, new byte[56])) : Frames.ping(GW_IP, 0x42, i, 56));
            }
            assertEquals(2L * pings, pcap.frames());
        }
        stack.close();
        return file;
    }

    @Test
    void headerAndRecordsAreClassicPcapWithNanosecondTimestamps() throws IOException {
        byte[] b = Files.readAllBytes(record(1));
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.nativeOrder());
        assertEquals(0xa1b23c4d, bb.getInt(0));
        assertEquals(2, bb.getShort(4));
        assertEquals(4, bb.getShort(6));
        assertEquals(1, bb.getInt(20), "LINKTYPE_ETHERNET");
        int caplen = bb.getInt(24 + 8);
        assertEquals(14 + 20 + 8 + 56, caplen);
        assertEquals(24 + 2 * (16 + caplen), b.length);
        assertEquals(1_763_800_000, bb.getInt(24), "seconds");
        assertEquals(1_000_123, bb.getInt(24 + 4), "nanoseconds");
    }

    @Test
    void tsharkReadsTheIcmpExchange() throws Exception {
        Assumptions.assumeTrue(onPath("tshark"), "tshark is not installed (apt install tshark)");
        Path file = record(3);
        Process p = new ProcessBuilder("tshark", "-n", "-r", file.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        List<String> lines = out.lines().filter(l -> l.contains("ICMP")).toList();
        assertEquals(6, lines.size(), out);
        assertTrue(lines.get(0).contains("192.168.127.2") && lines.get(0).contains("Echo (ping) request"), out);
        assertTrue(lines.get(1).contains("192.168.127.1") && lines.get(1).contains("Echo (ping) reply"), out);
    }

    /** {@code -debug}'s other half: tshark and tcpdump decode the IPv6 and ICMPv6 the capture holds. */
    @Test
    void tsharkAndTcpdumpDecodeIpv6AndIcmpv6() throws Exception {
        Assumptions.assumeTrue(onPath("tshark"), "tshark is not installed (apt install tshark)");
        Path file = record(2, true);
        String out = run("tshark", "-n", "-r", file.toString());
        List<String> lines = out.lines().filter(l -> l.contains("ICMPv6")).toList();
        assertEquals(4, lines.size(), out);
        assertTrue(lines.get(0).contains("fd00:5a94:efe4::2 → fd00:5a94:efe4::1")
                && lines.get(0).contains("Echo (ping) request"), out);
        assertTrue(lines.get(1).contains("fd00:5a94:efe4::1 → fd00:5a94:efe4::2")
                && lines.get(1).contains("Echo (ping) reply"), out);
        if (onPath("tcpdump")) {
            String td = run("tcpdump", "-n", "-r", file.toString());
            assertTrue(td.contains("IP6 fd00:5a94:efe4::2 > fd00:5a94:efe4::1: ICMP6, echo request"), td);
            assertTrue(td.contains("IP6 fd00:5a94:efe4::1 > fd00:5a94:efe4::2: ICMP6, echo reply"), td);
        }
    }

    static final dev.gvproxy.stack.wire.Ipv6Address GUEST6 = dev.gvproxy.stack.wire.Ipv6Address.parse("fd00:5a94:efe4::2");

    static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }
}
