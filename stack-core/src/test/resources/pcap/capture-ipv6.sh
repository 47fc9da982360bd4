#!/bin/bash
# Regenerates ipv6.pcap, the IPv6 fixture of the wire tests, from a real Linux kernel (needs root, iproute2,
# tcpdump, ethtool, iputils ping, socat). Two throw-away network namespaces joined by a veth pair, IPv6 only on
# the link (link-local addresses from the MACs below, plus 2001:2::/64 from the benchmarking prefix), no route
# anywhere else; offloads off so that every checksum in the capture is the one on the wire.
# The capture holds duplicate address detection and neighbour solicitation/advertisement, router and listener
# chatter (MLDv2 behind a hop-by-hop header), a link-local echo, a 3000-byte echo fragmented over a 1280-byte
# MTU both ways, and a UDP exchange.
# Usage: capture-ipv6.sh [output-dir]   (default: the directory of this script)
set -euo pipefail
OUT=$(cd "${1:-$(dirname "$0")}" && pwd)
R=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
A=gvj-6a-$R
B=gvj-6b-$R
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$A"
ip netns add "$B"
ip link add va netns "$A" address 02:00:00:00:00:0a type veth peer name vb netns "$B" address 02:00:00:00:00:0b
for ns in "$A:va" "$B:vb"; do
    ip netns exec "${ns%%:*}" ethtool -K "${ns#*:}" tx off rx off gso off tso off gro off >/dev/null 2>&1 || true
    ip -n "${ns%%:*}" link set "${ns#*:}" mtu 1280
    ip -n "${ns%%:*}" link set lo up
done
ip -n "$A" link set va up # no carrier until vb is up: the capture starts before the link-local DAD
ip netns exec "$A" tcpdump -q -U -s 0 -i va -w "$OUT/ipv6.pcap" 2>/dev/null &
TP=$!
sleep 1
ip -n "$B" link set vb up
ip -n "$A" addr add 2001:2::a/64 dev va
ip -n "$B" addr add 2001:2::b/64 dev vb
sleep 3 # duplicate address detection
ip netns exec "$B" socat UDP6-RECVFROM:7777,reuseaddr SYSTEM:'echo reply-from-b' &
PIDS+=($!)
sleep 0.5
ip netns exec "$A" ping -6 -c 1 fe80::ff:fe00:b%va >/dev/null
ip netns exec "$A" ping -6 -c 1 -s 3000 2001:2::b >/dev/null
echo hello-from-a | ip netns exec "$A" socat -T1 - UDP6:[2001:2::b]:7777 >/dev/null
sleep 1
kill -INT "$TP"
wait "$TP" || true
ls -l "$OUT/ipv6.pcap"
