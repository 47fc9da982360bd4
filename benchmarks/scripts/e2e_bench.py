#!/usr/bin/env python3
"""End-to-end benchmark: TCP iperf3 (both directions), UDP iperf3 at fixed offered rates (both directions),
connects/s and 1-byte RR latency from a network-namespace guest to servers on host 127.0.0.1, through gvproxy-java
and through peers (pasta, passt, slirp4netns, kernel veth).

Run as root from the repository root after `./mvnw -q -B -o -DskipTests package` (GVJB_ROOT=DIR takes bin/ and
gvproxy/target/gvproxy-java.jar from another checkout, e.g. a copy of a "before" build):

    python3 benchmarks/scripts/e2e_bench.py                       # default stacks, MTU 1500 and 65520, 3 repeats
    python3 benchmarks/scripts/e2e_bench.py --stacks gvproxy-java --mtus 1500 --repeats 1 --secs 5
    python3 benchmarks/scripts/e2e_bench.py --chart-from benchmarks/results/e2e-DATE/NAME.json  # tables + chart only

Raw results go to benchmarks/results/e2e-<date>/<name>.json (--json to put them elsewhere), a PNG chart next to
them (--chart; needs matplotlib).

Network safety: every guest is a fresh namespace `gvjb-<random>` with IPv6 disabled (but for the `-ipv6` rows, whose
guest takes a SLAAC address from gvproxy-java's gateway and whose ip6tables OUTPUT policy is DROP except loopback,
link-local/multicast (NDP) and the IPv6 host alias) and an iptables OUTPUT policy of DROP except loopback and the
stack's host alias; the host servers listen on 127.0.0.1 and ::1 only; pasta, passt and slirp4netns bind their
outbound sockets to 127.0.0.1 (`-o` / `--outbound-addr`) and get no default route in the guest, so nothing but the
host's loopback is reachable. The veth reference uses 198.18.0.0/30 between the host and the namespace only.
"""
import argparse
import datetime
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
PROBE_PORT = IPERF_PORT + 1
TICK = os.sysconf("SC_CLK_TCK")
NAN = float("nan")
DIRECTIONS = (("g2h", "", "g->h"), ("h2g", "-R", "h->g"))  # key, iperf3 flag, label
UDP_MTU = 1500
UDP_LENGTH = 1400  # datagram payload: one frame each at MTU 1500


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

    def add_tap(self, mtu, *link_args):
        """tap0 with the static address the TAP-attached stacks give their guest, 192.168.127.2/24, no route."""
        self.sh("ip tuntap add dev tap0 mode tap")
        self.ip("link", "set", "tap0", *link_args, "mtu", str(mtu), "up")
        self.ip("addr", "add", "192.168.127.2/24", "dev", "tap0")

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
    jit = False  # a JVM stack: its connect and RR loops run untimed first (--probe-warmup)
    binds_outbound = False  # binds each host socket before connecting (-o 127.0.0.1): cannot reuse TIME_WAIT ports

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
    jit = True
    agent_flags = []
    gv_flags = []

    def start(self):
        sock = os.path.join(self.tmp, "gv.sock")
        env = dict(os.environ)
        g = self.guest
        g.add_tap(self.mtu, "address", "5a:94:ef:e4:0c:ee")
        g.firewall(self.alias)
        # -ssh-port -1: no 127.0.0.1:2222 forward, which the benchmark does not use (and another run may hold)
        self.gv = self.spawn([os.path.join(ROOT, "bin", "gvproxy-java"), "-listen", "unix://" + sock]
                             + self.tap_flags() + ["-mtu", str(self.mtu), "-ssh-port", "-1"] + self.gv_flags,
                             "gvproxy-java.log", env)
        self.attach_agent(sock, env)
        if self.ipv6:
            # SLAAC from the gateway's router advertisements: a global address that finished DAD.
            wait_for(lambda: "fd00:5a94:efe4:" in (a := g.sh("ip -6 addr show dev tap0 scope global",
                                                             check=False).stdout) and "tentative" not in a,
                     30, "SLAAC address")
        wait_for(self.reachable, 30, "gvproxy-java guest connectivity")

    def tap_flags(self):
        """gvproxy-java's flags that attach the guest's TAP itself; none when an agent does."""
        return []

    def attach_agent(self, sock, env):
        """gvforwarder-java pumping the guest's pre-configured TAP to gvproxy-java's /connect."""
        wait_for(lambda: os.path.exists(sock), 30, "gvproxy-java socket")
        self.agent = self.spawn([os.path.join(ROOT, "bin", "gvforwarder-java"), "-url", "unix://" + sock,
                                 "-iface", "tap0", "-mtu", str(self.mtu), "-preexisting", "-netns", self.guest.ns,
                                 "-stop-if-exist", ""] + self.agent_flags, "gvforwarder-java.log", env)

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


