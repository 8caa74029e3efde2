#!/bin/sh
# keepalived notify script (keepalived runs it as root at every change of VRRP state): turns the handover rule of
# pacsgate-handover.nft on or off, then records the state for pacsgate (ha.vrrp_state_file).
# keepalived appends: TYPE NAME STATE PRIORITY. Usage in keepalived.conf (see pacsgate-vrrp.conf):
#   notify "/usr/lib/pacsgate/notify-pacsgate.sh /var/lib/pacsgate/vrrp-state /var/lib/pacsgate/vrrp-handover"
#
# The handover rule passes packets of connections this unit does not know to the peer. It is turned on only when this
# unit becomes MASTER and pacsgate's HANDOVER_FILE (ha.vrrp_handover_file) says "copy SECONDS": the peer announced a
# planned handover, or this unit takes the VIPs from a peer it is linked to. Then it stays on for SECONDS
# (ha.handover_window), and only while the peer's host keeps sending (pacsgate-handover.nft). After a takeover from a
# peer that stopped answering, whose host may be dead, it stays off: packets of the peer's connections are answered
# with a reset at once and the client reconnects, instead of waiting for a timeout. Any other state turns it off.
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

rule=off
if [ "$state" = MASTER ] && [ -n "$handover" ]; then
    # One short line; a FIFO or a huge file in its place cannot hang or flood this script.
    answer=$(as_owner timeout 1 head -c 64 -- "$handover" 2>/dev/null) || answer=
    set -- $answer
    if [ "${1:-}" = copy ] && [ -n "${2:-}" ] && [ -z "$(printf '%s' "$2" | tr -d 0-9)" ]; then
        rule="on for ${2}s"
        nft flush set ip pacsgate_handover copying 2>/dev/null &&
            nft add element ip pacsgate_handover copying "{ tcp timeout ${2}s }" 2>/dev/null ||
            rule="not installed (pacsgate-handover-net.sh has not run)"
    fi
fi
if [ "$rule" = off ]; then
    nft flush set ip pacsgate_handover copying 2>/dev/null || true
fi

as_owner sh -c 'tmp=$(mktemp -- "$1.XXXXXX") && printf "%s %s\n" "$2" "$3" > "$tmp" && chmod 644 -- "$tmp" && mv -f -- "$tmp" "$1"' \
    notify-pacsgate "$file" "$state" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
logger -t pacsgate-ha "VRRP instance $name is now $state; handover rule $rule" 2>/dev/null || true
