#!/usr/bin/env python3
"""Soak run for issue 9 ("The guest is untrusted"): two namespace guests on one gvproxy-java, continuous mixed
traffic from both, the guest attacks in turn from one of them, and gvproxy-java's RSS, open descriptors and
threads sampled every 10 s; writes a CSV, an SVG plot and a markdown summary, and says PASS when nothing grows
without bound (the values at the end of every quiet period stay within a stated margin of the first one).

Run as root from the repository root after `./mvnw -q -B -DskipTests package` (not in CI):

    python3 benchmarks/scripts/soak.py                       # 30 minutes, output in soak-<time>/
    python3 benchmarks/scripts/soak.py --duration 5m --out /tmp/soak5

Layout: gvproxy-java (bin/gvproxy-java, API on a unix socket in a temporary directory) runs in a private mount
namespace whose /etc/resolv.conf is a bind mount of our own file naming a DNS server of this script on a
127.x.y.z address, so the gateway's DNS forwarding never reaches a real resolver. Each guest is a fresh network
namespace `gvsoak-<random>` whose TAP is pumped by bin/gvforwarder-java over the API's /connect; the agent's
DHCP client (udhcpc) gives it its address. Host servers (TCP echo, HTTP, sink, source, idle holder, stalled
reader, black hole, UDP echo, DNS) listen on 127.0.0.1 only; guests reach them through the host alias
192.168.127.254.

Phases: a first quiet period (the baseline), then each attack of issue 9 from the attacker guest followed by a
quiet period: MAC flood, ARP spoofing (gratuitous ARP for the gateway, the victim's MAC), DHCP release/chaddr
spoofing and a 300-MAC lease flood, spoofed-source SYN flood, 20,000 idle connections, 300 stalled host readers,
500 connects to a black-holed host port, in-VM API abuse (huge JSON numbers, oversized and deep bodies, host
forward removal, many idle API connections), and killing the attacker's gvforwarder-java with 500 open
connections (restarted after the leave grace period, then once more within it).

Network safety: every guest namespace has IPv6 off, a routing rule that makes everything outside 192.168.127.0/24
unreachable (before the agent's DHCP script adds its default route, which is then deleted) and an iptables
OUTPUT policy of DROP except lo and 192.168.127.0/24. Raw attack frames are addressed to 192.168.127.0/24 only.
Host servers bind 127.0.0.1 (DNS: a 127.53.x.y address); in-VM API exposes are loopback only. Everything this
script starts is killed by PID (process group of its own children) and every namespace it made is deleted, also
on Ctrl-C.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import re
import resource
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("GVJB_ROOT") or os.path.abspath(os.path.join(HERE, "..", ".."))
L2ATTACK_DIR = os.path.join(ROOT, "integration-tests", "src", "test", "resources", "dev", "gvproxy", "it", "netns")
PY = sys.executable
SUBNET = "192.168.127.0/24"
GW = "192.168.127.1"
ALIAS = "192.168.127.254"
VICTIM_MAC = "5a:94:ef:e4:0c:ee"
ATTACKER_MAC = "02:5a:00:00:0a:0a"
MTU = 1500
# The stalled readers' payload: every connection sends STALL_BYTES of this 64 KiB pattern.
PAT = hashlib.sha256(b"gvproxy-java soak").digest() * 2048
STALL_BYTES = 512 << 10
READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


def pattern_digest(n):
    h = hashlib.sha256()
    full, rest = divmod(n, len(PAT))
    for _ in range(full):
        h.update(PAT)
    h.update(PAT[:rest])
    return h.hexdigest()


def raise_nofile(n=65536):
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------------------------
# Host servers (`soak.py _servers CFG`): one selector loop per TCP service, all on 127.0.0.1.
# ---------------------------------------------------------------------------------------------------------------

class Loop(threading.Thread):
    def __init__(self, name, lsock, make):
        super().__init__(daemon=True, name=name)
        self.sel = selectors.DefaultSelector()
        self.lsock = lsock
        self.make = make
        self.conns = set()
        self.calls = []
        self.lock = threading.Lock()
        self.wake_r, self.wake_w = socket.socketpair()
        self.stalled = False
        self.stats = {"ok": 0, "bad": 0, "accepted": 0}

    def call(self, fn):
        with self.lock:
            self.calls.append(fn)
        self.wake_w.send(b"x")

    def run(self):
        self.lsock.setblocking(False)
        self.sel.register(self.lsock, READ, None)
        self.wake_r.setblocking(False)
        self.sel.register(self.wake_r, READ, "wake")
        while True:
            for key, mask in self.sel.select(1.0):
                if key.data is None:
                    while True:
                        try:
                            s, _ = self.lsock.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:  # EMFILE and the like: try again later
                            time.sleep(0.05)
                            break
                        s.setblocking(False)
                        self.stats["accepted"] += 1
                        c = self.make(self, s)
                        self.conns.add(c)
                        self.update(c)
                elif key.data == "wake":
                    try:
                        self.wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                    with self.lock:
                        calls, self.calls = self.calls, []
                    for fn in calls:
                        fn()
                else:
                    c = key.data
                    try:
                        c.io(mask)
                    except OSError:
                        c.close()

    def update(self, c):
        if c.closed:
            return
        ev = c.events()
        if ev == 0:
            if c.registered:
                self.sel.unregister(c.sock)
                c.registered = False
        elif c.registered:
            self.sel.modify(c.sock, ev, c)
        else:
            self.sel.register(c.sock, ev, c)
            c.registered = True


class Conn:
    def __init__(self, loop, sock):
        self.loop = loop
        self.sock = sock
        self.out = bytearray()
        self.reading = True
        self.closed = False
        self.registered = False
        self.close_after_flush = False

    def events(self):
        return (READ if self.reading else 0) | (WRITE if self.out else 0)

    def io(self, mask):
        if mask & WRITE:
            n = self.sock.send(self.out)
            del self.out[:n]
            if not self.out:
                self.refill()
            if not self.out and self.close_after_flush:
                self.close()
                return
        if mask & READ and self.reading:
            data = self.sock.recv(262144)
            if not data:
                self.eof()
            else:
                self.data(data)
        if not self.closed:
            self.loop.update(self)

    def refill(self):
        pass

    def data(self, b):
        pass

    def eof(self):
        self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self.registered:
            self.loop.sel.unregister(self.sock)
        self.loop.conns.discard(self)
        self.sock.close()


class Echo(Conn):
    def data(self, b):
        self.out += b


class Http(Conn):
    buf = b""

    def data(self, b):
        self.buf += b
        if b"\r\n\r\n" in self.buf:
            self.out += b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
            self.reading = False
            self.close_after_flush = True
        elif len(self.buf) > 8192:
            self.close()


class Sink(Conn):
    """Reads until EOF and answers the SHA-256 of what it got."""
    def __init__(self, loop, sock):
        super().__init__(loop, sock)
        self.h = hashlib.sha256()

    def data(self, b):
        self.h.update(b)

    def eof(self):
        self.out += (self.h.hexdigest() + "\n").encode()
        self.reading = False
        self.close_after_flush = True


class Source(Conn):
    """Reads "N\\n", sends an 8-byte length, N random bytes and their SHA-256 (32 bytes)."""
    def __init__(self, loop, sock):
        super().__init__(loop, sock)
        self.buf = b""
        self.left = -1
        self.h = hashlib.sha256()

    def data(self, b):
        self.buf += b
        if self.left < 0 and b"\n" in self.buf:
            self.left = int(self.buf.split(b"\n", 1)[0])
            self.out += struct.pack("!Q", self.left)
            self.reading = False
            self.refill()

    def refill(self):
        if self.left > 0:
            chunk = os.urandom(min(self.left, 65536))
            self.h.update(chunk)
            self.left -= len(chunk)
            self.out += chunk
            if self.left == 0:
                self.out += self.h.digest()
                self.close_after_flush = True


class Idle(Conn):
    def data(self, b):
        pass


class Stall(Conn):
    """Does not read while the loop is stalled; then checks each connection got STALL_BYTES of PAT."""
    def __init__(self, loop, sock):
        super().__init__(loop, sock)
        self.h = hashlib.sha256()
        self.n = 0

    def events(self):
        return 0 if self.loop.stalled else READ

    def data(self, b):
        self.h.update(b)
        self.n += len(b)

    def eof(self):
        ok = self.n == STALL_BYTES and self.h.hexdigest() == STALL_DIGEST
        self.loop.stats["ok" if ok else "bad"] += 1
        self.close()


STALL_DIGEST = None


def servers_main(cfg):
    global STALL_DIGEST
    STALL_DIGEST = pattern_digest(STALL_BYTES)
    raise_nofile()
    host = "127.0.0.1"
    loops = {}
    for name, cls in (("echo", Echo), ("http", Http), ("sink", Sink), ("source", Source), ("idle", Idle),
                      ("stall", Stall)):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, cfg["ports"][name]))
        ls.listen(4096)
        loops[name] = Loop(name, ls, cls)
        loops[name].start()
    # Black hole: backlog 0 and one queued connection that is never accepted; the kernel then drops every SYN.
    bh = socket.socket()
    bh.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    bh.bind((host, cfg["ports"]["blackhole"]))
    bh.listen(0)
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, cfg["ports"]["blackhole"]))
        fillers.append(s)
        _, w, _ = select.select([], [s], [], 0.5)
        if not w:
            break

    def udp_echo():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((host, cfg["ports"]["echo"]))
        while True:
            d, a = u.recvfrom(65535)
            u.sendto(d, a)

    def dns_answer(q):
        if len(q) < 17:
            return None
        i = 12
        while i < len(q) and q[i] != 0:
            i += 1 + q[i]
        qend = i + 5
        if qend > len(q):
            return None
        qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
        name = q[12:i + 1]
        h = hashlib.sha256(name.lower()).digest()
        ans = b""
        if qtype == 1:
            ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4) + bytes([198, 18, h[0], h[1] or 1])
        return q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if ans else 0, 0, 0) + q[12:qend] + ans

    dns_stats = {"udp": 0, "tcp": 0}

    def dns_udp():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((cfg["dns"], 53))
        while True:
            q, a = u.recvfrom(4096)
            r = dns_answer(q)
            if r:
                dns_stats["udp"] += 1
                u.sendto(r, a)

    def dns_tcp():
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((cfg["dns"], 53))
        ls.listen(64)
        while True:
            s, _ = ls.accept()
            s.settimeout(5)
            try:
                while True:
                    hdr = s.recv(2, socket.MSG_WAITALL)
                    if len(hdr) < 2:
                        break
                    q = s.recv(struct.unpack("!H", hdr)[0], socket.MSG_WAITALL)
                    r = dns_answer(q)
                    if not r:
                        break
                    dns_stats["tcp"] += 1
                    s.sendall(struct.pack("!H", len(r)) + r)
            except OSError:
                pass
            s.close()

    for fn in (udp_echo, dns_udp, dns_tcp):
        threading.Thread(target=fn, daemon=True).start()

    def status():
        return {"idle_open": len(loops["idle"].conns), "stall_open": len(loops["stall"].conns),
                "stall_ok": loops["stall"].stats["ok"], "stall_bad": loops["stall"].stats["bad"],
                "echo_accepted": loops["echo"].stats["accepted"], "dns_upstream": dict(dns_stats),
                "blackhole_fillers": len(fillers)}

    emit({"ready": True})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "stall":
            loops["stall"].stalled = True
        elif cmd == "resume":
            lp = loops["stall"]

            def resume(lp=lp):
                lp.stalled = False
                for c in list(lp.conns):
                    lp.update(c)
            lp.call(resume)
        emit(status())


# ---------------------------------------------------------------------------------------------------------------
# Guest traffic (`soak.py _traffic CFG`, run inside a namespace): prints one JSON line of counts every 2 s.
# ---------------------------------------------------------------------------------------------------------------

class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.ok = {}
        self.fail = {}
        self.err = {}
        self.ctl = []
        self.bulk_bytes = 0
        self.bulk_secs = 0.0

    def add(self, kind, ok, err=None):
        with self.lock:
            d = self.ok if ok else self.fail
            d[kind] = d.get(kind, 0) + 1
            if err is not None:
                self.err[kind] = str(err)[:160]

    def snap(self):
        with self.lock:
            r = {"t": time.time(), "ok": self.ok, "fail": self.fail, "err": self.err,
                 "ctl_max_ms": max(self.ctl, default=None), "ctl_n": len(self.ctl),
                 "ctl_over_1s": sum(1 for x in self.ctl if x > 1000), "bulk_bytes": self.bulk_bytes,
                 "bulk_secs": round(self.bulk_secs, 3)}
            self.reset()
            return r


def dns_query(name, qid, qtype=1):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for part in name.rstrip(".").split("."):
        q += bytes([len(part)]) + part.encode()
    return q + b"\0" + struct.pack("!HH", qtype, 1)


def dns_ok(r, qid):
    if len(r) < 12:
        return "short answer"
    rid, flags, _, an = struct.unpack("!HHHH", r[:8])
    if rid != qid:
        return "id mismatch"
    if flags & 0xF:
        return "rcode %d" % (flags & 0xF)
    if an < 1:
        return "no answer"
    return None


def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(min(n - len(b), 262144))
        if not c:
            raise ConnectionError("EOF after %d of %d bytes" % (len(b), n))
        b += c
    return bytes(b)


def traffic_main(cfg):
    ports = cfg["ports"]
    t = Tally()
    stop = threading.Event()

    def every(period, fn):
        def loop():
            while not stop.is_set():
                t0 = time.time()
                fn()
                stop.wait(max(0.0, period - (time.time() - t0)))
        threading.Thread(target=loop, daemon=True).start()

    def ctl():
        s = socket.socket()
        s.settimeout(5)
        t0 = time.monotonic()
        try:
            s.connect((ALIAS, ports["echo"]))
            ms = (time.monotonic() - t0) * 1000
            with t.lock:
                t.ctl.append(ms)
            s.sendall(b"ping\n")
            if recv_exact(s, 5) != b"ping\n":
                raise ValueError("bad echo")
            t.add("ctl", True)
        except (OSError, ValueError) as e:
            with t.lock:
                t.ctl.append((time.monotonic() - t0) * 1000)
            t.add("ctl", False, e)
        finally:
            s.close()

    def http_get():
        c = http.client.HTTPConnection(ALIAS, ports["http"], timeout=5)
        try:
            c.request("GET", "/")
            r = c.getresponse()
            body = r.read()
            t.add("http", r.status == 200 and body == b"ok\n", None if r.status == 200 else r.status)
        except (OSError, http.client.HTTPException) as e:
            t.add("http", False, e)
        finally:
            c.close()

    bulk_n = cfg.get("bulk_bytes", 8 << 20)
    flip = [False]

    def bulk_done(ok, t0):
        if ok:
            with t.lock:
                t.bulk_bytes += bulk_n
                t.bulk_secs += time.monotonic() - t0

    def bulk():
        flip[0] = not flip[0]
        s = socket.socket()
        s.settimeout(20)
        t0 = time.monotonic()
        try:
            if flip[0]:
                s.connect((ALIAS, ports["sink"]))
                h = hashlib.sha256()
                left = bulk_n
                while left:
                    c = os.urandom(min(left, 65536))
                    h.update(c)
                    s.sendall(c)
                    left -= len(c)
                s.shutdown(socket.SHUT_WR)
                got = b""
                while not got.endswith(b"\n"):
                    c = s.recv(100)
                    if not c:
                        break
                    got += c
                ok = got.strip().decode() == h.hexdigest()
                t.add("bulk", ok, None if ok else "sink digest mismatch")
                bulk_done(ok, t0)
            else:
                s.connect((ALIAS, ports["source"]))
                s.sendall(b"%d\n" % bulk_n)
                n = struct.unpack("!Q", recv_exact(s, 8))[0]
                h = hashlib.sha256()
                left = n
                while left:
                    c = s.recv(min(left, 262144))
                    if not c:
                        raise ConnectionError("EOF with %d bytes left" % left)
                    h.update(c)
                    left -= len(c)
                ok = n == bulk_n and recv_exact(s, 32) == h.digest()
                t.add("bulk", ok, None if ok else "source digest mismatch")
                bulk_done(ok, t0)
        except (OSError, ValueError) as e:
            t.add("bulk", False, e)
        finally:
            s.close()

    useq = [0]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)

    def udp():
        useq[0] += 1
        msg = b"soak %d" % useq[0]
        try:
            u.sendto(msg, (ALIAS, ports["echo"]))
            while True:
                d, _ = u.recvfrom(2048)
                if d == msg:
                    break
            t.add("udp", True)
        except OSError as e:
            t.add("udp", False, e)

    dseq = [0]

    def dns():
        dseq[0] += 1
        qid = dseq[0] & 0xFFFF
        name = "host.containers.internal" if dseq[0] % 2 else "n%d.soak.test" % dseq[0]
        q = dns_query(name, qid)
        try:
            if dseq[0] % 10 == 0:
                s = socket.create_connection((GW, 53), timeout=3)
                try:
                    s.sendall(struct.pack("!H", len(q)) + q)
                    r = recv_exact(s, struct.unpack("!H", recv_exact(s, 2))[0])
                finally:
                    s.close()
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(3)
                try:
                    s.sendto(q, (GW, 53))
                    r = s.recv(4096)
                finally:
                    s.close()
            e = dns_ok(r, qid)
            t.add("dns", e is None, e and (name + ": " + e))
        except OSError as e:
            t.add("dns", False, e)

    pseq = [0]
    ident = os.getpid() & 0xFFFF
    icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    icmp.settimeout(2)

    def ping():
        pseq[0] = (pseq[0] + 1) & 0xFFFF
        m = struct.pack("!BBHHH", 8, 0, 0, ident, pseq[0]) + b"soak" * 8
        m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
        try:
            icmp.sendto(m, (GW, 0))
            end = time.time() + 2
            while True:
                icmp.settimeout(max(0.01, end - time.time()))
                d = icmp.recv(2048)
                ihl = (d[0] & 0xF) * 4
                typ, _, _, rid, rseq = struct.unpack("!BBHHH", d[ihl:ihl + 8])
                if typ == 0 and rid == ident and rseq == pseq[0]:
                    break
            t.add("ping", True)
        except OSError as e:
            t.add("ping", False, e)

    every(0.5, ctl)
    every(0.1, http_get)
    every(0.1, http_get)
    every(1.0, bulk)
    every(0.2, udp)
    every(0.3, dns)
    every(0.5, ping)
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    while not stop.is_set():
        stop.wait(2)
        emit(t.snap())


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# ---------------------------------------------------------------------------------------------------------------
# Attacks (`soak.py _attack KIND CFG`, run inside the attacker namespace until cfg["until"]).
# ---------------------------------------------------------------------------------------------------------------

def open_many(addr, n, until, conc=256, reopen=False, connect_timeout=40.0, sock_opts=None):
    """Opens up to n TCP connections to addr (non-blocking, conc at once); with reopen, keeps n attempts going."""
    sel = selectors.DefaultSelector()
    pending = {}
    est = []
    st = {"attempts": 0, "connected": 0, "refused": 0, "timeout": 0, "other": 0}
    while time.time() < until:
        while len(pending) < conc and (st["attempts"] < n if not reopen else len(pending) + len(est) < n):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect_ex(addr)
            except OSError:
                s.close()
                st["other"] += 1
                break
            st["attempts"] += 1
            pending[s] = time.time()
            sel.register(s, WRITE)
        if not pending:
            if not reopen and st["attempts"] >= n:
                break
            time.sleep(min(0.5, max(0.0, until - time.time())))
            continue
        for key, _ in sel.select(0.2):
            s = key.fileobj
            sel.unregister(s)
            del pending[s]
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                st["connected"] += 1
                est.append(s)
            else:
                st["refused" if err == 111 else "other"] += 1
                s.close()
        now = time.time()
        for s, t0 in list(pending.items()):
            if now - t0 > connect_timeout:
                sel.unregister(s)
                del pending[s]
                s.close()
                st["timeout"] += 1
    st["open_at_end"] = len(est)
    st["pending_at_end"] = len(pending)
    return st, est + list(pending)


def api_request(method, path, body, timeout=15):
    c = http.client.HTTPConnection(GW, 80, timeout=timeout)
    t0 = time.monotonic()
    try:
        c.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        return r.status, (time.monotonic() - t0) * 1000
    except (OSError, http.client.HTTPException) as e:
        return type(e).__name__, (time.monotonic() - t0) * 1000
    finally:
        c.close()


def attack_main(kind, cfg):
    sys.path.insert(0, L2ATTACK_DIR)
    import l2attack as l2
    until = cfg["until"]
    ports = cfg["ports"]
    raise_nofile()
    res = {"kind": kind}
    if kind == "macflood":
        s = l2.sock("tap0")
        src_ip, dst_ip = l2.ip(cfg["ip"]), l2.ip("192.168.127.200")
        payload = l2.ipv4(src_ip, dst_ip, 17, l2.udp(src_ip, dst_ip, 9, 9, b"soak"))
        n = 0
        rate = cfg["macflood_rate"]
        t0 = time.time()
        while time.time() < until:
            for _ in range(500):
                src = bytes([0x02]) + os.urandom(5)
                dst = bytes([0x02, 0xee]) + os.urandom(4)  # unknown unicast: learnt, then dropped by the switch
                l2.send(s, l2.eth(dst, src, 0x0800, payload))
            n += 500
            ahead = n / rate - (time.time() - t0)
            if ahead > 0:
                time.sleep(ahead)
        res["frames"] = n
    elif kind == "arpspoof":
        s = l2.sock("tap0")
        me, victim = l2.mac(cfg["mac"]), l2.mac(cfg["victim_mac"])
        n = 0
        while time.time() < until:
            for claimed in (GW, ALIAS, cfg["victim_ip"]):
                c = l2.ip(claimed)
                l2.send(s, l2.eth(l2.BCAST, me, 0x0806, l2.arp(1, me, c, b"\0" * 6, c)))
                l2.send(s, l2.eth(l2.BCAST, me, 0x0806, l2.arp(2, me, c, l2.BCAST, c)))
            # the victim's MAC as our source (ARP and a ping from its address)
            l2.send(s, l2.eth(l2.BCAST, victim, 0x0806, l2.arp(1, victim, l2.ip(cfg["victim_ip"]), b"\0" * 6,
                                                                 l2.ip(GW))))
            # the gateway's MAC as our source
            l2.send(s, l2.eth(l2.BCAST, l2.GW_MAC, 0x0806, l2.arp(2, l2.GW_MAC, l2.ip(GW), l2.BCAST, l2.ip(GW))))
            n += 8
            time.sleep(0.02)
        res["frames"] = n
    elif kind == "dhcpspoof":
        n = 0
        floods = []
        while time.time() < until:
            # RELEASE of the victim's lease: its chaddr from our MAC, then also with its MAC as frame source
            l2.main(["l2attack", "release", "tap0", cfg["mac"], cfg["ip"], cfg["victim_mac"], cfg["victim_ip"]])
            l2.main(["l2attack", "release", "tap0", cfg["victim_mac"], cfg["victim_ip"], cfg["victim_mac"],
                     cfg["victim_ip"]])
            n += 6
            if time.time() + 7 < until:
                import io
                import contextlib
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    l2.main(["l2attack", "dhcpflood", "tap0", "300"])
                floods.append(out.getvalue().strip())
            else:
                time.sleep(1)
        res["releases"] = n
        res["floods"] = floods[-3:]
    elif kind == "synflood":
        n = 0
        rate = cfg["synflood_rate"]
        t0 = time.time()
        while time.time() < until:
            l2.main(["l2attack", "synflood", "tap0", cfg["mac"], ALIAS, str(ports["echo"]), "500"])
            n += 500
            ahead = n / rate - (time.time() - t0)
            if ahead > 0:
                time.sleep(ahead)
        res["syns"] = n
    elif kind in ("idle", "hold"):
        n = 20000 if kind == "idle" else 500
        st, socks = open_many((ALIAS, ports["idle"]), n, until if kind == "idle" else time.time() + 60,
                              connect_timeout=10)
        res.update(st)
        emit({"held": len(socks), **st})
        while time.time() < until:
            time.sleep(0.5)
        for s in socks:
            s.close()
    elif kind == "stall":
        # 300 connections, each sending STALL_BYTES of PAT; the host readers resume when the phase ends, and
        # every transfer must then complete (checked on the host side).
        sel = selectors.DefaultSelector()
        socks = []
        for _ in range(300):
            s = socket.socket()
            s.settimeout(10)
            try:
                s.connect((ALIAS, ports["stall"]))
            except OSError:
                s.close()
                res["connect_fail"] = res.get("connect_fail", 0) + 1
                continue
            s.setblocking(False)
            socks.append(s)
            sel.register(s, WRITE, [0])
        res["connected"] = len(socks)
        deadline = until + cfg.get("stall_drain", 120)
        left = len(socks)
        while left and time.time() < deadline:
            for key, _ in sel.select(0.5):
                sent = key.data
                off = sent[0] % len(PAT)
                try:
                    k = key.fileobj.send(PAT[off:off + min(len(PAT) - off, STALL_BYTES - sent[0])])
                except OSError:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    left -= 1
                    res["send_error"] = res.get("send_error", 0) + 1
                    continue
                sent[0] += k
                if sent[0] >= STALL_BYTES:
                    sel.unregister(key.fileobj)
                    key.fileobj.shutdown(socket.SHUT_WR)
                    left -= 1
        res["unfinished"] = left
        time.sleep(2)
        for s in socks:
            s.close()
    elif kind == "blackhole":
        st, socks = open_many((ALIAS, ports["blackhole"]), 500, until, conc=500, reopen=True,
                              connect_timeout=60)
        res.update(st)
        for s in socks:
            s.close()
    elif kind == "api":
        codes = {}
        worst = 0.0
        ssh_local = "127.0.0.1:%d" % ports["ssh"]
        bodies = [
            ("huge number", '{"local":' + "9" * 60000 + ',"remote":":22","protocol":"tcp"}'),
            ("huge exponent", '{"local":"127.0.0.1:0","remote":":22","protocol":"tcp","x":1e999999999}'),
            ("oversized body", '{"local":"' + "x" * 70000 + '"}'),
            ("deep nesting", "[" * 5000 + "]" * 5000),
            ("unexpose host forward", json.dumps({"local": ssh_local})),
            ("unix expose", json.dumps({"local": "/tmp/gvsoak-nope.sock", "remote": "tcp://%s:22" % cfg["ip"],
                                        "protocol": "unix"})),
        ]
        conns = {}
        while time.time() < until:
            for what, body in bodies:
                path = "/services/forwarder/unexpose" if what.startswith("unexpose") else \
                    "/services/forwarder/expose"
                code, ms = api_request("POST", path, body)
                key = "%s:%s" % (what, code)
                codes[key] = codes.get(key, 0) + 1
                worst = max(worst, ms)
            # a loopback port-0 expose and its removal (creates and frees a host listener)
            code, ms = api_request("POST", "/services/forwarder/expose",
                                   json.dumps({"local": "127.0.0.1:0", "remote": "%s:9" % cfg["ip"]}))
            codes["expose :0:%s" % code] = codes.get("expose :0:%s" % code, 0) + 1
            # many idle API connections, held for 3 s, then closed (the requests above need the slots)
            st, held = open_many((GW, 80), 200, min(until, time.time() + 5), conc=200, connect_timeout=5)
            conns["opened"] = conns.get("opened", 0) + st["connected"]
            time.sleep(3)
            for s in held:
                s.close()
            time.sleep(0.5)
        # remove what the port-0 exposes created
        c = http.client.HTTPConnection(GW, 80, timeout=10)
        try:
            c.request("GET", "/services/forwarder/all")
            fwd = json.loads(c.getresponse().read() or b"[]")
        except (OSError, ValueError, http.client.HTTPException):
            fwd = []
        finally:
            c.close()
        removed = 0
        for f in fwd or []:
            if f.get("local"):  # a guest lists only guest-created forwards: all of them are ours
                if api_request("POST", "/services/forwarder/unexpose", json.dumps({"local": f["local"]}))[0] == 200:
                    removed += 1
        res.update({"codes": codes, "worst_ms": round(worst), "port0_removed": removed, "idle_api_conns": conns})
    else:
        raise SystemExit("unknown attack " + kind)
    emit(res)


# ---------------------------------------------------------------------------------------------------------------
# Orchestrator
# ---------------------------------------------------------------------------------------------------------------

def run(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, **kw)


def wait_for(cond, secs, what):
    end = time.time() + secs
    while time.time() < end:
        if cond():
            return
        time.sleep(0.2)
    raise RuntimeError("timed out waiting for " + what)


def parse_duration(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", s.strip())
    if not m:
        raise argparse.ArgumentTypeError("duration like 30m, 300s or 1h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


class Soak:
    def __init__(self, args):
        self.args = args
        self.out = args.out
        self.tmp = tempfile.mkdtemp(prefix="gvsoak-")
        self.procs = []           # every child we started (killed by PID / own process group)
        self.namespaces = []
        self.lock = threading.Lock()
        base = random.randint(20000, 29000)
        self.ports = {"echo": base, "http": base + 1, "sink": base + 2, "source": base + 3, "idle": base + 4,
                      "stall": base + 5, "blackhole": base + 6, "ssh": base + 7}
        self.dns = "127.53.%d.%d" % (random.randint(1, 254), random.randint(1, 254))
        self.sock = os.path.join(self.tmp, "gv.sock")
        self.samples = []
        self.phases = []          # dicts: name, kind (quiet|attack), start, end, notes
        self.phase = "start"
        self.stop_sampling = threading.Event()
        self.agents = {}

    # -- processes ------------------------------------------------------------------------------------------
    def spawn(self, cmd, log=None, stdin=None, stdout=None, env=None):
        f = open(os.path.join(self.out, log), "a") if log else subprocess.DEVNULL
        p = subprocess.Popen(cmd, stdout=stdout if stdout else f, stderr=f if log else subprocess.DEVNULL,
                             stdin=stdin, start_new_session=True, text=True, env=env)
        self.procs.append(p)
        return p

    def kill(self, p, sig=signal.SIGTERM, wait=5):
        if p.poll() is not None:
            return
        try:
            os.killpg(p.pid, sig)  # its own session/group, created by us
        except ProcessLookupError:
            return
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()

    def ns_exec(self, ns, *cmd):
        return ["ip", "netns", "exec", ns] + list(cmd)

    # -- set-up ---------------------------------------------------------------------------------------------
    def start_servers(self):
        cfg = {"ports": self.ports, "dns": self.dns}
        self.servers = self.spawn([PY, os.path.abspath(__file__), "_servers", json.dumps(cfg)], "servers.log",
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.servers.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            raise RuntimeError("host servers did not start (see servers.log)")

    def server_cmd(self, cmd):
        with self.lock:
            self.servers.stdin.write(cmd + "\n")
            self.servers.stdin.flush()
            return json.loads(self.servers.stdout.readline())

    def start_gvproxy(self):
        resolv = os.path.join(self.tmp, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("# gvproxy-java soak: the only upstream is this script's DNS server\n"
                    "nameserver %s\noptions timeout:2 attempts:1\n" % self.dns)
        self.jcmd = find_jcmd()
        cmd = [os.path.join(ROOT, "bin", "gvproxy-java"), "-listen", "unix://" + self.sock,
               "-ssh-port", str(self.ports["ssh"]), "-mtu", str(MTU)] + self.args.gvproxy_arg
        # A private mount namespace in which /etc/resolv.conf is ours: DNS forwarding only reaches 127.53.x.y.
        env = dict(os.environ)
        if not self.args.no_nmt:  # what the RSS is made of, at every phase end (jcmd VM.native_memory)
            env["GVPROXY_JAVA_OPTS"] = (env.get("GVPROXY_JAVA_OPTS", "") + " -XX:NativeMemoryTracking=summary").strip()
        self.gv = self.spawn(["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
                              'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv] + cmd, "gvproxy-java.log",
                             env=env)
        wait_for(lambda: os.path.exists(self.sock) or self.gv.poll() is not None, 60, "gvproxy-java API socket")
        if self.gv.poll() is not None:
            raise RuntimeError("gvproxy-java exited at start (see gvproxy-java.log)")
        wait_for(lambda: open("/proc/%d/comm" % self.gv.pid).read().strip() == "java", 10, "java process")
        self.gv_pid = self.gv.pid
        self.nmt()  # attach once now, so jcmd's Attach Listener thread is already there at the baseline

    def make_guest(self, role, mac):
        ns = "gvsoak-%s-%04x" % (role[:3], random.getrandbits(16))
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh = lambda s: run("ip", "netns", "exec", ns, "bash", "-c", s)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 "
           "net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range='1024 65000'")
        # Nothing outside the virtual subnet is routable or may leave, even once DHCP adds its default route.
        sh("ip rule add pref 50 not to %s unreachable" % SUBNET)
        sh("iptables -P OUTPUT DROP && iptables -A OUTPUT -o lo -j ACCEPT && iptables -A OUTPUT -d %s -j ACCEPT"
           % SUBNET)
        self.agents[role] = {"ns": ns, "mac": mac}
        self.start_agent(role)
        return ns

    def start_agent(self, role):
        a = self.agents[role]
        a["proc"] = self.spawn([os.path.join(ROOT, "bin", "gvforwarder-java"), "-url", "unix://" + self.sock,
                                "-iface", "tap0", "-mac", a["mac"], "-mtu", str(MTU), "-netns", a["ns"],
                                "-stop-if-exist", ""], "gvforwarder-%s.log" % role)
        wait_for(lambda: self.guest_ip(role) is not None, 60, role + " DHCP address")
        time.sleep(1)  # let the lease script finish (it adds a default route, harmless behind the rule)
        run("ip", "-n", a["ns"], "route", "del", "default", check=False)
        a["ip"] = self.guest_ip(role)

    def guest_ip(self, role):
        r = run("ip", "-n", self.agents[role]["ns"], "-4", "-o", "addr", "show", "dev", "tap0", check=False)
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", r.stdout)
        return m.group(1) if m else None

    def guest_ping(self, role):
        return run("ip", "netns", "exec", self.agents[role]["ns"], "ping", "-c1", "-W1", GW,
                   check=False).returncode == 0

    def start_traffic(self, role):
        cfg = {"ports": self.ports, "bulk_bytes": self.args.bulk_mib << 20}
        p = self.spawn(self.ns_exec(self.agents[role]["ns"], PY, os.path.abspath(__file__), "_traffic",
                                    json.dumps(cfg)), "traffic-%s.err" % role,
                       stdout=open(os.path.join(self.out, "traffic-%s.jsonl" % role), "w"))
        self.agents[role]["traffic"] = p

    # -- sampling -------------------------------------------------------------------------------------------
    def sample(self, tag=""):
        pid = self.gv_pid
        try:
            with open("/proc/%d/status" % pid) as f:
                st = f.read()
            rss = int(re.search(r"VmRSS:\s+(\d+)", st).group(1)) / 1024
            thr = int(re.search(r"Threads:\s+(\d+)", st).group(1))
            fds = len(os.listdir("/proc/%d/fd" % pid))
        except (OSError, AttributeError):
            rss, thr, fds = float("nan"), -1, -1
        with open("/proc/loadavg") as f:
            load = float(f.read().split()[0])
        try:
            srv = self.server_cmd("status")
        except (OSError, ValueError):
            srv = {}
        row = {"t": round(time.time() - self.t0, 1), "phase": self.phase, "tag": tag, "rss_mb": round(rss, 1),
               "fds": fds, "threads": thr, "load1": load, "host_idle_conns": srv.get("idle_open", -1),
               "host_stall_conns": srv.get("stall_open", -1)}
        self.samples.append(row)
        with open(os.path.join(self.out, "samples.csv"), "a") as f:
            if len(self.samples) == 1:
                f.write(",".join(row) + "\n")
            f.write(",".join(str(v) for v in row.values()) + "\n")
        return row

    def sampler(self):
        nxt = time.time()
        while not self.stop_sampling.is_set():
            self.sample()
            nxt += self.args.sample
            self.stop_sampling.wait(max(0.0, nxt - time.time()))

    def nmt(self):
        """Native memory tracking summary (MB committed) of gvproxy-java, when it runs with NMT on."""
        if self.args.no_nmt:
            return {}
        try:
            r = run(self.jcmd, str(self.gv_pid), "VM.native_memory", "summary", check=False, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        out = {}
        m = re.search(r"Total: reserved=\d+KB, committed=(\d+)KB", r.stdout)
        if m:
            out["total"] = round(int(m.group(1)) / 1024, 1)
        for cat in ("Java Heap", "Other", "Code", "Thread", "Metaspace", "Class", "Internal", "Symbol",
                    "Shared class space", "Arena Chunk"):
            m = re.search(r"-\s+%s \(reserved=\d+KB, committed=(\d+)KB" % re.escape(cat), r.stdout)
            if m:
                out[cat] = round(int(m.group(1)) / 1024, 1)
        return out

    def full_gc(self):
        try:
            run(self.jcmd, str(self.gv_pid), "GC.run", check=False, timeout=60)
            r = run(self.jcmd, str(self.gv_pid), "GC.heap_info", check=False, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        used = [int(k) for k in re.findall(r"(?:DefNew|Tenured)\s+total \d+K, used (\d+)K", r.stdout)]
        return round(sum(used) / 1024, 1) if used else None

    def stats(self):
        class U(http.client.HTTPConnection):
            def connect(s):
                s.sock = socket.socket(socket.AF_UNIX)
                s.sock.settimeout(10)
                s.sock.connect(self.sock)
        c = U("gvproxy", timeout=10)
        try:
            c.request("GET", "/stats")
            return flatten(json.loads(c.getresponse().read()))
        except (OSError, ValueError, http.client.HTTPException) as e:
            return {"error": str(e)}
        finally:
            c.close()

    # -- phases ---------------------------------------------------------------------------------------------
    def begin(self, name, kind):
        self.phase = name
        ph = {"name": name, "kind": kind, "start": time.time() - self.t0, "notes": {},
              "log_off": os.path.getsize(os.path.join(self.out, "gvproxy-java.log"))}
        self.phases.append(ph)
        print("[%6.0fs] %s %s" % (ph["start"], kind, name), flush=True)
        return ph

    def end(self, ph):
        ph["end"] = time.time() - self.t0
        ph["stats"] = self.stats()
        ph["last"] = self.sample(ph["kind"] + "-end")
        if ph["kind"] == "quiet":
            ph["end_sample"] = ph["last"]
            if not self.args.no_gc:
                # A full GC first, so the heap that SerialGC keeps committed for garbage (it grows the old
                # generation before it collects it) is not taken for growth; what is left is the live set.
                ph["live_heap_mb"] = self.full_gc()
                ph["end_sample"] = ph["last"] = self.sample("quiet-end-after-gc")
        ph["nmt"] = self.nmt()
        ph["victim_ip"] = self.guest_ip("victim")
        ph["log_end"] = os.path.getsize(os.path.join(self.out, "gvproxy-java.log"))
        if self.gv.poll() is not None:
            raise RuntimeError("gvproxy-java exited (code %s) during %s" % (self.gv.returncode, ph["name"]))

    def quiet(self, secs, name):
        ph = self.begin(name, "quiet")
        time.sleep(secs)
        self.end(ph)

    def attack_proc(self, kind, until, extra=None):
        a = self.agents["attacker"]
        cfg = {"ports": self.ports, "until": until, "mac": a["mac"],
               "ip": a["ip"], "victim_mac": self.agents["victim"]["mac"], "victim_ip": self.agents["victim"]["ip"],
               "macflood_rate": self.args.macflood_rate, "synflood_rate": self.args.synflood_rate}
        cfg.update(extra or {})
        return self.spawn(self.ns_exec(a["ns"], PY, os.path.abspath(__file__), "_attack", kind, json.dumps(cfg)),
                          "attack-%s.err" % kind, stdout=subprocess.PIPE)

    def finish_attack(self, p, ph, grace=60):
        try:
            out, _ = p.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill(p)
            out = p.stdout.read() if p.stdout else ""
            ph["notes"]["killed"] = True
        for line in (out or "").splitlines():
            try:
                ph["notes"].update(json.loads(line))
            except ValueError:
                pass

    def attack(self, kind, secs):
        ph = self.begin(kind, "attack")
        until = time.time() + secs
        if kind == "stall":
            self.server_cmd("stall")
            p = self.attack_proc(kind, until, {"stall_drain": 180})
            time.sleep(max(0.0, until - time.time()))
            ph["notes"]["host_at_stall_end"] = self.server_cmd("status")
            self.server_cmd("resume")
            self.finish_attack(p, ph, grace=200)
            ph["notes"]["host"] = self.server_cmd("status")
        elif kind == "agentkill":
            self.agent_kill(ph, until)
        else:
            p = self.attack_proc(kind, until)
            self.finish_attack(p, ph, grace=max(60, until - time.time() + 60))
            if kind in ("idle", "blackhole"):
                ph["notes"]["host"] = self.server_cmd("status")
        self.end(ph)

    def agent_kill(self, ph, until):
        a = self.agents["attacker"]
        notes = ph["notes"]
        grace = self.args.leave_grace
        hold = self.attack_proc("hold", time.time() + 3600)
        held = json.loads(hold.stdout.readline() or "{}")
        notes["held"] = held.get("held")
        time.sleep(2)
        notes["host_before_kill"] = self.server_cmd("status")["idle_open"]
        self.kill(a["proc"], signal.SIGKILL)
        t_kill = time.time()
        closed_after = None
        while time.time() - t_kill < grace + 30:
            if self.server_cmd("status")["idle_open"] == 0:
                closed_after = time.time() - t_kill
                break
            time.sleep(1)
        notes["host_closed_after_s"] = round(closed_after, 1) if closed_after is not None else None
        notes["host_left_open"] = self.server_cmd("status")["idle_open"]
        self.kill(hold)
        self.start_agent("attacker")
        wait_for(lambda: self.guest_ping("attacker"), 30, "attacker connectivity after restart")
        notes["restart1_ip"] = a["ip"]
        # Once more within the grace period, while the attacker's own traffic (bulk transfers) goes on.
        time.sleep(3)
        self.kill(a["proc"], signal.SIGKILL)
        time.sleep(3)
        self.start_agent("attacker")
        wait_for(lambda: self.guest_ping("attacker"), 30, "attacker connectivity after quick restart")
        notes["restart2_ip"] = a["ip"]
        time.sleep(max(0.0, until - time.time()))

    # -- main -----------------------------------------------------------------------------------------------
    def main(self):
        args = self.args
        self.t0 = time.time()
        self.start_servers()
        self.start_gvproxy()
        self.make_guest("victim", VICTIM_MAC)
        self.make_guest("attacker", ATTACKER_MAC)
        print("gvproxy-java pid %d; victim %s (%s), attacker %s (%s); host ports %s; DNS upstream %s" % (
            self.gv_pid, self.agents["victim"]["ip"], self.agents["victim"]["ns"], self.agents["attacker"]["ip"],
            self.agents["attacker"]["ns"], self.ports, self.dns), flush=True)
        for role in ("victim", "attacker"):
            self.start_traffic(role)
        self.t0 = time.time()
        threading.Thread(target=self.sampler, daemon=True).start()
        attacks = [a for a in args.attacks.split(",") if a]
        # duration = baseline quiet + sum(attack + quiet); attacks last 1.5x a quiet period
        q = args.duration / (1 + 2.5 * len(attacks))
        a = 1.5 * q
        self.plan = {"quiet_s": round(q), "attack_s": round(a)}
        self.quiet(q, "baseline")
        for kind in attacks:
            self.attack(kind, max(a, args.leave_grace + 25) if kind == "agentkill" else a)
            self.quiet(q, "quiet after " + kind)
        self.stop_sampling.set()

    def cleanup(self):
        self.stop_sampling.set()
        for p in reversed(self.procs):
            self.kill(p, wait=10)
        for ns in self.namespaces:
            r = run("ip", "netns", "pids", ns, check=False)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "del", ns, check=False)
        try:
            for f in os.listdir(self.tmp):
                os.unlink(os.path.join(self.tmp, f))
            os.rmdir(self.tmp)
        except OSError:
            pass


def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = prefix + k
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, (int, float)):
            out[key] = v
    return out


# ---------------------------------------------------------------------------------------------------------------
# Report: summary.md, soak.svg, phases.json
# ---------------------------------------------------------------------------------------------------------------

DEFENCE = re.compile(r"^stack\.(switch|arp\.spoofed|arp\.senderMac|ip\.spoofed|dhcp\.(chaddr|portLease|release|"
                     r"decline|nak|badChaddr)|budget|tcp\.(memoryPressure|forward\.budget|forwardMaxInFlight|"
                     r"forward\.connectFailed|forward\.synWait)|api|dns\.(inFlight|upstream)|udp\.[a-z.]*(Limit|limit|Error|error|Dropped|dropped)|icmp\.fwd\.flowLimit)")


def traffic_by_phase(path, phases, t0):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    out = []
    for ph in phases:
        agg = {"ok": {}, "fail": {}, "err": {}, "ctl_max_ms": 0.0, "ctl_n": 0, "ctl_over_1s": 0, "bulk_bytes": 0,
               "bulk_secs": 0.0}
        for r in rows:
            t = r["t"] - t0
            if ph["start"] < t <= ph.get("end", 1e18) + 0.001:
                for k in ("ok", "fail"):
                    for kk, v in r[k].items():
                        agg[k][kk] = agg[k].get(kk, 0) + v
                agg["err"].update(r.get("err", {}))
                if r.get("ctl_max_ms") is not None:
                    agg["ctl_max_ms"] = max(agg["ctl_max_ms"], r["ctl_max_ms"])
                agg["ctl_n"] += r.get("ctl_n", 0)
                agg["ctl_over_1s"] += r.get("ctl_over_1s", 0)
                agg["bulk_bytes"] += r.get("bulk_bytes", 0)
                agg["bulk_secs"] += r.get("bulk_secs", 0.0)
        out.append(agg)
    return out


def log_summary(path, ph):
    try:
        with open(path, "rb") as f:
            f.seek(ph["log_off"])
            text = f.read(ph["log_end"] - ph["log_off"]).decode("utf-8", "replace")
    except (OSError, KeyError):
        return 0, []
    msgs = {}
    n = 0
    for line in text.splitlines():
        m = re.search(r'level=(warning|error|fatal)\s+msg="(.{0,90})', line)
        if m:
            n += 1
            key = re.sub(r"\d+", "N", m.group(2))
            msgs[key] = msgs.get(key, 0) + 1
    return n, sorted(msgs.items(), key=lambda kv: -kv[1])[:3]


def verdict(phases, margins):
    quiet = [p for p in phases if p["kind"] == "quiet" and "end_sample" in p]
    if not quiet:
        return False, ["no quiet period completed"]
    b = quiet[0]["end_sample"]
    lines = []
    ok = True
    for p in quiet[1:]:
        s = p["end_sample"]
        bad = []
        if s["rss_mb"] > b["rss_mb"] + margins["rss"]:
            bad.append("RSS %.0f MB > %.0f + %d" % (s["rss_mb"], b["rss_mb"], margins["rss"]))
        if s["fds"] > b["fds"] + margins["fds"]:
            bad.append("fds %d > %d + %d" % (s["fds"], b["fds"], margins["fds"]))
        if s["threads"] > b["threads"] + margins["threads"]:
            bad.append("threads %d > %d + %d" % (s["threads"], b["threads"], margins["threads"]))
        if bad:
            ok = False
            lines.append("%s: %s" % (p["name"], "; ".join(bad)))
    return ok, lines


def fmt_counts(agg):
    kinds = ["ctl", "http", "bulk", "udp", "dns", "ping"]
    return " ".join("%s %d/%d" % (k, agg["fail"].get(k, 0), agg["ok"].get(k, 0) + agg["fail"].get(k, 0))
                    for k in kinds)


def write_report(soak, args, error=None):
    phases = soak.phases
    out = soak.out
    samples = soak.samples
    margins = {"rss": args.rss_margin_mb, "fds": args.fd_margin, "threads": args.thread_margin}
    ok, why = verdict(phases, margins)
    if error:
        ok = False
        why.insert(0, "run aborted: " + error)
    vic = traffic_by_phase(os.path.join(out, "traffic-victim.jsonl"), phases, soak.t0)
    att = traffic_by_phase(os.path.join(out, "traffic-attacker.jsonl"), phases, soak.t0)
    prev = None
    L = []
    L.append("# gvproxy-java soak (%s)\n" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(soak.t0)))
    L.append("Duration %.0f s (planned %s); sample every %d s; %d samples; load average %.1f-%.1f.\n" % (
        samples[-1]["t"] if samples else 0, getattr(soak, "plan", {}), args.sample, len(samples),
        min((s["load1"] for s in samples), default=0), max((s["load1"] for s in samples), default=0)))
    L.append("**%s**: RSS, descriptors and threads at the end of every quiet period (%s) within %d MB / %d / %d "
             "of the first (baseline) quiet period.%s\n" % (
                 "PASS" if ok else "FAIL", "without a forced GC" if args.no_gc else "after `jcmd GC.run`",
                 margins["rss"], margins["fds"], margins["threads"],
                 "" if ok else " " + "; ".join(why)))
    L.append("| phase | s | max RSS MB | max fds | max threads | end RSS / fds / threads | victim failures "
             "(fail/total) | victim worst ctl connect ms (>1 s) | victim bulk MB/s | attacker failures | gvproxy warnings |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for i, ph in enumerate(phases):
        ss = [s for s in samples if ph["start"] <= s["t"] <= ph.get("end", 1e18)] + \
            ([ph["last"]] if ph.get("last") else [])
        mx = lambda k: max((s[k] for s in ss), default=float("nan"))
        es = ph.get("last")
        end = "%.0f / %d / %d" % (es["rss_mb"], es["fds"], es["threads"]) if es else ""
        nwarn, top = log_summary(os.path.join(out, "gvproxy-java.log"), ph)
        mbps = vic[i]["bulk_bytes"] / 1e6 / vic[i]["bulk_secs"] if vic[i]["bulk_secs"] else 0
        L.append("| %s | %.0f | %.0f | %s | %s | %s | %s | %.0f (%d) | %.0f | %s | %d |" % (
            ph["name"], ph.get("end", 0) - ph["start"], mx("rss_mb"), mx("fds"), mx("threads"), end,
            fmt_counts(vic[i]), vic[i]["ctl_max_ms"], vic[i]["ctl_over_1s"], mbps, fmt_counts(att[i]), nwarn))
    L.append("\nCounts are failures/attempts of: ctl = control connect + echo to the host alias every 0.5 s, "
             "http = short HTTP GETs (2 loops), bulk = %d MiB transfers with SHA-256 check (alternately "
             "guest->host and host->guest), udp = UDP echo every 0.2 s, dns = queries to the gateway every "
             "0.3 s (local zone and forwarded; every 10th over TCP), ping = ICMP echo to the gateway every 0.5 s.\n"
             % args.bulk_mib)
    if any(ph.get("nmt") for ph in phases):
        L.append("What the RSS is made of at each phase end (MB committed, `jcmd VM.native_memory summary`). "
                 "Netty's packet buffers are not in NMT: on JDK 24+ Netty allocates direct memory with malloc "
                 "through FFM (`CleanerJava24Linker`), so they are in RSS - NMT total, with the shared libraries' "
                 "pages and the C heap:\n")
        L.append("| phase end | RSS | RSS - NMT total | NMT total | Java heap committed | live heap after GC | Other "
                 "| Code | Metaspace+Class | Thread |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for ph in phases:
            n = ph.get("nmt") or {}
            es = ph.get("last")
            rss = es["rss_mb"] if es else None
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                ph["name"], "%.0f" % rss if rss is not None else "",
                "%.0f" % (rss - n["total"]) if rss is not None and "total" in n else "", n.get("total", ""), n.get("Java Heap", ""),
                ph.get("live_heap_mb") or "", n.get("Other", ""), n.get("Code", ""),
                round(n.get("Metaspace", 0) + n.get("Class", 0), 1) if n else "", n.get("Thread", "")))
        L.append("")
    L.append("## Per phase: attack results, counters that moved, log\n")
    for i, ph in enumerate(phases):
        st = ph.get("stats", {})
        delta = {}
        if prev is not None:
            for k, v in st.items():
                d = v - prev.get(k, 0)
                if d and DEFENCE.match(k):
                    delta[k[len("stack."):]] = d
        if st and "error" not in st:
            prev = st
        nwarn, top = log_summary(os.path.join(out, "gvproxy-java.log"), ph)
        L.append("- **%s**: %s" % (ph["name"], json.dumps(ph["notes"], sort_keys=True) if ph["notes"] else ""))
        if delta:
            L.append("  - counters: " + ", ".join("%s +%d" % kv for kv in sorted(delta.items())))
        if vic[i]["err"]:
            L.append("  - victim errors (last of each kind): " + json.dumps(vic[i]["err"]))
        if nwarn:
            L.append("  - log: %d warnings/errors, most frequent: %s" % (nwarn, json.dumps(top)))
        if ph.get("victim_ip") != (phases[0].get("victim_ip")):
            L.append("  - victim address changed: %s" % ph.get("victim_ip"))
    L.append("")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(L))
    with open(os.path.join(out, "phases.json"), "w") as f:
        json.dump({"phases": phases, "plan": getattr(soak, "plan", {}), "ports": soak.ports, "t0": soak.t0,
                   "margins": margins}, f, indent=1)
    write_svg(os.path.join(out, "soak.svg"), samples, phases, margins)
    print("\n".join(L[:4 + len(phases) + 2]))
    return ok


def write_svg(path, samples, phases, margins):
    W, PH, ML, MR, MT, GAP = 960, 170, 60, 20, 50, 34
    series = [("rss_mb", "RSS (MB)", "#1f77b4", "rss"), ("fds", "open descriptors", "#d62728", "fds"),
              ("threads", "threads", "#2ca02c", "threads")]
    H = MT + len(series) * (PH + GAP) + 20
    tmax = max([s["t"] for s in samples] + [p.get("end", 0) for p in phases] + [1])
    X = lambda t: ML + (W - ML - MR) * t / tmax
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;")
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
         'font-size="11">' % (W, H), '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="16" font-size="13">gvproxy-java soak: shaded = attack phase (from the attacker guest), '
         'white = quiet period;</text>' % ML,
         '<text x="%d" y="31" font-size="13">dots = end of each quiet period (the values the verdict compares); '
         'dashed = baseline + margin</text>' % ML]
    base = next((p["end_sample"] for p in phases if p["kind"] == "quiet" and "end_sample" in p), None)
    for i, (key, label, colour, mkey) in enumerate(series):
        top = MT + i * (PH + GAP)
        vals = [s[key] for s in samples if s[key] == s[key] and s[key] >= 0]
        vmax = max(vals + [1])
        if base:
            vmax = max(vmax, base[key] + margins[mkey])
        vmax *= 1.08
        Y = lambda v: top + PH - PH * v / vmax
        for p in phases:
            if p["kind"] == "attack":
                x0, x1 = X(p["start"]), X(p.get("end", tmax))
                o.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f4cccc"/>' % (x0, top, x1 - x0, PH))
                if i == 0:
                    o.append('<text x="%.1f" y="%d" transform="rotate(-90 %.1f %d)" font-size="10" '
                             'text-anchor="end" fill="#990000">%s</text>' % (x0 + 10, top + 4, x0 + 10, top + 4,
                                                                              esc(p["name"])))
        o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>' % (ML, top, W - ML - MR,
                                                                                              PH))
        for k in range(5):
            v = vmax * k / 4
            o.append('<text x="%d" y="%.1f" text-anchor="end">%.0f</text>' % (ML - 4, Y(v) + 4, v))
            o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' % (ML, W - MR, Y(v), Y(v)))
        o.append('<text x="%d" y="%d" font-weight="bold">%s</text>' % (ML + 4, top - 4, label))
        if base:
            yb = Y(base[key] + margins[mkey])
            o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="5,4"/>' % (
                ML, W - MR, yb, yb, colour))
        pts = " ".join("%.1f,%.1f" % (X(s["t"]), Y(s[key])) for s in samples if s[key] == s[key] and s[key] >= 0)
        o.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (colour, pts))
        for p in phases:
            if "end_sample" in p:
                s = p["end_sample"]
                o.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (X(s["t"]), Y(s[key]), colour))
        if i == len(series) - 1:
            for k in range(6):
                t = tmax * k / 5
                o.append('<text x="%.1f" y="%d" text-anchor="middle">%.0f min</text>' % (X(t), top + PH + 14,
                                                                                       t / 60))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def find_jcmd():
    try:
        with open(os.path.join(ROOT, "gvproxy", "target", "java-settings")) as f:
            for line in f:
                if "java.home = " in line:
                    p = os.path.join(line.split("java.home = ", 1)[1].strip(), "bin", "jcmd")
                    if os.access(p, os.X_OK):
                        return p
    except OSError:
        pass
    if os.environ.get("JAVA_HOME"):
        return os.path.join(os.environ["JAVA_HOME"], "bin", "jcmd")
    return "jcmd"


ATTACKS = "macflood,arpspoof,dhcpspoof,synflood,idle,stall,blackhole,api,agentkill"


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "_servers":
        return servers_main(json.loads(sys.argv[2]))
    if len(sys.argv) > 2 and sys.argv[1] == "_traffic":
        return traffic_main(json.loads(sys.argv[2]))
    if len(sys.argv) > 3 and sys.argv[1] == "_attack":
        return attack_main(sys.argv[2], json.loads(sys.argv[3]))
    if len(sys.argv) > 2 and sys.argv[1] == "--replot":  # redraw DIR/soak.svg from DIR's samples and phases
        d = sys.argv[2]
        with open(os.path.join(d, "phases.json")) as f:
            pj = json.load(f)
        with open(os.path.join(d, "samples.csv")) as f:
            hdr = f.readline().strip().split(",")
            samples = []
            for line in f:
                row = dict(zip(hdr, line.strip().split(",")))
                for k in ("t", "rss_mb", "load1"):
                    row[k] = float(row[k])
                for k in ("fds", "threads"):
                    row[k] = int(row[k])
                samples.append(row)
        margins = pj.get("margins") or {"rss": 160, "fds": 64, "threads": 16}
        return write_svg(os.path.join(d, "soak.svg"), samples, pj["phases"], margins)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=parse_duration, default=1800.0, help="total, e.g. 30m (default), 5m")
    ap.add_argument("--out", help="output directory (default soak-YYYYmmdd-HHMMSS)")
    ap.add_argument("--sample", type=int, default=10, help="sampling period, seconds")
    ap.add_argument("--attacks", default=ATTACKS, help="comma-separated subset, in order (default: all)")
    ap.add_argument("--bulk-mib", type=int, default=8, help="size of each bulk transfer")
    ap.add_argument("--macflood-rate", type=int, default=20000, help="frames/s")
    ap.add_argument("--synflood-rate", type=int, default=10000, help="SYNs/s")
    ap.add_argument("--leave-grace", type=int, default=30, help="gvproxy-java's leave-grace (s) the agent-kill "
                    "phase waits for; pass -limit leave-grace=... through --gvproxy-arg to change it")
    ap.add_argument("--gvproxy-arg", action="append", default=[], help="extra gvproxy-java argument (repeatable)")
    ap.add_argument("--no-nmt", action="store_true", help="run gvproxy-java without native memory tracking "
                    "(by default -XX:NativeMemoryTracking=summary, read with jcmd at every phase end)")
    ap.add_argument("--no-gc", action="store_true", help="do not request a full GC (jcmd GC.run) at the end of "
                    "each quiet period before the sample the verdict uses")
    ap.add_argument("--rss-margin-mb", type=int, default=160)
    ap.add_argument("--fd-margin", type=int, default=64)
    ap.add_argument("--thread-margin", type=int, default=16)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (namespaces, TAP devices)")
    unknown = set(args.attacks.split(",")) - set(ATTACKS.split(","))
    if unknown:
        sys.exit("unknown attacks: %s (known: %s)" % (",".join(sorted(unknown)), ATTACKS))
    args.out = os.path.abspath(args.out or time.strftime("soak-%Y%m%d-%H%M%S"))
    os.makedirs(args.out, exist_ok=True)
    soak = Soak(args)

    def on_signal(sig, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    error = None
    try:
        soak.main()
    except KeyboardInterrupt:
        error = "interrupted"
    except Exception as e:  # report what we have, then clean up
        error = "%s: %s" % (type(e).__name__, e)
        import traceback
        traceback.print_exc()
    finally:
        soak.stop_sampling.set()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        soak.cleanup()
    ok = write_report(soak, args, error) if soak.samples else False
    print("%s (output in %s)" % ("PASS" if ok else "FAIL", args.out))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