class GvproxyJavaBusyPoll(GvproxyJava):
    """gvproxy-java -busy-poll 100us: the network's loop polls for 100 µs after its last work before it sleeps."""
    name = "gvproxy-java-busypoll"
    gv_flags = ["-busy-poll", "100us"]


class GvproxyJavaOffloadBusyPoll(GvproxyJavaOffload):
    """Offloads and -busy-poll 100us together."""
    name = "gvproxy-java-offload-busypoll"
    gv_flags = GvproxyJavaBusyPoll.gv_flags


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


class GvproxyJavaTap(GvproxyJava):
    """gvproxy-java -listen-tap: the network's loop reads and writes the guest's TAP itself, no gvforwarder-java
    (pasta's shape: one process, one crossing each way)."""
    name = "gvproxy-java-tap"
    tap_query = ""

    def tap_flags(self):
        return ["-listen-tap", f"tap://tap0?netns={self.guest.ns}{self.tap_query}"]

    def attach_agent(self, sock, env):
        pass

    def pids(self):
        return {"stack": self.gv.pid}


class GvproxyJavaTapOffload(GvproxyJavaTap):
    """-listen-tap with offload=true: a virtio-net header and TSO/checksum offloads on the guest's TAP."""
    name = "gvproxy-java-tap-offload"
    tap_query = "&offload=true"


class GvproxyJavaTapBusyPoll(GvproxyJavaTap):
    """-listen-tap and -busy-poll 100us."""
    name = "gvproxy-java-tap-busypoll"
    gv_flags = GvproxyJavaBusyPoll.gv_flags


class GvproxyJavaTapOffloadBusyPoll(GvproxyJavaTapOffload):
    """-listen-tap with offloads and -busy-poll 100us."""
    name = "gvproxy-java-tap-offload-busypoll"
    gv_flags = GvproxyJavaBusyPoll.gv_flags


class Pasta(Stack):
    name = "pasta"
    binds_outbound = True
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


def compiled(tmp, name):
    """scripts/NAME.c compiled into the run's temp dir (once per run): qemu_pump, netprobe."""
    exe = os.path.join(tmp, name)
    if not os.path.exists(exe):
        run("gcc", "-O2", "-pthread", "-o", exe, os.path.join(HERE, name + ".c"))
    return exe


class Passt(Stack):
    """passt as a VM would use it: its QEMU-style stream socket, with qemu_pump playing QEMU between it and the
    guest's TAP. The guest's address and MTU are set on the TAP (passt's DHCP/NDP are off). --runas 0: started as
    root, Debian 12's passt otherwise changes to nobody, and its socket then never appears in the file system."""
    name = "passt"
    binds_outbound = True
    alias = "192.168.127.1"  # passt's gateway address maps to the host's loopback

    def start(self):
        g = self.guest
        g.add_tap(self.mtu)
        g.firewall(self.alias)
        sock = os.path.join(self.tmp, g.ns + ".passt.sock")
        self.p = self.spawn(["passt", "-f", "-q", "-4", "--runas", "0", "-s", sock, "-a", "192.168.127.2", "-n", "24",
                             "-g", self.alias, "-o", "127.0.0.1", "-m", str(self.mtu), "-t", "none", "-u", "none",
                             "--no-dhcp", "--no-ndp", "--no-dhcpv6", "--no-ra"], "passt.log")
        wait_for(lambda: os.path.exists(sock), 15, "passt socket")
        self.pump = self.spawn(["ip", "netns", "exec", g.ns, compiled(self.tmp, "qemu_pump"), "tap0", sock], "qemu_pump.log")
        wait_for(self.reachable, 15, "passt guest connectivity")

    def pids(self):
        return {"stack": self.p.pid, "agent": self.pump.pid}


