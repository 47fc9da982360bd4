#!/usr/bin/env python3
"""Writes the fuzz tests' seed corpora (see FUZZING.md) from real captures.

  make-seeds.py pcap [NAME...]
                       frames of stack-core/src/test/resources/pcap/*.pcap (Linux, capture.sh, capture-ipv6.sh),
                       or of NAME.pcap only: WireFuzzTest: one file per distinct frame; StackFuzzTest: one file per
                       capture with IPv4 traffic, the frames namespace A sent, re-addressed to guest
                       192.168.127.2 -> gateway 192.168.127.1.
  make-seeds.py dhcp   (root) runs busybox udhcpc and ISC dhclient in a throw-away namespace on a veth pair and
                       records the DHCP messages they send (DISCOVER, REQUEST, RELEASE...) as DhcpFuzzTest seeds.
  make-seeds.py dhcpv6 (root) runs ISC dhclient -6 the same way (Information-Request, Solicit, and with a remembered
                       lease Confirm/Renew and Release) and records its DHCPv6 messages as Dhcpv6FuzzTest seeds.
  make-seeds.py dns    runs dig against a UDP socket on 127.0.0.1 and records the queries (DnsFuzzTest seeds).
  make-seeds.py http   runs curl against a TCP socket on 127.0.0.1 and records the requests (ApiFuzzTest seeds).

Traffic stays on 127.0.0.1 or inside the namespace; nothing is resolved or sent outside.
"""
import glob, hashlib, os, socket, struct, subprocess, sys, threading, time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

GUEST_MAC = bytes.fromhex('5a94efe40cee')
GW_MAC = bytes.fromhex('5a94efe40cdd')
GUEST_IP = socket.inet_aton('192.168.127.2')
GW_IP = socket.inet_aton('192.168.127.1')
A_IP = socket.inet_aton('198.18.0.1')
B_IP = socket.inet_aton('198.18.0.2')


def inputs_dir(module, pkg, cls, method):
    d = os.path.join(ROOT, module, 'src/test/resources', pkg.replace('.', '/'), cls + 'Inputs', method)
    os.makedirs(d, exist_ok=True)
    return d


def write(d, name, data):
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def records(frames, flags=0):
    return b''.join(bytes([flags]) + struct.pack('>H', len(f)) + f for f in frames)


def read_pcap(path):
    with open(path, 'rb') as f:
        data = f.read()
    magic = struct.unpack('<I', data[:4])[0]
    endian = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    i, out = 24, []
    while i + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + 'IIII', data[i:i + 16])
        out.append(data[i + 16:i + 16 + incl])
        i += 16 + incl
    return out


def readdress(frame, a_mac, b_mac):
    """A's frame to B as the guest's frame to the gateway (checksums are repaired by the test: flags bit 0)."""
    f = bytearray(frame)
    for off in (0, 6):
        mac = bytes(f[off:off + 6])
        f[off:off + 6] = GUEST_MAC if mac == a_mac else GW_MAC if mac == b_mac else mac
    if f[12:14] == b'\x08\x06':  # ARP: sender/target hardware and protocol addresses
        for off, n in ((22, 6), (28, 4), (32, 6), (38, 4)):
            v = bytes(f[off:off + n])
            f[off:off + n] = {a_mac: GUEST_MAC, b_mac: GW_MAC, A_IP: GUEST_IP, B_IP: GW_IP}.get(v, v)
    elif f[12:14] == b'\x08\x00':
        for off in (26, 30):
            v = bytes(f[off:off + 4])
            f[off:off + 4] = {A_IP: GUEST_IP, B_IP: GW_IP}.get(v, v)
    return bytes(f)


def ipv6_shape(fr):
    """IPv6 frames: Next Header chain, fragment offset, ICMPv6 type (extension headers of the usual layout)."""
    nh, at, chain, frag = fr[20], 54, [], None
    while nh in (0, 43, 44, 60) and at + 8 <= len(fr):
        chain.append(nh)
        if nh == 44:
            frag = struct.unpack('>H', fr[at + 2:at + 4])[0] & 0xFFF8
            nh = fr[at]
            break
        nh, at = fr[at], at + (fr[at + 1] + 1) * 8
    icmp = fr[at] if nh == 58 and frag in (None, 0) and at < len(fr) else None
    return (fr[12:14], tuple(chain), nh, frag, icmp)


