#!/bin/sh
# gvforwarder-java's DHCP client script: applies a lease to the TAP interface with ip(8).
# Called by busybox udhcpc ("$1" = deconfig|bound|renew|leasefail|nak, lease in $ip $mask $router $dns $mtu ...)
# or by ISC dhclient ($reason = PREINIT|BOUND|RENEW|REBIND|REBOOT|EXPIRE|FAIL|STOP|RELEASE, lease in $new_*).
# GVFORWARDER_RESOLV_CONF names the file that receives nameservers; empty or unset: DNS settings are left alone.
# The file is rewritten in place (not replaced), so a bind mount of it (ip netns exec) keeps seeing the update.

RESOLV="${GVFORWARDER_RESOLV_CONF:-}"

write_resolv() { # $1 = search domains (may be empty), then the nameservers
    [ -n "$RESOLV" ] || return 0
    search="$1"
    shift
    {
        echo "# written by gvforwarder-java"
        [ -n "$search" ] && echo "search $search"
        for s in "$@"; do echo "nameserver $s"; done
    } > "$RESOLV.gvforwarder.$$" && cat "$RESOLV.gvforwarder.$$" > "$RESOLV"
    rm -f "$RESOLV.gvforwarder.$$"
}

mask2prefix() { # dotted netmask -> prefix length
    n=0
    old_ifs="$IFS"
    IFS=.
    for o in $1; do
        case "$o" in
            255) n=$((n + 8)) ;; 254) n=$((n + 7)) ;; 252) n=$((n + 6)) ;; 248) n=$((n + 5)) ;;
            240) n=$((n + 4)) ;; 224) n=$((n + 3)) ;; 192) n=$((n + 2)) ;; 128) n=$((n + 1)) ;;
        esac
    done
    IFS="$old_ifs"
    echo "$n"
}

default_route() { # $1 = iface, then the routers: the first one becomes the default route
    dev="$1"
    shift
    [ $# -gt 0 ] && ip -4 route replace default via "$1" dev "$dev"
    return 0
}

if [ -n "${reason:-}" ]; then
    # ISC dhclient
    case "$reason" in
        PREINIT)
            ip link set dev "$interface" up
            ;;
        BOUND|RENEW|REBIND|REBOOT)
            [ -n "${new_interface_mtu:-}" ] && ip link set dev "$interface" mtu "$new_interface_mtu"
            if [ -n "${old_ip_address:-}" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
                ip -4 addr flush dev "$interface"
            fi
            ip -4 addr replace "$new_ip_address/$(mask2prefix "$new_subnet_mask")" dev "$interface"
            # shellcheck disable=SC2086
            default_route "$interface" ${new_routers:-}
            # shellcheck disable=SC2086
            write_resolv "${new_domain_search:-${new_domain_name:-}}" ${new_domain_name_servers:-}
            ;;
        EXPIRE|FAIL|RELEASE|STOP)
            ip -4 addr flush dev "$interface"
            ;;
    esac
    exit 0
fi

case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set dev "$interface" up
        ;;
    bound|renew)
        [ -n "${mtu:-}" ] && ip link set dev "$interface" mtu "$mtu"
        [ "$1" = bound ] && ip -4 addr flush dev "$interface"
        ip -4 addr replace "$ip/${mask:-24}" dev "$interface" ${broadcast:+broadcast "$broadcast"}
        # shellcheck disable=SC2086
        default_route "$interface" ${router:-}
        # shellcheck disable=SC2086
        write_resolv "${search:-${domain:-}}" ${dns:-}
        ;;
esac
exit 0