class Slirp(Stack):
    name = "slirp4netns"
    binds_outbound = True
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


STACKS = {c.name: c for c in (GvproxyJava, GvproxyJavaOffload, GvproxyJavaBusyPoll, GvproxyJavaOffloadBusyPoll, GvproxyJava6, GvproxyJavaOffload6,
                               GvproxyJavaTap, GvproxyJavaTapOffload, GvproxyJavaTapBusyPoll, GvproxyJavaTapOffloadBusyPoll, Pasta, Passt, Slirp,
                               Veth)}


def iperf3(stack, secs, flags):
    """The iperf3 client in the guest: its result, the CPU seconds each of the stack's processes used, wall seconds.
    Retried while the server refuses with "busy": it can still be finishing the previous test (seen after UDP -R)."""
    pids = stack.pids()
    for _ in range(10):
        before = {k: cpu_seconds(p) for k, p in pids.items()}
        t0 = time.time()
        r = stack.guest.sh(f"iperf3 -c {stack.alias} -p {IPERF_PORT} -t {secs} -J {flags}", check=False,
                           timeout=secs + 30)
        wall = time.time() - t0
        if "the server is busy" not in r.stdout:
            break
        time.sleep(1)
    return r, {k: cpu_seconds(p) - before[k] for k, p in pids.items()}, wall


def measure(stack, args, mtu):
    """One repeat: returns a dict of metrics (keys as in the JSON; see the README)."""
    g = stack.guest
    out = {}

    def iperf(key, flags):
        """Receiver-side Mbit/s (and loss % for UDP), CPU % of one core and CPU seconds per Gbit delivered."""
        r, cpu, wall = iperf3(stack, args.secs, flags)
        try:
            received = json.loads(r.stdout)["end"]["sum_received"]
        except (ValueError, KeyError):
            print(f"  iperf3 {key} failed: {r.stdout[-400:]} {r.stderr[-400:]}", file=sys.stderr)
            out[key] = NAN
            return
        out[key] = received["bits_per_second"] / 1e6
        if "lost_percent" in received:
            out[key + "_loss"] = received["lost_percent"]
        gbit = received["bytes"] * 8 / 1e9
        for k, secs in cpu.items():
            out[f"{key}_cpu_{k}"] = 100.0 * secs / wall
            out[f"{key}_cpu_per_gbit_{k}"] = secs / gbit if gbit else NAN

    for key, flag, _ in DIRECTIONS:
        iperf(key, flag)
    if mtu == UDP_MTU:
        for rate in args.udp_rates:
            for key, flag, _ in DIRECTIONS:
                iperf(f"udp{rate}_{key}", f"-u -l {UDP_LENGTH} -b {rate} {flag}")
    if not args.no_probes:
        probe = compiled(stack.tmp, "netprobe")
        r = g.sh(f"{probe} connects {stack.alias} {PROBE_PORT} {args.probe_secs}", check=False,
                 timeout=args.probe_secs + 30)
        try:
            j = json.loads(r.stdout)
            out["connects"] = j["connects_per_s"]
            out["connect_p50"] = j["connect_p50_us"]
        except ValueError:
            print(f"  connects failed: {r.stdout} {r.stderr}", file=sys.stderr)
            out["connects"] = NAN
        time.sleep(0.5)
        r = g.sh(f"{probe} rr {stack.alias} {PROBE_PORT} {args.probe_secs}", check=False,
                 timeout=args.probe_secs + 30)
        try:
            out["rr_p50"] = json.loads(r.stdout)["rr_p50_us"]
        except ValueError:
            print(f"  rr failed: {r.stdout} {r.stderr}", file=sys.stderr)
            out["rr_p50"] = NAN
    return out


