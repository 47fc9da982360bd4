#!/bin/bash
# Regenerates the pcap fixtures of the wire tests from a real Linux kernel (needs root, iproute2, tcpdump,
# ethtool, iputils ping, socat, iptables). Two throw-away network namespaces joined by a veth pair, addresses
# from 198.18.0.0/15, offloads off so that every checksum in the capture is the one on the wire.
# Usage: capture.sh [output-dir]   (default: the directory of this script)
set -euo pipefail
OUT=$(cd "${1:-$(dirname "$0")}" && pwd)
R=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
A=gvj-wa-$R
B=gvj-wb-$R
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$A"
ip netns add "$B"
ip link add va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" addr add 198.18.0.1/24 dev va
ip -n "$B" addr add 198.18.0.2/24 dev vb
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip -n "$A" link set va up
ip -n "$B" link set vb up
for ns in "$A:va" "$B:vb"; do
    ip netns exec "${ns%%:*}" ethtool -K "${ns#*:}" tx off rx off gso off tso off gro off >/dev/null 2>&1 || true
done

# capture NAME COMMAND...: records everything on va while COMMAND runs in namespace A.
capture() {
    local name=$1
    shift
    ip netns exec "$A" tcpdump -q -U -s 0 -i va -w "$OUT/$name.pcap" 2>/dev/null &
    local tp=$!
    sleep 1
    ip netns exec "$A" "$@" >/dev/null 2>&1 || true
    sleep 1
    kill -INT "$tp"
    wait "$tp" || true
    ip -n "$A" neigh flush dev va
    ip -n "$B" neigh flush dev vb
}

# ARP + ICMP echo (the first ping resolves the neighbour).
capture icmp ping -c 2 -i 0.2 198.18.0.2
# IPv4 fragments: a 2000-byte echo over a 1500-byte MTU, both ways.
capture fragments ping -c 1 -s 2000 198.18.0.2
# IPv4 options: record route.
capture record-route ping -c 1 -R 198.18.0.2

# UDP request and reply.
ip netns exec "$B" socat UDP4-RECVFROM:7777,reuseaddr SYSTEM:'echo reply-from-b' &
PIDS+=($!)
sleep 0.5
capture udp sh -c 'echo hello-from-a | socat -T1 - UDP4:198.18.0.2:7777'

# TCP with the default options (MSS, SACK-permitted, timestamps, window scale), a few KB of data, and a
# dropped segment so that the receiver sends SACK blocks.
ip netns exec "$B" iptables -A INPUT -p tcp --dport 8080 -m statistic --mode nth --every 6 --packet 4 -j DROP
ip netns exec "$B" socat -u TCP4-LISTEN:8080,reuseaddr OPEN:/dev/null &
PIDS+=($!)
sleep 0.5
capture tcp sh -c 'seq 1 4000 | socat -u - TCP4:198.18.0.2:8080'
ip netns exec "$B" iptables -F INPUT

# TCP without timestamps: the SYN options take the NOP-padded form.
ip netns exec "$A" sysctl -qw net.ipv4.tcp_timestamps=0
ip netns exec "$B" socat -u TCP4-LISTEN:8081,reuseaddr OPEN:/dev/null &
PIDS+=($!)
sleep 0.5
capture tcp-nots sh -c 'echo short | socat -u - TCP4:198.18.0.2:8081'
# And a connection refused (RST).
capture tcp-rst sh -c 'socat -u - TCP4:198.18.0.2:9 </dev/null'
ls -l "$OUT"/*.pcap
