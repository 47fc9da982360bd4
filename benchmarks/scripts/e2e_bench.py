#!/usr/bin/env python3
"""End-to-end benchmark: iperf3 (both directions), connects/s and 1-byte RR latency from a network-namespace guest
to servers on host 127.0.0.1, through gvproxy-java and through peers (pasta, slirp4netns, kernel veth).

Run as root from the repository root after `./mvnw -q -B -o -DskipTests package` (GVJB_ROOT=DIR takes bin/ and
gvproxy/target/gvproxy-java.jar from another checkout, e.g. a copy of a "before" build):

    python3 benchmarks/scripts/e2e_bench.py                       # all stacks, MTU 1500 and 65520, 3 repeats
    python3 benchmarks/scripts/e2e_bench.py --stacks gvproxy-java --mtus 1500 --repeats 1 --secs 5

Network safety: every guest is a fresh namespace `gvjb-<random>` with IPv6 disabled (but for the `-ipv6` rows, whose
guest takes a SLAAC address from gvproxy-java's gateway and whose ip6tables OUTPUT policy is DROP except loopback,
link-local/multicast (NDP) and the IPv6 host alias) and an iptables OUTPUT policy of DROP except loopback and the
stack's host alias; the host servers listen on 127.0.0.1 and ::1 only; pasta and slirp4netns bind their outbound sockets to 127.0.0.1
(`-o` / `--outbound-addr`) and get no default route in the guest, so nothing but the host's loopback is reachable.
The veth reference uses 198.18.0.0/30 between the host and the namespace only.
"""
import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("GVJB_ROOT") or os.path.abspath(os.path.join(HERE, "..", ".."))
PY = sys.executable
IPERF_PORT = 15201
PROBE_PORT = 15202
TICK = os.sysconf("SC_CLK_TCK")


def run(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, **kw)


def cpu_seconds(pid):
    """utime + stime of a process and its (already reaped or live) threads, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def wait_for(cond, secs, what):
    end = time.time() + secs
    while time.time() < end:
        if cond():
            return
        time.sleep(0.1)
    raise RuntimeError("timed out waiting for " + what)


class Guest:
    """A namespace with IPv6 off and an OUTPUT firewall that only lets traffic to `alias` (and lo) out."""

    def __init__(self, ipv6=False):
        self.ns = "gvjb-%06x" % random.getrandbits(24)
        run("ip", "netns", "add", self.ns)
        self.ip("link", "set", "lo", "up")
        if not ipv6:
            self.sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
        # The connect loop leaves thousands of TIME_WAIT sockets here: let later runs reuse their ports.
        self.sh("sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range='1024 65000'")

    def ip(self, *args):
        return run("ip", "-n", self.ns, *args)

    def sh(self, script, check=True, timeout=None):
        return run("ip", "netns", "exec", self.ns, "bash", "-c", script, check=check, timeout=timeout)

    def firewall(self, alias):
        if ":" in alias:
            # IPv6: the host alias, and what NDP and SLAAC need (link-local and multicast); IPv4: nothing.
            self.sh("ip6tables -P OUTPUT DROP && ip6tables -A OUTPUT -o lo -j ACCEPT && "
                    f"ip6tables -A OUTPUT -d {alias} -j ACCEPT && ip6tables -A OUTPUT -d fe80::/10 -j ACCEPT && "
                    "ip6tables -A OUTPUT -d ff02::/16 -j ACCEPT && iptables -P OUTPUT DROP && "
                    "iptables -A OUTPUT -o lo -j ACCEPT")
            return
        self.sh("iptables -P OUTPUT DROP && iptables -A OUTPUT -o lo -j ACCEPT && "
                f"iptables -A OUTPUT -d {alias} -j ACCEPT")

    def wmem_cap(self, cap):
        if cap:
            self.sh(f"sysctl -qw net.ipv4.tcp_wmem='4096 16384 {cap}'")

    def close(self):
        # Kill whatever still runs in the namespace (by PID), then delete it.
        r = run("ip", "netns", "pids", self.ns, check=False)
        for p in r.stdout.split():
            try:
                os.kill(int(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
        run("ip", "netns", "del", self.ns, check=False)


class Stack:
    """Base: start() brings up guest connectivity; pids() are the processes whose CPU is the stack's cost."""
    name = "?"
    alias = None
    ipv6 = False

    def __init__(self, mtu, tmp):
        self.mtu = mtu
        self.tmp = tmp
        self.procs = []
        self.guest = Guest(self.ipv6)

    def spawn(self, cmd, log, env=None):
        f = open(os.path.join(self.tmp, log), "w")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.append(p)
        return p

    def pids(self):
        return {}

    def reachable(self):
        return self.guest.sh(f"ping -c1 -W1 {self.alias} >/dev/null 2>&1 || "
                             f"timeout 2 bash -c 'exec 3<>/dev/tcp/{self.alias}/{PROBE_PORT}'",
                             check=False).returncode == 0

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.guest.close()


