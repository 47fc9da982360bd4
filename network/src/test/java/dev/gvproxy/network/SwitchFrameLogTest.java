package dev.gvproxy.network;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;

class SwitchFrameLogTest {
    private static ByteBuf hex(String h) {
        return Unpooled.wrappedBuffer(ByteBufUtil.decodeHexDump(h.replace(" ", "")));
    }

    private static final String ETH = "5a94efe40cdd 5a94efe40cee";
    // IPv4, IHL 5, proto TCP, 192.168.127.2 -> 192.168.127.1, ports 40000 -> 80, flags SYN

    @Test
    void describesFramesWithoutThrowing() {
        ByteBuf syn = hex(ETH + "0800" + "4500003c000040004006 0000 c0a87f02 c0a87f01" + "9c400050 00000000 00000000 a002faf0 00000000");
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 192.168.127.2:40000 > 192.168.127.1:80 TCP [S] len 54",
                SwitchFrameLog.describe(syn));
        assertEquals(0, syn.readerIndex());
        syn.release();
        ByteBuf arp = hex("ffffffffffff 5a94efe40cee 0806 0001080006040001 5a94efe40cee c0a87f02 000000000000 c0a87f01");
        assertEquals("5a:94:ef:e4:0c:ee > ff:ff:ff:ff:ff:ff ARP who-has 192.168.127.1 tell 192.168.127.2 len 42",
                SwitchFrameLog.describe(arp));
        arp.release();
        assertEquals("short frame, len 3", SwitchFrameLog.describe(hex("010203")));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 (truncated or bad header) len 18",
                SwitchFrameLog.describe(hex(ETH + "0800 45000000")));
        ByteBuf badIhl = hex(ETH + "0800" + "4f00003c000040004006 0000 c0a87f02 c0a87f01");
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 192.168.127.2 > 192.168.127.1 TCP len 34",
                SwitchFrameLog.describe(badIhl));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv6 (truncated or bad header) len 14",
                SwitchFrameLog.describe(hex(ETH + "86dd")));
    }

    @Test
    void logsOnlyAtFine() {
        Logger log = Logger.getLogger("test.frames." + System.nanoTime());
        log.setUseParentHandlers(false);
        List<String> lines = new ArrayList<>();
        log.addHandler(new Handler() {
            @Override
            public void publish(LogRecord r) {
                lines.add(r.getMessage());
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        });
        SwitchFrameLog tap = new SwitchFrameLog(log);
        ByteBuf f = hex(ETH + "86dd");
        log.setLevel(Level.INFO);
        tap.frame(f, 0);
        assertEquals(0, lines.size());
        log.setLevel(Level.FINE);
        int[] second = {0};
        SwitchFrameLog.compose(tap, (fr, now) -> second[0]++).frame(f, 0);
        assertEquals(List.of("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv6 (truncated or bad header) len 14"),
                lines);
        assertEquals(1, second[0]);
        f.release();
    }
}
