package dev.gvproxy.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gvproxy.stack.Counters;
import dev.gvproxy.stack.NetworkStack;
import dev.gvproxy.stack.StackConfig;
import dev.gvproxy.stack.link.LinkEndpoint;
import dev.gvproxy.stack.link.SwitchPort;
import dev.gvproxy.stack.link.VirtualSwitch;
import dev.gvproxy.testing.Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xbill.DNS.ARecord;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.OPTRecord;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

/** The UDP front-end on a real stack: guest frames to 192.168.127.1:53 in, frames out to the guest. */
class DnsUdpPathTest implements LinkEndpoint {
    @TempDir
    Path dir;
    long now = 1_000_000_000L;
    final Counters counters = new Counters();
    final StackConfig config = StackConfig.defaults();
    VirtualSwitch sw;
    NetworkStack stack;
    SwitchPort guest;
    final ArrayDeque<byte[]> out = new ArrayDeque<>();
    final TestLoop loop = new TestLoop();
    FakeUpstream upstream;
    DnsServer dns;
    int flushes;

    @BeforeEach
    void setUp() throws IOException {
        upstream = FakeUpstream.standard();
        sw = new VirtualSwitch(config.gatewayMac(), counters, () -> now);
        sw.setFlushRequest(() -> loop.execute(sw::flush)); // the network's driver: flush at the end of the task
        stack = new NetworkStack(config, sw, counters, PooledByteBufAllocator.DEFAULT, () -> now);
        guest = sw.attach("guest", this);
        Path resolv = Files.writeString(dir.resolve("resolv.conf"), "options timeout:1 attempts:1\n");
        Path hosts = Files.writeString(dir.resolve("hosts"), "");
        dns = DnsServer.install(stack, DnsConfig.builder()
                .zones(Zone.legacyDefaults(config.gatewayIp(), config.hostIp()))
                .resolvConf(resolv).hostsFile(hosts)
                .upstreams(List.of(upstream.address()))
                .build(), loop);
    }

    @AfterEach
    void tearDown() {
        dns.close();
        stack.close();
        upstream.close();
    }

    @Override
    public void transmit(ByteBuf frame) {
        out.addLast(Frames.bytes(frame));
        frame.release();
    }

    @Override
    public void flush() {
        flushes++;
    }

