#!/bin/sh
# Boots the test guest by hand (the same guest the Java harness boots), e.g. against a running gvproxy-java:
#
#   qemu-guest-run.sh 'stream,id=n0,server=off,addr.type=unix,addr.path=/tmp/qemu.sock' 'ping -c 3 192.168.127.1'
#   qemu-guest-run.sh 'dgram,id=n0,local.type=unix,local.path=/tmp/vm.sock,remote.type=unix,remote.path=/tmp/gv.sock' sh
#
# Arguments: NETDEV (with id=n0) and a guest command (default: an interactive shell, 'sh').
# Environment: GVJ_NET="static" (default, 192.168.127.2/24 via .1) or "dhcp"; GVJ_MTU (default 1500);
# GVJ_APPEND extra kernel parameters. The guest powers off when the command ends (Ctrl-A X quits QEMU).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { sed -n '2,11p' "$0"; exit 64; }
NETDEV=$1
CMD=${2:-sh}
ASSETS=$("$HERE/qemu-guest-assets.sh")
KERNEL=$(echo "$ASSETS" | sed -n 's/^KERNEL=//p')
INITRD=$(echo "$ASSETS" | sed -n 's/^INITRD=//p')
case "${GVJ_NET:-static}" in
  dhcp) NET="gvj.net=dhcp" ;;
  *) NET="gvj.net=static gvj.ip=192.168.127.2/24 gvj.gw=192.168.127.1 gvj.dns=192.168.127.1" ;;
esac
CMD64=$(printf '%s' "$CMD" | base64 -w0)
exec qemu-system-x86_64 -machine q35 -accel tcg -smp 1 -m 256 -nographic -nodefaults -serial mon:stdio -no-reboot \
  -kernel "$KERNEL" -initrd "$INITRD" \
  -append "console=ttyS0 quiet panic=-1 gvj.nonce=manual $NET gvj.mtu=${GVJ_MTU:-1500} gvj.cmd=$CMD64 ${GVJ_APPEND:-}" \
  -netdev "$NETDEV" -device virtio-net-pci,netdev=n0,mac=5a:94:ef:e4:0c:ee,romfile=
