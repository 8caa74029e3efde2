#!/bin/sh
# keepalived notify script (keepalived runs it as root at every change of VRRP state): turns the handover rule of
# pacsgate-handover.nft on or off, then records the state for pacsgate (ha.vrrp_state_file).
# keepalived appends: TYPE NAME STATE PRIORITY. Usage in keepalived.conf (see pacsgate-vrrp.conf):
#   notify "/usr/lib/pacsgate/notify-pacsgate.sh /var/lib/pacsgate/vrrp-state /var/lib/pacsgate/vrrp-handover"
#
# The handover rule passes packets of connections this unit does not know to the peer (pacsgate-handover.nft), only
# while the peer's host keeps sending. This script arms it:
# - BACKUP: on, with no time limit. Here it is harmless (the VIPs' traffic goes to the MASTER; what still comes here
#   is from a client with a stale ARP entry, for a connection the MASTER serves, and belongs there), and it must be on
#   BEFORE this unit takes the VIPs: keepalived runs this script and sends its gratuitous ARPs at the same moment, so
#   the first packets of the peer's open connections can arrive here before a script run at MASTER could have turned
#   the rule on, and the kernel would answer them with a reset (an open association lost on a planned move).
# - MASTER, pacsgate's HANDOVER_FILE (ha.vrrp_handover_file) saying "copy SECONDS" (the peer announced a planned
#   handover, or this unit takes the VIPs from a peer it is linked to): stays on, for SECONDS (ha.handover_window).
# - MASTER otherwise (a takeover from a peer that stopped answering, whose host may be dead), FAULT, STOP: off.
#   Packets of the peer's connections are then answered with a reset at once and the client reconnects, instead of
#   being passed into the void until it times out.
# The cost of arming at BACKUP: after a takeover from a peer that stopped answering, the packets of its connections
# that arrive in the few milliseconds before this script turns the rule off are still passed to the peer (only while
# its host has sent within PEER_TIMEOUT: pacsgate-handover.nft); a dead host loses them, and the client's next
# retransmission gets the reset from here. The switch is changed in one nft transaction, so it is never off between
# two states that both keep it on.
#
# HANDOVER_FILE is read before STATE_FILE is written: pacsgate changes its answer once it sees the new state.
# Both files are in pacsgate's state directory, which pacsgate's user may write: they are read and written as the
# directory's owner (setpriv), never as root, so a link planted there cannot make root read or overwrite anything.
set -f  # no file name expansion of what the files hold
if [ $# -ge 6 ]; then
    file=$1 handover=$2
    shift 2
elif [ $# -eq 5 ]; then
    # The form without a handover file: the rule is never turned on.
    file=$1 handover=
    shift 1
else
    echo "usage: notify-pacsgate.sh STATE_FILE HANDOVER_FILE TYPE NAME STATE PRIORITY" >&2
    exit 2
fi
name=${2:-?}
state=${3:-UNKNOWN}
dir=$(dirname -- "$file")

# Runs "$@" as the owner of pacsgate's state directory (as is, when that is root or this is not root).
as_owner() {
    owner=$(stat -c %u -- "$dir") && group=$(stat -c %g -- "$dir") || return 1
    if [ "$(id -u)" -eq 0 ] && [ "$owner" -ne 0 ]; then
        setpriv --reuid="$owner" --regid="$group" --clear-groups -- "$@"
    else
        "$@"
    fi
}

# Sets the switch in one nft transaction: off, or on ("" for no time limit, or a timeout such as 900s).
copying() {
    case $1 in
    off) nft flush set ip pacsgate_handover copying ;;
    "") nft "flush set ip pacsgate_handover copying; add element ip pacsgate_handover copying { tcp }" ;;
    *) nft "flush set ip pacsgate_handover copying; add element ip pacsgate_handover copying { tcp timeout $1 }" ;;
    esac
}

rule=off
if [ -n "$handover" ]; then
    case $state in
    BACKUP)
        rule="on (standing by)"
        ;;
    MASTER)
        # One short line; a FIFO or a huge file in its place cannot hang or flood this script.
        answer=$(as_owner timeout 1 head -c 64 -- "$handover" 2>/dev/null) || answer=
        set -- $answer
        if [ "${1:-}" = copy ] && [ -n "${2:-}" ] && [ -z "$(printf '%s' "$2" | tr -d 0-9)" ]; then
            rule="on for ${2}s"
            limit=${2}s
        fi
        ;;
    esac
fi
if [ "$rule" = off ]; then
    copying off 2>/dev/null || true
else
    copying "${limit:-}" 2>/dev/null || rule="not installed (pacsgate-handover-net.sh has not run)"
fi

as_owner sh -c 'tmp=$(mktemp -- "$1.XXXXXX") && printf "%s %s\n" "$2" "$3" > "$tmp" && chmod 644 -- "$tmp" && mv -f -- "$tmp" "$1"' \
    notify-pacsgate "$file" "$state" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
logger -t pacsgate-ha "VRRP instance $name is now $state; handover rule $rule" 2>/dev/null || true
