#!/usr/bin/env python3
"""Tiny TCP probes for the end-to-end benchmark (see benchmarks/README.md).

  netprobe.py server HOST PORT         host side: echo server (selectors, one thread); runs until killed
  netprobe.py connects HOST PORT SECS  guest side: connect + close in a loop; prints {"connects_per_s": ...}
  netprobe.py connects-n HOST PORT N   guest side: the same loop for N connects (startup_bench.py's 1,000)
  netprobe.py rr HOST PORT SECS        guest side: 1-byte request/response on one connection; prints percentiles

Only ever pointed at 127.0.0.1 or ::1 (server) and the stack's host alias from inside a benchmark namespace
(clients). A HOST with a colon is IPv6.
"""
import json
import selectors
import socket
import sys
import time


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def server(host, port):
    sel = selectors.DefaultSelector()
    ls = socket.socket(family(host))
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4096)
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                while True:
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(c, selectors.EVENT_READ, 1)
            else:
                c = key.fileobj
                try:
                    b = c.recv(65536)
                except (ConnectionError, BlockingIOError):
                    b = b""
                if b:
                    try:
                        c.send(b)
                    except (ConnectionError, BlockingIOError):
                        pass
                else:
                    sel.unregister(c)
                    c.close()


def connects(host, port, secs, limit=None):
    n = fails = 0
    t0 = time.perf_counter()
    end = t0 + secs
    while time.perf_counter() < end and (limit is None or n + fails < limit):
        s = socket.socket(family(host))
        s.settimeout(2)
        try:
            s.connect((host, port))
            n += 1
        except OSError:
            fails += 1
        s.close()
    el = time.perf_counter() - t0
    print(json.dumps({"connects_per_s": n / el, "connects": n, "failures": fails}))


def rr(host, port, secs):
    s = socket.create_connection((host, port), timeout=2)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    pc = time.perf_counter_ns
    end = time.perf_counter() + secs
    b = b"x"
    while time.perf_counter() < end:
        t = pc()
        s.send(b)
        if not s.recv(1):
            break
        lat.append(pc() - t)
    s.close()
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] / 1000.0 if lat else float("nan")
    print(json.dumps({"rr_p50_us": q(0.5), "rr_p99_us": q(0.99), "count": len(lat)}))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "server":
        server(sys.argv[2], int(sys.argv[3]))
    elif mode == "connects":
        connects(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "connects-n":
        connects(sys.argv[2], int(sys.argv[3]), 600, int(sys.argv[4]))
    elif mode == "rr":
        rr(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit("unknown mode " + mode)
