package dev.gvproxy.stack.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** The one-line frame description of the -debug logs, on well-formed and odd frames. */
class FrameDescriptionTest {
    private static final String ETH = "5a94efe40cdd" + "5a94efe40cee";

    private static String describe(String hex) {
        ByteBuf f = Unpooled.wrappedBuffer(HexFormat.of().parseHex(hex));
        try {
            String s = FrameDescription.describe(f);
            assertEquals(0, f.readerIndex());
            return s;
        } finally {
            f.release();
        }
    }

    /** An IPv4 header (IHL 5) with the given protocol and flags/fragment field, from .2 to .1. */
    private static String ipv4(int proto, int fragField) {
        return String.format("45000000" + "0000%04x" + "40%02x0000" + "c0a87f02" + "c0a87f01", fragField, proto);
    }

    @Test
    void udpIcmpFragmentsAndOtherTypes() {
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 192.168.127.2:5353 > 192.168.127.1:53 UDP len 42",
                describe(ETH + "0800" + ipv4(17, 0) + "14e90035" + "00080000"));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 192.168.127.2 > 192.168.127.1 UDP (fragment) len 42",
                describe(ETH + "0800" + ipv4(17, 0x0010) + "14e90035" + "00080000"));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 192.168.127.2 > 192.168.127.1 ICMP type 8 code 0 len 42",
                describe(ETH + "0800" + ipv4(1, 0) + "08000000" + "00010001"));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv4 192.168.127.2 > 192.168.127.1 proto 47 len 34",
                describe(ETH + "0800" + ipv4(47, 0)));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd 0x88cc len 16", describe(ETH + "88cc" + "0000"));
    }

    @Test
    void arpRepliesAndTruncatedArp() {
        String reply = ETH + "0806" + "0001080006040002" + "5a94efe40cee" + "c0a87f02" + "5a94efe40cdd" + "c0a87f01";
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd ARP reply 192.168.127.2 is-at 5a:94:ef:e4:0c:ee len 42",
                describe(reply));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd ARP (truncated) len 20", describe(ETH + "0806" + "000108000604"));
    }

    /** A fixed IPv6 header from fd00::2 to fd00::1 with the given Next Header and payload length. */
    private static String ipv6(int nextHeader, int payloadLength) {
        return String.format("60000000%04x%02x40", payloadLength, nextHeader) + "fd00" + "0".repeat(27) + "2"
                + "fd00" + "0".repeat(27) + "1";
    }

    @Test
    void ipv6TruncatedBadChainsAndPorts() {
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv6 (truncated or bad header) len 22",
                describe(ETH + "86dd" + "6000000000000000"));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv6 (truncated or bad header) len 54",
                describe(ETH + "86dd" + ipv6(17, 8)));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv6 [fd00::2]:5353 > [fd00::1]:53 UDP len 62",
                describe(ETH + "86dd" + ipv6(17, 8) + "14e90035" + "00080000"));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv6 [fd00::2]:40000 > [fd00::1]:80 TCP [S] len 74",
                describe(ETH + "86dd" + ipv6(6, 20) + "9c400050" + "00000001" + "00000000" + "5002ffff" + "00000000"));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv6 fd00::2 > fd00::1 (ipv6.badExtensionLength) len 62",
                describe(ETH + "86dd" + ipv6(60, 8) + "1101000000000000"));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv6 fd00::2 > fd00::1 proto 99 len 54",
                describe(ETH + "86dd" + ipv6(99, 0)));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv6 fd00::2 > fd00::1 no next header len 54",
                describe(ETH + "86dd" + ipv6(59, 0)));
        assertEquals("5a:94:ef:e4:0c:ee > 5a:94:ef:e4:0c:dd IPv6 fd00::2 > fd00::1 ICMPv6 packet too big mtu 1280 "
                + "len 62", describe(ETH + "86dd" + ipv6(58, 8) + "02000000" + "00000500"));
    }
}