def pcap(*names):
    wire = inputs_dir('stack-core', 'dev.gvproxy.stack.wire', 'WireFuzzTest', 'parseFrame')
    stack = inputs_dir('stack-core', 'dev.gvproxy.stack', 'StackFuzzTest', 'guestFrames')
    for path in sorted(glob.glob(os.path.join(ROOT, 'stack-core/src/test/resources/pcap/*.pcap'))):
        name = os.path.basename(path)[:-5]
        if names and name not in names:
            continue
        frames = read_pcap(path)
        seen = set()
        for n, fr in enumerate(frames):
            # One frame per shape (EtherType, IP protocol, IP header length, TCP flags and header length, with or
            # without payload): a data segment is much like the next, and each seed costs regression time.
            ipv4 = fr[12:14] == b'\x08\x00' and len(fr) >= 34
            ihl = (fr[14] & 15) * 4 if ipv4 else 0
            l4 = 14 + ihl
            tcp = ipv4 and fr[23] == 6 and len(fr) >= l4 + 20
            shape = (fr[12:14], fr[23] if ipv4 else None, ihl,
                     (fr[l4 + 13], fr[l4 + 12] >> 4) if tcp else None,
                     len(fr) > l4 + ((fr[l4 + 12] >> 4) * 4 if tcp else 8))
            if name == 'ipv6' and fr[12:14] == b'\x86\xdd' and len(fr) >= 54:
                shape = ipv6_shape(fr)
            if shape not in seen:
                seen.add(shape)
                write(wire, '%s-%02d' % (name, n), fr)
        # A is 198.18.0.1: its MAC is the source of frames from that address (or of its ARP requests).
        a_mac = b_mac = None
        for fr in frames:
            if fr[12:14] == b'\x08\x00' and len(fr) >= 34:
                if fr[26:30] == A_IP:
                    a_mac, b_mac = fr[6:12], fr[0:6]
                    break
        if a_mac is None:
            continue  # no IPv4 traffic (ipv6.pcap): the stack does not take IPv6 yet
        sent = [readdress(fr, a_mac, b_mac) for fr in frames if fr[6:12] == a_mac]
        write(stack, name, records(sent, flags=1))


def dhcp():
    d = inputs_dir('stack-dhcp', 'dev.gvproxy.dhcp', 'DhcpFuzzTest', 'clientMessages')
    ns = 'gvj-fz-%d' % os.getpid()
    sh = lambda c: subprocess.run(c, shell=True, check=False, capture_output=True)
    sh('ip netns add %s' % ns)
    try:
        sh('ip netns exec %s ip link add c0 type veth peer name s0' % ns)
        sh('ip netns exec %s ip link set c0 up; ip netns exec %s ip link set s0 up; ip netns exec %s ip link set lo up'
           % (ns, ns, ns))
        got = []
        stop = threading.Event()

        def sniff():
            # The capture runs inside the namespace: a raw packet socket on s0 (the client's peer).
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open('/var/run/netns/' + ns, os.O_RDONLY)
            libc.setns(fd, 0x40000000)
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            s.bind(('s0', 0))
            s.settimeout(0.2)
            while not stop.is_set():
                try:
                    fr = s.recv(65535)
                except socket.timeout:
                    continue
                if len(fr) > 42 and fr[12:14] == b'\x08\x00' and fr[23] == 17 and fr[36:38] == b'\x00\x43':
                    ihl = (fr[14] & 15) * 4
                    got.append(fr[14 + ihl + 8:])
        t = threading.Thread(target=sniff, daemon=True)
        t.start()
        time.sleep(0.5)
        # udhcpc: DISCOVERs, and with -r a requested address; then a RELEASE-less exit (-q, no server).
        sh('ip netns exec %s timeout 8 busybox udhcpc -i c0 -n -q -t 2 -T 1 -x hostname:fuzzguest -r 192.168.127.7'
           % ns)
        # dhclient: DISCOVERs with its own option list; -1 gives up after one try.
        lease = '/tmp/%s.leases' % ns
        with open(lease, 'w') as f:
            # A remembered lease makes dhclient ask for it first (a REQUEST in INIT-REBOOT).
            f.write('lease {\n interface "c0";\n fixed-address 192.168.127.9;\n'
                    ' option subnet-mask 255.255.255.0;\n option dhcp-server-identifier 192.168.127.1;\n'
                    ' renew 4 2099/01/01 00:00:00;\n rebind 4 2099/01/01 00:00:00;\n'
                    ' expire 4 2099/01/01 00:00:00;\n}\n')
        sh('ip netns exec %s timeout 10 dhclient -4 -1 -v -lf %s -pf /tmp/%s.pid -sf /bin/true c0' % (ns, lease, ns))
        sh('ip netns exec %s timeout 5 dhclient -4 -r -v -lf %s -pf /tmp/%s.pid -sf /bin/true c0' % (ns, lease, ns))
        time.sleep(0.5)
        stop.set()
        t.join()
        seen = set()
        n = 0
        distinct = []
        for m in got:
            h = hashlib.sha1(m).hexdigest()
            if h in seen:
                continue
            seen.add(h)
            distinct.append(m)
            kind = {1: 'discover', 3: 'request', 4: 'decline', 7: 'release', 8: 'inform'}.get(msgtype(m), 'other')
            write(d, 'client-%02d-%s' % (n, kind), records([m]))
            n += 1
        # Both clients' messages in the order sent, as one conversation with the server.
        write(d, 'all-in-order', records(distinct))
        print('dhcp: %d distinct messages' % n)
        for f in (lease, '/tmp/%s.pid' % ns):
            if os.path.exists(f):
                os.remove(f)
    finally:
        sh('ip netns del %s' % ns)


