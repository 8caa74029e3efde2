#!/bin/sh
# Prepares a unit of a pacsgate pair so that connections open on it survive a move of the virtual IPs (planned
# switchover, fail-back, failover of the other unit): docs/operations.md, "High availability". Run as root on both
# units at boot, before keepalived starts (e.g. ExecStartPre= of keepalived.service). Idempotent.
# Usage: pacsgate-handover-net.sh INTERFACE PEER_ADDRESS VIP [VIP...]
# - each VIP on lo (/32): this unit accepts packets for the VIPs whether or not keepalived holds them here, so the
#   connections it serves keep working after they moved (the peer passes their packets here);
# - arp_ignore=1, arp_announce=2: ARP answers only for the VIPs keepalived put on INTERFACE, never the copies on lo;
# - pacsgate-handover.nft (beside this script): passes packets of the peer's connections to the peer;
# - nf_conntrack_tcp_loose=1 (the kernel's default): conntrack records a connection it did not see start, which is
#   how the rule recognises one; nf_conntrack_tcp_be_liberal=1: a packet of this unit's own connections is never
#   `invalid` for being outside the window conntrack tracks (only FIN and RST of connections it does not know are),
#   so the rule never passes those on.
set -eu
if [ $# -lt 3 ]; then
    echo "usage: pacsgate-handover-net.sh INTERFACE PEER_ADDRESS VIP [VIP...]" >&2
    exit 2
fi
iface=$1
peer=$2
shift 2
here=$(dirname "$0")
sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    "net.ipv4.conf.$iface.arp_ignore=1" "net.ipv4.conf.$iface.arp_announce=2"
vips=""
for vip; do
    ip address replace "$vip/32" dev lo
    vips="$vips${vips:+, }$vip"
done
nft -D "vips={ $vips }" -D "peer=$peer" -D "iface=\"$iface\"" -f "$here/pacsgate-handover.nft"
sysctl -qw net.netfilter.nf_conntrack_tcp_loose=1 net.netfilter.nf_conntrack_tcp_be_liberal=1