class GvproxyJava(Stack):
    name = "gvproxy-java"
    alias = "192.168.127.254"
    agent_flags = []

    def start(self):
        sock = os.path.join(self.tmp, "gv.sock")
        env = dict(os.environ)
        self.gv = self.spawn([os.path.join(ROOT, "bin", "gvproxy-java"), "-listen", "unix://" + sock,
                              "-mtu", str(self.mtu)], "gvproxy-java.log", env)
        wait_for(lambda: os.path.exists(sock), 30, "gvproxy-java socket")
        g = self.guest
        g.sh("ip tuntap add dev tap0 mode tap")
        g.ip("link", "set", "tap0", "address", "5a:94:ef:e4:0c:ee", "mtu", str(self.mtu), "up")
        g.ip("addr", "add", "192.168.127.2/24", "dev", "tap0")
        g.firewall(self.alias)
        self.agent = self.spawn([os.path.join(ROOT, "bin", "gvforwarder-java"), "-url", "unix://" + sock,
                                 "-iface", "tap0", "-mtu", str(self.mtu), "-preexisting", "-netns", g.ns,
                                 "-stop-if-exist", ""] + self.agent_flags, "gvforwarder-java.log", env)
        if self.ipv6:
            # SLAAC from the gateway's router advertisements: a global address that finished DAD.
            wait_for(lambda: "fd00:5a94:efe4:" in (a := g.sh("ip -6 addr show dev tap0 scope global",
                                                             check=False).stdout) and "tentative" not in a,
                     30, "SLAAC address")
        wait_for(self.reachable, 30, "gvproxy-java guest connectivity")

    def pids(self):
        return {"stack": self.gv.pid, "agent": self.agent.pid}

    def stats(self):
        r = run("curl", "-s", "--max-time", "5", "--unix-socket", os.path.join(self.tmp, "gv.sock"),
                "http://gvproxy/stats", check=False)
        return r.stdout


class GvproxyJavaOffload(GvproxyJava):
    """gvproxy-java with gvforwarder-java -offload: TAP with checksum/TSO offloads, virtio-net header framing."""
    name = "gvproxy-java-offload"
    agent_flags = ["-offload"]


class GvproxyJava6(GvproxyJava):
    """gvproxy-java over IPv6: a SLAAC guest, host servers on ::1 reached as the gateway's IPv6 host alias."""
    name = "gvproxy-java-ipv6"
    alias = "fd00:5a94:efe4:0:ffff:ffff:ffff:fffe"
    ipv6 = True


class GvproxyJavaOffload6(GvproxyJavaOffload):
    """gvproxy-java with offloads, over IPv6."""
    name = "gvproxy-java-offload-ipv6"
    alias = GvproxyJava6.alias
    ipv6 = True


class Pasta(Stack):
    name = "pasta"
    alias = "192.168.127.1"  # pasta's gateway address maps to the host's loopback

    def start(self):
        g = self.guest
        g.firewall(self.alias)
        self.p = self.spawn(["pasta", "-f", "-q", "-4", "--runas", "0", "--config-net", "-I", "tap0", "-a", "192.168.127.2",
                             "-n", "24", "-g", self.alias, "-o", "127.0.0.1", "-m", str(self.mtu),
                             "-t", "none", "-u", "none", "-T", "none", "-U", "none",
                             "--no-dhcp", "--no-ndp", "--no-dhcpv6", "--no-ra",
                             "--netns", "/var/run/netns/" + g.ns], "pasta.log")
        wait_for(lambda: "192.168.127.2" in g.sh("ip -4 addr show", check=False).stdout, 15, "pasta address")
        g.sh("ip route del default || true")
        g.ip("link", "set", "tap0", "mtu", str(self.mtu))
        wait_for(self.reachable, 15, "pasta guest connectivity")

    def pids(self):
        return {"stack": self.p.pid}


class Slirp(Stack):
    name = "slirp4netns"
    alias = "10.0.2.2"  # slirp's gateway maps to the host's loopback

    def start(self):
        g = self.guest
        g.firewall(self.alias)
        self.p = self.spawn(["slirp4netns", "--configure", "--mtu", str(self.mtu), "--disable-dns",
                             "--outbound-addr=127.0.0.1", "--netns-type=path", "/var/run/netns/" + g.ns, "tap0"],
                            "slirp4netns.log")
        wait_for(lambda: "10.0.2.100" in g.sh("ip -4 addr show", check=False).stdout, 15, "slirp address")
        g.sh("ip route del default || true")
        wait_for(self.reachable, 15, "slirp4netns guest connectivity")

    def pids(self):
        return {"stack": self.p.pid}


