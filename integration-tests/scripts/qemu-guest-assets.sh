#!/bin/sh
# Fetches a Debian cloud kernel and builds a busybox initramfs for the gvproxy-java QEMU test guest.
#
# Usage: qemu-guest-assets.sh [CACHE_DIR]     (default: ${XDG_CACHE_HOME:-$HOME/.cache}/gvproxy-java/qemu)
# On success prints, on stdout, the lines KVER=..., KERNEL=/path/vmlinuz, INITRD=/path/initramfs.cpio.gz.
# Exit status 2 means "cannot get a kernel here" (no apt, no network, no cache): callers skip, not fail.
#
# Cache layout (kept between runs, keyed by package and version):
#   CACHE/kernel/<package>_<version>/{vmlinuz,kver,modules/*.ko}   only the kernel image and the virtio-net modules
#   CACHE/kernel/<package>_<version>/initramfs-<hash>.cpio.gz        hash over init, udhcpc script, busybox, modules
# Needs: apt-get/apt-cache/dpkg-deb (kernel), busybox-static (or apt to fetch it), cpio, gzip, sha256sum,
# xz/zstd only when the kernel ships compressed modules. Set GVJ_QEMU_OFFLINE=1 to use only what is cached.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/gvproxy-java/qemu}
META=linux-image-cloud-amd64
# virtio-net and what it needs, in load order (missing ones are built in).
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"

log() { echo "qemu-guest-assets: $*" >&2; }
skip() { log "$*"; exit 2; }

mkdir -p "$CACHE/kernel"

newest_cached() {
  # Newest cached kernel directory (offline fallback).
  ls -1d "$CACHE"/kernel/*/ 2>/dev/null | while read -r d; do [ -f "$d/vmlinuz" ] && echo "${d%/}"; done | sort -V | tail -n 1
}

resolve_package() {
  # Prints "<package> <version>" for the kernel linux-image-cloud-amd64 currently depends on.
  command -v apt-cache >/dev/null 2>&1 || return 1
  pkg=$(apt-cache depends "$META" 2>/dev/null | sed -n 's/^ *Depends: *\(linux-image-[^ ]*\).*/\1/p' | head -n 1)
  if [ -z "$pkg" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "apt knows no $META: running apt-get update"
    apt-get update -qq >&2 || return 1
    pkg=$(apt-cache depends "$META" 2>/dev/null | sed -n 's/^ *Depends: *\(linux-image-[^ ]*\).*/\1/p' | head -n 1)
  fi
  [ -n "$pkg" ] || return 1
  ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
  [ -n "$ver" ] || return 1
  echo "$pkg $ver"
}

fetch_kernel() {
  # $1 package, $2 version, $3 target directory
  tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  log "downloading $1 $2"
  (cd "$tmp" && apt-get download "$1=$2" >&2) \
    || skip "apt-get download $1=$2 failed"
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  kver=$(ls -1 "$tmp/x/lib/modules" | head -n 1)
  mkdir -p "$tmp/out/modules"
  cp "$tmp/x/boot/vmlinuz-$kver" "$tmp/out/vmlinuz"
  echo "$kver" > "$tmp/out/kver"
  for m in $MODULES; do
    f=$(find "$tmp/x/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n 1)
    if [ -z "$f" ]; then log "module $m not shipped (built in?)"; continue; fi
    # busybox insmod may not decompress: store plain .ko
    case "$f" in
      *.ko) cp "$f" "$tmp/out/modules/$m.ko" ;;
      *.ko.xz) xz -dc "$f" > "$tmp/out/modules/$m.ko" ;;
      *.ko.zst) zstd -qdc "$f" > "$tmp/out/modules/$m.ko" ;;
      *.ko.gz) gzip -dc "$f" > "$tmp/out/modules/$m.ko" ;;
    esac
  done
  rm -rf "$3"
  mv "$tmp/out" "$3"
  rm -rf "$tmp"
  trap - EXIT
}

busybox_binary() {
  # A static busybox: the installed busybox-static, else one fetched with apt into the cache.
  if dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' && [ -x /bin/busybox ]; then
    echo /bin/busybox; return 0
  fi
  if [ -x "$CACHE/busybox/bin/busybox" ]; then echo "$CACHE/busybox/bin/busybox"; return 0; fi
  [ "${GVJ_QEMU_OFFLINE:-0}" = 1 ] && return 1
  command -v apt-get >/dev/null 2>&1 || return 1
  tmp=$(mktemp -d "$CACHE/.bb.XXXXXX")
  (cd "$tmp" && apt-get download busybox-static >&2) || { rm -rf "$tmp"; return 1; }
  dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/x"
  mkdir -p "$CACHE/busybox/bin"
  cp "$tmp/x/bin/busybox" "$CACHE/busybox/bin/busybox.new" && mv "$CACHE/busybox/bin/busybox.new" "$CACHE/busybox/bin/busybox"
  rm -rf "$tmp"
  echo "$CACHE/busybox/bin/busybox"
}

# 1. Kernel
KDIR=
if [ "${GVJ_QEMU_OFFLINE:-0}" != 1 ] && PV=$(resolve_package); then
  set -- $PV
  KDIR="$CACHE/kernel/${1}_${2}"
  [ -f "$KDIR/vmlinuz" ] || fetch_kernel "$1" "$2" "$KDIR"
else
  KDIR=$(newest_cached)
  [ -n "$KDIR" ] || skip "cannot resolve $META through apt (or GVJ_QEMU_OFFLINE=1) and no kernel cached in $CACHE"
  log "offline: using cached $KDIR"
fi
KVER=$(cat "$KDIR/kver")

# 2. Initramfs (rebuilt whenever one of its inputs changes)
BB=$(busybox_binary) || skip "no static busybox (install busybox-static)"
command -v cpio >/dev/null 2>&1 || skip "cpio is not installed"
HASH=$(cat "$HERE/qemu-guest/init" "$HERE/qemu-guest/udhcpc.script" "$BB" "$KDIR"/modules/*.ko 2>/dev/null \
  | sha256sum | cut -c1-16)
INITRD="$KDIR/initramfs-$HASH.cpio.gz"
if [ ! -f "$INITRD" ]; then
  log "building $INITRD"
  root=$(mktemp -d "$CACHE/.root.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/run" "$root/etc/gvj" "$root/lib/modules" \
    "$root/var" "$root/root"
  cp "$BB" "$root/bin/busybox"
  for a in $("$BB" --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
  ln -s bin "$root/sbin"
  mkdir -p "$root/usr"; ln -s ../bin "$root/usr/bin"; ln -s ../bin "$root/usr/sbin"
  cp "$HERE/qemu-guest/init" "$root/init"
  cp "$HERE/qemu-guest/udhcpc.script" "$root/etc/udhcpc.script"
  chmod 755 "$root/init" "$root/etc/udhcpc.script"
  : > "$root/etc/gvj/modules"
  for m in $MODULES; do
    if [ -f "$KDIR/modules/$m.ko" ]; then cp "$KDIR/modules/$m.ko" "$root/lib/modules/"; echo "$m" >> "$root/etc/gvj/modules"; fi
  done
  echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
  echo "root:x:0:" > "$root/etc/group"
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6 -n) > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$root"
  trap - EXIT
fi

echo "KVER=$KVER"
echo "KERNEL=$KDIR/vmlinuz"
echo "INITRD=$INITRD"