def dhcpv6():
    d = inputs_dir('stack-dhcp', 'dev.gvproxy.dhcp', 'Dhcpv6FuzzTest', 'clientMessages')
    ns = 'gvj-fz6-%d' % os.getpid()
    sh = lambda c: subprocess.run(c, shell=True, check=False, capture_output=True)
    sh('ip netns add %s' % ns)
    try:
        # No DAD: dhclient -6 needs a usable link-local source address at once.
        sh('ip netns exec %s sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0' % ns)
        sh('ip netns exec %s ip link add c0 type veth peer name s0' % ns)
        sh('ip netns exec %s ip link set c0 address 5a:94:ef:e4:0c:ee' % ns)
        sh('ip netns exec %s ip link set c0 up; ip netns exec %s ip link set s0 up' % (ns, ns))
        time.sleep(1)
        got = []
        stop = threading.Event()

        def sniff():
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open('/var/run/netns/' + ns, os.O_RDONLY)
            libc.setns(fd, 0x40000000)
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            s.bind(('s0', 0))
            s.settimeout(0.2)
            while not stop.is_set():
                try:
                    fr = s.recv(65535)
                except socket.timeout:
                    continue
                # IPv6, next header UDP (no extension headers from dhclient), destination port 547.
                if len(fr) > 62 and fr[12:14] == b'\x86\xdd' and fr[20] == 17 and fr[56:58] == b'\x02\x23':
                    got.append(fr[62:])
        t = threading.Thread(target=sniff, daemon=True)
        t.start()
        time.sleep(0.5)
        lease = '/tmp/%s.leases' % ns
        pid = '/tmp/%s.pid' % ns
        run = lambda args, secs: sh('ip netns exec %s timeout %d dhclient -6 -1 -v %s -lf %s -pf %s -sf /bin/true c0'
                                    % (ns, secs, args, lease, pid))
        open(lease, 'w').close()
        run('-S', 4)  # stateless: Information-Request
        run('', 4)  # stateful: Solicit with IA_NA
        with open(lease, 'w') as f:
            # A remembered, still valid lease from the gateway's DUID-LL: dhclient confirms or renews it first,
            # and -r releases it.
            f.write('default-duid "\\000\\003\\000\\001Z\\224\\357\\344\\014\\356";\n'
                    'lease6 {\n  interface "c0";\n  ia-na 0c:ee:00:01 {\n    starts 4000000000;\n'
                    '    renew 1800;\n    rebind 2880;\n    iaaddr fd00:5a94:efe4::1:0 {\n'
                    '      starts 4000000000;\n      preferred-life 3600;\n      max-life 3600;\n    }\n  }\n'
                    '  option dhcp6.server-id 0:3:0:1:5a:94:ef:e4:c:dd;\n}\n')
        run('', 4)
        run('-r', 4)
        time.sleep(0.5)
        stop.set()
        t.join()
        seen = set()
        distinct = []
        names = {1: 'solicit', 3: 'request', 4: 'confirm', 5: 'renew', 6: 'rebind', 8: 'release', 9: 'decline',
                 11: 'information-request'}
        for m in got:
            h = hashlib.sha1(m).hexdigest()
            if h in seen:
                continue
            seen.add(h)
            write(d, 'client-%02d-%s' % (len(distinct), names.get(m[0], 'other')), records([m]))
            distinct.append(m)
        write(d, 'all-in-order', records(distinct))
        print('dhcpv6: %d distinct messages' % len(distinct))
        for f in (lease, pid):
            if os.path.exists(f):
                os.remove(f)
    finally:
        sh('ip netns del %s' % ns)