def med(values):
    v = [x for x in values if x == x]
    return statistics.median(v) if v else NAN


def fmt(x, digits=0):
    return "-" if x != x else f"{x:,.{digits}f}"


def start_servers(addr, tmp):
    """iperf3 and netprobe's echo server listening on addr; fails if either cannot (a port someone else holds)."""
    procs = [subprocess.Popen(["iperf3", "-s", "-B", addr, "-p", str(IPERF_PORT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([compiled(tmp, "netprobe"), "server", addr, str(PROBE_PORT)])]
    time.sleep(0.5)
    if any(p.poll() is not None for p in procs):
        stop_all(procs)
        raise RuntimeError(f"cannot listen on {addr} port {IPERF_PORT} and {PROBE_PORT}: choose others with --port")
    return procs


def stop_all(procs):
    for p in procs:
        p.kill()
        p.wait()


def settle_time_wait(limit=1000, timeout=120):
    """Waits (up to timeout s) until the host holds fewer than limit TCP sockets in TIME_WAIT. Every connect loop
    leaves its connections there for 60 s, and a stack that binds its host sockets before connecting (pasta, passt
    and slirp4netns with -o/--outbound-addr) cannot reuse those ports: measured right after other stacks' connect
    loops it ran out of ephemeral ports (185 connects/s instead of ~10,000). Such a stack starts on a clean slate."""
    deadline = time.time() + timeout
    while True:
        n = len(run("ss", "-Htan", "state", "time-wait", check=False).stdout.splitlines())
        if n < limit or time.time() > deadline:
            return n
        time.sleep(2)


def git_commit():
    r = run("git", "-C", ROOT, "rev-parse", "--short", "HEAD", check=False)
    return r.stdout.strip() or "?"


def main():
    global IPERF_PORT, PROBE_PORT  # --port
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stacks", default="gvproxy-java,gvproxy-java-offload,gvproxy-java-tap,gvproxy-java-tap-offload,pasta,passt,slirp4netns,kernel-veth",
                    help="comma-separated, from: " + ", ".join(STACKS))
    ap.add_argument("--mtus", default="1500,65520")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--secs", type=int, default=5, help="iperf3 duration per direction")
    ap.add_argument("--warmup", type=int, default=3, help="untimed iperf3 seconds per direction first")
    ap.add_argument("--probe-warmup", type=int, default=5,
                    help="untimed seconds of the connect loop and of the RR loop before they are timed (0: none)")
    ap.add_argument("--probe-secs", type=float, default=3)
    ap.add_argument("--no-probes", action="store_true", help="skip connects/s and RR")
    ap.add_argument("--udp-rates", default="500M,1G",
                    help=f"offered UDP rates (iperf3 -b), {UDP_LENGTH}-byte datagrams, at MTU {UDP_MTU} only")
    ap.add_argument("--no-udp", action="store_true", help="skip the UDP rows")
    ap.add_argument("--wmem-cap", type=int, default=0,
                    help="cap the guest's net.ipv4.tcp_wmem max (bytes), e.g. 262144; 0 = kernel default")
    ap.add_argument("--port", type=int, default=IPERF_PORT,
                    help="host server ports: iperf3 on PORT, the connect/RR echo server on PORT+1")
    ap.add_argument("--stats", action="store_true", help="print gvproxy-java's /stats counters after each MTU")
    ap.add_argument("--name", default=time.strftime("run-%H%M%S", time.gmtime()),
                    help="results file name (default run-HHMMSS, UTC)")
    ap.add_argument("--json", help="write raw results here instead of benchmarks/results/e2e-<date>/<name>.json")
    ap.add_argument("--chart", help="PNG chart path (default: the JSON's path with .png)")
    ap.add_argument("--chart-from", metavar="JSON",
                    help="run nothing: print the tables of an earlier run's JSON and draw its chart")
    args = ap.parse_args()
    if args.chart_from:
        with open(args.chart_from) as f:
            data = json.load(f)
        print_tables(data)
        draw_chart(data, args.chart or os.path.splitext(args.chart_from)[0] + ".png")
        return
    if os.geteuid() != 0:
        sys.exit("needs root (namespaces, TAP devices)")
    IPERF_PORT, PROBE_PORT = args.port, args.port + 1
    args.udp_rates = [] if args.no_udp else args.udp_rates.split(",")
    now = datetime.datetime.now(datetime.timezone.utc)
    commit = git_commit()
    json_path = args.json or os.path.normpath(os.path.join(HERE, "..", "results", f"e2e-{now:%Y-%m-%d}",
                                                           args.name + ".json"))

    tmp = tempfile.mkdtemp(prefix="gvjb-")
    servers = []
    try:
        # Host servers: 127.0.0.1 and ::1 (for the IPv6 rows, whose host alias maps to the host's ::1); 198.18.0.1
        # only while the veth stack runs.
        servers = start_servers("127.0.0.1", tmp)
        servers += start_servers("::1", tmp)
        results = {}
        load = []
        for name in args.stacks.split(","):
            for mtu in [int(m) for m in args.mtus.split(",")]:
                if STACKS[name].binds_outbound:
                    settle_time_wait()
                stack = STACKS[name](mtu, tmp)
                extra = []
                try:
                    stack.start()
                    stack.guest.wmem_cap(args.wmem_cap)
                    if name == "kernel-veth":
                        extra = start_servers(Veth.alias, tmp)
                    warmups = [flag for _, flag, _ in DIRECTIONS]
                    if mtu == UDP_MTU and args.udp_rates:
                        warmups += [f"-u -l {UDP_LENGTH} -b {args.udp_rates[0]} {flag}" for _, flag, _ in DIRECTIONS]
                    for flags in warmups if args.warmup > 0 else ():
                        iperf3(stack, args.warmup, flags)  # JIT warm-up (and TCP caches) before anything is timed
                    if stack.jit and args.probe_warmup > 0 and not args.no_probes:
                        # the connect and RR paths too: iperf3 opens two connections, so without this a JVM
                        # stack's connects are timed while its JIT still compiles them (the C stacks need none,
                        # and pasta's bound host sockets would use up the ephemeral ports in TIME_WAIT)
                        probe = compiled(stack.tmp, "netprobe")
                        for mode in ("connects", "rr"):
                            stack.guest.sh(f"{probe} {mode} {stack.alias} {PROBE_PORT} {args.probe_warmup}",
                                           check=False, timeout=args.probe_warmup + 30)
                    reps = []
                    for i in range(args.repeats):
                        if i > 0 and stack.binds_outbound and not args.no_probes:
                            settle_time_wait()  # the previous repeat's connects hold this stack's ports
                        load.append(float(loadavg()))
                        m = measure(stack, args, mtu)
                        print(f"{name} mtu {mtu} run {i + 1}: " + ", ".join(
                            f"{k}={v:.4g}" for k, v in m.items() if "_cpu_" not in k), flush=True)
                        reps.append(m)
                    if args.stats and hasattr(stack, "stats"):
                        print(f"{name} mtu {mtu} /stats: {stack.stats()}", flush=True)
                    results[f"{name}@{mtu}"] = reps
                except Exception as e:  # report and go on with the next stack
                    print(f"{name} mtu {mtu}: FAILED: {e}", file=sys.stderr, flush=True)
                finally:
                    stop_all(extra)
                    stack.stop()
        data = {"meta": {"date": now.isoformat(timespec="seconds"), "commit": commit, "cpus": os.cpu_count(),
                         "load": [min(load, default=0), max(load, default=0)], "repeats": args.repeats,
                         "secs": args.secs, "wmem_cap": args.wmem_cap, "udp_rates": args.udp_rates,
                         "udp_length": UDP_LENGTH, "udp_mtu": UDP_MTU},
                "results": results}
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(data, f, indent=1)
        print_tables(data)
        print(f"\nraw results: {json_path}")
        draw_chart(data, args.chart or os.path.splitext(json_path)[0] + ".png")
    finally:
        stop_all(servers)


def stacks_and_mtus(results):
    keys = [k.rsplit("@", 1) for k in results]
    return list(dict.fromkeys(n for n, _ in keys)), list(dict.fromkeys(int(m) for _, m in keys))


def median_of(reps, key):
    return med([r.get(key, NAN) for r in reps])


def cpu_cell(reps, key, digits):
    """Stack CPU, and " +agent" where there is an agent (gvforwarder-java, qemu_pump)."""
    cell = fmt(median_of(reps, key + "_stack"), digits)
    if any(key + "_agent" in r for r in reps):
        cell += " +" + fmt(median_of(reps, key + "_agent"), digits)
    return cell


def print_tables(data):
    meta, results = data["meta"], data["results"]
    names, mtus = stacks_and_mtus(results)
    print()
    print(f"{meta['date']}, commit {meta['commit']}, {meta['cpus']} CPUs, load average during the runs "
          f"{meta['load'][0]:.1f}-{meta['load'][1]:.1f}; median of {meta['repeats']} repeat(s), "
          f"iperf3 {meta['secs']} s per cell; guest tcp_wmem max {meta['wmem_cap'] or 'kernel default'}. "
          f"CPU: % of one core, and CPU seconds per Gbit delivered; A +B = stack process +agent (gvforwarder-java, "
          f"or qemu_pump for passt).")
    print()
    print("| stack | MTU | TCP g->h Mbit/s | CPU % | CPU s/Gbit | TCP h->g Mbit/s | CPU % | CPU s/Gbit "
          "| connects/s | connect p50 µs | 1-byte RR p50 µs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        for mtu in mtus:
            reps = results.get(f"{n}@{mtu}")
            if not reps:
                continue
            row = f"| {n} | {mtu} |"
            for d, _, _ in DIRECTIONS:
                row += (f" {fmt(median_of(reps, d))} | {cpu_cell(reps, d + '_cpu', 0)} |"
                        f" {cpu_cell(reps, d + '_cpu_per_gbit', 2)} |")
            row += (f" {fmt(median_of(reps, 'connects'))} | {fmt(median_of(reps, 'connect_p50'))} |"
                    f" {fmt(median_of(reps, 'rr_p50'))} |")
            print(row)
    if not meta["udp_rates"]:
        return
    print()
    print(f"UDP, {meta['udp_length']}-byte datagrams at MTU {meta['udp_mtu']}: Mbit/s delivered (at the receiver) "
          f"and loss % at each offered rate.")
    print()
    print("| stack | offered | UDP g->h Mbit/s | loss % | CPU s/Gbit | UDP h->g Mbit/s | loss % | CPU s/Gbit |")
    print("|---|---|---|---|---|---|---|---|")
    for n in names:
        reps = results.get(f"{n}@{meta['udp_mtu']}")
        if not reps:
            continue
        for rate in meta["udp_rates"]:
            row = f"| {n} | {rate} |"
            for d, _, _ in DIRECTIONS:
                key = f"udp{rate}_{d}"
                row += (f" {fmt(median_of(reps, key))} | {fmt(median_of(reps, key + '_loss'), 1)} |"
                        f" {cpu_cell(reps, key + '_cpu_per_gbit', 2)} |")
            print(row)


def short(x):
    """A bar label: whole numbers from 10 up, two decimals below, nothing for a missing value."""
    return "" if x != x else f"{x:,.0f}" if abs(x) >= 10 else f"{x:.2f}"


def draw_chart(data, path):
    """Grouped bars, one colour per stack: TCP and UDP throughput, CPU per Gbit, UDP loss, connects/s, RR p50."""
    try:
        import matplotlib
    except ImportError:
        print("no chart: matplotlib is missing (python3-matplotlib); draw it later with --chart-from", file=sys.stderr)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta, results = data["meta"], data["results"]
    names, mtus = stacks_and_mtus(results)
    if not names:
        print("no chart: no results", file=sys.stderr)
        return

    def value(name, mtu, key):
        return median_of(results.get(f"{name}@{mtu}", []), key)

    def bars(ax, title, groups, get, agent=None):
        """groups: (label, mtu, key); get/agent: (name, mtu, key) -> value; agent CPU is stacked, hatched."""
        ax.set_title(title, fontsize=10)
        if all(get(n, mtu, key) != get(n, mtu, key) for n in names for _, mtu, key in groups):
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
            ax.set_axis_off()
            return
        width = 0.8 / len(names)
        for i, n in enumerate(names):
            xs = [g + i * width for g in range(len(groups))]
            ys = [get(n, mtu, key) for _, mtu, key in groups]
            bar = ax.bar(xs, ys, width, label=n, color=f"C{i}")
            totals = ys
            if agent:
                tops = [agent(n, mtu, key) for _, mtu, key in groups]
                tops = [0 if t != t else t for t in tops]  # no agent
                bar = ax.bar(xs, tops, width, bottom=ys, color=f"C{i}", alpha=0.4, hatch="//")
                for r in bar:
                    r.sticky_edges.y.clear()  # a bar's bottom would otherwise cap the y axis (no margin above)
                totals = [y + t for y, t in zip(ys, tops)]
            ax.bar_label(bar, labels=[short(v) for v in totals], fontsize=7, rotation=90, padding=2)
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], [label for label, _, _ in groups])
        ax.margins(y=0.25)  # room for the labels above the tallest bar

    tcp = [(f"MTU {mtu} {label}", mtu, d) for mtu in mtus for d, _, label in DIRECTIONS]
    udp = [(f"{rate} {label}", meta["udp_mtu"], f"udp{rate}_{d}") for rate in meta["udp_rates"]
           for d, _, label in DIRECTIONS]
    fig, axes = plt.subplots(3, 2, figsize=(15, 13))
    bars(axes[0][0], "TCP Mbit/s", tcp, value)
    bars(axes[0][1], "TCP CPU seconds per Gbit: stack, +agent hatched (lower is better)", tcp,
         lambda n, mtu, key: value(n, mtu, key + "_cpu_per_gbit_stack"),
         lambda n, mtu, key: value(n, mtu, key + "_cpu_per_gbit_agent"))
    bars(axes[1][0], f"UDP Mbit/s delivered at the offered rate (MTU {meta['udp_mtu']})", udp, value)
    bars(axes[1][1], "UDP loss % (lower is better)", udp, lambda n, mtu, key: value(n, mtu, key + "_loss"))
    probes = [(f"MTU {mtu}", mtu, None) for mtu in mtus]
    bars(axes[2][0], "TCP connects/s", probes, lambda n, mtu, _: value(n, mtu, "connects"))
    bars(axes[2][1], "1-byte request/response p50 µs (lower is better)", probes,
         lambda n, mtu, _: value(n, mtu, "rr_p50"))
    # At most four stacks per legend row, so long names (a "before" build beside the current one) still fit.
    rows = (len(names) + 3) // 4
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="upper center", ncol=min(len(names), 4),
               bbox_to_anchor=(0.5, 0.975))
    fig.suptitle(f"e2e_bench {meta['date']}, commit {meta['commit']}, {meta['cpus']} CPUs, load "
                 f"{meta['load'][0]:.1f}-{meta['load'][1]:.1f}, median of {meta['repeats']} repeat(s), "
                 f"iperf3 {meta['secs']} s per cell")
    fig.tight_layout(rect=(0, 0, 1, 0.96 - 0.02 * rows))
    fig.savefig(path, dpi=90)
    print(f"chart: {path}")


if __name__ == "__main__":
    main()
