#!/bin/sh
# Prepares a unit of a pacsgate pair so that connections open on it survive a planned move of the virtual IPs
# (switchover, stop, the primary taking the VIPs back): docs/operations.md, "Handover networking". Run as root on both
# units at boot, before keepalived starts (e.g. ExecStartPre= of keepalived.service).
#
#   pacsgate-handover-net.sh [-t PEER_TIMEOUT] INTERFACE PEER_ADDRESS VIP [VIP...]
#   pacsgate-handover-net.sh --remove INTERFACE VIP [VIP...]
#
# It changes, for the whole host (network namespace):
# - each VIP on lo (/32): this unit accepts packets for the VIPs whether or not keepalived holds them here, so the
#   connections it serves keep working after the VIPs moved (the peer passes their packets here);
# - net.ipv4.conf.all and INTERFACE: arp_ignore=1, arp_announce=2: ARP is answered only for addresses of the
#   interface asked on (so never for the copies on lo), and only those are announced — for every interface of the host;
# - nf_conntrack_tcp_loose=1 (the kernel's default): conntrack records a connection it did not see start, which is how
#   the handover rule recognises the peer's connections; nf_conntrack_tcp_be_liberal=1: a packet of this unit's own
#   connections is never `invalid` for being outside the window conntrack tracks (only FIN and RST of connections it
#   does not know are), so the rule never passes those on;
# - pacsgate-handover.nft (beside this script): the handover rule, off until notify-pacsgate.sh turns it on (at
#   keepalived's first change of state: BACKUP, once keepalived has started).
# The sysctls' previous values are saved on the first run and put back by --remove, which also removes the rule and
# the VIPs from lo.
#
# IPv4 only; the peer must be on INTERFACE's segment (the rule sends packets to its MAC address). PEER_TIMEOUT (default
# 6s) is how long the peer's host counts as alive after its last TCP packet: 3 x ha.status_interval.
#
# It refuses to run while this unit holds a VIP on INTERFACE or has established connections on one: reloading the rule
# would turn off a handover under way, and removing the VIPs from lo would cut this unit's open connections. Run it
# before keepalived starts, or on the unit that does not hold the VIPs once its connections have finished.
set -eu
usage() {
    echo "usage: pacsgate-handover-net.sh [-t PEER_TIMEOUT] INTERFACE PEER_ADDRESS VIP [VIP...]" >&2
    echo "       pacsgate-handover-net.sh --remove INTERFACE VIP [VIP...]" >&2
    exit 2
}
remove=false
peer_timeout=6s
case "${1:-}" in
--remove)
    remove=true
    shift
    ;;
-t)
    [ $# -ge 2 ] || usage
    peer_timeout=$2
    case $peer_timeout in
    *[!0-9ms]* | [!0-9]* | *[0-9]) fail_usage=1 ;;
    esac
    [ -z "${fail_usage:-}" ] || { echo "pacsgate-handover-net.sh: -t takes a duration such as 6s or 1500ms" >&2; exit 2; }
    shift 2
    ;;
esac
if $remove; then [ $# -ge 2 ] || usage; else [ $# -ge 3 ] || usage; fi
iface=$1
shift
if ! $remove; then
    peer=$1
    shift
fi
here=$(dirname "$0")
namespace=$(ip netns identify 2>/dev/null || true)
saved=/run/pacsgate-handover/sysctl${namespace:+.$namespace}
fail() {
    echo "pacsgate-handover-net.sh: $*" >&2
    exit 1
}

is_ipv4() {
    case $1 in
    *[!0-9.]* | "") return 1 ;;
    *) return 0 ;;
    esac
}
for vip; do
    is_ipv4 "$vip" || fail "$vip: the handover rule supports IPv4 virtual IPs only"
    if ip -4 -o address show dev "$iface" | grep -qF " inet $vip/"; then
        fail "this unit holds $vip on $iface (keepalived runs): run this before keepalived starts, or on the unit that does not hold the VIPs (docs/operations.md, rolling it out)"
    fi
    if [ -n "$(ss -Htn state established src "$vip")" ]; then
        fail "this unit has established connections on $vip: wait until they have finished (ss -tn src $vip)"
    fi
done

if $remove; then
    nft delete table ip pacsgate_handover 2>/dev/null || true
    for vip; do ip address del "$vip/32" dev lo 2>/dev/null || true; done
    if [ -f "$saved" ]; then
        while IFS='=' read -r key value; do sysctl -qw "$key=$value"; done <"$saved"
        rm -f "$saved"
    fi
    exit 0
fi

is_ipv4 "$peer" || fail "$peer: the handover rule supports an IPv4 peer address only"
route=$(ip -4 route get "$peer")
case "$route" in
*" via "*) fail "the peer $peer is reached through a router ($route): it must be on $iface's segment" ;;
*" dev $iface "*) ;;
*) fail "the peer $peer is not reached through $iface ($route)" ;;
esac

vips=""
for vip; do vips="$vips${vips:+, }$vip"; done
# Loading the rule loads conntrack (the sysctl below exists from then on).
sed "s/@PEER_TIMEOUT@/$peer_timeout/" "$here/pacsgate-handover.nft" |
    nft -D "vips={ $vips }" -D "peer=$peer" -D "iface=\"$iface\"" -f /dev/stdin
keys="net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce net.ipv4.conf.$iface.arp_ignore net.ipv4.conf.$iface.arp_announce net.netfilter.nf_conntrack_tcp_loose net.netfilter.nf_conntrack_tcp_be_liberal"
if [ ! -f "$saved" ]; then
    mkdir -p -m 0700 "${saved%/*}"
    for key in $keys; do echo "$key=$(sysctl -n "$key")"; done >"$saved.new"
    mv -f "$saved.new" "$saved"
fi
sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    "net.ipv4.conf.$iface.arp_ignore=1" "net.ipv4.conf.$iface.arp_announce=2" net.netfilter.nf_conntrack_tcp_loose=1 \
    net.netfilter.nf_conntrack_tcp_be_liberal=1
for vip; do ip address replace "$vip/32" dev lo; done