def msgtype(m):
    i = 240
    while i + 1 < len(m):
        k = m[i]
        if k == 255:
            break
        if k == 0:
            i += 1
            continue
        if k == 53 and i + 2 < len(m):
            return m[i + 2]
        i += 2 + m[i + 1]
    return 0


def listen_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    s.settimeout(0.5)
    return s


def dns():
    d = inputs_dir('stack-dns', 'dev.gvproxy.dns', 'DnsFuzzTest', 'queries')
    s = listen_udp()
    port = s.getsockname()[1]
    asks = [('a', 'gateway.containers.internal A'), ('aaaa', 'host.containers.internal AAAA'),
            ('any', 'host.docker.internal ANY'), ('mx', 'foo.test MX +nocookie'),
            ('ptr', '-x 192.168.127.1'), ('edns-do', 'api.test A +dnssec'), ('txt-cd', 'x.test TXT +cd'),
            ('noedns', 'gateway.containers.internal A +noedns'), ('srv', '_http._tcp.foo.test SRV'),
            ('search', 'short A +search'), ('subnet', 'a.test A +subnet=198.18.0.0/24'),
            ('nsid', 'a.test A +nsid +expire'), ('caa', 'b.test CAA +norecurse'), ('axfr', 'c.test AXFR +notcp')]
    for name, q in asks:
        subprocess.run('dig @127.0.0.1 -p %d +tries=1 +time=1 %s' % (port, q), shell=True, capture_output=True)
        try:
            write(d, name, s.recv(65535))
        except socket.timeout:
            print('dns: no query for', name)


def http():
    d = inputs_dir('gvproxy', 'dev.gvproxy.api', 'ApiFuzzTest', 'requests')
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)
    srv.settimeout(3)
    port = srv.getsockname()[1]
    base = 'http://127.0.0.1:%d' % port
    go = "-H 'User-Agent: Go-http-client/1.1' -H 'Accept-Encoding: gzip' -H 'Content-Type: application/json'"
    reqs = [
        ('podman-expose-tcp', "%s -X POST -d '{\"local\":\":8080\",\"remote\":\":8080\",\"protocol\":\"tcp\"}' "
                              "%s/services/forwarder/expose" % (go, base)),
        ('podman-expose-udp', "%s -X POST -d '{\"local\":\"127.0.0.1:5353\",\"remote\":\":5353\","
                              "\"protocol\":\"udp\"}' %s/services/forwarder/expose" % (go, base)),
        ('podman-unexpose', "%s -X POST -d '{\"local\":\":8080\",\"protocol\":\"tcp\"}' "
                            "%s/services/forwarder/unexpose" % (go, base)),
        ('expose-unix', "-X POST -d '{\"local\":\"/tmp/fuzz.sock\",\"remote\":\"192.168.127.2:22\","
                        "\"protocol\":\"unix\"}' %s/services/forwarder/expose" % base),
        ('all', '%s/services/forwarder/all' % base),
        ('stats', '%s/stats' % base),
        ('cam', '%s/cam' % base),
        ('leases', '%s/services/dhcp/leases' % base),
        ('dns-add', "-X POST -d '{\"Name\":\"test\",\"Records\":[{\"Name\":\"a\",\"IP\":\"192.168.127.9\"},"
                    "{\"Regexp\":\".*\\\\.b\",\"IP\":\"192.168.127.10\"}]}' %s/services/dns/add" % base),
        ('dns-all', '%s/services/dns/all' % base),
        ('chunked', "-H 'Transfer-Encoding: chunked' -X POST -d '{\"local\":\":9090\",\"remote\":\":90\"}' "
                    "%s/services/forwarder/expose" % base),
        ('bearer', "-H 'Authorization: Bearer 0123456789abcdef' %s/services/forwarder/all" % base),
        ('keepalive', '%s/services/forwarder/all %s/stats' % (base, base)),
    ]
    for name, args in reqs:
        p = subprocess.Popen("curl -s -m 2 --http1.1 %s" % args, shell=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        c, _ = srv.accept()
        c.settimeout(0.7)
        buf = b''
        try:
            while True:
                chunk = c.recv(65535)
                if not chunk:
                    break
                buf += chunk
        except socket.timeout:
            pass
        c.close()
        p.wait()
        write(d, name, buf)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'pcap':
        pcap(*sys.argv[2:])
    else:
        for cmd in sys.argv[1:] or ['pcap', 'dns', 'http', 'dhcp', 'dhcpv6']:
            globals()[cmd]()
