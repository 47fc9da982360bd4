#!/usr/bin/env python3
"""Start-up and footprint of gvproxy-java (and of upstream gvproxy, when a binary is given): for each stack, RUNS
times, a fresh process serving the API and /connect on a unix socket (-listen; no -listen-qemu, with which /connect
switches to QEMU framing, as upstream's does, and gvforwarder cannot attach), then

  ready      ms from exec to the API socket accepting a connection (polled every 1 ms)
  cpu        CPU ms (user + system, all threads) the process used until then: less sensitive to a busy machine
  rss0/thr0  RSS (MB) and threads right after ready, before any request
  idle       RSS and threads 2 s after a namespace guest attached (gvforwarder-java -netns, -preexisting TAP with
             a static address) and reached the host through the stack
  1k conns   RSS and threads after the guest made 1,000 short TCP connections to a host server on 127.0.0.1 through
             the host alias 192.168.127.254 (connect, close)

Run as root from the repository root, after ./mvnw -q -B -DskipTests package:

    python3 benchmarks/scripts/startup_bench.py after=dist/target/gvproxy-java-*/bin/gvproxy \\
        checkout=bin/gvproxy-java before=/tmp/before/bin/gvproxy-java upstream=/path/to/gvproxy

Each NAME=COMMAND is a gvproxy-compatible command; the guest agent is always this checkout's
bin/gvforwarder-java (--forwarder to change), so only the stack's process is measured (bash launchers exec java,
so the PID measured is the JVM's). Medians over the runs are printed as a markdown table.

Network safety: as e2e_bench.py (whose Guest this uses): a fresh namespace with IPv6 off and an OUTPUT firewall
allowing only the host alias; the host server listens on 127.0.0.1 only.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from e2e_bench import Guest, PROBE_PORT, ROOT, compiled, run, wait_for

ALIAS = "192.168.127.254"


def proc_status(pid):
    """(RSS in MB, thread count) from /proc/PID/status."""
    rss = threads = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def cpu_ms(pid):
    """utime + stime of the process (all its threads) so far, in ms: the start-up's cost, whatever the load."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def accepting(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def get_stats(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b"GET /stats HTTP/1.1\r\nHost: gvproxy\r\nConnection: close\r\n\r\n")
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    if not out.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("GET /stats: " + out[:100].decode(errors="replace"))


def one_run(name, cmd, forwarder, probe, tmp):
    api = os.path.join(tmp, "api.sock")
    log = open(os.path.join(tmp, "stack.log"), "w")
    procs, guest, r = [], None, {}
    try:
        t0 = time.perf_counter()
        gv = subprocess.Popen(cmd + ["-listen", "unix://" + api],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(gv)
        end = t0 + 30
        while not accepting(api):
            if gv.poll() is not None or time.perf_counter() > end:
                raise RuntimeError(f"{name} did not start; see {log.name}")
            time.sleep(0.001)
        r["ready"] = (time.perf_counter() - t0) * 1000
        r["cpu"] = cpu_ms(gv.pid)
        r["rss0"], r["thr0"] = proc_status(gv.pid)
        get_stats(api)
        guest = Guest()
        guest.sh("ip tuntap add dev tap0 mode tap")
        guest.ip("link", "set", "tap0", "address", "5a:94:ef:e4:0c:ee", "mtu", "1500", "up")
        guest.ip("addr", "add", "192.168.127.2/24", "dev", "tap0")
        guest.firewall(ALIAS)
        procs.append(subprocess.Popen([forwarder, "-url", "unix://" + api, "-iface", "tap0", "-preexisting",
                                       "-netns", guest.ns, "-stop-if-exist", ""],
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        wait_for(lambda: guest.sh(f"timeout 2 bash -c 'exec 3<>/dev/tcp/{ALIAS}/{PROBE_PORT}'",
                                  check=False).returncode == 0, 60, f"{name} guest connectivity")
        time.sleep(2)
        r["idle"], r["thr_idle"] = proc_status(gv.pid)
        out = guest.sh(f"{probe} connects-n {ALIAS} {PROBE_PORT} 1000", timeout=300).stdout
        if '"failures": 0' not in out:
            print(f"  {name}: {out.strip()}", file=sys.stderr)
        time.sleep(1)
        r["rss1k"], r["thr1k"] = proc_status(gv.pid)
        return r
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if guest:
            guest.close()
        log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stacks", nargs="+", metavar="NAME=COMMAND")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--forwarder", default=os.path.join(ROOT, "bin", "gvforwarder-java"))
    args = ap.parse_args()
    probe = compiled(tempfile.mkdtemp(prefix="gvjsb-probe-"), "netprobe")
    server = subprocess.Popen([probe, "server", "127.0.0.1", str(PROBE_PORT)])
    rows = []
    try:
        for spec in args.stacks:
            name, cmd = spec.split("=", 1)
            runs = []
            for i in range(args.runs):
                with tempfile.TemporaryDirectory(prefix="gvjsb-") as tmp:
                    r = one_run(name, cmd.split(), args.forwarder, probe, tmp)
                print(f"{name} run {i + 1}: " + ", ".join(f"{k}={v:.0f}" for k, v in r.items()), file=sys.stderr)
                runs.append(r)
            rows.append((name, runs))
    finally:
        server.terminate()
        server.wait()
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"\n{args.runs} runs each, medians (min-max for ready); load average {load}\n")
    print("| stack | ready ms | CPU ms to ready | RSS at ready MB | idle RSS, 1 guest MB | RSS after 1,000 conns MB | threads (ready / idle / 1k) |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in rows:
        def med(k):
            return statistics.median(r[k] for r in runs)
        ready = [r["ready"] for r in runs]
        print(f"| {name} | {med('ready'):.0f} ({min(ready):.0f}-{max(ready):.0f}) | {med('cpu'):.0f} | {med('rss0'):.0f} | "
              f"{med('idle'):.0f} | {med('rss1k'):.0f} | {med('thr0'):.0f} / {med('thr_idle'):.0f} / "
              f"{med('thr1k'):.0f} |")


if __name__ == "__main__":
    main()