class Veth(Stack):
    """The kernel's own path, the upper limit: a veth pair; servers also listen on 198.18.0.1."""
    name = "kernel-veth"
    alias = "198.18.0.1"

    def start(self):
        g = self.guest
        self.host_if = "gvjb" + g.ns[-6:]
        run("ip", "link", "add", self.host_if, "mtu", str(self.mtu), "type", "veth", "peer", "name", "eth0",
            "netns", g.ns)
        run("ip", "addr", "add", "198.18.0.1/30", "dev", self.host_if)
        run("ip", "link", "set", self.host_if, "up")
        g.ip("addr", "add", "198.18.0.2/30", "dev", "eth0")
        g.ip("link", "set", "eth0", "mtu", str(self.mtu), "up")
        g.firewall(self.alias)
        wait_for(self.reachable, 15, "veth connectivity")

    def stop(self):
        super().stop()
        run("ip", "link", "del", self.host_if, check=False)


STACKS = {c.name: c for c in (GvproxyJava, GvproxyJavaOffload, GvproxyJava6, GvproxyJavaOffload6, Pasta, Slirp, Veth)}


def measure(stack, args, servers_addr):
    """One repeat: returns a dict of metrics."""
    g = stack.guest
    out = {}
    pids = stack.pids()

    def timed(cmd, timeout):
        before = {k: cpu_seconds(p) for k, p in pids.items()}
        t0 = time.time()
        r = g.sh(cmd, check=False, timeout=timeout)
        wall = time.time() - t0
        cpu = {k: 100.0 * (cpu_seconds(p) - before[k]) / wall for k, p in pids.items()}
        return r, cpu

    for direction, flag in (("g2h", ""), ("h2g", "-R")):
        r, cpu = timed(f"iperf3 -c {stack.alias} -p {IPERF_PORT} -t {args.secs} -J {flag}", args.secs + 30)
        try:
            j = json.loads(r.stdout)
            bps = j["end"]["sum_received"]["bits_per_second"]
        except (ValueError, KeyError):
            print(f"  iperf3 {direction} failed: {r.stdout[-400:]} {r.stderr[-400:]}", file=sys.stderr)
            bps = float("nan")
        out[direction] = bps / 1e6
        for k, v in cpu.items():
            out[f"{direction}_cpu_{k}"] = v
    if not args.no_probes:
        r, cpu = timed(f"{PY} {HERE}/netprobe.py connects {stack.alias} {PROBE_PORT} {args.probe_secs}",
                       args.probe_secs + 30)
        try:
            out["connects"] = json.loads(r.stdout)["connects_per_s"]
        except ValueError:
            print(f"  connects failed: {r.stdout} {r.stderr}", file=sys.stderr)
            out["connects"] = float("nan")
        time.sleep(0.5)
        r, _ = timed(f"{PY} {HERE}/netprobe.py rr {stack.alias} {PROBE_PORT} {args.probe_secs}",
                     args.probe_secs + 30)
        try:
            out["rr_p50"] = json.loads(r.stdout)["rr_p50_us"]
        except ValueError:
            print(f"  rr failed: {r.stdout} {r.stderr}", file=sys.stderr)
            out["rr_p50"] = float("nan")
    return out


def med(values):
    v = [x for x in values if x == x]
    return statistics.median(v) if v else float("nan")