    void send(Message q, int srcPort) {
        byte[] udp = Frames.udp(Frames.GUEST_IP, Frames.GW_IP, srcPort, 53, q.toWire());
        byte[] frame = Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x0800,
                Frames.ipv4(Frames.GUEST_IP, Frames.GW_IP, 17, 1, 0x4000, 64, udp));
        sw.deliver(guest, Unpooled.wrappedBuffer(frame));
        sw.flush();
    }

    /** Reads one UDP datagram to the guest from the frames sent, reassembling fragments. */
    byte[] receiveUdp(int dstPort) {
        TreeMap<Integer, byte[]> frags = new TreeMap<>();
        boolean last = false;
        while (!last || !contiguous(frags)) {
            byte[] f = out.pollFirst();
            if (f == null) {
                throw new AssertionError("no (complete) datagram; fragments " + frags.keySet());
            }
            assertEquals(0x0800, Frames.getShort(f, 12));
            assertEquals(Frames.GUEST_MAC, macAt(f, 0));
            int ihl = (f[14] & 0x0F) * 4;
            int total = Frames.getShort(f, 16);
            assertEquals(17, f[14 + 9]);
            assertEquals(Frames.GW_IP, Frames.getInt(f, 14 + 12));
            assertEquals(Frames.GUEST_IP, Frames.getInt(f, 14 + 16));
            int ff = Frames.getShort(f, 14 + 6);
            int offset = (ff & 0x1FFF) * 8;
            if ((ff & 0x2000) == 0) {
                last = true;
            }
            byte[] data = new byte[total - ihl];
            System.arraycopy(f, 14 + ihl, data, 0, data.length);
            frags.put(offset, data);
        }
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        frags.values().forEach(b::writeBytes);
        byte[] udp = b.toByteArray();
        assertEquals(53, Frames.getShort(udp, 0));
        assertEquals(dstPort, Frames.getShort(udp, 2));
        assertEquals(udp.length, Frames.getShort(udp, 4));
        byte[] dnsPayload = new byte[udp.length - 8];
        System.arraycopy(udp, 8, dnsPayload, 0, dnsPayload.length);
        return dnsPayload;
    }

    private static boolean contiguous(TreeMap<Integer, byte[]> frags) {
        int next = 0;
        for (var e : frags.entrySet()) {
            if (e.getKey() != next) {
                return false;
            }
            next += e.getValue().length;
        }
        return true;
    }

    private static long macAt(byte[] f, int off) {
        long m = 0;
        for (int i = 0; i < 6; i++) {
            m = (m << 8) | (f[off + i] & 0xFF);
        }
        return m;
    }

    static Message query(String name, int type) throws IOException {
        return Message.newQuery(Record.newRecord(Name.fromString(name), type, DClass.IN));
    }

    @Test
    void zoneAnswerIsSynchronousInTheSameBatch() throws IOException {
        Message q = query("host.containers.internal.", Type.A);
        send(q, 40000);
        Message r = new Message(receiveUdp(40000));
        assertEquals(q.getHeader().getID(), r.getHeader().getID());
        assertEquals("192.168.127.254", ((ARecord) r.getSection(Section.ANSWER).getFirst()).getAddress().getHostAddress());
        assertTrue(out.isEmpty());
        assertEquals(1, counters.get("dns.udp.queries"));
    }

    @Test
    void forwardedAnswerArrivesThroughTheLoopAndIsFlushed() throws IOException {
        Message q = query("a.test.", Type.A);
        send(q, 40001);
        assertTrue(out.isEmpty(), "answered later");
        int flushesBefore = flushes;
        loop.runUntil(() -> !out.isEmpty(), Duration.ofSeconds(10));
        loop.drain(); // the driver's flush, queued by the answer's task, runs after it
        assertTrue(flushes > flushesBefore, "the switch was flushed after the asynchronous send");
        Message r = new Message(receiveUdp(40001));
        assertEquals(upstream.get("a.test.", Type.A), r.getSection(Section.ANSWER));
    }

    @Test
    void bigAnswerTruncatedAt512AndFullWithEdns4096Fragmented() throws IOException {
        send(query("big.test.", Type.A), 40002);
        loop.runUntil(() -> !out.isEmpty(), Duration.ofSeconds(10));
        byte[] small = receiveUdp(40002);
        assertTrue(small.length <= 512);
        assertTrue(new Message(small).getHeader().getFlag(Flags.TC));

        Message q = query("big.test.", Type.A);
        q.addRecord(new OPTRecord(4096, 0, 0), Section.ADDITIONAL);
        send(q, 40003);
        loop.runUntil(() -> out.size() >= 1, Duration.ofSeconds(10));
        Message big = new Message(receiveUdp(40003));
        assertFalse(big.getHeader().getFlag(Flags.TC));
        assertEquals(60, big.getSection(Section.ANSWER).size());
    }

    @Test
    void malformedQueryGetsFormErrOverUdp() {
        byte[] junk = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'x'};
        byte[] udp = Frames.udp(Frames.GUEST_IP, Frames.GW_IP, 40004, 53, junk);
        sw.deliver(guest, Unpooled.wrappedBuffer(Frames.ethernet(Frames.GW_MAC, Frames.GUEST_MAC, 0x0800,
                Frames.ipv4(Frames.GUEST_IP, Frames.GW_IP, 17, 1, 0x4000, 64, udp))));
        byte[] r = receiveUdp(40004);
        assertEquals(12, r.length);
        assertEquals(0x1234, Frames.getShort(r, 0));
        assertEquals(Rcode.FORMERR, r[3] & 0x0F);
    }

    @Test
    void afterCloseThePortIsUnreachableAndLateAnswersAreDropped() throws IOException {
        send(query("a.test.", Type.A), 40005);
        dns.close();
        loop.runUntil(() -> counters.get("dns.closedDrop") == 1, Duration.ofSeconds(10));
        assertNull(out.pollFirst());
        send(query("host.containers.internal.", Type.A), 40006);
        byte[] f = out.pollFirst();
        assertEquals(1, f[14 + 9], "ICMP");
        assertEquals(3, f[14 + 20], "destination unreachable");
        assertEquals(3, f[14 + 21], "port unreachable");
    }
}
