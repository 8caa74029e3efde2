#!/bin/sh
# keepalived notify script: records the VRRP state for pacsgate's overview (ha.vrrp_state_file).
# keepalived appends: TYPE NAME STATE PRIORITY. Usage in keepalived.conf:
#   notify "/usr/lib/pacsgate/notify-pacsgate.sh /var/lib/pacsgate/vrrp-state"
file=${1:?usage: notify-pacsgate.sh STATE_FILE TYPE NAME STATE PRIORITY}
state=${4:-UNKNOWN}
tmp="$file.tmp.$$"
printf '%s %s\n' "$state" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$tmp" && mv -f "$tmp" "$file"
logger -t pacsgate-ha "VRRP instance ${3:-?} is now $state" 2>/dev/null || true