def fmt(x, digits=0):
    return "-" if x != x else f"{x:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stacks", default="gvproxy-java,pasta,slirp4netns,kernel-veth")
    ap.add_argument("--mtus", default="1500,65520")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--secs", type=int, default=5, help="iperf3 duration per direction")
    ap.add_argument("--warmup", type=int, default=3, help="untimed iperf3 seconds per direction first")
    ap.add_argument("--probe-secs", type=float, default=3)
    ap.add_argument("--no-probes", action="store_true", help="skip connects/s and RR")
    ap.add_argument("--wmem-cap", type=int, default=0,
                    help="cap the guest's net.ipv4.tcp_wmem max (bytes), e.g. 262144; 0 = kernel default")
    ap.add_argument("--stats", action="store_true", help="print gvproxy-java's /stats counters after each MTU")
    ap.add_argument("--json", help="also write raw results here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (namespaces, TAP devices)")

    tmp = tempfile.mkdtemp(prefix="gvjb-")
    servers = []
    try:
        # Host servers: 127.0.0.1 always; 198.18.0.1 is added only while the veth stack runs (bound lazily below).
        servers.append(subprocess.Popen(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(IPERF_PORT)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        servers.append(subprocess.Popen([PY, os.path.join(HERE, "netprobe.py"), "server", "127.0.0.1",
                                         str(PROBE_PORT)]))
        # The same servers on ::1, for the IPv6 rows (the IPv6 host alias maps to the host's ::1).
        servers.append(subprocess.Popen(["iperf3", "-s", "-B", "::1", "-p", str(IPERF_PORT)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        servers.append(subprocess.Popen([PY, os.path.join(HERE, "netprobe.py"), "server", "::1", str(PROBE_PORT)]))
        time.sleep(0.5)
        results = {}
        load = []
        for name in args.stacks.split(","):
            for mtu in [int(m) for m in args.mtus.split(",")]:
                stack = STACKS[name](mtu, tmp)
                extra = []
                try:
                    stack.start()
                    stack.guest.wmem_cap(args.wmem_cap)
                    if name == "kernel-veth":
                        extra.append(subprocess.Popen(["iperf3", "-s", "-B", "198.18.0.1", "-p", str(IPERF_PORT)],
                                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                        extra.append(subprocess.Popen([PY, os.path.join(HERE, "netprobe.py"), "server",
                                                       "198.18.0.1", str(PROBE_PORT)]))
                        time.sleep(0.5)
                    for flag in ("", "-R") if args.warmup > 0 else ():
                        # JIT warm-up (and TCP caches) before anything is timed
                        stack.guest.sh(f"iperf3 -c {stack.alias} -p {IPERF_PORT} -t {args.warmup} {flag}",
                                       check=False, timeout=args.warmup + 30)
                    reps = []
                    for i in range(args.repeats):
                        load.append(float(loadavg()))
                        m = measure(stack, args, None)
                        print(f"{name} mtu {mtu} run {i + 1}: " + ", ".join(f"{k}={v:.0f}" for k, v in m.items()),
                              flush=True)
                        reps.append(m)
                    if args.stats and hasattr(stack, "stats"):
                        print(f"{name} mtu {mtu} /stats: {stack.stats()}", flush=True)
                    results[(name, mtu)] = reps
                except Exception as e:  # report and go on with the next stack
                    print(f"{name} mtu {mtu}: FAILED: {e}", file=sys.stderr, flush=True)
                finally:
                    for p in extra:
                        p.kill()
                        p.wait()
                    stack.stop()
        print_table(results, args, load)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({f"{k[0]}@{k[1]}": v for k, v in results.items()}, f, indent=1)
    finally:
        for p in servers:
            p.kill()
            p.wait()


def print_table(results, args, load):
    names = list(dict.fromkeys(k[0] for k in results))
    mtus = list(dict.fromkeys(k[1] for k in results))
    print()
    print(f"Medians of {args.repeats} runs, iperf3 {args.secs} s per direction, Mbit/s; CPU is % of one core "
          f"(stack process; +agent = gvforwarder-java); guest tcp_wmem max "
          f"{args.wmem_cap or 'kernel default'}; load average during the runs "
          f"{min(load, default=0):.1f}-{max(load, default=0):.1f}")
    print()
    hdr = "| stack |"
    sep = "|---|"
    for mtu in mtus:
        hdr += f" MTU {mtu} g->h | CPU | MTU {mtu} h->g | CPU |"
        sep += "---|---|---|---|"
    if not args.no_probes:
        hdr += " connects/s | 1-byte RR p50 µs |"
        sep += "---|---|"
    print(hdr)
    print(sep)
    for n in names:
        row = f"| {n} |"
        for mtu in mtus:
            reps = results.get((n, mtu))
            if not reps:
                row += " - | - | - | - |"
                continue
            for d in ("g2h", "h2g"):
                cpu = fmt(med([r.get(f"{d}_cpu_stack", float('nan')) for r in reps]))
                if f"{d}_cpu_agent" in reps[0]:
                    cpu += " +" + fmt(med([r[f"{d}_cpu_agent"] for r in reps]))
                row += f" {fmt(med([r[d] for r in reps]))} | {cpu} |"
        if not args.no_probes:
            reps = results.get((n, mtus[0]), [])
            row += f" {fmt(med([r.get('connects', float('nan')) for r in reps]))} |" \
                   f" {fmt(med([r.get('rr_p50', float('nan')) for r in reps]))} |"
        print(row)


if __name__ == "__main__":
    main()
